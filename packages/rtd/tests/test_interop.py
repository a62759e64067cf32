"""What users porting from the official code or giotto-ph need: the drawn subsets, the ``{"dgms"}``
layout, RTD as a torchmetrics Metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballroom.rtd import RTD, RTDTrials, cross_barcode, from_dgms, rtd, rtd_sym, to_dgms, vr_barcode


def _cloud(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def test_rtd_returns_the_subsets_it_drew_and_they_recompute_it() -> None:
    P, Pt = _cloud(60, 3, 1), _cloud(60, 4, 2)
    out = rtd(P, Pt, trials=3, batch=25, rng=5, return_subsets=True)
    assert isinstance(out, RTDTrials)
    assert out.value == rtd(P, Pt, trials=3, batch=25, rng=5)  # the same draws, the same mean
    assert out.values.shape == (3,) and out.values.dtype == np.float64
    assert out.value == pytest.approx(float(np.mean(out.values)), rel=1e-15)
    for value, S in zip(out.values, out.subsets, strict=True):
        assert S.shape == (25,) and len(np.unique(S)) == 25
        assert value == pytest.approx(rtd_sym(P[S], Pt[S]), rel=1e-12)  # each trial is its subset's RTD
    again = rtd(P, Pt, indices=out.subsets, return_subsets=True)
    np.testing.assert_array_equal(again.values, out.values)
    pooled = rtd(P, Pt, indices=out.subsets, n_jobs=2, return_subsets=True)  # worker processes
    np.testing.assert_allclose(pooled.values, out.values, rtol=1e-12)


def test_dgms_layout_round_trips_and_matches_giotto_ph() -> None:
    X = _cloud(40, 2, 3)
    bars = vr_barcode(X, dim=1)
    dgms = to_dgms(bars)
    assert list(dgms) == ["dgms"] and len(dgms["dgms"]) == 2
    back = from_dgms(dgms)
    for k in (0, 1):
        np.testing.assert_array_equal(back[k], bars[k])
    gph = pytest.importorskip("gph")
    W = np.linalg.norm(X[:, None] - X[None], axis=-1)
    theirs = from_dgms(gph.ripser_parallel(W, metric="precomputed", maxdim=1))  # drops H0's infinite bar
    for k in (0, 1):
        np.testing.assert_allclose(np.sort(theirs[k], 0), np.sort(bars[k], 0), rtol=1e-6)
    kept = from_dgms(gph.ripser_parallel(W, metric="precomputed", maxdim=1), drop_infinite=False)
    assert np.isinf(kept[0][:, 1]).sum() == 1  # one component never dies
    cross = to_dgms(cross_barcode(X, _cloud(40, 2, 4)))
    assert cross["dgms"][0].shape == (0, 2)  # H0 of the cross complex is empty


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: to_dgms([np.zeros((1, 2))]), "bars must be a non-empty dict"),
        (lambda: to_dgms({0: np.zeros((0, 2)), 2: np.zeros((0, 2))}), "keys 0..dim"),
        (lambda: from_dgms({"bars": []}), "key 'dgms'"),
    ],
)
def test_dgms_bad_input(call, match: str) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        call()


def test_rtd_metric_accumulates_batches() -> None:
    P, Pt = _cloud(50, 3, 6), _cloud(50, 2, 7)
    m = RTD(batch=500)
    for s in (slice(0, 20), slice(20, 50)):
        m.update(torch.from_numpy(P[s]), torch.from_numpy(Pt[s]))
    value = m.compute()
    assert value.ndim == 0 and value.dtype == torch.float64
    assert float(value) == pytest.approx(rtd_sym(P, Pt), rel=1e-12)  # all points: rtd_sym of the whole set
    sub = RTD(trials=2, batch=20, seed=3)
    sub.update(
        torch.from_numpy(P).float().reshape(50, 3, 1), torch.from_numpy(Pt).float()
    )  # (B, ...) flattened
    expect = rtd(
        P.astype(np.float32), Pt.astype(np.float32), trials=2, batch=20, rng=np.random.default_rng(3)
    )
    assert float(sub.compute()) == pytest.approx(
        expect, rel=1e-6
    )  # more than batch points: the paper's average
    m.reset()
    with (
        pytest.raises(RuntimeError, match="before any update"),
        pytest.warns(UserWarning, match="before the"),
    ):
        m.compute()  # (torchmetrics warns too)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (torch.zeros(4), torch.zeros(4, 2), "x must"),
        (torch.zeros(4, 2), torch.zeros(3, 2), "same batch"),
        (torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, 2), "x must"),
        (torch.zeros(4, 2), torch.full((4, 2), float("nan")), "y must"),
    ],
)
def test_rtd_metric_bad_input(x: torch.Tensor, y: torch.Tensor, match: str) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        RTD().update(x, y)


def test_rtd_metric_bad_options() -> None:
    with pytest.raises(ValueError, match="batch"):
        RTD(batch=1)


def test_n_threads_minus_one_means_every_core_and_zero_is_refused() -> None:
    P, Pt = _cloud(30, 2, 8), _cloud(30, 2, 9)
    assert rtd_sym(P, Pt, n_threads=-1) == pytest.approx(rtd_sym(P, Pt, n_threads=1), rel=1e-12)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="n_threads must be"):
            rtd_sym(P, Pt, n_threads=bad)
