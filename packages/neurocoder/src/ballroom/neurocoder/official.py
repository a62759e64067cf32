"""The official parameter layout (``nsa.ProgammedController`` of github.com/thaihungle/Neurocoder).

:data:`OFFICIAL_NAMES` maps each official state-dict name to ours; :func:`load_official_state_dict`
loads an official layer's state dict into a :class:`NeurocoderLinear` built with the same sizes.
The official layer always holds a ``bias`` (zeros unless trained with ``bias=True``) and, in
recurrent mode, an unused ``component_map``: both are dropped when our layer has no such parameter.

================================================  ==========================================
official                                          ours
================================================  ==========================================
``PM_U``, ``PM_V``, ``PM_S``                      ``memory.M_U``, ``memory.M_V``, ``memory.M_S``
``p2ku.*``, ``p2kv.*`` (``kc_mode="cb"``)         ``memory.key_u.*``, ``memory.key_v.*``
``program_key_u/v/s.*`` (``rnn_step=0``)          ``query_u/v/s.*``
``res_s.*``                                       ``gate.*``
``rnn_program_controller.lstm.*``                 ``controller.*``
``rnn_program_controller.lstm_h_bias / _c_bias``  ``h0``, ``c0``
``read_mode.*`` (``top_lu > 0``)                  ``lu_gate.*``
``res_weight`` (``has_res_w="y"``)                ``residual_program``
``bias``                                          ``bias``
================================================  ==========================================

Official constructor -> ours: ``program_shape=[n, m]`` -> ``in_features, out_features``;
``program_interface_size`` -> ``controller_features``; ``pkey_dim`` -> ``key_dim``;
``num_program`` -> ``num_programs``; ``svd_num_features`` -> ``rank``; ``rnn_step=0`` ->
``composition="direct"``, ``rnn_step=T > 0`` -> ``composition="recurrent", steps=T``;
``kc_mode="cb"`` -> ``key_mode="content"``, ``"lk"`` -> ``"learned"``. The official direct mode
ignores ``top_lu`` (the released MLP passes ``top_lu=5`` with ``rnn_step=0``): build ours with ``top_lu=0``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ballroom.neurocoder.nn import NeurocoderLinear

__all__ = ["OFFICIAL_NAMES", "load_official_state_dict", "official_to_ours"]

OFFICIAL_NAMES: dict[str, str] = {
    "PM_U": "memory.M_U",
    "PM_V": "memory.M_V",
    "PM_S": "memory.M_S",
    "p2ku.": "memory.key_u.",
    "p2kv.": "memory.key_v.",
    "program_key_u.": "query_u.",
    "program_key_v.": "query_v.",
    "program_key_s.": "query_s.",
    "res_s.": "gate.",
    "rnn_program_controller.lstm.": "controller.",
    "rnn_program_controller.lstm_h_bias": "h0",
    "rnn_program_controller.lstm_c_bias": "c0",
    "read_mode.": "lu_gate.",
    "res_weight": "residual_program",
    "bias": "bias",
}

_UNUSED = ("component_map.",)


def official_to_ours(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an official layer's state dict to our names (unused official entries dropped)."""
    out: dict[str, Tensor] = {}
    for name, value in state_dict.items():
        if name.startswith(_UNUSED):
            continue
        for old, new in OFFICIAL_NAMES.items():
            if name == old or (old.endswith(".") and name.startswith(old)):
                out[new + name[len(old) :] if old.endswith(".") else new] = value
                break
        else:
            raise KeyError(f"state_dict: {name!r} is not a parameter of the official layer")
    return out


def load_official_state_dict(layer: NeurocoderLinear, state_dict: Mapping[str, Tensor]) -> NeurocoderLinear:
    """Load an official ``ProgammedController`` state dict into ``layer`` (strict on our side).

    The official ``bias`` is dropped when ``layer`` has no bias and it is all zeros (a layer trained
    with ``bias=False``); a non-zero one raises, since ours would silently change the outputs.

    Args:
        layer: the layer to load into.
        state_dict: the official layer's ``state_dict()``.

    Returns:
        ``layer``, with the weights loaded.

    Raises:
        TypeError: ``layer`` is not a :class:`NeurocoderLinear`.
        KeyError: a key the official layer does not have.
        ValueError: a non-zero official bias for a layer without bias.
    """
    if not isinstance(layer, NeurocoderLinear):
        raise TypeError(f"layer must be a NeurocoderLinear, got {type(layer).__name__}")
    ours = official_to_ours(state_dict)
    if not layer.has_bias and "bias" in ours:
        b = ours.pop("bias")
        if bool((b != 0).any()):
            raise ValueError("state_dict: the official bias is non-zero; build the layer with bias=True")
    with torch.no_grad():
        layer.load_state_dict(ours, strict=True)
    return layer
