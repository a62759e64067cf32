"""Official checkpoints: the robustness-library layout the official STIR code loads its models from.

An official checkpoint is ``{"model": state_dict, ...}`` whose keys are ``module.model.<layer>``
(the network), ``module.attacker.model.<layer>`` (the same weights, for the attacker) and
``module.normalizer.new_mean`` / ``new_std`` (the input normaliser, shape ``(C, 1, 1)``).
:func:`load_official_state_dict` returns the network's state dict (prefix stripped, attacker copy
dropped) and the matching :class:`~ballroom.stir.nn.Normalizer`; load the state dict into the same
architecture and wrap it with :class:`~ballroom.stir.nn.HookedFeatureModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ballroom.stir.nn import Normalizer

__all__ = ["load_official_state_dict"]

_PREFIXES = ("module.model.", "model.")


def load_official_state_dict(checkpoint: Mapping[str, Any]) -> tuple[dict[str, Tensor], Normalizer | None]:
    """``(network state dict, normaliser or None)`` from an official checkpoint or its ``"model"`` dict."""
    if not isinstance(checkpoint, Mapping):
        raise TypeError(
            f"checkpoint must be a mapping (a loaded checkpoint), got {type(checkpoint).__name__}"
        )
    sd = checkpoint.get("model", checkpoint.get("state_dict", checkpoint))
    if not isinstance(sd, Mapping):
        raise TypeError("checkpoint['model'] must be a state dict")
    net: dict[str, Tensor] = {}
    mean = std = None
    for key, value in sd.items():
        bare = key.removeprefix("module.")
        if bare.startswith("attacker."):
            continue
        if bare.startswith("normalizer."):
            if bare.endswith("new_mean"):
                mean = value
            elif bare.endswith("new_std"):
                std = value
            continue
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                net[key[len(prefix) :]] = value
                break
    if not net:
        raise ValueError(
            "checkpoint has no module.model.* weights: not an official (robustness-library) checkpoint"
        )
    norm = None
    if mean is not None and std is not None:
        norm = Normalizer(mean.reshape(-1).tolist(), std.reshape(-1).tolist())
    return net, norm
