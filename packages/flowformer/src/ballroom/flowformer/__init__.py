"""ballroom-flowformer: Flow-Attention, linear-time transformers (Wu et al., ICML 2022).

A drop-in attention for ``(B, H, L, D)`` tensors or ``(B, L, d)`` sequences, non-causal and causal::

    from ballroom.flowformer import FlowAttention, flow_attention
    out = flow_attention(q, k, v)                      # (B, H, L, Dv), linear in L
    attn = FlowAttention(d_input=64, d_model=64, d_output=64, n_heads=4, causal=True)
    y = attn(x, x, x)                                  # (B, L, 64)
"""

from ballroom.flowformer.data import (
    LISTOPS_VOCAB,
    LRA_URL,
    STDLIB_MODULES,
    CharLMDataModule,
    ListOpsDataModule,
    evaluate_listops,
    generate_listops,
    load_lra_listops,
    read_listops_tsv,
    stdlib_corpus,
)
from ballroom.flowformer.functional import (
    causal_flow_attention_naive,
    causal_linear_product,
    flow_attention,
    flow_attention_quadratic,
    resolve_feature_map,
)
from ballroom.flowformer.lit import FlowformerClassifierModule, FlowformerLMModule
from ballroom.flowformer.nn import (
    ATTENTIONS,
    FlowAttention,
    FlowformerBlock,
    FlowformerClassifier,
    FlowformerEncoder,
    FlowformerLM,
    LinearAttention,
    SoftmaxAttention,
    build_attention,
    sinusoidal_positions,
)

__all__ = [
    "ATTENTIONS",
    "LISTOPS_VOCAB",
    "LRA_URL",
    "STDLIB_MODULES",
    "CharLMDataModule",
    "FlowAttention",
    "FlowformerBlock",
    "FlowformerClassifier",
    "FlowformerClassifierModule",
    "FlowformerEncoder",
    "FlowformerLM",
    "FlowformerLMModule",
    "LinearAttention",
    "ListOpsDataModule",
    "SoftmaxAttention",
    "build_attention",
    "causal_flow_attention_naive",
    "causal_linear_product",
    "evaluate_listops",
    "flow_attention",
    "flow_attention_quadratic",
    "generate_listops",
    "load_lra_listops",
    "read_listops_tsv",
    "resolve_feature_map",
    "sinusoidal_positions",
    "stdlib_corpus",
]
