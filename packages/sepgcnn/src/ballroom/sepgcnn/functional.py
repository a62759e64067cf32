"""Pure functions of the kernel geometry: tap grids, masks, Jacobians and scale windows.

Every continuous-kernel layer (:class:`~ballroom.sepgcnn.nn.LiftingConv` and each
:class:`~ballroom.sepgcnn.kernels.KernelFactorisation` of :class:`~ballroom.sepgcnn.nn.GroupConv`)
evaluates its SIRENs on the tap grid transformed by the group elements and weights the result with
these functions. Group elements are rows ``(theta,)`` (SE(2)) or ``(theta, s)`` (Sim(2)); see
:mod:`ballroom.sepgcnn.groups`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ballroom.sepgcnn.groups import Group, Sim2

__all__ = [
    "check_kernel_size",
    "grid_extent",
    "inverse_jacobian",
    "kernel_mask",
    "log_scale_window",
    "product_grids",
    "scale_window",
    "tap_grid",
    "transformed_grid",
]


def tap_grid(kernel_size: int, extent: float = 1.0) -> Tensor:
    """``(k, k, 2)`` planar coordinates ``(x, y) = (lin[c], lin[r])`` of the kernel taps; ``(0, 0)`` for ``k = 1``.

    Args:
        kernel_size: ``k``, taps per axis (``>= 1``).
        extent: half-width ``e`` of the grid, ``lin = linspace(-e, e, k)``; default 1 (SE(2); Sim(2)
            layers pass ``max_scale``).

    Returns:
        A float32 ``(k, k, 2)`` tensor; tap ``[r, c]`` holds ``(lin[c], lin[r])``.

    Raises:
        ValueError: if ``kernel_size < 1``.
    """
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    lin = torch.zeros(1) if kernel_size == 1 else torch.linspace(-extent, extent, kernel_size)
    rows, cols = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([cols, rows], dim=-1)


def grid_extent(group: Group) -> float:
    """Half-width of the tap grid: ``max_scale`` for Sim(2), 1 for SE(2)."""
    return group.max_scale if isinstance(group, Sim2) else 1.0


def check_kernel_size(kernel_size: int, group: Group) -> None:
    """Refuse ``k = 2`` on SE(2): every tap lies outside the unit-disc mask."""
    if kernel_size == 2 and not isinstance(group, Sim2):
        raise ValueError(
            "kernel_size=2 puts every tap outside the unit-circle mask (a dead layer); use k >= 3 or 1"
        )


def transformed_grid(group: Group, elements: Tensor, grid: Tensor) -> Tensor:
    """``h^-1 . grid`` for every element ``h``: ``(N, k, k, 2)``.

    Args:
        group: the group H (:class:`~ballroom.sepgcnn.groups.SE2` or :class:`~ballroom.sepgcnn.groups.Sim2`).
        elements: ``(N, d)`` float elements of ``group`` (rows ``(theta,)`` or ``(theta, s)``).
        grid: the ``(k, k, 2)`` tap grid (:func:`tap_grid`).

    Returns:
        ``(N, k, k, 2)``: the taps rotated by ``-theta`` (and divided by ``s`` on Sim(2)).
    """
    return group.act_r2_inverse(elements, grid)


def kernel_mask(group: Group, grid: Tensor, coords: Tensor, slope: float) -> Tensor:
    """The kernel's spatial window on ``coords (N, k, k, 2)``: ``(N, k, k)``.

    SE(2): the hard unit disc on the (rotation-invariant) radius of ``grid``; Sim(2):
    ``sigmoid(slope (1 - |x'|))`` on the transformed coordinates.

    Args:
        group: the group H; selects the hard disc (SE(2)) or the sigmoid window (Sim(2)).
        grid: the untransformed ``(k, k, 2)`` tap grid (SE(2) reads its radius).
        coords: the transformed taps ``(N, k, k, 2)`` (:func:`transformed_grid`).
        slope: the Sim(2) sigmoid's slope (the layers use 2 or 3); unused on SE(2).

    Returns:
        ``(N, k, k)`` weights in ``coords``' dtype: 0/1 on SE(2), in ``(0, 1)`` on Sim(2).
    """
    if isinstance(group, Sim2):
        return torch.sigmoid(slope * (1.0 - coords.norm(dim=-1)))
    radius = grid.norm(dim=-1)
    return (radius <= 1.0 + 1e-6).to(coords.dtype).expand(coords.shape[:-1])


def inverse_jacobian(group: Group, elements: Tensor) -> Tensor:
    """The official code's Jacobian factor ``1/s`` (Sim(2)); ones for SE(2). ``(N,)``."""
    if isinstance(group, Sim2):
        return 1.0 / elements[:, 1]
    return torch.ones(elements.shape[0], device=elements.device)


def scale_window(group: Group, offsets: Tensor, slope: float) -> Tensor:
    """Sim(2): ``sigmoid(slope (log(s_max)/N_s - |log(s_in/s_out)|))`` on ``offsets (N_out, N_in, 2)``;
    ones ``(N_out, N_in)`` for SE(2)."""
    if not isinstance(group, Sim2):
        return torch.ones(offsets.shape[:2], device=offsets.device)
    return log_scale_window(group, offsets[..., 1], slope)


def log_scale_window(group: Sim2, log_scale: Tensor, slope: float) -> Tensor:
    """``sigmoid(slope (log(s_max)/N_s - |log_scale|))``, elementwise: the window on scale offsets."""
    width = math.log(group.max_scale) / group.n_scale
    return torch.sigmoid(slope * (width - log_scale.abs()))


def product_grids(group: Sim2, elements: Tensor) -> tuple[Tensor, Tensor]:
    """Split a rotation-major Sim(2) grid ``(N_rot N_s, 2)`` into its ``(N_rot,)`` angles and ``(N_s,)`` scales."""
    n_s = group.n_scale
    if elements.shape[0] % n_s:
        raise ValueError(
            f"separable+2d needs a rotation-major product grid of {n_s} scales, got {elements.shape[0]} elements"
        )
    grid = elements.view(-1, n_s, 2)
    return grid[:, 0, 0], grid[0, :, 1]
