"""Porting from the official code (``david-knigge/separable-group-convolutional-networks``).

- :func:`official_key_map` / :func:`to_official_state_dict` / :func:`load_official_state_dict`: the
  parameter names of the official layers (``kernel.cknet*.net.net.<j>.linear``, ``final_linear``,
  ``depthwise_projection.weight``) against ours (``kernel_net``, ``factorisation.group_net.first``, ...).
  Shapes agree one to one; only names differ. The mapping is per layer: inside every
  :class:`~ballroom.sepgcnn.nn.LiftingConv` / :class:`~ballroom.sepgcnn.nn.GroupConv` of a model the
  kernel's keys are renamed, every other key (batch norms, heads) keeps our module path.
- :func:`elements_from_official` / :func:`elements_to_official`: the official element grids
  (``(N,)`` angles for SE(2); the ``(rot (R,), scale (S,))`` tuple of ``Sim2.sample(separable=True)``)
  against ours (``(N, 1)``; ``(R S, 2)`` rows ``(theta, s)``, rotation-major).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ballroom.sepgcnn.groups import SE2, Group, Sim2
from ballroom.sepgcnn.models import CKGCNN, CKGResNet
from ballroom.sepgcnn.nn import GroupConv, LiftingConv
from ballroom.sepgcnn.siren import SIRENKernel

__all__ = [
    "OFFICIAL_KERNEL_NAMES",
    "elements_from_official",
    "elements_to_official",
    "load_official_model_state_dict",
    "load_official_state_dict",
    "official_key_map",
    "official_model_key_map",
    "official_module_paths",
    "to_official_model_state_dict",
    "to_official_state_dict",
]

#: our SIREN (or projection) attribute of a layer -> the official module path inside the layer
OFFICIAL_KERNEL_NAMES: dict[str, str] = {
    "kernel_net": "kernel.cknet",  # lifting, nonseparable, dseparable
    "factorisation.kernel_net": "kernel.cknet",
    "factorisation.group_net": "kernel.cknet_H",  # gseparable, separable, dgseparable
    "factorisation.spatial_net": "kernel.cknet_Rn",  # every factorised variant
    "factorisation.rotation_net": "kernel.cknet_SO2",  # separable+2d, gseparable+2d
    "factorisation.scale_net": "kernel.cknet_Rplus",
    "factorisation.projection": "depthwise_projection.weight",  # dseparable, dgseparable
}


def _siren_keys(net: SIRENKernel) -> dict[str, str]:
    """Inside one SIREN: ``first`` -> ``net.net.0.linear``, ``hidden.j`` -> ``net.net.<j+1>.linear``,
    ``last`` -> ``final_linear`` (the official ``CKNetLinear`` wrapping its ``SIREN``)."""
    keys = {f"first.{p}": f"net.net.0.linear.{p}" for p in ("weight", "bias")}
    for j in range(len(net.hidden)):
        keys.update({f"hidden.{j}.{p}": f"net.net.{j + 1}.linear.{p}" for p in ("weight", "bias")})
    keys.update({f"last.{p}": f"final_linear.{p}" for p in ("weight", "bias")})
    return keys


def official_key_map(model: nn.Module) -> dict[str, str]:
    """Our state-dict key -> the official one, for every key of ``model.state_dict()``.

    Keys inside a lifting or group layer are renamed (:data:`OFFICIAL_KERNEL_NAMES` and the SIREN
    layers); every other key maps to itself.
    """
    mapping = {key: key for key in model.state_dict()}
    for path, layer in model.named_modules():
        if not isinstance(layer, (LiftingConv, GroupConv)):
            continue
        prefix = f"{path}." if path else ""
        for ours, theirs in OFFICIAL_KERNEL_NAMES.items():
            parent, _, leaf = ours.rpartition(".")
            sub = layer._modules.get(parent) if parent else layer
            if sub is None:
                continue
            target = sub._modules.get(leaf, sub._parameters.get(leaf))
            if isinstance(target, SIRENKernel):
                for a, b in _siren_keys(target).items():
                    mapping[f"{prefix}{ours}.{a}"] = f"{prefix}{theirs}.{b}"
            elif isinstance(target, nn.Parameter):
                mapping[f"{prefix}{ours}"] = f"{prefix}{theirs}"
    return mapping


def to_official_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """``model.state_dict()`` under the official names (the reverse of :func:`load_official_state_dict`)."""
    mapping = official_key_map(model)
    return {mapping[k]: v for k, v in model.state_dict().items()}


def load_official_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor]) -> nn.Module:
    """Load a state dict whose kernel keys carry the official names into ``model`` (in place; returned).

    Args:
        model: a model built of this package's layers (its SIREN keys are renamed by :func:`official_key_map`).
        state_dict: a mapping from the official parameter names to tensors.

    Returns:
        ``model``, loaded.

    Raises:
        TypeError: if ``state_dict`` is not a mapping.
        KeyError: naming every unexpected key and every missing one (strict).
        RuntimeError: from :meth:`~torch.nn.Module.load_state_dict` on a shape mismatch.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    back = {theirs: ours for ours, theirs in official_key_map(model).items()}
    unknown = sorted(set(state_dict) - set(back))
    missing = sorted(set(back) - set(state_dict))
    if unknown or missing:
        raise KeyError(
            f"official state dict does not match the model: unexpected keys {unknown}, missing keys {missing}"
        )
    model.load_state_dict({back[k]: v for k, v in state_dict.items()}, strict=True)
    return model


