"""ballroom-flowformer: Flow-Attention, linear-time transformers (Wu et al., ICML 2022).

A drop-in attention for ``(B, H, L, D)`` tensors or ``(B, L, d)`` sequences, non-causal and causal::

    from ballroom.flowformer import FlowAttention, flow_attention
    out = flow_attention(q, k, v)                      # (B, H, L, Dv), linear in L
    attn = FlowAttention(d_input=64, d_model=64, d_output=64, n_heads=4, causal=True)
    y = attn(x, x, x)                                  # (B, L, 64)

Submodules load on first use: ``flow_attention`` needs torch only, the Lightning modules and
data modules import Lightning when they are first touched.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.core.data import UEADataModule
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
        trim_padding,
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
        attention_class,
        build_attention,
        sinusoidal_positions,
    )

__version__ = _version("ballroom-flowformer")
_SOURCES = {
    "UEADataModule": "ballroom.core.data",
    "ATTENTIONS": "ballroom.flowformer.nn",
    "CharLMDataModule": "ballroom.flowformer.data",
    "FlowAttention": "ballroom.flowformer.nn",
    "FlowformerBlock": "ballroom.flowformer.nn",
    "FlowformerClassifier": "ballroom.flowformer.nn",
    "FlowformerClassifierModule": "ballroom.flowformer.lit",
    "FlowformerEncoder": "ballroom.flowformer.nn",
    "FlowformerLM": "ballroom.flowformer.nn",
    "FlowformerLMModule": "ballroom.flowformer.lit",
    "LISTOPS_VOCAB": "ballroom.flowformer.data",
    "LRA_URL": "ballroom.flowformer.data",
    "LinearAttention": "ballroom.flowformer.nn",
    "ListOpsDataModule": "ballroom.flowformer.data",
    "STDLIB_MODULES": "ballroom.flowformer.data",
    "SoftmaxAttention": "ballroom.flowformer.nn",
    "attention_class": "ballroom.flowformer.nn",
    "build_attention": "ballroom.flowformer.nn",
    "causal_flow_attention_naive": "ballroom.flowformer.functional",
    "causal_linear_product": "ballroom.flowformer.functional",
    "evaluate_listops": "ballroom.flowformer.data",
    "flow_attention": "ballroom.flowformer.functional",
    "flow_attention_quadratic": "ballroom.flowformer.functional",
    "generate_listops": "ballroom.flowformer.data",
    "load_lra_listops": "ballroom.flowformer.data",
    "read_listops_tsv": "ballroom.flowformer.data",
    "resolve_feature_map": "ballroom.flowformer.functional",
    "sinusoidal_positions": "ballroom.flowformer.nn",
    "stdlib_corpus": "ballroom.flowformer.data",
    "trim_padding": "ballroom.flowformer.data",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
