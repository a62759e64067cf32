"""Thin adapters over maintained persistent-homology libraries (never hand-written homology).

``compute_bars(M, maxdim, backend)`` runs Vietoris-Rips persistence on a dense ``(N, N)``
dissimilarity matrix and returns ``{k: (m_k, 2) float64}`` finite bars ``[birth, death)`` with
``death > birth`` for ``k = 0..maxdim``; infinite bars (the surviving H0 component) and zero-length
bars are dropped, as the official ripser++ backend reports neither.

Backends:

- ``"gph"``: giotto-ph's ``ripser_parallel`` (multithreaded; default where installed, CPython <= 3.12).
- ``"ripser"``: scikit-tda's ripser (single-threaded; everywhere).
- ``"gudhi"``: GUDHI's Rips complex; builds the explicit 2-skeleton, so only for tiny inputs (tests).
- ``"auto"``: ``"gph"`` when importable, else ``"ripser"``.

giotto-ph and ripser round filtration values to float32 internally (as ripser++ does), so bars agree
across them to float32 precision.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Literal

import numpy as np

__all__ = [
    "BACKENDS",
    "Backend",
    "available_backends",
    "compute_bars",
    "critical_edges",
    "enclosing_radius",
    "resolve_backend",
    "truncated_bars",
    "truncated_critical_edges",
]

Backend = Literal["auto", "gph", "ripser", "gudhi"]
BACKENDS = ("gph", "ripser", "gudhi")
_MODULES = {"gph": "gph", "ripser": "ripser", "gudhi": "gudhi"}


def available_backends() -> list[str]:
    """The backends importable in this environment."""
    return [b for b in BACKENDS if importlib.util.find_spec(_MODULES[b]) is not None]


def resolve_backend(backend: Backend | str) -> str:
    """Map ``"auto"`` to the best installed backend and check that the requested one is installed."""
    if backend == "auto":
        for candidate in ("gph", "ripser"):
            if importlib.util.find_spec(_MODULES[candidate]) is not None:
                return candidate
        raise ImportError("no persistent-homology backend installed: pip install giotto-ph (or ripser)")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of 'auto', {', '.join(map(repr, BACKENDS))}; got {backend!r}")
    if importlib.util.find_spec(_MODULES[backend]) is None:
        pip = {"gph": "giotto-ph", "ripser": "'ballroom-rtd[ripser]'", "gudhi": "gudhi"}[backend]
        raise ImportError(f"backend {backend!r} is not installed: pip install {pip}")
    return backend


def _check_matrix(M: np.ndarray) -> np.ndarray:
    if hasattr(M, "toarray"):
        raise TypeError("pass a dense matrix: in a sparse matrix 0 would mean 'no edge', not distance 0")
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"expected a square (N, N) dissimilarity matrix, got shape {M.shape}")
    if np.isnan(M).any():
        raise ValueError("the dissimilarity matrix contains NaN")
    if (M < 0).any():
        raise ValueError("the dissimilarity matrix has negative entries")
    if not np.array_equal(M, M.T):
        raise ValueError("the dissimilarity matrix must be symmetric")
    return M


def enclosing_radius(M: np.ndarray) -> float:
    """``min_v max_u M[v, u]``: from this scale on the Rips complex is a cone, so no bar outlives it.

    Passing it as the threshold keeps every finite bar while skipping all longer edges (and the
    ``+inf`` entries of the ``fast`` cross matrix, which would otherwise all be enumerated).
    """
    return float(np.min(np.max(M, axis=1)))


def _cut(M: np.ndarray, thresh: float | None) -> float:
    """Where persistence stops: the enclosing radius, or ``thresh`` when smaller (rounded up to the next
    float32, since the backends compare float32 filtration values with it)."""
    cut = enclosing_radius(M)
    if thresh is not None:
        cut = min(cut, float(np.nextafter(np.float32(thresh), np.float32(np.inf))))
    return cut


def _clean(dgm: np.ndarray) -> np.ndarray:
    dgm = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
    keep = np.isfinite(dgm[:, 1]) & (dgm[:, 1] > dgm[:, 0])
    return dgm[keep]


def _threads(n_threads: int | None) -> int:
    if n_threads is not None and n_threads != -1:  # -1: every available core (giotto-ph's convention)
        if n_threads < 1:
            raise ValueError(f"n_threads must be >= 1 or -1 (every available core), got {n_threads}")
        return n_threads
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def compute_bars(
    M: np.ndarray,
    maxdim: int = 1,
    backend: Backend | str = "auto",
    n_threads: int | None = None,
    collapse_edges: bool = False,
    thresh: float | None = None,
) -> dict[int, np.ndarray]:
    """Finite Vietoris-Rips bars of a dense dissimilarity matrix ``M (N, N)``.

    Returns ``{k: (m_k, 2) float64}`` for ``k = 0..maxdim``. ``n_threads`` (giotto-ph only)
    defaults to the CPUs available to this process; ``collapse_edges`` (giotto-ph only) applies
    the edge collapse of Boissonnat & Pritam, which leaves the barcode unchanged. ``thresh``: a scale
    the caller knows no bar of dimension <= ``maxdim`` outlives (or starts after); the smaller of it
    and the enclosing radius is used (values within float32 rounding above it are kept).

    Args:
        M: a dense, symmetric, non-negative dissimilarity matrix ``(N, N)`` (``+inf`` allowed).
        maxdim: the highest homology dimension (>= 0).
        backend: ``"auto"``, ``"gph"``, ``"ripser"`` or ``"gudhi"``.
        n_threads: giotto-ph threads (above).
        collapse_edges: giotto-ph's edge collapse (above).
        thresh: the persistence cut (above); ``None``: the enclosing radius.

    Raises:
        TypeError: ``M`` is a sparse matrix.
        ValueError: ``M`` is not square, symmetric and non-negative, holds NaN, or ``maxdim < 0``.
        ImportError: the backend is not installed.
    """
    return truncated_bars(M, maxdim, backend, n_threads, collapse_edges, thresh)[0]


def truncated_bars(
    M: np.ndarray,
    maxdim: int = 1,
    backend: Backend | str = "auto",
    n_threads: int | None = None,
    collapse_edges: bool = False,
    thresh: float | None = None,
) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    """Persistence of the Rips filtration of ``M (N, N)`` cut at ``thresh``: ``(bars, essential)``.

    ``bars`` as in :func:`compute_bars`; ``essential[k]`` counts the ``k``-classes still alive at the
    cut (reported with death ``inf`` by every backend), i.e. the Betti number ``b_k`` of the complex at
    scale ``thresh`` (capped at the enclosing radius, where ``b_0 = 1`` and ``b_k = 0`` for ``k >= 1``).
    A caller who knows that no class is born after ``thresh`` and finds ``essential[k] == 0`` knows that
    ``bars[k]`` is the complete barcode.

    Args:
        M: a dense, symmetric, non-negative dissimilarity matrix ``(N, N)``.
        maxdim: the highest homology dimension (>= 0).
        backend: ``"auto"``, ``"gph"``, ``"ripser"`` or ``"gudhi"``.
        n_threads: giotto-ph threads (default: the CPUs available to this process).
        collapse_edges: giotto-ph's edge collapse (the same barcode).
        thresh: the cut; ``None``: the enclosing radius.

    Raises:
        TypeError: ``M`` is a sparse matrix.
        ValueError: an invalid ``M`` or ``maxdim < 0``.
        ImportError: the backend is not installed.
    """
    if maxdim < 0:
        raise ValueError(f"maxdim must be >= 0, got {maxdim}")
    M = _check_matrix(M)
    name = resolve_backend(backend)
    thresh = _cut(M, thresh)
    if name == "gph":
        from gph import ripser_parallel

        out = ripser_parallel(
            M,
            metric="precomputed",
            maxdim=maxdim,
            thresh=thresh,
            n_threads=_threads(n_threads),
            collapse_edges=collapse_edges,
        )
        dgms = out["dgms"]
    elif name == "ripser":
        from ripser import ripser

        dgms = ripser(M, maxdim=maxdim, thresh=thresh, distance_matrix=True)["dgms"]
    else:
        dgms = _gudhi_dgms(M, maxdim, thresh)
    essential = {k: int(np.isinf(np.asarray(dgms[k]).reshape(-1, 2)[:, 1]).sum()) for k in range(maxdim + 1)}
    return {k: _clean(dgms[k]) for k in range(maxdim + 1)}, essential


def _gudhi_dgms(M: np.ndarray, maxdim: int, thresh: float) -> list[np.ndarray]:
    try:  # an optional backend for tiny inputs (the tests' reference), never a dependency
        import gudhi
    except ImportError as err:
        raise ImportError("backend 'gudhi' is not installed: pip install gudhi") from err

    rips = gudhi.RipsComplex(distance_matrix=M, max_edge_length=thresh)
    tree = rips.create_simplex_tree(max_dimension=maxdim + 1)
    tree.compute_persistence(homology_coeff_field=2, min_persistence=-1.0)
    return [tree.persistence_intervals_in_dimension(k) for k in range(maxdim + 1)]


def critical_edges(
    M: np.ndarray, dim: int = 1, n_threads: int | None = None, thresh: float | None = None
) -> np.ndarray:
    """Birth and death edges of the finite ``dim``-bars of ``M`` (giotto-ph only).

    Returns ``(m, 4) int64`` rows ``(b_u, b_v, d_u, d_v)``: the bar is born when edge ``{b_u, b_v}``
    enters (at ``M[b_u, b_v]``) and dies when edge ``{d_u, d_v}`` does. Zero-length bars are dropped.
    This is what makes RTD differentiable (:class:`ballroom.rtd.RTDLoss`). Runs on ONE thread by
    default: with several, giotto-ph returned different generators from run to run (observed, 0.2.4).

    Args:
        M: a dense, symmetric, non-negative dissimilarity matrix ``(N, N)``.
        dim: the homology dimension of the bars (>= 1).
        n_threads: giotto-ph threads (``None`` or 0: one).
        thresh: the persistence cut, as in :func:`compute_bars`.

    Raises:
        ValueError: ``dim < 1`` or an invalid ``M``.
        ImportError: giotto-ph is not installed.
    """
    return truncated_critical_edges(M, dim, n_threads, thresh)[0]


def truncated_critical_edges(
    M: np.ndarray, dim: int = 1, n_threads: int | None = None, thresh: float | None = None
) -> tuple[np.ndarray, int]:
    """:func:`critical_edges` of the filtration cut at ``thresh``, and the number of ``dim``-classes still
    alive at the cut (see :func:`truncated_bars`). Persistence pairs do not depend on simplices after a
    cut, so the finite bars' edges are those of the whole filtration when none is alive."""
    if dim < 1:
        raise ValueError(f"critical edges are defined here for dim >= 1, got {dim}")
    M = _check_matrix(M)
    resolve_backend("gph")
    from gph import ripser_parallel

    out = ripser_parallel(
        M,
        metric="precomputed",
        maxdim=dim,
        thresh=_cut(M, thresh),
        n_threads=n_threads or 1,
        return_generators=True,
    )
    gens = np.asarray(out["gens"][1][dim - 1], dtype=np.int64).reshape(-1, 4)
    keep = M[gens[:, 2], gens[:, 3]] > M[gens[:, 0], gens[:, 1]]
    alive = len(np.asarray(out["gens"][3][dim - 1]).reshape(-1, 2))
    return gens[keep], alive
