"""ballroom-mgk: transformers whose attention keys are Gaussian mixtures (Nguyen et al., ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.mgk import MGKAttention
    attn = MGKAttention(d_model=64, n_heads=2, head_dim=32)      # (B, N, 64) -> (B, N, 64)
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.mgk.data import (
        CharLMDataModule,
        ListOpsDataModule,
        char_windows,
        generate_listops,
        load_lra_listops,
        load_wikitext103,
        read_listops_tsv,
        read_wikitext,
        stdlib_corpus,
    )
    from ballroom.mgk.functional import (
        attention_rank,
        linear_attention,
        mgk_attention,
        mgk_log_kernels,
        mgk_log_scores,
        mgk_responsibilities,
        mgk_scores,
        mlk_attention,
    )
    from ballroom.mgk.lit import MGKClassifierModule, MGKLMModule
    from ballroom.mgk.models import (
        MGKEncoderClassifier,
        MGKLanguageModel,
        attention_flops,
        attention_params,
        count_params_flops,
        make_attention,
    )
    from ballroom.mgk.nn import (
        LinearAttention,
        MGKAttention,
        MLKAttention,
        SoftmaxAttention,
        em_update_,
        load_official_state_dict,
    )
    from ballroom.mgk.official_lm import load_official_lm_state_dict, official_lm
    from ballroom.mgk.sdpa import mgk_attention_sdpa

__version__ = _version("ballroom-mgk")

_F, _N, _M = "ballroom.mgk.functional", "ballroom.mgk.nn", "ballroom.mgk.models"
_L, _D = "ballroom.mgk.lit", "ballroom.mgk.data"
_SOURCES = {
    **{n: _F for n in ("attention_rank", "linear_attention", "mgk_attention", "mgk_log_kernels",
                       "mgk_log_scores", "mgk_responsibilities", "mgk_scores", "mlk_attention")},
    **{n: _N for n in ("LinearAttention", "MGKAttention", "MLKAttention", "SoftmaxAttention", "em_update_",
                       "load_official_state_dict")},
    **{n: _M for n in ("MGKEncoderClassifier", "MGKLanguageModel", "attention_flops", "attention_params",
                       "count_params_flops", "make_attention")},
    "mgk_attention_sdpa": "ballroom.mgk.sdpa",
    "load_official_lm_state_dict": "ballroom.mgk.official_lm",
    "official_lm": "ballroom.mgk.official_lm",
    **{n: _L for n in ("MGKClassifierModule", "MGKLMModule")},
    **{n: _D for n in ("CharLMDataModule", "ListOpsDataModule", "char_windows", "generate_listops",
                       "load_lra_listops", "load_wikitext103", "read_listops_tsv", "read_wikitext",
                       "stdlib_corpus")},
}  # fmt: skip
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
