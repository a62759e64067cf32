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

The official ImageNet family (``resnet_large.py``: ``bresnet18/34/50``, torchvision's layout and
names ``conv1``, ``bn1``, ``layer{k}.{j}.{conv,bn}{1,2,3}``, ``fc``) loads into
:class:`~ballroom.bregman.resnet.BregmanResNet` with one rule for ``layer{k}.0.downsample.{0,1}.*``
(the 1x1 conv + BN that torchvision's ``_make_layer`` builds):

* Bregman basic blocks (``bresnet18/34``): the official block stores ``downsample`` but never
  applies it (its forward uses the option-E padded shortcut, as ours): those keys are dropped.
* Bregman bottlenecks (``bresnet50``): the official block adds ``sigma^{-1}(downsample(x))`` with no
  clamp: build ``bregman_resnet50(..., official_shortcut=True)``; ``downsample.*`` -> ``shortcut.*``.
* Standard nets (the official ``version="standard"`` is torchvision's ResNet): ``downsample.*`` ->
  ``shortcut.*`` of ``bregman_resnet18/34/50("relu", standard=True, offset="official")``.

The official ImageNet blocks always use ``softplus`` (beta 1000) whatever ``activation`` the net gets
(it drives the stem only): build ours with ``activation=<official activation>,
block_activation="softplus", offset="official"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ballroom.bregman.functional import project_simplex
from ballroom.bregman.nn import BregmanMLP
from ballroom.bregman.resnet import BregmanBasicBlock, BregmanResNet

__all__ = ["load_official_state_dict", "official_imagenet_state_dict", "official_mlp_state_dict"]

_DOWNSAMPLE = re.compile(r"^(layer\d+\.\d+)\.downsample\.(.+)$")

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


def official_imagenet_state_dict(model: BregmanResNet, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an official ImageNet ``bresnet18/34/50`` (or torchvision ResNet) state dict for ``model``.

    ``layer{k}.{j}.downsample.{0,1}.*`` becomes ``layer{k}.{j}.shortcut.{0,1}.*`` where ``model`` has
    that conv + BN shortcut (standard nets; bottlenecks with ``official_shortcut=True``) and is dropped
    for a Bregman basic block (the official one never applies it); every other name is kept.

    Args:
        model: the :class:`~ballroom.bregman.resnet.BregmanResNet` the weights are for.
        state_dict: the official model's ``state_dict()``.

    Returns:
        A new dict with our names.

    Raises:
        TypeError: ``model`` is not a :class:`~ballroom.bregman.resnet.BregmanResNet` or
            ``state_dict`` not a mapping.
        KeyError: ``downsample`` weights that ``model`` has no place for (a Bregman bottleneck net
            built without ``official_shortcut=True``).
    """
    if not isinstance(model, BregmanResNet):
        raise TypeError(f"model must be a BregmanResNet (the ImageNet family), got {type(model).__name__}")
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    ours = set(model.state_dict())
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        match = _DOWNSAMPLE.match(key)
        if match is None:
            out[key] = value
            continue
        target = f"{match.group(1)}.shortcut.{match.group(2)}"
        block = model.get_submodule(match.group(1))
        if target in ours:
            out[target] = value
        elif isinstance(block, BregmanBasicBlock) and not block.standard:
            continue  # stored but never applied by the official Bregman basic block
        else:
            raise KeyError(
                f"state_dict: {key!r} is the official conv + BN shortcut of a Bregman bottleneck; build the "
                "model with official_shortcut=True to load it"
            )
    return out


def load_official_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor]) -> nn.Module:
    """Load official ``bregmanet`` weights into ``model`` (strict) and return it.

    ``model`` is a :class:`BregmanMLP` (names mapped by :func:`official_mlp_state_dict`), an
    ImageNet :class:`~ballroom.bregman.resnet.BregmanResNet` (:func:`official_imagenet_state_dict`)
    or one of the CIFAR ResNets (names are the same). A trainable skip (``skip_logits``) gets ``log P``.

    Args:
        model: the model to load into.
        state_dict: the official model's ``state_dict()``.

    Returns:
        ``model``, with the weights loaded.

    Raises:
        KeyError: an unknown official MLP key, or official ``downsample`` weights for a Bregman
            bottleneck net built without ``official_shortcut=True``.
        RuntimeError: missing or unexpected keys or shape mismatches (``load_state_dict(strict=True)``).
    """
    if isinstance(model, BregmanMLP):
        mapped = official_mlp_state_dict(state_dict)
        for i, layer in enumerate(model.layers):
            key = f"layers.{i}.skip_weight"
            if layer.trainable_skip and key in mapped:
                mapped[f"layers.{i}.skip_logits"] = torch.log(mapped.pop(key).clamp_min(1e-12))
    elif isinstance(model, BregmanResNet):
        mapped = official_imagenet_state_dict(model, state_dict)
    else:
        mapped = dict(state_dict)
    model.load_state_dict(mapped, strict=True)
    return model
