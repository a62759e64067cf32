"""ballroom-faithfulness: the faithfulness violation test for attention explanations (Liu et al., ICML 2022).

Does the sign of an explanation agree with the real effect of removing the feature? Building blocks
import with torch only; the Lightning modules and data modules load Lightning on first access::

    from ballroom.faithfulness import AttentionTextClassifier, InputGradient, impact, violation_ratio
    net = AttentionTextClassifier(vocab=51, emb=16, hidden=16, bidirectional=False).eval()
    w = InputGradient()(net, tokens)                              # (B, n) weights
    delta = impact(net, tokens, torch.arange(n).expand(B, n), "zeros_mask")   # (B, n) impacts
    violation_ratio(w, delta, valid=tokens != 0)                  # fraction of sign violations
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.faithfulness.data import POLARITY, VOCAB_SIZE, PolaritySynthDataModule, make_polarity_data
    from ballroom.faithfulness.evaluate import (
        erasure_probs,
        impact,
        plot_violations,
        polarity_disagreement,
        removal_probs,
        run_violation_test,
    )
    from ballroom.faithfulness.explain import (
        EXPLAINERS,
        AttentionGradient,
        AttentionInputNorm,
        AttentionRollout,
        Explainer,
        GenericAttention,
        InputGradient,
        IntegratedGradients,
        RandomExplainer,
        RawAttention,
        generic_attention_relevance,
        make_explainer,
        rollout,
    )
    from ballroom.faithfulness.functional import (
        auc_trapezoid,
        masked_softmax,
        rank,
        removal_counts,
        spearman,
        top_abs_index,
        topk_abs,
        violation_flags,
        violation_ratio,
    )
    from ballroom.faithfulness.lit import TextClassifierModule, ViolationTestCallback
    from ballroom.faithfulness.metrics import (
        AUCTP,
        Comprehensiveness,
        FaithfulnessViolation,
        RankCorrelation,
        Sufficiency,
    )
    from ballroom.faithfulness.nn import (
        AttentionTextClassifier,
        BagOfWordsClassifier,
        TinyTransformerClassifier,
        batch_tokens,
    )
    from ballroom.faithfulness.official import load_transparency_state_dict
    from ballroom.faithfulness.protocol import (
        REMOVALS,
        ExplainableMixin,
        ExplainableModel,
        Perturbed,
        index_batch,
        positions_to_mask,
        remove_features,
    )
    from ballroom.faithfulness.text_data import (
        PAD,
        TEXT_DATASETS,
        UNK,
        TextDataModule,
        build_vocab,
        encode,
        load_text_dataset,
        read_char_cnn_csv,
        read_sst_trees,
        tokenize,
    )

__version__ = _version("ballroom-faithfulness")

_SOURCES = {
    "auc_trapezoid": "ballroom.faithfulness.functional",
    "masked_softmax": "ballroom.faithfulness.functional",
    "rank": "ballroom.faithfulness.functional",
    "removal_counts": "ballroom.faithfulness.functional",
    "spearman": "ballroom.faithfulness.functional",
    "top_abs_index": "ballroom.faithfulness.functional",
    "topk_abs": "ballroom.faithfulness.functional",
    "violation_flags": "ballroom.faithfulness.functional",
    "violation_ratio": "ballroom.faithfulness.functional",
    "AUCTP": "ballroom.faithfulness.metrics",
    "Comprehensiveness": "ballroom.faithfulness.metrics",
    "FaithfulnessViolation": "ballroom.faithfulness.metrics",
    "RankCorrelation": "ballroom.faithfulness.metrics",
    "Sufficiency": "ballroom.faithfulness.metrics",
    "REMOVALS": "ballroom.faithfulness.protocol",
    "ExplainableMixin": "ballroom.faithfulness.protocol",
    "ExplainableModel": "ballroom.faithfulness.protocol",
    "Perturbed": "ballroom.faithfulness.protocol",
    "index_batch": "ballroom.faithfulness.protocol",
    "positions_to_mask": "ballroom.faithfulness.protocol",
    "remove_features": "ballroom.faithfulness.protocol",
    "EXPLAINERS": "ballroom.faithfulness.explain",
    "AttentionGradient": "ballroom.faithfulness.explain",
    "AttentionInputNorm": "ballroom.faithfulness.explain",
    "AttentionRollout": "ballroom.faithfulness.explain",
    "Explainer": "ballroom.faithfulness.explain",
    "GenericAttention": "ballroom.faithfulness.explain",
    "InputGradient": "ballroom.faithfulness.explain",
    "IntegratedGradients": "ballroom.faithfulness.explain",
    "RandomExplainer": "ballroom.faithfulness.explain",
    "RawAttention": "ballroom.faithfulness.explain",
    "generic_attention_relevance": "ballroom.faithfulness.explain",
    "make_explainer": "ballroom.faithfulness.explain",
    "rollout": "ballroom.faithfulness.explain",
    "erasure_probs": "ballroom.faithfulness.evaluate",
    "impact": "ballroom.faithfulness.evaluate",
    "plot_violations": "ballroom.faithfulness.evaluate",
    "polarity_disagreement": "ballroom.faithfulness.evaluate",
    "removal_probs": "ballroom.faithfulness.evaluate",
    "run_violation_test": "ballroom.faithfulness.evaluate",
    "AttentionTextClassifier": "ballroom.faithfulness.nn",
    "BagOfWordsClassifier": "ballroom.faithfulness.nn",
    "TinyTransformerClassifier": "ballroom.faithfulness.nn",
    "batch_tokens": "ballroom.faithfulness.nn",
    "load_transparency_state_dict": "ballroom.faithfulness.official",
    "POLARITY": "ballroom.faithfulness.data",
    "VOCAB_SIZE": "ballroom.faithfulness.data",
    "PolaritySynthDataModule": "ballroom.faithfulness.data",
    "make_polarity_data": "ballroom.faithfulness.data",
    "PAD": "ballroom.faithfulness.text_data",
    "TEXT_DATASETS": "ballroom.faithfulness.text_data",
    "UNK": "ballroom.faithfulness.text_data",
    "TextDataModule": "ballroom.faithfulness.text_data",
    "build_vocab": "ballroom.faithfulness.text_data",
    "encode": "ballroom.faithfulness.text_data",
    "load_text_dataset": "ballroom.faithfulness.text_data",
    "read_char_cnn_csv": "ballroom.faithfulness.text_data",
    "read_sst_trees": "ballroom.faithfulness.text_data",
    "tokenize": "ballroom.faithfulness.text_data",
    "TextClassifierModule": "ballroom.faithfulness.lit",
    "ViolationTestCallback": "ballroom.faithfulness.lit",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
