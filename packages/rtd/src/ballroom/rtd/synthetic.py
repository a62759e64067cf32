"""The paper's synthetic point clouds, exact recipes (numpy only: importing them needs no Lightning)."""

from __future__ import annotations

import numpy as np

__all__ = ["CLUSTER_COUNTS", "clusters_experiment", "rings_experiment", "rings_variant"]

#: The numbers of clusters compared with the base cloud in the paper's clusters experiment.
CLUSTER_COUNTS = (2, 3, 4, 5, 6, 10, 12)


def clusters_experiment(
    seed: int = 7, counts: tuple[int, ...] = CLUSTER_COUNTS
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The clusters experiment: ``(base (300, 2), {k: cloud (300, 2)})``.

    With the legacy global RNG seeded by ``seed`` (the paper: 7), 60 groups of 5 points are drawn by
    ``np.random.multivariate_normal(0, I_2, 5)``, one call per group. The k-cluster cloud moves group
    ``i`` by ``10 (cos t, sin t)``, ``t = 2 pi (i mod k) / k``. The global RNG state is restored afterwards.

    Args:
        seed: the seed of numpy's legacy global RNG (the paper: 7).
        counts: the cluster counts ``k`` to build (default :data:`CLUSTER_COUNTS`).

    Returns:
        ``(base (300, 2) float64, {k: (300, 2) float64})``.
    """
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        groups = [np.random.multivariate_normal(np.zeros(2), np.eye(2), 5) for _ in range(60)]
    finally:
        np.random.set_state(state)
    base = np.concatenate(groups)
    clouds = {}
    for k in counts:
        t = 2 * np.pi * (np.arange(60) % k) / k
        shift = 10 * np.stack([np.cos(t), np.sin(t)], 1)
        clouds[k] = np.concatenate([g + s for g, s in zip(groups, shift)])
    return base, clouds


def rings_variant(k: int, n_rings: int = 5, points: int = 100) -> np.ndarray:
    """Variant ``k`` (1..n_rings) of the rings experiment: ``(n_rings * points, 2)``.

    Rings ``0..k-1`` have radius 1; ring ``k + j`` has radius ``1 + 0.25 (j + 2) / 2`` for even ``j``
    and ``1 - 0.25 (j + 1) / 2`` for odd ``j`` (1.25, 0.75, 1.5, 0.5, ...). Points sit at angles
    ``2 pi m / points``, no noise; variant ``n_rings`` is ``n_rings`` coincident rings.
    """
    if not 1 <= k <= n_rings:
        raise ValueError(f"k must lie in [1, {n_rings}], got {k}")
    radii = [1.0] * k
    for j in range(n_rings - k):
        radii.append(1 + 0.25 * (j + 2) / 2 if j % 2 == 0 else 1 - 0.25 * (j + 1) / 2)
    angle = 2 * np.pi * np.arange(points) / points
    unit = np.stack([np.cos(angle), np.sin(angle)], 1)
    return np.concatenate([r * unit for r in radii])


def rings_experiment(n_rings: int = 5, points: int = 100) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """``(base, {k: variant k})``: the base is variant 1 (distinct rings), compared with variants 1..n_rings.

    Args:
        n_rings: the number of rings (and variants).
        points: points per ring.

    Returns:
        ``(base (n_rings * points, 2), {k: (n_rings * points, 2)})`` float64 (see :func:`rings_variant`).
    """
    variants = {k: rings_variant(k, n_rings, points) for k in range(1, n_rings + 1)}
    return variants[1], variants
