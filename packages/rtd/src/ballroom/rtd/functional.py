"""Representation Topology Divergence (Barannikov et al., ICML 2022) as plain functions.

RTD compares two representations ``P (n, d1)`` and ``Pt (n, d2)`` of the same ``n`` points (row
``i`` of both describes point ``i``; the dimensions may differ) by how differently their points get
connected as a distance scale grows.

An H1 bar ``[b, d)`` of the R-Cross-Barcode appears when two points become linked at scale ``b``
under ``min(W, Wt)`` but only at the larger scale ``d`` under ``W``: its length is the size of that
disagreement. Summing bar lengths gives ``rtd_1``, which is 0 whenever ``Wt >= W`` entrywise.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from scipy.spatial.distance import pdist, squareform

from ballroom.rtd.backends import Backend, compute_bars, truncated_bars

__all__ = [
    "Norm",
    "a_first_order",
    "birth_bound",
    "cross_barcode",
    "cross_barcode_from_distances",
    "cross_bars",
    "cross_matrix",
    "cross_matrix_from_distances",
    "cross_threshold",
    "distances",
    "normalise",
    "rtd",
    "rtd_1",
    "rtd_sym",
    "rtd_sym_batch",
    "search_cut",
    "spanning_bottleneck",
    "vr_barcode",
]

Norm = Literal["quantile", "median", "mean"] | None
Threshold = Literal["adaptive", "cross", "enclosing"]
ZERO_TOL = 1e-6  # entries below ZERO_TOL * mean(W) are set to exactly 0


def _as_cloud(name: str, X: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a point cloud of shape (n, d), got shape {X.shape}")
    if X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 points and 1 feature, got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def _pair(P: np.ndarray | torch.Tensor, Pt: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    A, B = _as_cloud("P", P), _as_cloud("Pt", Pt)
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"P and Pt must describe the same points: {A.shape[0]} rows vs {B.shape[0]} rows")
    return A, B


def distances(X: np.ndarray | torch.Tensor, metric: str = "euclidean") -> np.ndarray:
    """Pairwise distances ``(n, d) -> (n, n)`` float64 (Euclidean, not squared, by default).

    Any metric name of :func:`scipy.spatial.distance.pdist` is accepted.
    """
    X = _as_cloud("X", X)
    return squareform(pdist(X, metric=metric))


def _check_distances(name: str, W: np.ndarray) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 2:
        raise ValueError(f"{name} must be an (n, n) distance matrix with n >= 2, got shape {W.shape}")
    if not np.isfinite(W).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (W < 0).any():
        raise ValueError(f"{name} has negative entries; distances must be >= 0")
    if not np.allclose(W, W.T):
        raise ValueError(f"{name} must be symmetric")
    return W


def normalise(W: np.ndarray, norm: Norm = "quantile") -> np.ndarray:
    """Divide ``W`` by its 0.9-quantile, median or mean over all ``n^2`` entries (zero diagonal included)."""
    if norm is None:
        return W
    if norm == "quantile":
        scale = np.quantile(W, 0.9)
    elif norm == "median":
        scale = np.median(W)
    elif norm == "mean":
        scale = np.mean(W)
    else:
        raise ValueError(f"norm must be 'quantile', 'median', 'mean' or None, got {norm!r}")
    if not scale > 0:
        raise ValueError(
            f"cannot normalise by the {norm} of the distances: it is 0 (too many coincident points)"
        )
    return W / scale


def cross_matrix_from_distances(
    W: np.ndarray,
    Wt: np.ndarray,
    norm: Norm = "quantile",
    fast: bool = False,
    use_max: bool = False,
) -> np.ndarray:
    """The ``(2n, 2n)`` matrix whose Rips filtration gives the R-Cross-Barcode of ``(W, Wt)``.

    Vertices ``0..n-1`` form the block A' (all pairwise 0), ``n..2n-1`` the block A. The cross block
    holds ``W`` (the FIRST cloud): ``M[n+i, j] = M[j, n+i] = W[i, j]``; the A block holds
    ``min(W, Wt)``. Entries below ``1e-6 * mean(W)`` become exactly 0. ``fast=True`` sets the
    strictly lower triangle of the cross block (``M[n+i, j]``, ``i > j``, and its mirror) to ``+inf``:
    the same H1 bars from fewer edges. ``use_max=True`` (experimental, not used in the paper) puts
    ``max(W, Wt)`` in the cross block and ``Wt`` in the A block.
    """
    W, Wt = _check_distances("W", W), _check_distances("Wt", Wt)
    if W.shape != Wt.shape:
        raise ValueError(f"W and Wt must have the same shape, got {W.shape} and {Wt.shape}")
    W, Wt = normalise(W, norm), normalise(Wt, norm)
    n = W.shape[0]
    cross, inner = (np.maximum(W, Wt), Wt) if use_max else (W, np.minimum(W, Wt))
    M = np.zeros((2 * n, 2 * n), dtype=np.float64)
    lower = cross.copy()
    if fast:
        lower[np.tril_indices(n, -1)] = np.inf
    M[n:, :n] = lower
    M[:n, n:] = lower.T
    M[n:, n:] = inner
    M[M < ZERO_TOL * np.mean(W)] = 0.0
    return M


def cross_matrix(
    P: np.ndarray | torch.Tensor,
    Pt: np.ndarray | torch.Tensor,
    norm: Norm = "quantile",
    fast: bool = False,
    use_max: bool = False,
    metric: str = "euclidean",
) -> np.ndarray:
    """:func:`cross_matrix_from_distances` of the two clouds ``P (n, d1)``, ``Pt (n, d2)`` -> ``(2n, 2n)``."""
    A, B = _pair(P, Pt)
    return cross_matrix_from_distances(
        distances(A, metric), distances(B, metric), norm=norm, fast=fast, use_max=use_max
    )


def a_first_order(n: int) -> np.ndarray:
    """Vertex order ``[n..2n-1, 0..n-1]``: block A before block A' (a relabelling, so the bars are identical).

    The homology backends break ties between equal filtration values by vertex index. With the
    spec's layout (A' first) a second cloud with coincident points (the rings experiment: many A-block
    entries equal to 0 beside the all-zero A' block) took giotto-ph 42 s for one direction of n = 500;
    listing A first took 1.1 s for the same bars. On tie-free clouds both orders cost the same.
    """
    return np.r_[np.arange(n, 2 * n), np.arange(n)]


def spanning_bottleneck(D: np.ndarray) -> float:
    """Largest edge of a minimum spanning tree of the complete graph on ``D (n, n)``: the smallest
    scale at which the Rips complex of ``D`` is connected (Prim's algorithm, O(n^2); zero entries are
    edges, unlike in ``scipy.sparse.csgraph``)."""
    n = D.shape[0]
    if n < 2:
        return 0.0
    in_tree = np.zeros(n, dtype=bool)
    in_tree[0] = True
    best = np.array(D[0], dtype=np.float64)
    largest = 0.0
    for _ in range(n - 1):
        candidates = np.where(in_tree, np.inf, best)
        j = int(np.argmin(candidates))
        largest = max(largest, float(candidates[j]))
        in_tree[j] = True
        np.minimum(best, D[j], out=best)
    return largest


def _is_cross_layout(M: np.ndarray) -> bool:
    """Whether ``M`` has the structure the threshold arguments need: an all-zero A' block, a zero
    cross diagonal and an A block no larger than the (symmetrised) cross block."""
    n = M.shape[0] // 2
    if M.shape[0] != 2 * n or n < 1:
        return False
    cross = M[n:, :n]
    cross_sym = np.minimum(cross, cross.T)  # undo the fast layout's +inf half
    return bool(
        np.all(M[:n, :n] == 0) and np.all(np.diagonal(cross) == 0) and not np.any(M[n:, n:] > cross_sym)
    )


def cross_threshold(M: np.ndarray) -> float:
    """A scale after which the R-Cross-Barcode has no H1 (or H0) class: ``max(enclosing radius of the A
    block, spanning bottleneck of the cross block)``, for ``M`` in the spec's layout.

    Why: at scale ``t`` the Rips complex ``X_t`` of ``M`` contains the contractible all-zero A' simplex
    ``K``, so ``X_t`` is homotopy equivalent to ``R_t ∪ cone(Y_t)``, with ``R_t`` the Rips complex of the
    A block and ``Y_t ⊂ R_t`` its cliques ``S`` with a common A' neighbour ``j`` (``M[s, j] <= t`` for
    every ``s`` in ``S``). The exact sequence ``H1(R_t) -> H1(X_t) -> H~0(Y_t)`` gives ``H1(X_t) = 0`` once
    ``R_t`` is a cone (``t >=`` its enclosing radius) and ``Y_t`` is connected: every spanning-tree edge
    ``(s, s')`` of the cross block (``s <= s'``) lies in ``Y_t`` with ``j = s'`` (cross diagonal 0, A entry
    <= cross entry), so ``t >=`` the spanning bottleneck suffices. No H1 bar is born or dies after this
    scale, so Rips persistence thresholded there returns the same H1 bars as the enclosing radius
    of ``M`` (never larger; tested on tie-heavy and random clouds). Valid for ``dim <= 1`` only; ``inf``
    when ``M`` lacks the structure (then no shortcut is taken).
    """
    if not _is_cross_layout(M):
        return float("inf")
    n = M.shape[0] // 2
    cross = M[n:, :n]
    inner_radius = float(np.min(np.max(M[n:, n:], axis=1)))
    return max(inner_radius, spanning_bottleneck(np.minimum(cross, cross.T)))


def birth_bound(M: np.ndarray, floor: float = 0.0, neighbours: int = 16) -> float:
    """A scale after which no H1 class of the cross complex is born: the largest A-block entry above
    ``floor`` whose edge has no *apex* (``floor`` itself when there is none; ``inf`` without the structure).

    Why: an edge ``{u, v}`` entering at ``m`` together with a vertex ``c`` whose edges to ``u`` and ``v``
    are already present adds the triangle ``{u, v, c}`` with it, an elementary expansion (a homotopy
    equivalence); the other triangles entering with the edge can only kill H1 classes. So an edge with
    such an apex creates no H1 class. Refine the filtration so that, at equal values, A' edges come
    before cross edges before A edges: every cross edge ``A_i - A'_j`` has the apex ``A'_i`` (both edges at
    0), A' edges are all at 0, and an A edge ``{a, b}`` at ``m`` has an apex if some A vertex ``c`` has
    ``max(M[a, c], M[b, c]) < m`` or some A' vertex ``j`` has ``max(M[a, j], M[b, j]) <= m`` (always the
    case when ``min(W, Wt) = W`` there: ``j = max(a, b)``). The maps ``H1(X_s) -> H1(X_t)`` are onto for
    ``birth_bound <= s <= t``, so ``H1(X_s) = 0`` at one such ``s`` means no bar lives past ``s``.
    ``neighbours``: how many nearest A vertices are tried first (a cheap filter, the result is exact).
    """
    if not _is_cross_layout(M):
        return float("inf")
    n = M.shape[0] // 2
    D, C = M[n:, n:], M[n:, :n]  # C[i, j]: the edge A_i - A'_j
    a, b = np.triu_indices(n, 1)
    m = D[a, b]
    keep = m > floor
    a, b, m = a[keep], b[keep], m[keep]
    # the A' apexes A'_a and A'_b (the only candidates in the fast layout when min(W, Wt) = W)
    diag = np.minimum(np.maximum(C[a, b], C[b, b]), np.maximum(C[a, a], C[b, a])) <= m
    a, b, m = a[~diag], b[~diag], m[~diag]
    if m.size == 0:
        return float(floor)
    k = min(neighbours, n - 1)
    near = np.argpartition(D, k, axis=1)[:, : k + 1]
    rows = max(1, 2**22 // max(n, k + 1))
    found = np.zeros(m.size, dtype=bool)
    for s in range(0, m.size, rows):
        sl = slice(s, s + rows)
        c = near[a[sl]]
        found[sl] = (np.maximum(D[a[sl, None], c], D[b[sl, None], c]) < m[sl, None]).any(axis=1)
    rest = np.flatnonzero(~found)
    worst = float(floor)
    for s in range(0, rest.size, rows):
        r = rest[s : s + rows]
        by_a = np.min(np.maximum(D[a[r]], D[b[r]]), axis=1) < m[r]
        by_a_prime = np.min(np.maximum(C[a[r]], C[b[r]]), axis=1) <= m[r]
        lonely = ~(by_a | by_a_prime)
        if lonely.any():
            worst = max(worst, float(m[r][lonely].max()))
    return worst


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
    """
    if threshold not in ("adaptive", "cross", "enclosing"):
        raise ValueError(f"threshold must be 'adaptive', 'cross' or 'enclosing', got {threshold!r}")
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


