"""Representation Topology Divergence (Barannikov et al., ICML 2022) as plain functions.

RTD compares two representations ``P (n, d1)`` and ``Pt (n, d2)`` of the same ``n`` points (row
``i`` of both describes point ``i``; the dimensions may differ) by how differently their points get
connected as a distance scale grows.

An H1 bar ``[b, d)`` of the R-Cross-Barcode appears when two points become linked at scale ``b``
under ``min(W, Wt)`` but only at the larger scale ``d`` under ``W``: its length is the size of that
disagreement. Summing bar lengths gives ``rtd_1``, which is 0 whenever ``Wt >= W`` entrywise.

This module holds RTD; the pieces it is built from live beside it and are re-exported here (every
name stays importable from ``ballroom.rtd.functional``):

- :mod:`ballroom.rtd.barcodes`: the R-Cross-Barcode, the Rips barcode, the ``{"dgms"}`` layout;
- :mod:`ballroom.rtd.cross`: point clouds to distance matrices to the ``(2n, 2n)`` cross matrix;
- :mod:`ballroom.rtd.cuts`: the exact persistence cuts (:func:`cross_threshold`, :func:`birth_bound`,
  :func:`search_cut`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal, NamedTuple, overload

import numpy as np
import torch

from ballroom.core.validate import check_choice, check_int
from ballroom.rtd.backends import Backend
from ballroom.rtd.barcodes import (
    cross_barcode,
    cross_barcode_from_distances,
    cross_bars,
    from_dgms,
    to_dgms,
    vr_barcode,
)
from ballroom.rtd.cross import (
    ZERO_TOL,
    Norm,
    _pair,
    a_first_order,
    cross_matrix,
    cross_matrix_from_distances,
    distances,
    normalise,
)
from ballroom.rtd.cuts import Threshold, birth_bound, cross_threshold, search_cut, spanning_bottleneck

__all__ = [
    "ZERO_TOL",
    "Norm",
    "RTDTrials",
    "Threshold",
    "a_first_order",
    "birth_bound",
    "cross_barcode",
    "cross_barcode_from_distances",
    "cross_bars",
    "cross_matrix",
    "cross_matrix_from_distances",
    "cross_threshold",
    "distances",
    "from_dgms",
    "normalise",
    "rtd",
    "rtd_1",
    "rtd_sym",
    "rtd_sym_batch",
    "search_cut",
    "spanning_bottleneck",
    "to_dgms",
    "vr_barcode",
]


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
    threshold: Threshold = "adaptive",
) -> float:
    """Asymmetric RTD: total length of the H1 R-Cross-Barcode of ``(P, Pt)`` (summed in float64).

    One direction only: the official ``rtd1(P, Q)`` is the *symmetric* mean, :func:`rtd_sym` here.

    Args:
        P: the first representation ``(n, d1)`` (array or tensor; row ``i`` is point ``i``).
        Pt: the second representation ``(n, d2)`` of the same ``n`` points.
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
        ``rtd_1(P, Pt)``, a Python float ``>= 0``.

    Raises:
        TypeError: ``P`` or ``Pt`` does not hold real numbers.
        ValueError: not ``(n, d)`` clouds of the same ``n >= 2`` points, or NaN or inf.
    """
    bars = cross_barcode(P, Pt, 1, norm, backend, fast, use_max, metric, n_threads, collapse_edges, threshold)
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
    threshold: Threshold = "adaptive",
) -> float:
    """Symmetric RTD ``(rtd_1(P, Pt) + rtd_1(Pt, P)) / 2`` (what the paper reports, and what the
    official ``rtd1(P, Q)`` computes); distances computed once.

    Args:
        P, Pt: two representations ``(n, d1)``, ``(n, d2)`` of the same ``n`` points (arrays or tensors).
        norm: distance normalisation of each cloud (``"quantile"``: divide by the 0.9 quantile, the paper's).
        backend: ``"auto"``, ``"gph"`` (giotto-ph), ``"ripser"`` or ``"gudhi"``.
        fast: set the strictly lower triangle of the cross block to ``+inf`` (the same value from fewer
            edges).
        use_max: the max-based cross block (an official variant).
        metric: any :func:`scipy.spatial.distance.pdist` metric.
        n_threads: threads of the persistence backend.
        collapse_edges: giotto-ph's edge collapse (same bars, sometimes faster).
        threshold: where persistence stops (see :func:`cross_bars`).

    Returns:
        the symmetric RTD, a Python float (``>= 0``; 0 for identical clouds up to scale).
    """
    A, B = _pair(P, Pt)
    return _rtd_sym_from_distances(
        distances(A, metric), distances(B, metric), norm=norm, backend=backend, fast=fast,
        use_max=use_max, n_threads=n_threads, collapse_edges=collapse_edges, threshold=threshold,
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
    2 cores. Same values as the loop (tested). Workers are forked on Linux (they inherit the imports)
    and spawned elsewhere.

    Args:
        pairs: ``(P (n, d1), Pt (n, d2))`` pairs (arrays or tensors); ``n`` may differ between pairs.
        n_jobs: worker processes (default: the CPUs available; 1 computes in this process).
        norm: distance normalisation of each matrix: ``"quantile"`` (divide by the 0.9 quantile, the
            paper's), ``"median"``, ``"mean"`` or ``None``.
        backend: ``"auto"`` (giotto-ph when installed, else ripser), ``"gph"``, ``"ripser"`` or
            ``"gudhi"``.
        fast: set the strictly lower triangle of the cross block to ``+inf`` (the same H1 bars from
            fewer edges).
        use_max: the experimental construction (cross block ``max(W, Wt)``, A block ``Wt``), not used
            in the paper.
        metric: any :func:`scipy.spatial.distance.pdist` metric name.
        threshold: where persistence stops: ``"adaptive"``, ``"cross"`` or ``"enclosing"`` (see
            :func:`cross_bars`; every choice gives the same bars).

    Returns:
        One symmetric RTD (a Python float) per pair, in order.

    Raises:
        ValueError: ``n_jobs < 1``, or a pair that is not two clouds of the same points.
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


@overload
def rtd(
    P: np.ndarray | torch.Tensor,
    Pt: np.ndarray | torch.Tensor,
    trials: int = ...,
    batch: int = ...,
    rng: np.random.Generator | int | None = ...,
    sampler: Literal["generator", "legacy"] = ...,
    indices: Sequence[np.ndarray] | None = ...,
    progress: bool = ...,
    norm: Norm = ...,
    backend: Backend | str = ...,
    fast: bool = ...,
    use_max: bool = ...,
    metric: str = ...,
    n_threads: int | None = ...,
    collapse_edges: bool = ...,
    n_jobs: int | None = ...,
    threshold: Threshold = ...,
    return_subsets: Literal[False] = ...,
) -> float: ...


@overload
def rtd(
    P: np.ndarray | torch.Tensor,
    Pt: np.ndarray | torch.Tensor,
    trials: int = ...,
    batch: int = ...,
    rng: np.random.Generator | int | None = ...,
    sampler: Literal["generator", "legacy"] = ...,
    indices: Sequence[np.ndarray] | None = ...,
    progress: bool = ...,
    norm: Norm = ...,
    backend: Backend | str = ...,
    fast: bool = ...,
    use_max: bool = ...,
    metric: str = ...,
    n_threads: int | None = ...,
    collapse_edges: bool = ...,
    n_jobs: int | None = ...,
    threshold: Threshold = ...,
    *,
    return_subsets: Literal[True],
) -> RTDTrials: ...


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
    threshold: Threshold = "adaptive",
    return_subsets: bool = False,
) -> float | RTDTrials:
    """RTD averaged over ``trials`` random subsets of ``min(batch, n)`` points (the paper's entry point).

    Each trial draws ONE subset ``S`` of row indices without replacement, used for both clouds, and
    computes ``rtd_sym(P[S], Pt[S])`` (normalisation recomputed on the subset). ``sampler="generator"``
    draws ``S`` from ``np.random.default_rng(rng)``; ``sampler="legacy"`` reproduces the official code
    exactly: ``perm = list(range(n)); np.random.shuffle(perm); S = perm[:batch]`` with numpy's GLOBAL
    legacy RNG (seed it with ``np.random.seed``). ``indices`` gives the subsets explicitly.
    ``n_jobs``: ``1`` (default) computes the trials one after another (``progress`` shows a bar);
    ``None`` or ``k > 1`` spreads their barcodes over worker processes as :func:`rtd_sym_batch` does
    (the same value; ``n_threads`` and ``collapse_edges`` then do not apply).
    ``return_subsets=True`` returns :class:`RTDTrials` ``(value, values, subsets)`` instead of the mean:
    the per-trial ``rtd_sym`` values and the row indices each trial used (pass them back as
    ``indices=`` to recompute exactly these trials, e.g. on other representations of the same points).

    Args:
        P: the first representation ``(n, d1)`` (array or tensor; row ``i`` is point ``i``).
        Pt: the second representation ``(n, d2)`` of the same ``n`` points.
        trials: the number of random subsets (ignored when ``indices`` is given).
        batch: the subset size (>= 2; the whole cloud when ``n <= batch``).
        rng: a ``np.random.Generator`` or a seed for ``sampler="generator"``.
        sampler: ``"generator"`` or ``"legacy"`` (above).
        indices: explicit subsets, one 1-D array of distinct row indices per trial.
        progress: show a tqdm bar over the trials (``n_jobs=1`` only).
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
        n_jobs: ``1``, ``None`` or ``k > 1`` (above).
        threshold: where persistence stops: ``"adaptive"``, ``"cross"`` or ``"enclosing"`` (see
            :func:`cross_bars`; every choice gives the same bars).
        return_subsets: return :class:`RTDTrials` instead of the mean.

    Returns:
        The mean symmetric RTD over the trials (a Python float), or :class:`RTDTrials`.

    Raises:
        TypeError: ``P`` or ``Pt`` does not hold real numbers.
        ValueError: bad clouds, ``trials < 1``, ``batch < 2``, an unknown ``sampler`` or bad
            ``indices``.
    """
    A, B = _pair(P, Pt)
    n = A.shape[0]
    if indices is None:
        check_int(trials, "trials", min=1)
    check_int(batch, "batch", min=2)
    check_choice(sampler, "sampler", ("generator", "legacy"))
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
        "threshold": threshold,
    }
    if n_jobs != 1 and all(len(S) < n for S in subsets):
        if n_threads is not None or collapse_edges:
            warnings.warn(
                "rtd(n_jobs != 1) computes each barcode in a worker process with one backend thread: "
                "n_threads and collapse_edges do not apply (pass n_jobs=1 to use them)",
                UserWarning,
                stacklevel=2,
            )
        pairs = [(A[S], B[S]) for S in subsets]
        opts = {"norm": norm, "backend": backend, "fast": fast, "use_max": use_max, "metric": metric,
                "threshold": threshold}  # fmt: skip
        batch_values = rtd_sym_batch(pairs, n_jobs=n_jobs, **opts)  # type: ignore[arg-type]
        return _trials(batch_values, subsets, return_subsets)
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
    return _trials(values, subsets, return_subsets)


class RTDTrials(NamedTuple):
    """What :func:`rtd` returns with ``return_subsets=True``.

    Attributes:
        value: the mean of ``values`` (what :func:`rtd` returns otherwise).
        values: ``(trials,)`` float64, ``rtd_sym`` of each subset.
        subsets: one ``(size,)`` int64 array of row indices per trial, in draw order.
    """

    value: float
    values: np.ndarray
    subsets: list[np.ndarray]


def _trials(values: Sequence[float], subsets: list[np.ndarray], detailed: bool) -> float | RTDTrials:
    arr = np.asarray(values, dtype=np.float64)
    mean = float(np.mean(arr))
    return RTDTrials(mean, arr, subsets) if detailed else mean
