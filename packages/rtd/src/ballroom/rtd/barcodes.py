"""The barcodes behind RTD: the R-Cross-Barcode of two clouds, the plain Rips barcode of one, and
the conversion to and from giotto-ph's / ripser's ``{"dgms": [...]}`` layout.

Everything here is re-exported by :mod:`ballroom.rtd.functional` (and the package).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ballroom.core.validate import check_choice, check_int, check_positive
from ballroom.rtd.backends import Backend, compute_bars, truncated_bars
from ballroom.rtd.cross import (
    ZERO_TOL,
    Norm,
    _pair,
    a_first_order,
    cross_matrix_from_distances,
    distances,
    normalise,
)
from ballroom.rtd.cuts import Threshold, cross_threshold, search_cut

__all__ = [
    "cross_barcode",
    "cross_barcode_from_distances",
    "cross_bars",
    "from_dgms",
    "to_dgms",
    "vr_barcode",
]


def cross_bars(
    M: np.ndarray,
    dim: int = 1,
    backend: Backend | str = "auto",
    n_threads: int | None = None,
    collapse_edges: bool = False,
    threshold: Threshold = "adaptive",
    growth: float = 1.5,
) -> dict[int, np.ndarray]:
    """Finite bars ``{k: (m_k, 2)}`` of a cross matrix ``M (2n, 2n)`` in the spec's layout, computed on the
    A-first relabelling (:func:`a_first_order`).

    ``threshold`` (``dim <= 1``; higher dimensions always use the enclosing radius):

    - ``"adaptive"`` (default): persistence cut at ``T = max(birth_bound, spanning bottleneck of the cross
      block)``; if a class is still alive at ``T`` the cut grows by ``growth`` (capped at
      :func:`cross_threshold`) and persistence is recomputed. Exact: no class is born after
      :func:`birth_bound`, so a cut with no surviving class has every bar. The bars of the clusters
      experiment die at the spanning bottleneck, far below the enclosing radius of the A block.
    - ``"cross"``: one run cut at :func:`cross_threshold` (proven a priori).
    - ``"enclosing"``: one run cut at the enclosing radius of ``M`` (what any Rips computation may use).

    Args:
        M: the cross matrix ``(2n, 2n)`` (:func:`cross_matrix`), A' block first.
        dim: the highest homology dimension computed (>= 1).
        backend: ``"auto"`` (giotto-ph when installed, else ripser), ``"gph"``, ``"ripser"`` or
            ``"gudhi"``.
        n_threads: giotto-ph threads (default: the CPUs available to this process; ripser and gudhi
            ignore it).
        collapse_edges: giotto-ph's edge collapse (the same bars, sometimes faster).
        threshold: ``"adaptive"``, ``"cross"`` or ``"enclosing"`` (above).
        growth: the factor (> 1) by which the adaptive cut grows.

    Returns:
        ``{k: (m_k, 2) float64}`` finite bars ``[birth, death)`` for ``k = 0..dim``.

    Raises:
        ValueError: ``dim < 1``, an unknown ``threshold``, ``growth <= 1`` or a bad ``n_threads``.
    """
    check_int(dim, "dim", min=1)
    check_choice(threshold, "threshold", ("adaptive", "cross", "enclosing"))
    check_positive(growth, "growth")
    if growth <= 1.0:
        raise ValueError(f"growth must be > 1 (the cut grows by this factor), got {growth}")
    if n_threads is not None:
        check_int(n_threads, "n_threads", min=-1)
        if n_threads == 0:
            raise ValueError("n_threads must be >= 1 or -1 (every available core), got 0")
    order = a_first_order(M.shape[0] // 2)
    Mo = M[np.ix_(order, order)]
    run = {"maxdim": dim, "backend": backend, "n_threads": n_threads, "collapse_edges": collapse_edges}
    if threshold == "enclosing" or dim > 1:
        return compute_bars(Mo, **run)  # type: ignore[arg-type]
    if threshold == "cross":
        return compute_bars(Mo, thresh=cross_threshold(M), **run)  # type: ignore[arg-type]

    def run_cut(cut: float) -> tuple[dict[int, np.ndarray], bool]:
        bars, alive = truncated_bars(Mo, thresh=cut, **run)  # type: ignore[arg-type]
        return bars, any(alive[k] > 0 for k in range(1, dim + 1))

    return search_cut(M, run_cut, growth)


def cross_barcode_from_distances(
    W: np.ndarray,
    Wt: np.ndarray,
    dim: int = 1,
    norm: Norm = "quantile",
    backend: Backend | str = "auto",
    fast: bool = True,
    use_max: bool = False,
    n_threads: int | None = None,
    collapse_edges: bool = False,
    threshold: Threshold = "adaptive",
) -> dict[int, np.ndarray]:
    """R-Cross-Barcode from two ``(n, n)`` distance matrices: ``{k: (m_k, 2) bars}`` for ``k = 0..dim``.

    ``threshold`` chooses where persistence stops (see :func:`cross_bars`; every choice gives the same
    bars): the default ``"adaptive"`` cut is 2x faster than ``"cross"`` on 500 random points.

    Args:
        W: the distance matrix ``(n, n)`` of the first cloud (symmetric, finite, >= 0).
        Wt: the distance matrix ``(n, n)`` of the second cloud.
        dim: the highest homology dimension computed (>= 1).
        norm: distance normalisation of each matrix: ``"quantile"`` (divide by the 0.9 quantile, the
            paper's), ``"median"``, ``"mean"`` or ``None``.
        backend: ``"auto"`` (giotto-ph when installed, else ripser), ``"gph"``, ``"ripser"`` or
            ``"gudhi"``.
        fast: set the strictly lower triangle of the cross block to ``+inf`` (the same H1 bars from
            fewer edges).
        use_max: the experimental construction (cross block ``max(W, Wt)``, A block ``Wt``), not used
            in the paper.
        n_threads: giotto-ph threads (default: the CPUs available to this process; ripser and gudhi
            ignore it).
        collapse_edges: giotto-ph's edge collapse (the same bars, sometimes faster).
        threshold: where persistence stops: ``"adaptive"``, ``"cross"`` or ``"enclosing"`` (see
            :func:`cross_bars`; every choice gives the same bars).

    Returns:
        ``{k: (m_k, 2) float64}`` finite bars ``[birth, death)`` for ``k = 0..dim``.

    Raises:
        ValueError: a matrix that is not a valid distance matrix, or shapes that differ.
    """
    M = cross_matrix_from_distances(W, Wt, norm=norm, fast=fast, use_max=use_max)
    return cross_bars(M, dim, backend, n_threads, collapse_edges, threshold)


def cross_barcode(
    P: np.ndarray | torch.Tensor,
    Pt: np.ndarray | torch.Tensor,
    dim: int = 1,
    norm: Norm = "quantile",
    backend: Backend | str = "auto",
    fast: bool = True,
    use_max: bool = False,
    metric: str = "euclidean",
    n_threads: int | None = None,
    collapse_edges: bool = False,
    threshold: Threshold = "adaptive",
) -> dict[int, np.ndarray]:
    """R-Cross-Barcode of ``(P, Pt)``: finite bars ``{k: (m_k, 2) float64}`` for ``k = 0..dim``.

    H0 is always empty (every vertex is joined to the A' block at filtration 0); RTD uses H1.

    Args:
        P: the first representation ``(n, d1)`` (array or tensor; row ``i`` is point ``i``).
        Pt: the second representation ``(n, d2)`` of the same ``n`` points.
        dim: the highest homology dimension computed (>= 1).
        norm: distance normalisation of each matrix: ``"quantile"`` (divide by the 0.9 quantile, the
            paper's), ``"median"``, ``"mean"`` or ``None``.
        backend: ``"auto"`` (giotto-ph when installed, else ripser), ``"gph"``, ``"ripser"`` or
            ``"gudhi"``.
        fast: set the strictly lower triangle of the cross block to ``+inf`` (the same H1 bars from
            fewer edges).
        use_max: the experimental construction (cross block ``max(W, Wt)``, A block ``Wt``), not used
            in the paper.
        metric: any :func:`scipy.spatial.distance.pdist` metric name.
        n_threads: giotto-ph threads (default: the CPUs available to this process; ripser and gudhi
            ignore it).
        collapse_edges: giotto-ph's edge collapse (the same bars, sometimes faster).
        threshold: where persistence stops: ``"adaptive"``, ``"cross"`` or ``"enclosing"`` (see
            :func:`cross_bars`; every choice gives the same bars).

    Returns:
        ``{k: (m_k, 2) float64}`` finite bars ``[birth, death)`` for ``k = 0..dim``.

    Raises:
        TypeError: ``P`` or ``Pt`` does not hold real numbers.
        ValueError: not ``(n, d)`` clouds of the same ``n >= 2`` points, NaN or inf, or ``dim < 1``.
    """
    check_int(dim, "dim", min=1)  # before the distances: a bad dim fails fast, not in the backend
    A, B = _pair(P, Pt)
    return cross_barcode_from_distances(
        distances(A, metric), distances(B, metric), dim=dim, norm=norm, backend=backend,
        fast=fast, use_max=use_max, n_threads=n_threads, collapse_edges=collapse_edges, threshold=threshold,
    )  # fmt: skip


def to_dgms(bars: dict[int, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Our barcode ``{dim: (m, 2)}`` in giotto-ph's / ripser's layout ``{"dgms": [H0, H1, ...]}``.

    Args:
        bars: as returned by :func:`cross_barcode` or :func:`vr_barcode` (keys ``0..dim``).

    Returns:
        ``{"dgms": [bars[0], ..., bars[dim]]}`` (the same float64 ``(m_k, 2)`` arrays, birth and death
        columns; finite bars only, as ours are).
    """
    if not isinstance(bars, dict) or not bars:
        raise TypeError(f"bars must be a non-empty dict {{dim: (m, 2) array}}, got {type(bars).__name__}")
    dims = sorted(bars)
    if dims != list(range(len(dims))):
        raise ValueError(f"bars must have the keys 0..dim without gaps, got {dims}")
    return {"dgms": [np.asarray(bars[k], dtype=np.float64).reshape(-1, 2) for k in dims]}


def from_dgms(result: dict[str, Any], drop_infinite: bool = True) -> dict[int, np.ndarray]:
    """A giotto-ph ``ripser_parallel`` / ripser ``ripser`` result ``{"dgms": [...], ...}`` as ``{dim: (m, 2)}``.

    Args:
        result: a dict with the key ``"dgms"``: a list of ``(m_k, 2)`` arrays, one per dimension.
        drop_infinite: drop the bars that never die (``death = inf``), which our barcodes never hold.

    Returns:
        ``{k: (m_k, 2) float64}`` for every dimension of ``result["dgms"]``.
    """
    if not isinstance(result, dict) or "dgms" not in result:
        raise TypeError("result must be a dict with the key 'dgms' (what giotto-ph and ripser return)")
    out: dict[int, np.ndarray] = {}
    for k, dgm in enumerate(result["dgms"]):
        arr = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
        out[k] = arr[np.isfinite(arr[:, 1])] if drop_infinite else arr
    return out


def vr_barcode(
    X: np.ndarray | torch.Tensor,
    dim: int = 1,
    backend: Backend | str = "auto",
    metric: str = "euclidean",
    norm: Norm = None,
) -> dict[int, np.ndarray]:
    """Plain Vietoris-Rips barcode of one cloud ``X (n, d)``: finite bars ``{k: (m_k, 2)}``, ``k = 0..dim``.

    No normalisation by default; entries below ``1e-6 * mean(W)`` are set to 0 as in the cross matrix.

    Args:
        X: the point cloud ``(n, d)`` (array or tensor).
        dim: the highest homology dimension computed (>= 1).
        backend: ``"auto"`` (giotto-ph when installed, else ripser), ``"gph"``, ``"ripser"`` or
            ``"gudhi"``.
        metric: any :func:`scipy.spatial.distance.pdist` metric name.
        norm: ``None`` (default), ``"quantile"``, ``"median"`` or ``"mean"`` (see :func:`normalise`).

    Returns:
        ``{k: (m_k, 2) float64}`` finite bars for ``k = 0..dim``.
    """
    W = normalise(distances(X, metric), norm)
    W = np.where(W < ZERO_TOL * np.mean(W), 0.0, W)
    return compute_bars(W, maxdim=dim, backend=backend)
