"""Weights of the official ``bregmanet`` models into ours, by a documented name mapping.

================================  ===================================
official ``bregmanet.MLP``         :class:`~ballroom.bregman.nn.BregmanMLP`
================================  ===================================
``lin.{i}.weight`` / ``.bias``     ``layers.{i}.weight`` / ``.bias``
``reparametrization.{i}.weight``   ``layers.{i}.skip_weight`` (projected exactly onto the simplex)
``output.weight`` / ``.bias``      ``output.weight`` / ``.bias``
================================  ===================================

The official CIFAR ResNets (``bresnet20`` ...) use our names already (``conv1``, ``bn1``,
``layer{k}.{j}.{conv,bn}{1,2}``, ``linear``; the option-E shortcut has no parameters): their state
dicts load unchanged. Build the model with ``offset="official"`` to get the official logits too
(the official sigmoid/relu offsets differ from the exact inverses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ballroom.bregman.functional import project_simplex
from ballroom.bregman.nn import BregmanMLP

__all__ = ["load_official_state_dict", "official_mlp_state_dict"]

_MLP_RULES = (
    (re.compile(r"^lin\.(\d+)\.(weight|bias)$"), r"layers.\1.\2"),
    (re.compile(r"^reparametrization\.(\d+)\.weight$"), r"layers.\1.skip_weight"),
    (re.compile(r"^output\.(weight|bias)$"), r"output.\1"),
)


def official_mlp_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an official ``bregmanet.MLP`` state dict to :class:`BregmanMLP` names (see the module table).

    The skip matrices are projected onto the simplex with the exact projection (a no-op on rows that
    already lie there), since ours are used as stored.

    Args:
        state_dict: the official model's ``state_dict()``.

    Returns:
        A new dict with our names.

    Raises:
        KeyError: a key the mapping does not know (e.g. ``weight_norm`` parameters).
    """
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        for pattern, target in _MLP_RULES:
            if pattern.match(key):
                new = pattern.sub(target, key)
                out[new] = project_simplex(value) if new.endswith("skip_weight") else value
                break
        else:
            raise KeyError(
                f"state_dict: unexpected key {key!r} for an official MLP (weight_norm is not supported)"
            )
    return out


def load_official_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor]) -> nn.Module:
    """Load official ``bregmanet`` weights into ``model`` (strict) and return it.

    ``model`` is a :class:`BregmanMLP` (names mapped by :func:`official_mlp_state_dict`) or one of
    the CIFAR ResNets (names are the same). A trainable skip (``skip_logits``) gets ``log P``.

    Args:
        model: the model to load into.
        state_dict: the official model's ``state_dict()``.

    Returns:
        ``model``, with the weights loaded.

    Raises:
        KeyError: an unknown official MLP key.
        RuntimeError: missing or unexpected keys or shape mismatches (``load_state_dict(strict=True)``).
    """
    if isinstance(model, BregmanMLP):
        mapped = official_mlp_state_dict(state_dict)
        for i, layer in enumerate(model.layers):
            key = f"layers.{i}.skip_weight"
            if layer.trainable_skip and key in mapped:
                mapped[f"layers.{i}.skip_logits"] = torch.log(mapped.pop(key).clamp_min(1e-12))
    else:
        mapped = dict(state_dict)
    model.load_state_dict(mapped, strict=True)
    return model
