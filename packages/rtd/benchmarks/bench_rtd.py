"""RTD timing: backends, our vertex order and threshold against the official formulation, scaling in n.

Run with ``nox -s "bench(rtd, cpu)"`` (JSON to ``.benchmarks/rtd-cpu.json``). Groups:

- ``rtd_sym-random-n500``: ``rtd_sym`` of 500 random points, giotto-ph vs ripser, against the
  official formulation (spec vertex layout, no threshold, giotto-ph) and linear CKA / SVCCA, the
  baselines users would otherwise pick.
- ``rings-k5-one-direction``: the tie-heavy rings case, ours vs the official formulation.
- ``clusters-7-both-directions``: the paper's notebook workload (7 cluster comparisons): ``rtd_sym_batch``
  against a loop of ``rtd_sym``.
- ``ours-enclosing`` rows: ours with the enclosing-radius threshold instead of ``cross_threshold``.
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
    compute_bars,
    cross_matrix,
    rings_experiment,
    rtd_1,
    rtd_sym,
    rtd_sym_batch,
)
from ballroom.rtd.functional import a_first_order

BACKENDS = [b for b in ("gph", "ripser") if b in available_backends()]


def _official_formulation(P: np.ndarray, Pt: np.ndarray) -> float:
    """The official code's computation with giotto-ph: spec vertex layout, +inf entries, no threshold."""
    from gph import ripser_parallel

    M = cross_matrix(P, Pt, fast=True)
    dgm = ripser_parallel(M, metric="precomputed", maxdim=1, n_threads=2)["dgms"][1]
    dgm = dgm[np.isfinite(dgm[:, 1])]
    return float(np.sum(dgm[:, 1] - dgm[:, 0], dtype=np.float64))


def _rtd_sym_enclosing(P: np.ndarray, Pt: np.ndarray) -> float:
    """Ours (A-first order, giotto-ph) with the enclosing radius of the matrix as threshold."""
    total = 0.0
    for a, b in ((P, Pt), (Pt, P)):
        M = cross_matrix(a, b, fast=True)
        order = a_first_order(M.shape[0] // 2)
        bars = compute_bars(M[np.ix_(order, order)], maxdim=1, backend="gph")[1]
        total += float(np.sum(bars[:, 1] - bars[:, 0]))
    return 0.5 * total


def _random(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 2)), rng.random((n, 2))


@pytest.mark.parametrize(
    "name",
    [
        *(f"ours-{b}" for b in BACKENDS),
        *(["official-formulation-gph", "ours-enclosing-gph"] if "gph" in BACKENDS else []),
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
        "ours-enclosing-gph": lambda: _rtd_sym_enclosing(P, Pt),
        "linear_cka": lambda: float(linear_cka(P, Pt)),
        "svcca": lambda: float(svcca(P, Pt)),
    }
    for b in BACKENDS:
        fns[f"ours-{b}"] = lambda b=b: rtd_sym(P, Pt, backend=b)
    benchmark.group = "rtd_sym-random-n500"
    benchmark.pedantic(
        fns[name], rounds=3 if "rtd" in name or "ours" in name or "official" in name else 20, iterations=1
    )


@pytest.mark.parametrize("name", ["ours", "official-formulation"])
def test_rings_tied_direction(benchmark: pytest.FixtureRequest, name: str) -> None:
    if "gph" not in BACKENDS:
        pytest.skip("needs giotto-ph")
    base, variants = rings_experiment()
    fn = (
        (lambda: rtd_1(base, variants[5], backend="gph"))
        if name == "ours"
        else (lambda: _official_formulation(base, variants[5]))
    )
    benchmark.group = "rings-k5-one-direction"
    benchmark.pedantic(fn, rounds=1, iterations=1)


@pytest.mark.parametrize("name", ["ours-batch", "ours-loop", "ours-enclosing-loop"])
def test_clusters_seven_both_directions(benchmark: pytest.FixtureRequest, name: str) -> None:
    if "gph" not in BACKENDS:
        pytest.skip("needs giotto-ph")
    base, clouds = clusters_experiment()
    benchmark.group = "clusters-7-both-directions"
    if name == "ours-batch":  # 14 barcodes in worker processes, one giotto-ph thread each
        fn: Callable[[], object] = lambda: rtd_sym_batch([(base, c) for c in clouds.values()])  # noqa: E731
    else:
        one = rtd_sym if name == "ours-loop" else _rtd_sym_enclosing
        fn = lambda: [one(base, c) for c in clouds.values()]  # noqa: E731
    benchmark.pedantic(fn, rounds=1, iterations=1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [100, 250, 500, 1000, 2000])
def test_scaling(benchmark: pytest.FixtureRequest, backend: str, n: int) -> None:
    P, Pt = _random(n, seed=n)
    benchmark.group = f"scaling-{backend}"
    benchmark.pedantic(lambda: rtd_1(P, Pt, backend=backend), rounds=1 if n >= 1000 else 3, iterations=1)
