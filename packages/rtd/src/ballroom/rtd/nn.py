"""A differentiable RTD loss through the critical edges of the R-Cross-Barcode.

The official RTD code has no autograd. Following the RTD-AE construction (same authors, ICLR 2023),
every finite H1 bar ``[b, d)`` is born when its birth edge enters the filtration and dies when its
death edge (the longest edge of the killing triangle) does, so ``d rtd_1 / d M[death] = +1`` and
``d rtd_1 / d M[birth] = -1``; the chain rule continues through the ``min``, the normalisation and
the distances, all in torch. Persistence itself runs on the detached matrix (giotto-ph).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ballroom.rtd.backends import truncated_critical_edges
from ballroom.rtd.cross import ZERO_TOL, Norm, a_first_order
from ballroom.rtd.cuts import search_cut

__all__ = ["RTDLoss", "cross_matrix_torch", "torch_distances"]


def torch_distances(X: Tensor) -> Tensor:
    """Euclidean distances ``(n, d) -> (n, n)`` with a gradient that is 0 (not NaN) at coincident points."""
    diff = X[:, None, :] - X[None, :, :]
    sq = (diff * diff).sum(-1)
    positive = sq > 0
    return torch.where(positive, torch.where(positive, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))


def _scale(W: Tensor, norm: Norm) -> Tensor:
    if norm is None:
        return W
    if norm == "quantile":
        s = torch.quantile(W.flatten(), 0.9)  # linear interpolation, as numpy's default
    elif norm == "median":
        s = torch.quantile(W.flatten(), 0.5)  # numpy's median (mean of the two middle values)
    elif norm == "mean":
        s = W.mean()
    else:
        raise ValueError(f"norm must be 'quantile', 'median', 'mean' or None, got {norm!r}")
    if not bool(s > 0):
        raise ValueError(f"cannot normalise by the {norm} of the distances: it is 0")
    return W / s


def cross_matrix_torch(W: Tensor, Wt: Tensor, norm: Norm = "quantile", fast: bool = True) -> Tensor:
    """Differentiable twin of :func:`ballroom.rtd.cross_matrix_from_distances`: ``(n, n), (n, n) -> (2n, 2n)``."""
    W, Wt = _scale(W, norm), _scale(Wt, norm)
    n = W.shape[0]
    cross = W
    if fast:
        lower = torch.ones(n, n, dtype=torch.bool, device=W.device).tril(-1)
        cross = torch.where(lower, torch.full_like(W, float("inf")), W)
    top = torch.cat([torch.zeros_like(W), cross.T], 1)
    bottom = torch.cat([cross, torch.minimum(W, Wt)], 1)
    M = torch.cat([top, bottom], 0)
    return torch.where(M < ZERO_TOL * W.mean(), torch.zeros_like(M), M)


class RTDLoss(nn.Module):
    """RTD between two batches of representations as a differentiable scalar.

    ``forward(P (n, d1), Pt (n, d2)) -> ()``: ``rtd_sym`` (``symmetric=True``, default) or ``rtd_1(P, Pt)``.
    Its value equals :func:`ballroom.rtd.rtd_sym` up to float32 rounding inside the homology backend.
    Needs giotto-ph (for the critical edges). Persistence is piecewise constant in the pairing, so the
    gradient is exact wherever no two filtration values tie.

    Args:
        norm: distance normalisation of each cloud: ``"quantile"`` (0.9 quantile, the paper's),
            ``"median"``, ``"mean"`` or ``None``.
        symmetric: return ``rtd_sym`` (the mean of both directions) rather than ``rtd_1(P, Pt)``.
        fast: set the strictly lower triangle of the cross block to ``+inf`` (the same bars from fewer
            edges).
        n_threads: giotto-ph threads for the critical edges (default: one; see
            :func:`ballroom.rtd.critical_edges`).

    Raises:
        ValueError: an unknown ``norm``; in ``forward``, inputs that are not ``(n, d)`` with the same
            ``n >= 2``, or hold NaN or inf.
        TypeError: in ``forward``, inputs that are not floating point.
    """

    def __init__(
        self, norm: Norm = "quantile", symmetric: bool = True, fast: bool = True, n_threads: int | None = None
    ) -> None:
        super().__init__()
        if norm not in ("quantile", "median", "mean", None):
            raise ValueError(f"norm must be 'quantile', 'median', 'mean' or None, got {norm!r}")
        self.norm: Norm = norm
        self.symmetric = symmetric
        self.fast = fast
        self.n_threads = n_threads

    def _one(self, W: Tensor, Wt: Tensor) -> Tensor:
        M = cross_matrix_torch(W, Wt, self.norm, self.fast)
        order = a_first_order(W.shape[0])  # the same relabelling as cross_barcode (speed only)
        M_spec = M.detach().cpu().double().numpy()
        M_np = M_spec[np.ix_(order, order)]

        # the adaptive persistence cut of cross_barcode: the same pairs, far fewer simplices
        def run(cut: float) -> tuple[np.ndarray, bool]:
            pairs, alive = truncated_critical_edges(M_np, 1, self.n_threads, cut)
            return pairs, alive > 0

        found = search_cut(M_spec, run)
        edges = torch.as_tensor(order[found], device=M.device)
        if edges.numel() == 0:
            return M.sum() * 0.0
        finite = torch.where(torch.isfinite(M), M, torch.zeros_like(M))
        return (finite[edges[:, 2], edges[:, 3]] - finite[edges[:, 0], edges[:, 1]]).sum()

    def forward(self, P: Tensor, Pt: Tensor) -> Tensor:
        for name, X in (("P", P), ("Pt", Pt)):
            if X.ndim != 2 or X.shape[0] < 2:
                raise ValueError(f"{name} must have shape (n, d) with n >= 2, got {tuple(X.shape)}")
            if not X.is_floating_point():
                raise TypeError(f"{name} must be floating point, got {X.dtype}")
            if not bool(torch.isfinite(X).all()):
                raise ValueError(f"{name} contains NaN or infinite values")
        if P.shape[0] != Pt.shape[0]:
            raise ValueError(f"P and Pt must describe the same points: {P.shape[0]} vs {Pt.shape[0]} rows")
        W, Wt = torch_distances(P), torch_distances(Pt)
        if not self.symmetric:
            return self._one(W, Wt)
        return 0.5 * (self._one(W, Wt) + self._one(Wt, W))
