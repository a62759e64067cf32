"""D_LSBD: how linearly symmetry-based disentangled a grid of codes is (SO(2)^K, spec "Practical D_LSBD").

For codes ``Z`` of the whole factor grid, each subgroup k is isolated by removing the mean over its
own axis, projected on 2 principal components normalised like the official code
(``sqrt(2) * unbiased std``), un-rotated by ``-w_k * theta_k`` and scored by the dispersion of the
un-rotated points. The score is the mean (official code) or sum (paper) over subgroups, minimised
over integer frequencies. Pure torch (numpy input is converted); no scikit-learn.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from ballroom.core.validate import as_tensor, check_choice, check_int

__all__ = ["dlsbd", "dlsbd_per_factor", "factor_deltas", "omega_grid", "pca2"]


def omega_grid(lo: int = -10, hi: int = 10, k: int = 2) -> Tensor:
    """Every integer frequency combination in ``{lo..hi}^k``: ``(( hi-lo+1)^k, k)`` int64.

    The official ``create_combinations_omega_values_range``: a ``meshgrid(indexing="ij")`` grid, the
    first frequency varying slowest.
    """
    lo = check_int(lo, "lo")
    hi = check_int(hi, "hi", min=lo)
    k = check_int(k, "k", min=1)
    axes = [torch.arange(lo, hi + 1)] * k
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1)


def pca2(x: Tensor) -> Tensor:
    """Two normalised principal components of ``x (N, d)``, as the official metric computes them.

    sklearn's ``PCA(n_components=2, svd_solver="full")`` (columns centred, ``svd_flip`` with the sign
    making each component's largest-magnitude loading positive), then component c divided by
    ``sqrt(2) * s_c`` with ``s_c = sv_c / sqrt(N - 1)``. Returns ``(N, 2)``; ``mean ||y||^2 = (N-1)/N``.
    A component with zero variance gives NaN (as in the official code).
    """
    n = x.shape[0]
    xc = x - x.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(xc, full_matrices=False)
    vh = vh[:2]
    idx = vh.abs().argmax(1)
    signs = torch.sign(vh.gather(1, idx[:, None]))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    vh = vh * signs
    y = xc @ vh.T
    std = s[:2] / math.sqrt(n - 1)
    return y / (math.sqrt(2.0) * std)


def _omegas(omegas: Iterable[int] | Tensor) -> Tensor:
    w = torch.as_tensor(list(omegas) if not isinstance(omegas, Tensor) else omegas)
    if w.ndim != 1 or w.numel() == 0 or w.is_floating_point() or w.dtype == torch.bool:
        raise ValueError(f"omegas must be a non-empty 1-D sequence of integers, got {omegas!r}")
    return w.to(torch.int64)


def _dispersion(y: Tensor, shape: Sequence[int], k: int, w: Tensor) -> Tensor:
    """``mean_i ||R(-w theta_i) y_i - mean_j R(-w theta_j) y_j||^2`` for every w: ``(W,)``.

    ``y (N, 2)`` in grid order of ``shape``; ``theta_i = 2 pi i_k / N_k``. ``R(-a) y`` is
    ``exp(-i a) c`` for ``c = y_0 + i y_1`` and a rotation keeps norms, so the dispersion is
    ``mean |c|^2 - |mean exp(-i w theta) c|^2``; the angle depends on ``i_k`` only, so ``c`` is summed
    over the other axes first.
    """
    c = torch.complex(y[:, 0], y[:, 1]).reshape(tuple(shape))
    others = [a for a in range(len(shape)) if a != k]
    ck = c.sum(dim=others) if others else c  # (N_k,)
    n_k = shape[k]
    theta = 2 * math.pi * torch.arange(n_k, dtype=y.dtype, device=y.device) / n_k
    rot = torch.polar(
        torch.ones(len(w), n_k, dtype=y.dtype, device=y.device), -w.to(y.dtype)[:, None] * theta
    )
    mean_p = (rot * ck[None, :]).sum(1) / c.numel()
    return (y**2).sum(1).mean() - mean_p.abs() ** 2


def _check_codes(z: Any, manifold: str) -> Tensor:
    z = as_tensor(z, "Z", dtype="floating", min_ndim=2)
    if manifold == "cylinder" and z.ndim != 3:
        raise ValueError(f"Z must have shape (n_objects, N, d) for manifold='cylinder', got {tuple(z.shape)}")
    if z.shape[-1] < 2:
        raise ValueError(f"Z must have a code dimension d >= 2 (last axis), got shape {tuple(z.shape)}")
    if any(n < 2 for n in z.shape[:-1]):
        raise ValueError(f"Z must have >= 2 points along every factor axis, got shape {tuple(z.shape)}")
    return z.to(torch.float64)


def factor_deltas(z: Tensor, omegas: Iterable[int] | Tensor = range(-10, 11)) -> Tensor:
    """``delta_k(w)`` for every factor k and frequency w of ``Z (N_1, ..., N_K, d)``: ``(K, W)``.

    Each entry lies in ``[0, (N-1)/N]``, ``N = prod N_k``.
    """
    z = _check_codes(z, "torus")
    w = _omegas(omegas).to(z.device)
    shape = z.shape[:-1]
    k_count = len(shape)
    out = []
    for k in range(k_count):
        zk = (z - z.mean(dim=k, keepdim=True)).reshape(-1, z.shape[-1])
        out.append(_dispersion(pca2(zk), shape, k, w))
    return torch.stack(out)


def dlsbd_per_factor(Z: Any, omega: Sequence[int] | Tensor, manifold: str = "torus") -> Tensor:
    """``delta_k(omega_k)`` of every factor for one frequency vector: ``(K,)`` float64.

    Args:
        Z: codes ``(N_1, ..., N_K, d)`` (torus) or ``(n_objects, N, d)`` (cylinder, one frequency,
            averaged over objects, ``K = 1``); numpy or torch, any float dtype and device.
        omega: ``K`` integer frequencies.
        manifold: ``"torus"`` (a full factor grid) or ``"cylinder"`` (objects x one cyclic factor).

    Raises:
        ValueError: an unknown ``manifold``, bad codes, or an ``omega`` of the wrong length.
    """
    manifold = check_choice(manifold, "manifold", ("torus", "cylinder"))
    z = _check_codes(Z, manifold)
    w = _omegas(omega)
    if manifold == "cylinder":
        if w.numel() != 1:
            raise ValueError(f"omega must have 1 entry for manifold='cylinder', got {w.tolist()}")
        return torch.stack([factor_deltas(obj, w)[0, 0] for obj in z]).mean().reshape(1)
    k_count = z.ndim - 1
    if w.numel() != k_count:
        raise ValueError(f"omega must have {k_count} entries (one per factor of Z), got {w.tolist()}")
    return torch.stack([factor_deltas(z, w[k : k + 1])[k, 0] for k in range(k_count)])


def dlsbd(
    Z: Any,
    omegas: Iterable[int] | Tensor = range(-10, 11),
    manifold: str = "torus",
    reduction: str = "mean",
    omega_per_object: bool = False,
) -> tuple[float, tuple[int, ...]]:
    """D_LSBD of codes ``Z``: ``(score, omega_argmin)``; 0 = perfectly LSBD.

    Args:
        Z: torus: the codes of the full grid ``(N_1, ..., N_K, d)``, entry ``(i_1..i_K)`` encoding
            the image with angles ``2 pi i_k / N_k``; cylinder: ``(n_objects, N, d)``.
            numpy or torch, float32/float64, CPU or CUDA (computed in float64 on Z's device).
        omegas: the candidate integer frequencies per factor (default ``-10..10``).
        manifold: ``"torus"`` or ``"cylinder"``.
        reduction: ``"mean"`` over subgroups (official code, range [0, 1)) or ``"sum"`` (paper, [0, K)).
        omega_per_object: cylinder only. ``False`` (official): average the dispersion over objects,
            then pick one shared frequency; ``True``: best frequency per object, then average.

    Returns:
        the score (a float) and the minimising frequencies: the first minimum in the official grid
        order (torus, shared cylinder) or one per object (``omega_per_object=True``).
    """
    manifold = check_choice(manifold, "manifold", ("torus", "cylinder"))
    reduction = check_choice(reduction, "reduction", ("mean", "sum"))
    check_choice(omega_per_object, "omega_per_object", (False, True))
    z = _check_codes(Z, manifold)
    w = _omegas(omegas).to(z.device)
    if manifold == "cylinder":
        deltas = torch.stack([factor_deltas(obj, w)[0] for obj in z])  # (n_obj, W)
        if omega_per_object:
            best = deltas.min(dim=1)
            return float(best.values.mean()), tuple(int(w[i]) for i in best.indices)
        mean = deltas.mean(0)
        i = int(torch.argmin(mean))  # first minimum
        return float(mean[i]), (int(w[i]),)
    if omega_per_object:
        raise ValueError("omega_per_object applies to manifold='cylinder' only")
    deltas = factor_deltas(z, w)  # (K, W): the terms separate, so min over the grid = sum of minima
    idx = torch.argmin(deltas, dim=1)  # first minimum per factor = first in ij-grid order
    per = deltas.gather(1, idx[:, None])[:, 0]
    score = per.sum() if reduction == "sum" else per.mean()
    return float(score), tuple(int(w[i]) for i in idx)


def _grid_score_reference(
    z: Tensor, omegas: Iterable[int], reduction: str = "mean"
) -> tuple[float, tuple[int, ...]]:
    """Brute force over the full ``omega_grid`` (tests only): the official enumeration order."""
    deltas = factor_deltas(z, omegas)
    w = _omegas(omegas)
    k_count = deltas.shape[0]
    best = math.inf
    arg: tuple[int, ...] = ()
    for combo in itertools.product(range(len(w)), repeat=k_count):
        vals = [float(deltas[k, c]) for k, c in enumerate(combo)]
        s = sum(vals) if reduction == "sum" else sum(vals) / k_count
        if s < best:
            best, arg = s, tuple(int(w[c]) for c in combo)
    return best, arg
