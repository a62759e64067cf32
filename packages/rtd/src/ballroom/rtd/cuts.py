"""Where persistence of the cross complex may stop: exact cut certificates for its H1 bars.

A Rips computation may always stop at the enclosing radius of the matrix. The cross complex of
:mod:`ballroom.rtd.cross` allows much earlier cuts, each proven in its docstring:

- :func:`cross_threshold` (a priori): past it the complex has no H1 class at all;
- :func:`birth_bound`: past it no H1 class is born, so a cut where no class is alive has every bar;
- :func:`search_cut`: the adaptive search that :func:`ballroom.rtd.functional.cross_bars` (and
  :class:`ballroom.rtd.RTDLoss`) run on top of the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import numpy as np

__all__ = ["Threshold", "birth_bound", "cross_threshold", "search_cut", "spanning_bottleneck"]

Threshold = Literal["adaptive", "cross", "enclosing"]


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