_T = TypeVar("_T")


def search_cut(M: np.ndarray, run: Callable[[float], tuple[_T, bool]], growth: float = 1.5) -> _T:
    """The adaptive cut of :func:`cross_bars` for any persistence computation ``run(cut) -> (result,
    classes_alive_at_cut)`` on the cross matrix ``M`` (spec layout; ``run`` may relabel it): starts at
    ``max(birth_bound, spanning bottleneck of the cross block)``, grows by ``growth`` while a class is
    alive, never beyond :func:`cross_threshold` (``inf``, i.e. the enclosing radius, without the structure)."""
    if not growth > 1:
        raise ValueError(f"growth must be > 1, got {growth}")
    top = cross_threshold(M)
    cut = top
    if np.isfinite(top):
        n = M.shape[0] // 2
        cross = M[n:, :n]
        cut = birth_bound(M, floor=spanning_bottleneck(np.minimum(cross, cross.T)))
    while True:
        cut = min(cut, top)
        result, alive = run(cut)
        if cut >= top or not alive:
            return result
        cut = cut * growth if cut > 0 else top


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
    """
    A, B = _pair(P, Pt)
    return cross_barcode_from_distances(
        distances(A, metric), distances(B, metric), dim=dim, norm=norm, backend=backend,
        fast=fast, use_max=use_max, n_threads=n_threads, collapse_edges=collapse_edges, threshold=threshold,
    )  # fmt: skip


def _total(bars: dict[int, np.ndarray], dim: int) -> float:
    b = bars[dim]
    return float(np.sum(b[:, 1] - b[:, 0], dtype=np.float64))


def rtd_1(
    P: np.ndarray | torch.Tensor,
    Pt: np.ndarray | torch.Tensor,
    norm: Norm = "quantile",
    backend: Backend | str = "auto",
    fast: bool = True,
    use_max: bool = False,
    metric: str = "euclidean",
    n_threads: int | None = None,
    collapse_edges: bool = False,
) -> float:
    """Asymmetric RTD: total length of the H1 R-Cross-Barcode of ``(P, Pt)`` (summed in float64)."""
    bars = cross_barcode(P, Pt, 1, norm, backend, fast, use_max, metric, n_threads, collapse_edges)
    return _total(bars, 1)


def _rtd_sym_from_distances(W: np.ndarray, Wt: np.ndarray, **kw: object) -> float:
    forward = cross_barcode_from_distances(W, Wt, dim=1, **kw)  # type: ignore[arg-type]
    backward = cross_barcode_from_distances(Wt, W, dim=1, **kw)  # type: ignore[arg-type]
    return 0.5 * (_total(forward, 1) + _total(backward, 1))


def rtd_sym(
    P: np.ndarray | torch.Tensor,
    Pt: np.ndarray | torch.Tensor,
    norm: Norm = "quantile",
    backend: Backend | str = "auto",
    fast: bool = True,
    use_max: bool = False,
    metric: str = "euclidean",
    n_threads: int | None = None,
    collapse_edges: bool = False,
) -> float:
    """Symmetric RTD ``(rtd_1(P, Pt) + rtd_1(Pt, P)) / 2`` (what the paper reports); distances computed once."""
    A, B = _pair(P, Pt)
    return _rtd_sym_from_distances(
        distances(A, metric), distances(B, metric), norm=norm, backend=backend,
        fast=fast, use_max=use_max, n_threads=n_threads, collapse_edges=collapse_edges,
    )  # fmt: skip


def _h1_total_job(job: tuple[np.ndarray, np.ndarray, dict[str, Any]]) -> float:
    """One direction of one pair, for :func:`rtd_sym_batch`'s worker processes (module level: picklable)."""
    W, Wt, kw = job
    return _total(cross_barcode_from_distances(W, Wt, dim=1, **kw), 1)


