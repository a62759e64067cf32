"""From a ``fit`` checkpoint back to the zoo's plain ``nn.Module``.

Every ballroom LightningModule that trains a zoo model keeps it in ``self.net`` and its name in
the ``model`` hyperparameter (with overrides in ``model_kwargs``), so a checkpoint written by
``ballroom-<name> fit`` loads into ``create_model(...)`` without Lightning::

    from ballroom.core.checkpoint import load_zoo_model
    net = load_zoo_model("lightning_logs/version_0/checkpoints/last.ckpt")   # eval mode, CPU

Checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["load_zoo_model", "read_checkpoint", "zoo_state_dict"]


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a Lightning checkpoint with ``weights_only=True``; a clear error if it is not one.

    Args:
        path: the ``.ckpt`` file.
        map_location: where tensors are loaded (passed to ``torch.load``).

    Returns:
        The checkpoint as a dict (it has a ``"state_dict"`` entry).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a mapping with a ``"state_dict"`` entry.
    """
    import torch

    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no checkpoint file at {os.fspath(path)!r}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt:
        raise ValueError(f"path: {os.fspath(path)!r} is not a Lightning checkpoint (no 'state_dict')")
    return dict(ckpt)


def zoo_state_dict(state_dict: Mapping[str, Any], prefix: str = "net.") -> dict[str, Any]:
    """The entries of a LightningModule's ``state_dict`` under ``prefix``, with the prefix removed."""
    found = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not found:
        raise KeyError(
            f"prefix: no state_dict entry starts with {prefix!r} (keys: {list(state_dict)[:5]}...)"
        )
    return found


def load_zoo_model(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    prefix: str = "net.",
    map_location: str | torch.device = "cpu",
    **overrides: Any,
) -> nn.Module:
    """Build the zoo model a ``fit`` checkpoint trained and load its weights (strict), in eval mode.

    Args:
        path: the ``.ckpt`` file.
        name: the zoo name; default: the checkpoint's ``model`` hyperparameter.
        prefix: where the LightningModule keeps the network (``"net."`` in every ballroom module).
        map_location: where tensors are loaded.
        **overrides: builder keyword arguments on top of the checkpoint's ``model_kwargs``.

    Raises:
        ValueError: the checkpoint names no zoo model and ``name`` is not given.
    """
    from ballroom.core.zoo import create_model

    ckpt = read_checkpoint(path, map_location)
    hparams = dict(ckpt.get("hyper_parameters") or {})
    if name is None:
        name = hparams.get("model")
        if not isinstance(name, str):
            raise ValueError(
                "name: the checkpoint's hyperparameters name no zoo model (no string 'model'); pass name=..."
            )
    kwargs = {**dict(hparams.get("model_kwargs") or {}), **overrides}
    net: nn.Module = create_model(name, **kwargs)
    net.load_state_dict(zoo_state_dict(ckpt["state_dict"], prefix))
    return net.eval()
