"""Careless calls on expclr's public entry points raise a clear error naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballroom.expclr.features import StatisticalSpectralFeatures
from ballroom.expclr.functional import expclr_loss, expert_similarity, nt_xent_loss
from ballroom.expclr.nn import TimeSeriesAugment

Z, F_ = torch.randn(6, 4), torch.randn(6, 3)
SERIES = torch.randn(4, 2, 32)
FITTED = StatisticalSpectralFeatures().fit(np.random.default_rng(0).normal(size=(8, 2, 32)))

CASES = [
    (lambda: expclr_loss(Z, F_, delta=float("inf")), ValueError, "delta must be a finite number"),
    (lambda: expclr_loss(Z, F_, delta=0.0), ValueError, r"delta must lie in \(0, inf\)"),
    (lambda: expclr_loss(Z, F_, temperature=float("inf")), ValueError, "temperature must be a finite number"),
    (lambda: expclr_loss(Z, F_, temperature=-1.0), ValueError, "temperature must lie in"),
    (lambda: expclr_loss(Z, F_[:5]), ValueError, "f must have N=6 rows"),
    (lambda: expclr_loss(Z.long(), F_), ValueError, "z must be a floating"),
    (lambda: expclr_loss(Z[:1], F_[:1]), ValueError, "at least 2 samples"),
    (lambda: expclr_loss(Z.numpy(), F_), ValueError, "z must be a floating"),  # type: ignore[arg-type]
    (lambda: expclr_loss(Z.masked_fill(Z > 1, float("nan")), F_), ValueError, "z contains NaN"),
    (lambda: expert_similarity(F_, max_distance=0.0), ValueError, "max_distance must lie in"),
    (lambda: nt_xent_loss(Z, Z, temperature=0.0), ValueError, r"temperature must lie in \(0, inf\)"),
    (lambda: nt_xent_loss(Z, Z, temperature=-0.5), ValueError, "temperature must lie in"),
    (lambda: TimeSeriesAugment(p=1.5), ValueError, r"p must lie in \[0, 1\]"),
    (lambda: TimeSeriesAugment(jitter=-0.1), ValueError, "jitter must lie in"),
    (lambda: TimeSeriesAugment(max_segments=2.5), TypeError, "max_segments must be an integer"),  # type: ignore[arg-type]
    (lambda: TimeSeriesAugment(dropout=1.0), ValueError, r"dropout must lie in \[0, 1\)"),
    (lambda: TimeSeriesAugment()(SERIES[0]), ValueError, "x must have rank 3"),
    (lambda: TimeSeriesAugment()(SERIES.numpy()), TypeError, "x must be a torch.Tensor"),  # type: ignore[arg-type]
    (
        lambda: TimeSeriesAugment()(SERIES, torch.ones(4, 31, dtype=torch.bool)),
        ValueError,
        r"mask must have shape \(4, 32\)",
    ),
    (lambda: StatisticalSpectralFeatures(n_bands=0), ValueError, "n_bands must be an integer in"),
    (lambda: FITTED.transform(np.zeros((3, 5, 32))), ValueError, "X must have the 2 channels seen by fit"),
    (lambda: FITTED.transform(np.zeros((0, 2, 32))), ValueError, "not be empty"),
    (lambda: FITTED.transform(np.full((3, 2, 32), np.nan)), ValueError, "X contains NaN"),
]


@pytest.mark.parametrize(("call", "exc", "match"), CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_is_refused_by_name(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_valid_calls_still_work() -> None:
    assert torch.isfinite(expclr_loss(Z, F_)) and torch.isfinite(nt_xent_loss(Z, Z))
    assert TimeSeriesAugment()(SERIES, torch.ones(4, 32, dtype=torch.bool)).shape == SERIES.shape
    assert FITTED.transform(np.random.default_rng(1).normal(size=(3, 2, 32))).shape[0] == 3


def test_per_pair_terms_and_the_pool_wide_distance() -> None:
    from ballroom.expclr.functional import max_pairwise_distance, pairwise_distances

    pairs = expclr_loss(Z, F_, delta=1.3, reduction="none")
    assert pairs.shape == (6, 6)
    torch.testing.assert_close(pairs.mean(), expclr_loss(Z, F_, delta=1.3, temperature=None))
    pool = torch.randn(50, 3, dtype=torch.float64)
    want = float(pairwise_distances(pool).max())
    for chunk in (1, 7, 50, 1000):
        assert abs(max_pairwise_distance(pool, chunk_size=chunk) - want) < 1e-9
    with pytest.raises(ValueError, match="reduction must be one of"):
        expclr_loss(Z, F_, reduction="sum")


def test_expert_features_are_constants_and_say_so() -> None:
    from ballroom.expclr.nn import ExpCLRLoss

    z = torch.randn(6, 4, requires_grad=True)
    f = torch.randn(6, 3, requires_grad=True)
    with pytest.warns(UserWarning, match="no gradient flows into f"):
        loss = expclr_loss(z, f)
    loss.backward()
    assert f.grad is None and z.grad is not None  # only the representation learns
    crit = ExpCLRLoss(delta=1.3, reduction="none")
    labels = torch.tensor([0, 0, 1, -1, 1, -1])
    torch.testing.assert_close(
        crit(z, f.detach(), labels), expclr_loss(z, f.detach(), 1.3, labels=labels, reduction="none")
    )
    with pytest.raises(ValueError, match="reduction must be one of"):
        ExpCLRLoss(reduction="sum")


def test_optimal_delta_refuses_coincident_features() -> None:
    from ballroom.expclr.functional import optimal_delta

    with pytest.raises(ValueError, match="all rows of the expert features coincide"):
        optimal_delta(torch.ones(5, 3))
