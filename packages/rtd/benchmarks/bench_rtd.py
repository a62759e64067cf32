"""RTD timing: backends, our vertex order and persistence cut against the official formulation, scaling in n.

Run with ``nox -s "bench(rtd, cpu)"`` (JSON to ``.benchmarks/rtd-cpu.json``). Groups:

- ``rtd_sym-random-n500``: ``rtd_sym`` of 500 random points, giotto-ph vs ripser, against the
  official formulation (spec vertex layout, no threshold, giotto-ph) and linear CKA / SVCCA, the
  baselines users would otherwise pick.
- ``rings-k5-one-direction``: the tie-heavy rings case, ours vs the official formulation.
- ``clusters-7-both-directions``: the paper's notebook workload (7 cluster comparisons): ``rtd_sym_batch``
  against a loop of ``rtd_sym``.
- ``-cross`` / ``-enclosing`` rows: ours with the a-priori cut (:func:`ballroom.rtd.cross_threshold`) or the
  enclosing radius instead of the default adaptive cut (same bars; what the cut is worth).
- ``scaling-<backend>``: ``rtd_1`` of ``n`` random points for n = 100 .. 2000.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ballroom.core.metrics import linear_cka, svcca
from ballroom.rtd import (
    available_backends,
    clusters_experiment,
    cross_barcode_from_distances,
    cross_matrix,
    distances,
    imd,
    imd_available,
    rings_experiment,
    rtd_1,
    rtd_sym,
    rtd_sym_batch,
)

BACKENDS = [b for b in ("gph", "ripser") if b in available_backends()]


def _official_formulation(P: np.ndarray, Pt: np.ndarray) -> float:
    """The official code's computation with giotto-ph: spec vertex layout, +inf entries, no threshold."""
    from gph import ripser_parallel

    M = cross_matrix(P, Pt, fast=True)
    dgm = ripser_parallel(M, metric="precomputed", maxdim=1, n_threads=2)["dgms"][1]
    dgm = dgm[np.isfinite(dgm[:, 1])]
    return float(np.sum(dgm[:, 1] - dgm[:, 0], dtype=np.float64))


def _rtd_sym_cut(P: np.ndarray, Pt: np.ndarray, threshold: str) -> float:
    """Ours (A-first order, giotto-ph) with another persistence cut than the default adaptive one."""
    W, Wt = distances(P), distances(Pt)
    total = 0.0
    for a, b in ((W, Wt), (Wt, W)):
        bars = cross_barcode_from_distances(a, b, backend="gph", threshold=threshold)[1]  # type: ignore[arg-type]
        total += float(np.sum(bars[:, 1] - bars[:, 0]))
    return 0.5 * total


def _random(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 2)), rng.random((n, 2))


@pytest.mark.parametrize(
    "name",
    [
        *(f"ours-{b}" for b in BACKENDS),
        *(["official-formulation-gph", "ours-cross-gph", "ours-enclosing-gph"] if "gph" in BACKENDS else []),
        "linear_cka",
        "svcca",
    ],
)
def test_rtd_sym_random_500(benchmark: pytest.FixtureRequest, name: str) -> None:
    P, Pt = _random(500)
    fns: dict[str, Callable[[], float]] = {
        "official-formulation-gph": lambda: (
            0.5 * (_official_formulation(P, Pt) + _official_formulation(Pt, P))
        ),
        "ours-cross-gph": lambda: _rtd_sym_cut(P, Pt, "cross"),
        "ours-enclosing-gph": lambda: _rtd_sym_cut(P, Pt, "enclosing"),
        "linear_cka": lambda: float(linear_cka(P, Pt)),
        "svcca": lambda: float(svcca(P, Pt)),
    }
    for b in BACKENDS:
        fns[f"ours-{b}"] = lambda b=b: rtd_sym(P, Pt, backend=b)
    benchmark.group = "rtd_sym-random-n500"
    benchmark.pedantic(
        fns[name], rounds=3 if "rtd" in name or "ours" in name or "official" in name else 20, iterations=1
    )


@pytest.mark.parametrize("name", ["ours", "ours-cross", "official-formulation"])
def test_rings_tied_direction(benchmark: pytest.FixtureRequest, name: str) -> None:
    if "gph" not in BACKENDS:
        pytest.skip("needs giotto-ph")
    base, variants = rings_experiment()
    fns: dict[str, Callable[[], object]] = {
        "ours": lambda: rtd_1(base, variants[5], backend="gph"),
        "ours-cross": lambda: cross_barcode_from_distances(
            distances(base), distances(variants[5]), backend="gph", threshold="cross"
        ),
        "official-formulation": lambda: _official_formulation(base, variants[5]),
    }
    benchmark.group = "rings-k5-one-direction"
    benchmark.pedantic(fns[name], rounds=1, iterations=1)


@pytest.mark.parametrize(
    "name", ["ours-batch", "ours-loop", "ours-cross-batch", "ours-cross-loop", "ours-enclosing-loop", "imd"]
)
def test_clusters_seven_both_directions(benchmark: pytest.FixtureRequest, name: str) -> None:
    if "gph" not in BACKENDS:
        pytest.skip("needs giotto-ph")
    base, clouds = clusters_experiment()
    benchmark.group = "clusters-7-both-directions"
    if name == "imd":  # the paper's slowest baseline (83 s in the official notebook); one seed
        if not imd_available():
            pytest.skip("needs piq (ballroom-rtd[imd])")
        benchmark.pedantic(lambda: [imd(base, c) for c in clouds.values()], rounds=1, iterations=1)
        return
    cut = name.split("-")[1] if name.count("-") == 2 else "adaptive"
    if name.endswith("batch"):  # 14 barcodes in worker processes, one giotto-ph thread each
        fn: Callable[[], object] = lambda: rtd_sym_batch([(base, c) for c in clouds.values()], threshold=cut)  # type: ignore[arg-type]  # noqa: E731
    elif cut == "adaptive":
        fn = lambda: [rtd_sym(base, c) for c in clouds.values()]  # noqa: E731
    else:
        fn = lambda: [_rtd_sym_cut(base, c, cut) for c in clouds.values()]  # noqa: E731
    benchmark.pedantic(fn, rounds=1, iterations=1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [100, 250, 500, 1000, 2000])
def test_scaling(benchmark: pytest.FixtureRequest, backend: str, n: int) -> None:
    P, Pt = _random(n, seed=n)
    benchmark.group = f"scaling-{backend}"
    benchmark.pedantic(lambda: rtd_1(P, Pt, backend=backend), rounds=1 if n >= 1000 else 3, iterations=1)


@pytest.mark.parametrize("n", [100, 250, 500, 1000])
def test_scaling_cross_cut(benchmark: pytest.FixtureRequest, n: int) -> None:
    """The same ``rtd_1`` as ``scaling-gph`` with the a-priori cut instead of the adaptive one."""
    if "gph" not in BACKENDS:
        pytest.skip("needs giotto-ph")
    P, Pt = _random(n, seed=n)
    W, Wt = distances(P), distances(Pt)
    benchmark.group = "scaling-gph-cross"
    benchmark.pedantic(
        lambda: cross_barcode_from_distances(W, Wt, backend="gph", threshold="cross"),
        rounds=1 if n >= 1000 else 3,
        iterations=1,
    )
