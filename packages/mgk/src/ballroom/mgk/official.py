"""Official weight layouts: the LRA attention module (by name) and the LM code's Transformer-XL layout.

:func:`load_official_state_dict` maps the official LRA ``Attention`` names (ours but for two nested
ones); :func:`ballroom.mgk.official_lm.load_official_lm_state_dict` maps the language-model code
(``language-modeling/lmtool-fwms``, a Transformer-XL / fast-weights code base) into
:class:`ballroom.mgk.models.MGKLanguageModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["load_official_state_dict"]


def load_official_state_dict(module: nn.Module, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
    """Load weights saved from the official LRA ``Attention`` module (or a model holding them) into ours.

    The official names are ours (``W_q``, ``W_k``, ``W_k2``, ``W_v``, ``ff``) except the nested ones:
    ``attn.pi`` -> ``pi`` (MGK, MLK, Soft-E buffer), ``attn.mu`` -> ``mu`` (sMLK) and
    ``attn.multi_gauss_kernel.mu`` / ``.pi`` -> ``mu`` / ``pi`` (the sMGK kernel). Any prefix before
    them (``transformer_0.mha.``) is kept, so a whole model's state dict maps too. The same outputs
    need the same recipe: :class:`MGKAttention` defaults for MGK / sMGK, ``MLKAttention(recipe="lra")``
    for the official LRA MLK / sMLK.

    Args:
        module: our layer (or a model holding our layers under the official prefixes).
        state_dict: the official ``state_dict()`` (names -> tensors).
        strict: passed to :meth:`torch.nn.Module.load_state_dict`.

    Returns:
        What ``module.load_state_dict`` returns (missing and unexpected keys).

    Raises:
        ValueError: two official names map to one of ours with different values.
    """
    mapped: dict[str, Any] = {}
    for key, value in state_dict.items():
        new = key.replace("attn.multi_gauss_kernel.", "").replace("attn.pi", "pi").replace("attn.mu", "mu")
        if new in mapped and not torch.equal(mapped[new], value):
            raise ValueError(f"state_dict: {key!r} and another entry map to {new!r} with different values")
        mapped[new] = value
    return module.load_state_dict(mapped, strict=strict)