def elements_from_official(elements: Tensor | tuple[Tensor, Tensor], group: Group | None = None) -> Tensor:
    """The official element grid as our layers take it.

    ``elements``: SE(2) angles ``(N,)`` (or ``(N, 1)``); Sim(2) the tuple ``(rot (R,), scale (S,))`` of
    ``Sim2.sample(separable=True)`` (or its meshgrid ``(R S, 2)``). Returns ``(N, 1)`` or ``(R S, 2)``
    rows ``(theta, s)``, rotation-major (as the official ``meshgrid(rot, scale)``). ``group``: checked
    against when given.
    """
    if isinstance(elements, tuple):
        if len(elements) != 2 or not all(isinstance(t, Tensor) and t.ndim == 1 for t in elements):
            raise ValueError("official Sim(2) elements must be a tuple (rot (R,), scale (S,)) of 1-d tensors")
        rot, scale = elements
        out = torch.stack(torch.meshgrid(rot, scale.to(rot.dtype), indexing="ij"), dim=-1).reshape(-1, 2)
    elif isinstance(elements, Tensor):
        if elements.ndim == 1:
            out = elements.unsqueeze(-1)
        elif elements.ndim == 2 and elements.shape[1] in (1, 2):
            out = elements
        else:
            raise ValueError(f"official elements must be (N,), (N, 1) or (N, 2), got {tuple(elements.shape)}")
    else:
        raise TypeError(f"elements must be a tensor or a (rot, scale) tuple, got {type(elements).__name__}")
    if group is not None:
        group.check_elements(out)
    return out


def elements_to_official(elements: Tensor, group: Group) -> Tensor | tuple[Tensor, Tensor]:
    """Our ``(N, d)`` grid as the official code holds it: SE(2) ``(N,)`` angles; Sim(2) the tuple
    ``(rot (R,), scale (S,))`` (the grid must be a rotation-major product of the two).

    Args:
        elements: our ``(N, d)`` float element grid.
        group: the group the grid belongs to (checked against).

    Returns:
        SE(2): the ``(N,)`` angles; Sim(2): the tuple ``(rot (R,), scale (S,))`` with ``N = R S``.

    Raises:
        ValueError: if ``elements`` is not a valid grid of ``group`` or, on Sim(2), not a rotation-major
            product grid.
    """
    group.check_elements(elements)
    if not isinstance(group, Sim2):
        assert isinstance(group, SE2)
        return elements[:, 0]
    n_s = group.n_scale
    if elements.shape[0] % n_s:
        raise ValueError(f"a Sim(2) grid has R * {n_s} rows, got {elements.shape[0]}")
    grid = elements.view(-1, n_s, 2)
    rot, scale = grid[:, 0, 0], grid[0, :, 1]
    if not (
        torch.equal(grid[..., 0], rot[:, None].expand_as(grid[..., 0]))
        and torch.equal(grid[..., 1], scale[None].expand_as(grid[..., 1]))
    ):
        raise ValueError("elements are not a rotation-major product grid (rot x scale)")
    return rot, scale


