"""Volumes, rotations and equivariance metrics (torch + scipy, no Lightning).

Coordinates: x is the last axis (W), y the H axis, z the D axis of ``[B, C, D, H, W]``; a rotation
``g`` acts about the grid centre by ``[pi(g) f](p) = rho(g) f(g^-1 p)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ballroom.core.validate import check_int, check_positive, check_tensor
from ballroom.pdo3d.groups import octahedral

if TYPE_CHECKING:
    from ballroom.pdo3d.nn import FieldType

__all__ = [
    "TETRIS_NAMES",
    "TETRIS_SHAPES",
    "central_ball",
    "cube_rotations",
    "equivariance_error",
    "invariance_error",
    "is_cube_rotation",
    "random_rotations",
    "rotate_field",
    "rotate_volume",
    "smooth_random_volumes",
    "tetris_volumes",
]

TETRIS_NAMES = ("chiral-1", "chiral-2", "square", "line", "corner", "L", "T", "zigzag")
TETRIS_SHAPES = (
    ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)),
    ((0, 1, 0), (0, 1, 1), (1, 1, 0), (1, 0, 0)),
    ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)),
    ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)),
    ((0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)),
    ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)),
    ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)),
    ((0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)),
)


def tetris_volumes(scale: int = 3, pad: int = 4) -> tuple[Tensor, Tensor]:
    """The 8 Tetris polycubes: volumes ``(8, 1, S, S, S)`` float32 (``S = 4 scale + 2 pad``) and
    labels ``(8,)`` (order of :data:`TETRIS_NAMES`). Cube ``(a, b, c)`` of the 4^3 box is the voxel
    block at x = a, y = b, z = c, zoomed by ``scale`` (nearest neighbour) and zero padded."""
    scale, pad = check_int(scale, "scale", min=1), check_int(pad, "pad", min=0)
    box = torch.zeros(8, 1, 4, 4, 4)
    for k, shape in enumerate(TETRIS_SHAPES):
        for a, b, c in shape:
            box[k, 0, c, b, a] = 1.0
    vol = box.repeat_interleave(scale, 2).repeat_interleave(scale, 3).repeat_interleave(scale, 4)
    return nn.functional.pad(vol, (pad,) * 6), torch.arange(8)


def cube_rotations() -> Tensor:
    """The 24 rotations of the cube ``(24, 3, 3)`` float64 (identity first)."""
    elements = octahedral().elements
    assert elements is not None
    return elements.clone()


def random_rotations(n: int, seed: int = 0) -> Tensor:
    """``n`` uniform random rotations ``(n, 3, 3)`` float64: ZYZ Euler angles with ``alpha, gamma
    ~ U(0, 2 pi)``, ``beta = arccos U(-1, 1)``.

    Args:
        n: how many rotations.
        seed: torch generator seed (the same seed gives the same rotations).
    """
    n = check_int(n, "n", min=1)
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 3, generator=gen, dtype=torch.float64)
    a, b, c = 2 * math.pi * u[:, 0], torch.arccos(2 * u[:, 1] - 1), 2 * math.pi * u[:, 2]

    def rz(t: Tensor) -> Tensor:
        o, z = torch.ones_like(t), torch.zeros_like(t)
        return torch.stack([torch.stack([t.cos(), -t.sin(), z], -1), torch.stack([t.sin(), t.cos(), z], -1),
                            torch.stack([z, z, o], -1)], -2)  # fmt: skip

    def ry(t: Tensor) -> Tensor:
        o, z = torch.ones_like(t), torch.zeros_like(t)
        return torch.stack([torch.stack([t.cos(), z, t.sin()], -1), torch.stack([z, o, z], -1),
                            torch.stack([-t.sin(), z, t.cos()], -1)], -2)  # fmt: skip

    return rz(a) @ ry(b) @ rz(c)


def is_cube_rotation(g: Tensor) -> bool:
    """``g`` is a signed permutation matrix (an element of O)."""
    return bool((g - g.round()).abs().max() < 1e-9) and bool((g.round().abs().sum(0) == 1).all())


def _grid(shape: tuple[int, int, int], dtype: torch.dtype = torch.float64) -> Tensor:
    """Centred coordinates ``(3, D, H, W)`` in (x, y, z) order."""
    d, h, w = shape
    zz, yy, xx = torch.meshgrid(
        torch.arange(d, dtype=dtype) - (d - 1) / 2, torch.arange(h, dtype=dtype) - (h - 1) / 2,
        torch.arange(w, dtype=dtype) - (w - 1) / 2, indexing="ij",
    )  # fmt: skip
    return torch.stack([xx, yy, zz])


def _spline_order(order: int) -> Literal[0, 1, 2, 3, 4, 5]:
    """``order`` checked to be a spline order scipy supports (0..5)."""
    orders: dict[int, Literal[0, 1, 2, 3, 4, 5]] = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
    return orders[check_int(order, "order", min=0, max=5)]


def rotate_volume(x: Tensor, g: Tensor, order: int = 3) -> Tensor:
    """``x(g^-1 p)`` for every voxel ``p`` (about the centre): ``[B, C, D, H, W] -> same``.

    Cube rotations (signed permutations, cubic grids) are exact voxel permutations; other rotations
    are resampled with a spline of ``order`` (scipy ``map_coordinates``; 3 = cubic, zero outside).
    """
    x = check_tensor(x, "x", ndim=5)
    g = check_tensor(g, "g", shape=(3, 3)).detach().to("cpu", torch.float64)
    shape = (int(x.shape[2]), int(x.shape[3]), int(x.shape[4]))
    p = _grid(shape).reshape(3, -1)
    q = g.T @ p  # source positions in (x, y, z)
    centre = torch.tensor([(shape[2] - 1) / 2, (shape[1] - 1) / 2, (shape[0] - 1) / 2], dtype=torch.float64)
    src = q + centre[:, None]  # (x, y, z) indices
    if is_cube_rotation(g) and shape[0] == shape[1] == shape[2]:
        idx = src.round().long()
        flat = (idx[2] * shape[1] + idx[1]) * shape[2] + idx[0]
        return x.flatten(2)[:, :, flat.to(x.device)].reshape(x.shape)
    from scipy.ndimage import map_coordinates

    coords = src.flip(0).numpy()  # (z, y, x) = array axes
    spline = _spline_order(order)
    arr = x.detach().cpu().double().numpy()
    out = np.empty_like(arr)
    for b in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            out[b, c] = map_coordinates(arr[b, c], coords, order=spline, mode="constant", cval=0.0).reshape(
                shape
            )
    return torch.from_numpy(out).to(x.device, x.dtype)


def rotate_field(x: Tensor, field_type: FieldType, g: Tensor, order: int = 3) -> Tensor:
    """``rho(g) x(g^-1 p)``: a feature map of ``field_type`` rotated by ``g``.

    Args:
        x: ``[B, C, D, H, W]`` with ``C = field_type.size``.
        field_type: the ``FieldType`` of ``x`` (its block-diagonal ``rho(g)`` mixes the channels).
        g: the rotation ``(3, 3)``.
        order: spline order for rotations other than the cube's (see :func:`rotate_volume`).

    Returns:
        The rotated field ``[B, C, D, H, W]``.
    """
    rot = rotate_volume(x, g, order)
    rho = field_type.representation(g).to(x.device, x.dtype)
    return torch.einsum("ij,bj...->bi...", rho, rot)


def central_ball(shape: tuple[int, ...], radius: float) -> Tensor:
    """Boolean mask ``(D, H, W)`` of the voxels within ``radius`` of the grid centre.

    Args:
        shape: the grid's shape; its last three entries are ``(D, H, W)``.
        radius: in voxels (``math.inf``: the whole grid).
    """
    if len(shape) < 3:
        raise ValueError(f"shape must end with (D, H, W), got {tuple(shape)}")
    return _grid((int(shape[-3]), int(shape[-2]), int(shape[-1]))).norm(dim=0) <= radius


def smooth_random_volumes(
    n: int, size: int = 25, sigma: float = 2.0, channels: int = 1, seed: int = 0
) -> Tensor:
    """Gaussian-filtered white noise ``(n, channels, size, size, size)`` float32, unit std.

    Args:
        n: number of volumes.
        size: grid edge ``S``.
        sigma: std of the Gaussian filter in voxels (zero outside the grid).
        channels: channels per volume.
        seed: numpy generator seed (the same seed gives the same volumes).
    """
    from scipy.ndimage import gaussian_filter

    n, size = check_int(n, "n", min=1), check_int(size, "size", min=1)
    check_positive(sigma, "sigma")
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, channels, size, size, size))
    sm = np.stack([[gaussian_filter(v, sigma, mode="constant") for v in b] for b in noise])
    sm = sm / sm.std()
    return torch.from_numpy(sm).float()


def equivariance_error(
    module: nn.Module, x: Tensor, rotation: Tensor, in_type: FieldType | None = None,
    out_type: FieldType | None = None,
    radius: float | None = None, order: int = 3,
) -> float:  # fmt: skip
    """Relative error ``||f(g.x) - g.f(x)|| / ||g.f(x)||`` on a central ball of the output.

    Cube rotations are exact permutations (the ball defaults to the whole grid); other rotations
    are resampled (``order``) and the ball defaults to radius ``size / 4`` of the output grid.
    ``in_type``/``out_type`` default to the module's attributes of those names.

    Args:
        module: the layer or net ``f`` (evaluated under ``no_grad``).
        x: the input ``[B, C_in, D, H, W]``.
        rotation: the rotation ``g`` ``(3, 3)``.
        in_type, out_type: ``FieldType`` of the input and output (how ``g`` mixes channels).
        radius: the central ball's radius in output voxels.
        order: spline order of the resampling.

    Returns:
        The relative error (a float; ~1e-7 in float32 for an exactly equivariant layer).
    """
    x = check_tensor(x, "x", ndim=5)
    rotation = check_tensor(rotation, "rotation", shape=(3, 3))
    in_type = in_type if in_type is not None else getattr(module, "in_type", None)
    out_type = out_type if out_type is not None else getattr(module, "out_type", None)
    if in_type is None or out_type is None:
        raise ValueError("in_type and out_type must be given for a module without those attributes")
    from ballroom.pdo3d.nn import FieldType

    if not isinstance(in_type, FieldType) or not isinstance(out_type, FieldType):
        raise TypeError(
            f"in_type and out_type must be FieldType objects, got {type(in_type).__name__}, "
            f"{type(out_type).__name__}"
        )
    with torch.no_grad():
        lhs = module(rotate_field(x, in_type, rotation, order))
        rhs = rotate_field(module(x), out_type, rotation, order)
    shape = tuple(lhs.shape[2:])
    if radius is None:
        radius = math.inf if is_cube_rotation(rotation.cpu()) else min(shape) / 4
    mask = central_ball(shape, radius).to(lhs.device)
    diff = ((lhs - rhs) * mask).norm()
    return float(diff / (rhs * mask).norm().clamp_min(1e-30))


def invariance_error(module: nn.Module, x: Tensor, rotations: Tensor, order: int = 3) -> float:
    """``max_g ||f(g.x) - f(x)|| / ||f(x)||`` for an invariant ``f`` (e.g. logits).

    Args:
        module: the invariant function ``f`` (e.g. a Tetris net; evaluated under ``no_grad``).
        x: the input volumes ``[B, C, D, H, W]``.
        rotations: ``(n, 3, 3)`` rotation matrices.
        order: spline order for rotations other than the cube's.

    Returns:
        The largest relative change over ``rotations`` (a float).
    """
    x = check_tensor(x, "x", ndim=5)
    rotations = check_tensor(rotations, "rotations", ndim=3)
    with torch.no_grad():
        ref = module(x)
        errs = [
            float((module(rotate_volume(x, g, order)) - ref).norm() / ref.norm().clamp_min(1e-30))
            for g in rotations
        ]
    return max(errs)
