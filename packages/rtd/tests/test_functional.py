"""The mathematics of RTD: hand-computed barcodes, invariances, backends, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballroom.rtd import (
    available_backends,
    compute_bars,
    cross_barcode,
    cross_barcode_from_distances,
    cross_matrix,
    cross_matrix_from_distances,
    distances,
    rtd,
    rtd_1,
    rtd_sym,
    vr_barcode,
)
from ballroom.rtd.backends import enclosing_radius

LINE = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
BACKENDS = [b for b in ("gph", "ripser") if b in available_backends()]


def _cloud(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def _sym(W: np.ndarray) -> np.ndarray:
    return np.triu(W, 1) + np.triu(W, 1).T


@pytest.mark.parametrize("backend", [*BACKENDS, "gudhi"])
def test_hand_computed_barcodes(backend: str) -> None:
    pytest.importorskip({"gph": "gph", "ripser": "ripser", "gudhi": "gudhi"}[backend])
    Wt = LINE.copy()
    Wt[0, 2] = Wt[2, 0] = 0.5  # points 0 and 2 join at 0.5 under min(W, Wt) but at 1.0 under W
    for fast in (True, False):
        bars = cross_barcode_from_distances(LINE, Wt, norm=None, backend=backend, fast=fast)
        assert bars[0].shape == (0, 2)
        np.testing.assert_allclose(bars[1], [[0.5, 1.0]], atol=1e-7)
    Wt = LINE.copy()
    Wt[0, 1] = Wt[1, 0] = 0.2
    Wt[1, 2] = Wt[2, 1] = 0.3
    bars = cross_barcode_from_distances(LINE, Wt, norm=None, backend=backend)[1]
    np.testing.assert_allclose(bars[np.argsort(bars[:, 0])], [[0.2, 1.0], [0.3, 1.0]], atol=1e-7)


def test_cross_matrix_blocks() -> None:
    P, Pt = _cloud(6, 2, 0), _cloud(6, 3, 1)
    W, Wt = distances(P), distances(Pt)
    M = cross_matrix(P, Pt, norm=None)
    n = 6
    assert M.shape == (12, 12) and np.array_equal(M, M.T)
    assert np.all(M[:n, :n] == 0)  # the whole A' block, not only its diagonal
    np.testing.assert_array_equal(M[n:, :n], W)  # cross block: the FIRST cloud
    np.testing.assert_array_equal(M[n:, n:], np.minimum(W, Wt))
    fast = cross_matrix(P, Pt, norm=None, fast=True)
    lower = np.tril_indices(n, -1)
    assert np.all(np.isinf(fast[n:, :n][lower])) and np.array_equal(
        fast[n:, :n][np.triu_indices(n)], W[np.triu_indices(n)]
    )
    used = cross_matrix(P, Pt, norm=None, use_max=True)
    np.testing.assert_array_equal(used[n:, :n], np.maximum(W, Wt))
    np.testing.assert_array_equal(used[n:, n:], Wt)


@pytest.mark.parametrize("norm", ["quantile", "median", "mean"])
def test_normalisation_over_all_entries_including_diagonal(norm: str) -> None:
    P = _cloud(9, 2, 2)
    W = distances(P)
    scale = {"quantile": np.quantile(W, 0.9), "median": np.median(W), "mean": np.mean(W)}[norm]
    M = cross_matrix(P, P, norm=norm)  # type: ignore[arg-type]
    np.testing.assert_allclose(M[9:, :9], W / scale, rtol=1e-15)


def test_tiny_entries_become_exactly_zero() -> None:
    W = distances(_cloud(5, 2, 3))
    Wt = W.copy()
    Wt[0, 1] = Wt[1, 0] = 1e-9
    M = cross_matrix_from_distances(W, Wt, norm=None)
    assert M[5, 6] == 0.0 and M[6, 5] == 0.0


def test_identity_scaling_and_dominated_distances_give_zero() -> None:
    P = _cloud(40, 3, 4)
    assert rtd_1(P, P) == 0.0
    assert rtd_1(P, 3.5 * P) == 0.0
    W = distances(P)
    bigger = W + _sym(np.random.default_rng(5).uniform(0.0, 1.0, W.shape))
    assert cross_barcode_from_distances(W, bigger, norm=None)[1].shape == (0, 2)  # Wt >= W entrywise


def test_invariances() -> None:
    rng = np.random.default_rng(6)
    P, Pt = _cloud(50, 3, 7), _cloud(50, 4, 8)
    base1, base_sym = rtd_1(P, Pt), rtd_sym(P, Pt)
    assert base1 > 0
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # rotation or reflection
    moved = P @ Q + rng.normal(size=3)
    padded = np.concatenate([Pt, np.zeros((50, 2))], 1)
    perm = rng.permutation(50)
    for a, b in ((moved, Pt), (P, padded), (P[perm], Pt[perm])):
        assert rtd_1(a, b) == pytest.approx(base1, rel=1e-5)
        assert rtd_sym(a, b) == pytest.approx(base_sym, rel=1e-5)


def test_asymmetry_and_symmetric_version() -> None:
    P, Pt = _cloud(40, 2, 9), _cloud(40, 2, 10) * np.array([3.0, 0.2])
    forward, backward = rtd_1(P, Pt), rtd_1(Pt, P)
    assert abs(forward - backward) > 1e-3
    assert rtd_sym(P, Pt) == pytest.approx(0.5 * (forward + backward), rel=1e-12)
    assert rtd_sym(Pt, P) == pytest.approx(rtd_sym(P, Pt), rel=1e-12)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_fast_path_and_thresholds_give_identical_bars(seed: int) -> None:
    P, Pt = _cloud(60, 3, seed), _cloud(60, 2, seed + 100)
    full = cross_barcode(P, Pt, fast=False)
    fast = cross_barcode(P, Pt, fast=True)
    assert full[0].shape == fast[0].shape == (0, 2)  # H0 of the cross barcode is always empty
    assert np.isfinite(fast[1]).all() and bool((fast[1][:, 1] > fast[1][:, 0]).all())
    np.testing.assert_array_equal(np.sort(full[1], 0), np.sort(fast[1], 0))
    # the enclosing-radius threshold drops no bar: compare with an unthresholded giotto-ph/ripser run
    M = cross_matrix(P, Pt, fast=False)
    assert enclosing_radius(M) < M.max()
    if "gph" in available_backends():
        from gph import ripser_parallel

        raw = ripser_parallel(M, metric="precomputed", maxdim=1)["dgms"][1]
    else:
        from ripser import ripser

        raw = ripser(M, maxdim=1, distance_matrix=True)["dgms"][1]
    raw = raw[np.isfinite(raw[:, 1]) & (raw[:, 1] > raw[:, 0])]
    np.testing.assert_array_equal(np.sort(raw, 0), np.sort(full[1], 0))


def test_backends_agree() -> None:
    if len(BACKENDS) < 2:
        pytest.skip("needs giotto-ph and ripser")
    P, Pt = _cloud(80, 3, 14), _cloud(80, 5, 15)
    a = np.sort(cross_barcode(P, Pt, backend="gph")[1], 0)
    b = np.sort(cross_barcode(P, Pt, backend="ripser")[1], 0)
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("seed", [16, 17])
def test_tiny_clouds_agree_with_gudhi(seed: int) -> None:
    pytest.importorskip("gudhi")
    P, Pt = _cloud(7, 2, seed), _cloud(7, 3, seed + 1)
    ref = np.sort(cross_barcode(P, Pt, backend="gudhi", fast=False)[1], 0)
    for backend in BACKENDS:
        np.testing.assert_allclose(np.sort(cross_barcode(P, Pt, backend=backend)[1], 0), ref, atol=1e-6)


def test_rtd_is_the_mean_over_the_drawn_subsets() -> None:
    P, Pt = _cloud(70, 3, 18), _cloud(70, 3, 19)
    rng = np.random.default_rng(0)
    subsets = [rng.permutation(70)[:30] for _ in range(3)]
    expect = np.mean([rtd_sym(P[s], Pt[s]) for s in subsets])
    assert rtd(P, Pt, indices=subsets) == pytest.approx(expect, rel=1e-12)
    assert rtd(P, Pt, trials=3, batch=30, rng=0) == pytest.approx(expect, rel=1e-12)  # same draws
    assert rtd(P, Pt, indices=subsets, n_jobs=2) == pytest.approx(expect, rel=1e-12)  # worker processes
    assert rtd(P, Pt, trials=2, batch=500) == pytest.approx(
        rtd_sym(P, Pt), rel=1e-12
    )  # batch >= n: all points


def test_legacy_sampler_draws_like_the_official_code() -> None:
    P, Pt = _cloud(30, 2, 20), _cloud(30, 2, 21)
    np.random.seed(3)
    subsets = []
    for _ in range(2):
        perm = list(range(30))
        np.random.shuffle(perm)
        subsets.append(perm[:12])
    after = np.random.random()
    np.random.seed(3)
    value = rtd(P, Pt, trials=2, batch=12, sampler="legacy")
    assert np.random.random() == after  # nothing else was drawn from the global RNG
    assert value == pytest.approx(rtd(P, Pt, indices=[np.array(s) for s in subsets]), rel=1e-12)


@pytest.mark.slow
def test_official_readme_example() -> None:
    np.random.seed(7)
    P = np.random.rand(1000, 2)
    Q = np.random.rand(1000, 2)
    assert rtd(P, Q, sampler="legacy") == pytest.approx(35.55234398557805, rel=1e-6)
    np.random.seed(7)
    P, Q = np.random.rand(1000, 2), np.random.rand(1000, 2)
    assert rtd(P, Q, sampler="legacy", n_jobs=None) == pytest.approx(35.55234398557805, rel=1e-6)


def test_vr_barcode_of_a_circle() -> None:
    t = 2 * np.pi * np.arange(24) / 24
    circle = np.stack([np.cos(t), np.sin(t)], 1)
    bars = vr_barcode(circle)
    assert bars[0].shape == (23, 2)  # 24 components merge; the infinite one is dropped
    assert bars[1].shape[0] == 1
    side = 2 * np.sin(np.pi / 24)
    assert bars[1][0, 0] == pytest.approx(side, rel=1e-6)  # the loop closes when neighbours connect


def test_torch_inputs_are_accepted() -> None:
    P, Pt = _cloud(20, 2, 22), _cloud(20, 2, 23)
    assert rtd_sym(torch.from_numpy(P), torch.from_numpy(Pt).float()) == pytest.approx(
        rtd_sym(P, Pt), rel=1e-5
    )


def test_bad_inputs_raise_clear_errors() -> None:
    P = _cloud(10, 2, 24)
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        rtd_1(P[0], P)
    with pytest.raises(ValueError, match="same points"):
        rtd_1(P, P[:9])
    with pytest.raises(ValueError, match="NaN"):
        rtd_1(P, np.full((10, 2), np.nan))
    with pytest.raises(ValueError, match="norm must be"):
        cross_matrix(P, P, norm="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="it is 0"):
        rtd_1(P, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="backend must be"):
        rtd_1(P, P, backend="ripser++")
    with pytest.raises(ValueError, match="sampler"):
        rtd(P, P, sampler="numpy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distinct row indices"):
        rtd(P, P, indices=[np.array([0, 0, 1])])
    with pytest.raises(ValueError, match="negative"):
        cross_matrix_from_distances(-LINE, LINE)
    from scipy.sparse import csr_matrix

    with pytest.raises(TypeError, match="dense"):
        compute_bars(csr_matrix(LINE))
    with pytest.raises(ValueError, match="symmetric"):
        compute_bars(np.array([[0.0, 1.0], [2.0, 0.0]]))


def test_a_first_vertex_order_keeps_the_bars_on_tied_inputs() -> None:
    from ballroom.rtd import rings_experiment
    from ballroom.rtd.functional import a_first_order

    base, variants = rings_experiment(points=16)  # coincident rings: many tied and zero entries
    M = cross_matrix(base, variants[4], fast=True)
    order = a_first_order(len(M) // 2)
    assert sorted(order.tolist()) == list(range(len(M)))
    for backend in BACKENDS:
        spec_layout = compute_bars(M, backend=backend)[1]
        reordered = compute_bars(M[np.ix_(order, order)], backend=backend)[1]
        np.testing.assert_array_equal(np.sort(spec_layout, 0), np.sort(reordered, 0))
        np.testing.assert_array_equal(
            np.sort(cross_barcode(base, variants[4], backend=backend)[1], 0), np.sort(reordered, 0)
        )


def _tie_heavy_clouds(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Small clouds with the structures that stress the threshold: rigidly moved groups (many exact
    ties between W and Wt), coincident points (zero entries) and generic noise."""
    groups = [rng.normal(size=(5, 2)) for _ in range(12)]
    base = np.concatenate(groups)
    moved = np.concatenate([g + 6 * np.array([np.cos(i), np.sin(i)]) * (i % 3) for i, g in enumerate(groups)])
    dup = base.copy()
    dup[1::2] = dup[::2]  # coincident pairs
    noisy = base + 0.3 * rng.normal(size=base.shape)
    return [(base, moved), (moved, base), (base, dup), (dup, base), (base, noisy)]