def official_module_paths(model: CKGResNet | CKGCNN, *, dropout: bool = False) -> dict[str, str]:
    """Our module path -> the official model's one, for a whole :class:`~ballroom.sepgcnn.models.CKGResNet`
    or :class:`~ballroom.sepgcnn.models.CKGCNN` (read from the official ``ck_g_cnn/nn/ck_g_resnet.py``,
    ``ck_g_cnn.py``, ``ck_g_cnn_base.py``, ``conv/group_conv_block.py``, ``normalisation/normalisation.py``).

    The official models hold the lifting layer as ``lifting``, everything after it in one
    ``nn.ModuleList`` ``layers`` (parameter-free ReLU, pooling and dropout modules included, so they
    shift the indices), each batch norm wrapped as ``<norm>.bn``, the residual block's convolutions as
    ``gconv_1`` / ``gconv_2`` / ``skip_align`` with ``normalisation_1.bn`` / ``normalisation_2.bn``, and the
    head as ``final_linear`` (same ``Sequential`` indices as our ``head``).

    ``dropout``: the official model was built with ``dropout > 0`` (a ``Dropout`` module after the
    lifting batch norm, after every block's pooling and after the last ReLU; CKGResNet only, the
    official CKGCNN has none). Pooling is on (``--pooling 1``), as our models always pool.
    The official CKGCNN's final group convolution is followed by a batch norm that our CKGCNN (as the
    spec defines it) does not have: that norm's keys in an official CKGCNN checkpoint are reported as
    unexpected by :func:`load_official_model_state_dict`.
    """
    if isinstance(model, CKGResNet):
        d = int(dropout)
        paths = {"lift": "lifting", "lift_bn": "layers.0.bn", "head": "final_linear"}
        step, first = 4 + d, 2 + d  # block, BN, pool, [dropout], ReLU; after BN, [dropout], ReLU
        for j in range(len(model.blocks)):
            b = first + j * step
            paths |= {
                f"blocks.{j}.conv1": f"layers.{b}.gconv_1",
                f"blocks.{j}.bn1": f"layers.{b}.normalisation_1.bn",
                f"blocks.{j}.conv2": f"layers.{b}.gconv_2",
                f"blocks.{j}.bn2": f"layers.{b}.normalisation_2.bn",
                f"blocks.{j}.skip": f"layers.{b}.skip_align",
                f"block_bns.{j}": f"layers.{b + 1}.bn",
            }
        f = first + len(model.blocks) * step
        return paths | {"final": f"layers.{f}", "final_bn": f"layers.{f + 1}.bn"}
    if isinstance(model, CKGCNN):
        if dropout:
            raise ValueError("the official CKGCNN has no dropout modules; dropout=True is for CKGResNet")
        paths = {"lift": "lifting", "bns.0": "layers.0.bn", "head": "final_linear"}
        for j in range(len(model.convs)):  # after BN, pool, ReLU: gconv, BN, pool, ReLU
            paths |= {f"convs.{j}": f"layers.{3 + 4 * j}", f"bns.{j + 1}": f"layers.{4 + 4 * j}.bn"}
        return paths | {"final": f"layers.{3 + 4 * len(model.convs)}"}
    raise TypeError(f"model must be a CKGResNet or a CKGCNN, got {type(model).__name__}")


def official_model_key_map(model: CKGResNet | CKGCNN, *, dropout: bool = False) -> dict[str, str]:
    """Our state-dict key -> the official model's key: :func:`official_key_map` inside every layer,
    then the module paths of :func:`official_module_paths`."""
    paths = official_module_paths(model, dropout=dropout)
    out = {}
    for ours, theirs in official_key_map(model).items():
        parts = theirs.split(".")
        # the longest of our module paths that prefixes the key (they are at most three parts deep)
        prefix = next((n for n in (3, 2, 1) if ".".join(parts[:n]) in paths), None)
        if prefix is None:
            raise KeyError(f"no official module for {ours!r}")
        theirs = ".".join([paths[".".join(parts[:prefix])], *parts[prefix:]])
        out[ours] = theirs
    return out


def to_official_model_state_dict(model: CKGResNet | CKGCNN, *, dropout: bool = False) -> dict[str, Tensor]:
    """``model.state_dict()`` as the official ``CKGResNet`` / ``CKGCNN`` names it (the reverse of
    :func:`load_official_model_state_dict`)."""
    mapping = official_model_key_map(model, dropout=dropout)
    return {mapping[k]: v for k, v in model.state_dict().items()}


def load_official_model_state_dict(
    model: CKGResNet | CKGCNN, state_dict: Mapping[str, Tensor], *, dropout: bool = False
) -> CKGResNet | CKGCNN:
    """Load a whole official model's state dict (``torch.save(model.state_dict())`` of the official
    ``CKGResNet`` / ``CKGCNN``) into ``model`` (in place; returned). Strict: ``KeyError`` naming every
    unexpected and every missing key, ``RuntimeError`` on a shape mismatch."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    back = {theirs: ours for ours, theirs in official_model_key_map(model, dropout=dropout).items()}
    unknown = sorted(set(state_dict) - set(back))
    missing = sorted(set(back) - set(state_dict))
    if unknown or missing:
        raise KeyError(
            f"official state dict does not match the model: unexpected keys {unknown}, missing keys {missing}"
        )
    model.load_state_dict({back[k]: v for k, v in state_dict.items()}, strict=True)
    return model
