"""Loading the official code's checkpoints (``shenzy08/PDO-s3DCNN``) into our layers.

An official PDO layer (``PDO_e3DConv`` for V/T/O/I, ``SO3_layer`` for SO(3)) stores, per pair of
field types named ``a`` (input) and ``b`` (output), the learnable ``weights_{a}_to_{b}``
``(out_mul, in_mul, m)`` and the normalised kernels as the buffer ``B_base_{a}_to_{b}``
``(out_dim, in_dim, m, n, n, n)``; its dense weight is assembled field-major, output types outer,
input types inner (the spec's ``W[(m_out, o), (m_in, i)] = sum_b theta[m_out, m_in, b] K_b[o, i]``).

Our basis spans the same solution space but is a different orthonormal basis of it (the official
code takes a full SVD's null vectors, we take the Reynolds projector's range), so ``theta`` does not
copy 1:1. Instead :func:`official_dense_weight` rebuilds an official layer's dense weight from its
state dict and :func:`load_official_conv` fits our ``theta`` to it by least squares per field pair;
the returned relative residual is ~1e-7 when the two layers span the same kernels (then the outputs
agree to float32 round-off). Official Gaussian layers use the official stencil convention: build
ours with ``stencils="official"`` to load them (the residual says so otherwise).
:func:`load_official_tetris` does this for the official Tetris-O nets (``conv1..3``, ``linear``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ballroom.pdo3d.models import PDOTetrisNet
from ballroom.pdo3d.nn import PDOConv3d

__all__ = ["load_official_conv", "load_official_tetris", "official_dense_weight", "official_pair_names"]


def official_pair_names(state: Mapping[str, Tensor], prefix: str = "") -> list[tuple[str, str]]:
    """The ``(input type, output type)`` name pairs of one official layer's ``weights_{a}_to_{b}`` keys.

    Args:
        state: an official state dict (or the part of it of one layer).
        prefix: the layer's key prefix, e.g. ``"conv1."``.

    Returns:
        The pairs in the state dict's order.
    """
    head = prefix + "weights_"
    pairs = []
    for key in state:
        if key.startswith(head):
            a, sep, b = key[len(head) :].partition("_to_")
            if sep:
                pairs.append((a, b))
    return pairs


def official_dense_weight(
    state: Mapping[str, Tensor], prefix: str = "", in_names: Sequence[str] | None = None,
    out_names: Sequence[str] | None = None,
) -> Tensor:  # fmt: skip
    """The dense weight ``[C_out, C_in, n, n, n]`` (float64) of one official PDO layer.

    Args:
        state: the official state dict with ``{prefix}weights_{a}_to_{b}`` and ``{prefix}B_base_{a}_to_{b}``.
        prefix: the layer's key prefix, e.g. ``"conv1."``.
        in_names, out_names: the layer's input/output type names in channel order (the official
            ``in_type_list``/``out_type_list`` reps; SO(3) layers list their gate type last); may be
            left out when the layer has one input and one output type.

    Returns:
        ``W`` as the official forward assembles it (output types outer, input types inner).
    """
    if in_names is None or out_names is None:
        pairs = official_pair_names(state, prefix)
        if len(pairs) != 1:
            raise ValueError(
                f"in_names and out_names must be given for a layer with {len(pairs)} type pairs "
                f"under prefix {prefix!r}"
            )
        in_names, out_names = [pairs[0][0]], [pairs[0][1]]
    rows = []
    for b in out_names:
        cols = []
        for a in in_names:
            key = f"{a}_to_{b}"
            if prefix + "weights_" + key not in state or prefix + "B_base_" + key not in state:
                raise KeyError(f"state: {prefix}weights_{key} / {prefix}B_base_{key} missing")
            theta = state[prefix + "weights_" + key].detach().to("cpu", torch.float64)
            base = state[prefix + "B_base_" + key].detach().to("cpu", torch.float64)
            (mo, mi, m), (do, di, m2) = theta.shape, base.shape[:3]
            if m != m2:
                raise ValueError(f"state: {key}: weights have {m} basis elements, B_base {m2}")
            n = base.shape[-1]
            w = torch.einsum("pqb,oibzyx->poqizyx", theta, base).reshape(mo * do, mi * di, n, n, n)
            cols.append(w)
        rows.append(torch.cat(cols, 1))
    return torch.cat(rows, 0)


def load_official_conv(layer: PDOConv3d, weight: Tensor) -> float:
    """Set ``layer.theta`` so that ``layer.weight()`` is closest to ``weight`` (least squares per pair).

    Args:
        layer: our layer with the same field types (channel order) as the official one.
        weight: the official dense weight ``[C_out, C_in, n, n, n]`` (:func:`official_dense_weight`).

    Returns:
        The relative residual ``||W_ours - weight|| / ||weight||`` after the fit (~1e-7 when the
        layers span the same kernels; large when e.g. the stencil convention differs).
    """
    if not isinstance(layer, PDOConv3d):
        raise TypeError(f"layer must be a PDOConv3d, got {type(layer).__name__}")
    n = layer.kernel_size
    want = (layer.out_type.size, layer.in_type.size, n, n, n)
    if tuple(weight.shape) != want:
        raise ValueError(f"weight must have shape {want} (the layer's), got {tuple(weight.shape)}")
    w = weight.detach().to("cpu", torch.float64)
    with torch.no_grad():
        for name, si, mi, di, so, mo, do in layer._pairs:
            k = getattr(layer, f"kernel_{name}").to("cpu", torch.float64).flatten(1)  # (m, do*di*n^3)
            block = w[so : so + mo * do, si : si + mi * di].reshape(mo, do, mi, di, -1)
            block = block.permute(0, 2, 1, 3, 4).reshape(mo * mi, -1)  # (mo*mi, do*di*n^3)
            theta = torch.linalg.lstsq(k.T, block.T).solution.T  # (mo*mi, m)
            param = layer.theta[name]
            param.copy_(theta.reshape(mo, mi, -1).to(param.dtype))
        layer._cached = None
        fitted = layer.weight().detach().to("cpu", torch.float64)
    return float((fitted - w).norm() / w.norm().clamp_min(1e-30))


def load_official_tetris(net: PDOTetrisNet, state: Mapping[str, Tensor]) -> dict[str, float]:
    """Load an official Tetris-O checkpoint (``S4_Net``-style: ``conv1..3`` and ``linear``) into ``net``.

    Args:
        net: a :class:`~ballroom.pdo3d.models.PDOTetrisNet` of the same widths and field type.
        state: the official ``state_dict`` (``torch.load(..., weights_only=True)``).

    Returns:
        The relative residual of each conv layer (``{"conv1": ..., ...}``).
    """
    if not isinstance(net, PDOTetrisNet):
        raise TypeError(f"net must be a PDOTetrisNet, got {type(net).__name__}")
    convs = [m for m in net.body if isinstance(m, PDOConv3d)]
    out = {}
    for k, layer in enumerate(convs, 1):
        out[f"conv{k}"] = load_official_conv(layer, official_dense_weight(state, f"conv{k}."))
    with torch.no_grad():
        for attr in ("weight", "bias"):
            src = state[f"linear.{attr}"]
            dst = getattr(net.head, attr)
            if src.shape != dst.shape:
                raise ValueError(
                    f"state: linear.{attr} has shape {tuple(src.shape)}, ours {tuple(dst.shape)}"
                )
            dst.copy_(src)
    return out
