"""The violation test's arithmetic, the ranking helpers and the torchmetrics classes."""

from __future__ import annotations

import pytest
import torch

from ballroom.faithfulness import (
    AUCTP,
    Comprehensiveness,
    FaithfulnessViolation,
    RankCorrelation,
    Sufficiency,
    removal_counts,
    spearman,
    top_abs_index,
    topk_abs,
    violation_flags,
    violation_ratio,
)


def test_violation_is_sign_disagreement_at_the_top_feature() -> None:
    w = torch.tensor([[0.1, 0.9, 0.2], [0.1, 0.9, 0.2], [0.5, 0.1, 0.1]])
    d = torch.tensor([[-1.0, 0.3, -1.0], [1.0, -0.3, 1.0], [-0.2, 5.0, 5.0]])
    assert violation_flags(w, d).tolist() == [False, True, True]
    assert violation_ratio(w, d).item() == pytest.approx(2 / 3)


def test_zero_weight_or_zero_delta_never_violates() -> None:
    w = torch.tensor([[0.0, 0.0], [0.7, -0.1]])
    d = torch.tensor([[-1.0, -1.0], [0.0, -5.0]])
    assert violation_flags(w, d).tolist() == [False, False]


def test_top_abs_not_top_w_and_negative_weights() -> None:
    # top-w would pick feature 1 (0.5, delta +: no violation); top-|w| picks feature 0 (-0.8)
    w = torch.tensor([[-0.8, 0.5, 0.1]])
    assert top_abs_index(w).tolist() == [0]
    assert violation_flags(w, torch.tensor([[0.4, 0.4, 0.4]])).tolist() == [
        True
    ]  # negative w, positive impact
    assert violation_flags(w, torch.tensor([[-0.4, 0.4, 0.4]])).tolist() == [
        False
    ]  # suppressor, correctly signed


def test_ties_take_the_first_feature_and_padding_is_never_chosen() -> None:
    w = torch.tensor([[0.5, -0.5, 0.1, 9.0]])
    valid = torch.tensor([[True, True, True, False]])
    assert top_abs_index(w, valid).tolist() == [0]
    assert topk_abs(w, 3, valid).tolist() == [[0, 1, 2]]
    assert violation_flags(w, torch.tensor([[1.0, -1.0, 0.0, -1.0]]), valid).tolist() == [False]


def test_spearman_equals_scipy_on_untied_data() -> None:
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a, b = (
        torch.randn(6, 20, generator=g, dtype=torch.float64),
        torch.randn(6, 20, generator=g, dtype=torch.float64),
    )
    b[0] = a[0] * 2 + 0.01 * b[0]
    ours = spearman(a, b)
    for i in range(6):
        ref = stats.spearmanr(a[i].numpy(), b[i].numpy()).statistic
        assert ours[i].item() == pytest.approx(ref, abs=1e-12)


def test_removal_counts_floor_at_least_one_and_batch_min() -> None:
    lengths = torch.tensor([10, 25, 3])
    assert removal_counts(lengths, 0.05).tolist() == [1, 1, 1]
    assert removal_counts(lengths, 0.5).tolist() == [5, 12, 1]
    assert removal_counts(lengths, 0.0).tolist() == [0, 0, 0]
    assert removal_counts(lengths, 0.5, "batch_min").tolist() == [1, 1, 1]


def test_metrics_accumulate_across_batches() -> None:
    m = FaithfulnessViolation()
    w1, d1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]])
    w2, d2 = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    m.update(w1, d1)
    m.update(w2, d2)
    assert m.compute().item() == pytest.approx(1 / 3)
    c = Comprehensiveness()
    c.update(torch.tensor([0.9, 0.8]), torch.tensor([[0.9, 0.5, 0.1, 0.1], [0.8, 0.8, 0.8, 0.0]]))
    assert c.compute().item() == pytest.approx(((0 + 0.4 + 0.8 + 0.8) / 4 + (0.8 / 4)) / 2)
    s = Sufficiency(ratios=(0.5,))
    s.update(torch.tensor([0.9]), torch.tensor([[0.6]]))
    assert s.compute().item() == pytest.approx(0.3)
    auc = AUCTP(ratios=(0.0, 0.5, 0.9))
    auc.update(torch.tensor([[True, True, False], [True, False, False]]))
    assert auc.accuracy().tolist() == [1.0, 0.5, 0.0]
    assert auc.compute().item() == pytest.approx(0.5 * (1 + 0.5) / 2 + 0.4 * 0.5 / 2)
    r = RankCorrelation()
    r.update(torch.tensor([[3.0, -2.0, 1.0]]), torch.tensor([[0.3, 0.2, 0.1]]))
    assert r.compute().item() == pytest.approx(1.0)
