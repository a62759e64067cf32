"""L2-PGD for adversarial training: the best-iterate rule against an independent path."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ballroom.stir import FeatureMLP, pgd_l2


def _setup() -> tuple[FeatureMLP, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = FeatureMLP(64, (32, 16), 10).double().eval()
    x = torch.rand(24, 64, dtype=torch.float64)
    y = torch.randint(0, 10, (24,))
    return net, x, y


def test_use_best_returns_the_highest_loss_iterate_per_sample() -> None:
    net, x, y = _setup()
    eps, steps, alpha = 1.0, 7, 0.6
    # iterate k of the attack = the last iterate of a k-step attack with the same step size
    iterates = [x] + [pgd_l2(net, x, y, eps, k, alpha, use_best=False) for k in range(1, steps + 1)]
    with torch.no_grad():
        losses = torch.stack([F.cross_entropy(net(it), y, reduction="none") for it in iterates])
        best = pgd_l2(net, x, y, eps, steps, alpha, use_best=True)
        got = F.cross_entropy(net(best), y, reduction="none")
    torch.testing.assert_close(got, losses.max(0).values, rtol=0, atol=1e-12)
    assert bool((got >= losses[-1] - 1e-12).all()) and bool((got > losses[-1] + 1e-6).any())
    # the result stays in the eps-ball and the box
    assert float((best - x).flatten(1).norm(dim=1).max()) <= eps + 1e-9
    assert float(best.min()) >= 0.0 and float(best.max()) <= 1.0


def test_use_best_false_is_the_last_iterate() -> None:
    net, x, y = _setup()
    last = pgd_l2(net, x, y, 1.0, 7, use_best=False)
    assert not torch.equal(last, pgd_l2(net, x, y, 1.0, 7))  # the default keeps the best iterate
    assert torch.equal(last, pgd_l2(net, x, y, 1.0, 7, use_best=False))
