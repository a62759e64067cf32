"""The losses and estimators: closed forms, identities, bounds, bad input (no Lightning)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ballroom.tokendistill.functional import (
    class_loss,
    confidence_weights,
    distillation_loss,
    hard_distillation_loss,
    mine_lower_bound,
    negative_entropy,
    random_derangement,
)
from ballroom.tokendistill.nn import StatisticsNetwork


@pytest.mark.parametrize("n", [2, 3, 7, 64])
def test_random_derangement_has_no_fixed_point_and_is_a_permutation(n: int) -> None:
    gen = torch.Generator().manual_seed(n)
    for _ in range(50):
        pi = random_derangement(n, gen)
        assert pi.dtype == torch.long
        assert torch.equal(pi.sort().values, torch.arange(n))
        assert bool((pi != torch.arange(n)).all())


def test_random_derangement_is_seeded_and_varied() -> None:
    a = [random_derangement(6, torch.Generator().manual_seed(0)) for _ in range(2)]
    assert torch.equal(a[0], a[1])
    seen = {tuple(random_derangement(4, torch.Generator().manual_seed(s)).tolist()) for s in range(200)}
    assert len(seen) == 9  # all derangements of 4: the six 4-cycles and the three double swaps


def test_mine_lower_bound_equals_the_closed_form_on_two_samples() -> None:
    # psi(u) = sum(u): joint pairs (a1, c1), (a2, c2); the only derangement of 2 swaps c
    t_s = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    t_c = torch.tensor([[0.5], [-1.0]], dtype=torch.float64)

    def psi(u: torch.Tensor) -> torch.Tensor:
        return u.sum(-1)

    v = mine_lower_bound(psi, t_s, t_c)
    joint = ((1 + 0.5) + (2 - 1.0)) / 2
    marginal = math.log((math.exp(1 - 1.0) + math.exp(2 + 0.5)) / 2)
    assert v.item() == pytest.approx(joint - marginal, abs=1e-12)


def test_mine_is_below_the_mean_log_ratio_bound_and_uses_the_given_permutation() -> None:
    torch.manual_seed(0)
    psi = StatisticsNetwork(8, hidden=16).double()
    t_s, t_c = torch.randn(10, 5, dtype=torch.float64), torch.randn(10, 3, dtype=torch.float64)
    perm = random_derangement(10, torch.Generator().manual_seed(1))
    v = mine_lower_bound(psi, t_s, t_c, perm)
    joint = psi(torch.cat([t_s, t_c], 1)).mean()
    marg = psi(torch.cat([t_s, t_c[perm]], 1))
    # Jensen: log mean exp >= mean, so V <= mean psi(joint) - mean psi(marginal)
    assert v.item() <= (joint - marg.mean()).item() + 1e-12
    torch.testing.assert_close(v, joint - (torch.logsumexp(marg, 0) - math.log(10)))


def test_mine_expectation_is_not_positive_for_independent_tokens() -> None:
    torch.manual_seed(0)
    psi = StatisticsNetwork(12, hidden=32)
    b = 32
    with torch.no_grad():
        vs = torch.stack([mine_lower_bound(psi, torch.randn(b, 8), torch.randn(b, 4)) for _ in range(400)])
    # E[V] <= 0 for independent t_s, t_c (Jensen); allow 3 standard errors of sampling noise
    assert vs.mean().item() <= 3 * vs.std().item() / math.sqrt(len(vs))


def test_mine_is_positive_for_dependent_tokens_under_a_fitting_psi() -> None:
    # psi(u) = t_s * t_c with t_c = t_s: joint terms are large, shuffled ones average out
    torch.manual_seed(0)
    t = torch.randn(256, 1)
    v = mine_lower_bound(lambda u: u[:, 0] * u[:, 1], t, t.clone())
    assert v.item() > 0.3


def test_mine_gradients_reach_both_tokens() -> None:
    torch.manual_seed(0)
    psi = StatisticsNetwork(6, hidden=8)
    t_s = torch.randn(4, 4, requires_grad=True)
    t_c = torch.randn(4, 2, requires_grad=True)
    mine_lower_bound(psi, t_s, t_c).backward()
    assert t_s.grad is not None and t_s.grad.abs().sum() > 0
    assert t_c.grad is not None and t_c.grad.abs().sum() > 0


def test_confidence_weights_sum_to_one_and_prefer_the_confident_teacher() -> None:
    torch.manual_seed(0)
    g = torch.randn(3, 5, 10)
    w = confidence_weights(g)
    assert w.shape == (5, 3)
    torch.testing.assert_close(w.sum(1), torch.ones(5))
    sharp = torch.full((4, 10), -1e4)
    sharp[:, 2] = 1e4  # one-hot-like (exact log_softmax: no log(0))
    flat = torch.zeros(4, 10)
    w = confidence_weights(torch.stack([sharp, flat]))
    # S(one-hot) = 0, S(uniform) = -log 10: w = softmax(0, -log 10) = (10/11, 1/11)
    torch.testing.assert_close(w[:, 0], torch.full((4,), 10 / 11))
    assert torch.isfinite(w).all()
    torch.testing.assert_close(negative_entropy(flat), torch.full((4,), -math.log(10)))
    # a 100-class teacher: the gap grows to log(100) and the weight tends to 1
    w100 = confidence_weights(torch.stack([F.pad(sharp, (0, 90), value=-1e4), torch.zeros(4, 100)]))
    assert (w100[:, 0] > 0.99).all()


def test_hard_distillation_loss_limits() -> None:
    torch.manual_seed(0)
    cls, dist, teacher = torch.randn(6, 4), torch.randn(6, 4), torch.randn(6, 4)
    y = torch.randint(0, 4, (6,))
    torch.testing.assert_close(
        hard_distillation_loss(cls, dist, teacher, y, alpha=0.0), F.cross_entropy(cls, y)
    )
    torch.testing.assert_close(
        hard_distillation_loss(cls, dist, teacher, y, alpha=1.0), F.cross_entropy(dist, teacher.argmax(1))
    )
    mixed = hard_distillation_loss(cls, dist, teacher, y, alpha=0.5, label_smoothing=0.1)
    want = 0.5 * F.cross_entropy(cls, y, label_smoothing=0.1) + 0.5 * F.cross_entropy(dist, teacher.argmax(1))
    torch.testing.assert_close(mixed, want)


def test_labeled_mask_uses_only_labelled_samples_for_the_class_term() -> None:
    torch.manual_seed(0)
    cls, y = torch.randn(6, 4), torch.randint(0, 4, (6,))
    mask = torch.tensor([True, False, True, False, False, True])
    torch.testing.assert_close(class_loss(cls, y, 0.0, mask), F.cross_entropy(cls[mask], y[mask]))
    y2 = y.clone()
    y2[~mask] = (y[~mask] + 1) % 4
    assert torch.equal(class_loss(cls, y, 0.1, mask), class_loss(cls, y2, 0.1, mask))
    none = torch.zeros(6, dtype=torch.bool)
    assert class_loss(cls, y, 0.0, none).item() == 0.0


def test_multi_teacher_distillation_is_the_confidence_weighted_sum() -> None:
    torch.manual_seed(0)
    heads = [torch.randn(5, 3), torch.randn(5, 3)]
    g = torch.randn(2, 5, 3)
    loss, w = distillation_loss(heads, g)
    ce = torch.stack([F.cross_entropy(h, g[i].argmax(1), reduction="none") for i, h in enumerate(heads)], 1)
    torch.testing.assert_close(loss, (w * ce).sum(1).mean())
    torch.testing.assert_close(w, confidence_weights(g))
    # one teacher, two heads: the mean of both heads' CE
    loss1, w1 = distillation_loss(heads, g[:1])
    want = 0.5 * sum(F.cross_entropy(h, g[0].argmax(1)) for h in heads)
    torch.testing.assert_close(loss1, want)
    assert torch.equal(w1, torch.ones(5, 1))


BAD = [
    (lambda: random_derangement(1), ValueError, "n must be"),
    (lambda: random_derangement(2.5), TypeError, "n must be"),  # type: ignore[arg-type]
    (lambda: mine_lower_bound(lambda u: u.sum(-1), torch.randn(3, 2), torch.randn(4, 2)), ValueError, "same batch"),
    (lambda: mine_lower_bound(lambda u: u.sum(-1), torch.randn(1, 2), torch.randn(1, 2)), ValueError, "at least 2"),
    (lambda: mine_lower_bound(lambda u: u.sum(-1), torch.randn(3), torch.randn(3, 2)), ValueError, "t_s must have rank 2"),
    (lambda: mine_lower_bound(lambda u: u.sum(-1), np.zeros((3, 2)), torch.randn(3, 2)), TypeError, "t_s must be a torch.Tensor"),  # type: ignore[arg-type]
    (lambda: mine_lower_bound(lambda u: u.sum(-1), torch.randn(3, 2), torch.full((3, 2), float("nan"))), ValueError, "t_c must be finite"),
    (lambda: mine_lower_bound(lambda u: u.sum(-1), torch.randn(3, 2), torch.randn(3, 2), torch.tensor([0, 0, 1])), ValueError, "perm must be a permutation"),
    (lambda: mine_lower_bound(lambda u: u.sum(-1), torch.randn(3, 2), torch.randn(3, 2), torch.tensor([1.0, 2.0, 0.0])), TypeError, "perm must have"),
    (lambda: confidence_weights(torch.randn(5, 10)), ValueError, "teacher_logits must have rank 3"),
    (lambda: confidence_weights(torch.zeros(2, 0, 10)), ValueError, "teacher_logits must not be empty"),
    (lambda: confidence_weights(torch.ones(2, 3, 4, dtype=torch.long)), TypeError, "teacher_logits must have"),
    (lambda: hard_distillation_loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 3])), ValueError, "targets must lie in"),
    (lambda: hard_distillation_loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3), torch.zeros(4)), TypeError, "targets must have"),
    (lambda: hard_distillation_loss(torch.randn(4, 3), torch.randn(4, 2), torch.randn(4, 3), torch.zeros(4, dtype=torch.long)), ValueError, r"dist_logits\[0\] must have shape \(4, 3\)"),
    (lambda: hard_distillation_loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(5, 3), torch.zeros(4, dtype=torch.long)), ValueError, "teacher_logits must have shape"),
    (lambda: hard_distillation_loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3), torch.zeros(4, dtype=torch.long), alpha=1.5), ValueError, "alpha"),
    (lambda: hard_distillation_loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3), torch.zeros(4, dtype=torch.long), label_smoothing=1.0), ValueError, "label_smoothing"),
    (lambda: hard_distillation_loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3), torch.zeros(4, dtype=torch.long), labeled_mask=torch.ones(4)), TypeError, "labeled_mask must have"),
    (lambda: hard_distillation_loss(torch.randn(4, 3), [], torch.randn(4, 3), torch.zeros(4, dtype=torch.long)), ValueError, "at least one distillation head"),
    (lambda: hard_distillation_loss(torch.randn(0, 3), torch.randn(0, 3), torch.randn(0, 3), torch.zeros(0, dtype=torch.long)), ValueError, "cls_logits must not be empty"),
    (lambda: hard_distillation_loss(torch.randn(4, 3), [torch.randn(4, 3)] * 3, torch.randn(2, 4, 3), torch.zeros(4, dtype=torch.long)), ValueError, "assignment"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "exc", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_is_refused_clearly(call: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call()  # type: ignore[operator]