def rtd_sym_batch(
    pairs: Sequence[tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]],
    n_jobs: int | None = None,
    norm: Norm = "quantile",
    backend: Backend | str = "auto",
    fast: bool = True,
    use_max: bool = False,
    metric: str = "euclidean",
    threshold: Threshold = "adaptive",
) -> list[float]:
    """``[rtd_sym(P, Pt) for P, Pt in pairs]``, with the ``2 len(pairs)`` barcodes spread over ``n_jobs``
    worker processes of one backend thread each (default: the CPUs available to this process).

    giotto-ph gains only ~1.2x from a second thread on these sizes, so independent barcodes in parallel
    processes use two cores better: the paper's 7 cluster comparisons take ~6.5 s instead of ~13 s on
    2 cores. Same values as the loop (tested). ``threshold``: see :func:`cross_bars`. Workers are forked on Linux (they inherit the imports) and spawned elsewhere.
    """
    clouds = [_pair(P, Pt) for P, Pt in pairs]
    dists = [(distances(A, metric), distances(B, metric)) for A, B in clouds]
    kw: dict[str, Any] = dict(norm=norm, backend=backend, fast=fast, use_max=use_max, threshold=threshold)
    jobs = [(W, Wt, kw) for W, Wt in dists] + [(Wt, W, kw) for W, Wt in dists]
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = min(n_jobs or workers, len(jobs))
    if n_jobs is not None and n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    if workers <= 1:
        totals = [_h1_total_job(job) for job in jobs]
    else:
        # fork where it is safe and cheap (Linux: workers inherit the imports); spawn elsewhere (macOS)
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        jobs = [(W, Wt, dict(kw, n_threads=1)) for W, Wt, kw in jobs]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            with ProcessPoolExecutor(workers, mp_context=mp.get_context(method)) as pool:
                totals = list(pool.map(_h1_total_job, jobs))
    n = len(dists)
    return [0.5 * (totals[i] + totals[n + i]) for i in range(n)]