def test_cross_threshold_keeps_every_bar() -> None:
    from ballroom.rtd.backends import compute_bars, enclosing_radius
    from ballroom.rtd.functional import a_first_order, cross_threshold

    rng = np.random.default_rng(11)
    tighter = 0
    for P, Q in _tie_heavy_clouds(rng):
        for fast in (True, False):
            M = cross_matrix(P, Q, fast=fast)
            T = cross_threshold(M)
            order = a_first_order(M.shape[0] // 2)
            Mo = M[np.ix_(order, order)]
            assert T <= enclosing_radius(M) + 1e-12
            tighter += T < 0.95 * enclosing_radius(Mo)
            full = compute_bars(Mo, maxdim=1, n_threads=1)
            cut = compute_bars(Mo, maxdim=1, n_threads=1, thresh=T)
            for k in (0, 1):
                np.testing.assert_allclose(np.sort(cut[k], 0), np.sort(full[k], 0), rtol=0, atol=1e-6)
    assert tighter >= 5  # the shortcut is active, not a no-op


def test_spanning_bottleneck_matches_scipy() -> None:
    from scipy.sparse.csgraph import minimum_spanning_tree

    from ballroom.rtd.functional import spanning_bottleneck

    rng = np.random.default_rng(12)
    X = rng.normal(size=(40, 3))
    D = distances(X)
    assert spanning_bottleneck(D) == pytest.approx(minimum_spanning_tree(D).toarray().max())
    D[3, 7] = D[7, 3] = 0.0  # a zero edge is an edge here (scipy would drop it)
    assert spanning_bottleneck(D) <= minimum_spanning_tree(D).toarray().max() + 1e-12
    assert spanning_bottleneck(np.zeros((1, 1))) == 0.0


def test_rtd_sym_batch_equals_the_loop() -> None:
    from ballroom.rtd import rtd_sym_batch

    rng = np.random.default_rng(13)
    pairs = [(rng.normal(size=(40, 2)), rng.normal(size=(40, 3))) for _ in range(3)]
    loop = [rtd_sym(P, Q) for P, Q in pairs]
    np.testing.assert_allclose(rtd_sym_batch(pairs, n_jobs=2), loop, rtol=1e-12)  # worker processes
    np.testing.assert_allclose(rtd_sym_batch(pairs, n_jobs=1), loop, rtol=1e-12)
    with pytest.raises(ValueError, match="same points"):
        rtd_sym_batch([(pairs[0][0], pairs[0][1][:30])])


def _full_bars(M: np.ndarray) -> np.ndarray:
    """H1 bars of ``M`` in the A-first order, cut only at the enclosing radius (no RTD-specific bound)."""
    from ballroom.rtd.functional import a_first_order

    order = a_first_order(M.shape[0] // 2)
    return compute_bars(M[np.ix_(order, order)], maxdim=1, n_threads=1)[1]


def test_birth_bound_is_never_below_a_birth() -> None:
    from ballroom.rtd.functional import birth_bound, cross_threshold

    rng = np.random.default_rng(14)
    clouds = [
        *_tie_heavy_clouds(rng),
        (_cloud(50, 2, 15), _cloud(50, 3, 16)),
        (_cloud(50, 3, 16), _cloud(50, 2, 15)),
    ]
    below = 0
    for P, Q in clouds:
        for fast in (True, False):
            M = cross_matrix(P, Q, fast=fast)
            bound = birth_bound(M)
            bars = _full_bars(M)
            assert len(bars) > 0
            assert bars[:, 0].max() <= np.float32(bound) * (1 + 1e-6)  # float32 filtration values
            below += bound < 0.5 * cross_threshold(M)
            # the cheap nearest-neighbour filter does not change the answer
            assert birth_bound(M, neighbours=1) == bound
            assert birth_bound(M, floor=bound) == bound
    assert below >= 6  # the bound is far below the a-priori cut, i.e. it is not trivially large
    assert birth_bound(np.ones((6, 6)) - np.eye(6)) == float("inf")  # not a cross matrix: no certificate


def test_threshold_choices_give_identical_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    from ballroom.rtd import backends, barcodes
    from ballroom.rtd.functional import cross_bars

    runs: list[float] = []
    real = backends.truncated_bars

    def counting(*args: object, **kw: object) -> object:
        runs.append(float(kw["thresh"]))  # type: ignore[arg-type]
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(barcodes, "truncated_bars", counting)
    rng = np.random.default_rng(17)
    regrown = 0
    for P, Q in [*_tie_heavy_clouds(rng), (_cloud(60, 2, 18), _cloud(60, 2, 19))]:
        for fast in (True, False):
            M = cross_matrix(P, Q, fast=fast)
            runs.clear()
            adaptive = cross_bars(M, n_threads=1)
            regrown += len(runs) > 1
            reference = _full_bars(M)
            for bars in (adaptive[1], cross_bars(M, n_threads=1, threshold="cross")[1]):
                np.testing.assert_array_equal(np.sort(bars, 0), np.sort(reference, 0))
            assert adaptive[0].shape == (0, 2)
    assert regrown >= 1  # the search's second step (a class alive at the first cut) is exercised
    M = cross_matrix(*_tie_heavy_clouds(rng)[0])
    with pytest.raises(ValueError, match="threshold must be"):
        cross_bars(M, threshold="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="growth must be > 1"):
        cross_bars(M, growth=1.0)


def test_package_and_building_blocks_import_without_lightning() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import ballroom.rtd, ballroom.rtd.functional, ballroom.rtd.cross, ballroom.rtd.cuts, ballroom.rtd.nn\n"
        "from ballroom.rtd import __version__, rtd_sym, clusters_experiment, cross_matrix, birth_bound, RTDLoss\n"
        "base, clouds = clusters_experiment()\n"
        "assert birth_bound(cross_matrix(base[:40], clouds[2][:40], fast=True)) > 0\n"
        "heavy = [m for m in ('pytorch_lightning', 'lightning', 'torchmetrics') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_stay_importable_from_functional_and_the_package() -> None:
    import importlib.metadata

    import ballroom.rtd
    from ballroom.rtd import cross, cuts, functional

    assert ballroom.rtd.__version__ == importlib.metadata.version("ballroom-rtd")
    for module in (cross, cuts):
        for name in module.__all__:
            assert getattr(functional, name) is getattr(module, name), name
    for name in functional.__all__:
        if name not in ("ZERO_TOL", "Threshold"):
            assert getattr(ballroom.rtd, name) is getattr(functional, name), name


def test_adaptive_cut_on_random_tie_heavy_matrices() -> None:
    """Randomised: lattice points (ties and duplicates everywhere), repeated groups, anisotropic and
    Gaussian clouds, every layout (fast or not, use_max or not): the adaptive cut loses no bar."""
    from ballroom.rtd.functional import cross_bars

    rng = np.random.default_rng(21)

    def cloud(n: int) -> np.ndarray:
        d, kind = int(rng.integers(1, 5)), int(rng.integers(4))
        if kind == 0:
            return rng.integers(0, 3, size=(n, d)).astype(float)
        if kind == 1:
            X = rng.normal(size=(n, d))
            X[rng.integers(n, size=n // 3)] = X[0]
            return X
        if kind == 2:
            return np.repeat(rng.normal(size=(n // 5 + 1, d)), 5, 0)[:n] + 0.01 * rng.integers(
                0, 2, size=(n, d)
            )
        return rng.normal(size=(n, d)) * rng.uniform(0.05, 5.0, size=d)

    checked = 0
    while checked < 120:
        n = int(rng.integers(4, 40))
        W, Wt = distances(cloud(n)), distances(cloud(n))
        if np.quantile(W, 0.9) == 0 or np.quantile(Wt, 0.9) == 0:
            continue
        for fast in (True, False):
            for use_max in (False, True):
                M = cross_matrix_from_distances(W, Wt, fast=fast, use_max=use_max)
                got = cross_bars(M, n_threads=1)[1]
                np.testing.assert_allclose(np.sort(got, 0), np.sort(_full_bars(M), 0), rtol=0, atol=1e-6)
                checked += 1