def rtd(
    P: np.ndarray | torch.Tensor,
    Pt: np.ndarray | torch.Tensor,
    trials: int = 10,
    batch: int = 500,
    rng: np.random.Generator | int | None = None,
    sampler: Literal["generator", "legacy"] = "generator",
    indices: Sequence[np.ndarray] | None = None,
    progress: bool = False,
    norm: Norm = "quantile",
    backend: Backend | str = "auto",
    fast: bool = True,
    use_max: bool = False,
    metric: str = "euclidean",
    n_threads: int | None = None,
    collapse_edges: bool = False,
    n_jobs: int | None = 1,
) -> float:
    """RTD averaged over ``trials`` random subsets of ``min(batch, n)`` points (the paper's entry point).

    Each trial draws ONE subset ``S`` of row indices without replacement, used for both clouds, and
    computes ``rtd_sym(P[S], Pt[S])`` (normalisation recomputed on the subset). ``sampler="generator"``
    draws ``S`` from ``np.random.default_rng(rng)``; ``sampler="legacy"`` reproduces the official code
    exactly: ``perm = list(range(n)); np.random.shuffle(perm); S = perm[:batch]`` with numpy's GLOBAL
    legacy RNG (seed it with ``np.random.seed``). ``indices`` gives the subsets explicitly.
    ``n_jobs``: ``1`` (default) computes the trials one after another (``progress`` shows a bar);
    ``None`` or ``k > 1`` spreads their barcodes over worker processes as :func:`rtd_sym_batch` does
    (the same value; ``n_threads`` and ``collapse_edges`` then do not apply).
    """
    A, B = _pair(P, Pt)
    n = A.shape[0]
    if trials < 1 and indices is None:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if batch < 2:
        raise ValueError(f"batch must be >= 2, got {batch}")
    size = min(batch, n)
    if indices is not None:
        subsets = [np.asarray(s, dtype=np.int64) for s in indices]
        if not subsets or any(
            s.ndim != 1 or len(np.unique(s)) != len(s) or s.min() < 0 or s.max() >= n for s in subsets
        ):
            raise ValueError(f"indices must be non-empty arrays of distinct row indices in [0, {n})")
    elif sampler == "legacy":
        subsets = []
        for _ in range(trials):
            perm = list(range(n))
            np.random.shuffle(perm)
            subsets.append(np.asarray(perm[:size], dtype=np.int64))
    elif sampler == "generator":
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        subsets = [gen.permutation(n)[:size] for _ in range(trials)]
    else:
        raise ValueError(f"sampler must be 'generator' or 'legacy', got {sampler!r}")
    kw = {
        "norm": norm,
        "backend": backend,
        "fast": fast,
        "use_max": use_max,
        "n_threads": n_threads,
        "collapse_edges": collapse_edges,
    }
    if n_jobs != 1 and all(len(S) < n for S in subsets):
        pairs = [(A[S], B[S]) for S in subsets]
        opts = {"norm": norm, "backend": backend, "fast": fast, "use_max": use_max, "metric": metric}
        return float(np.mean(rtd_sym_batch(pairs, n_jobs=n_jobs, **opts)))  # type: ignore[arg-type]
    from tqdm.auto import tqdm

    values: list[float] = []
    full: float | None = None
    for S in tqdm(subsets, desc="RTD trials", disable=not progress):
        if len(S) == n:  # every subset is the whole cloud, only reordered: RTD is permutation invariant
            if full is None:
                full = _rtd_sym_from_distances(distances(A, metric), distances(B, metric), **kw)
            values.append(full)
            continue
        values.append(_rtd_sym_from_distances(distances(A[S], metric), distances(B[S], metric), **kw))
    return float(np.mean(values))


def vr_barcode(
    X: np.ndarray | torch.Tensor,
    dim: int = 1,
    backend: Backend | str = "auto",
    metric: str = "euclidean",
    norm: Norm = None,
) -> dict[int, np.ndarray]:
    """Plain Vietoris-Rips barcode of one cloud ``X (n, d)``: finite bars ``{k: (m_k, 2)}``, ``k = 0..dim``.

    No normalisation by default; entries below ``1e-6 * mean(W)`` are set to 0 as in the cross matrix.
    """
    W = normalise(distances(X, metric), norm)
    W = np.where(W < ZERO_TOL * np.mean(W), 0.0, W)
    return compute_bars(W, maxdim=dim, backend=backend)
