"""L2-PGD adversarial examples and a plain training loop (no Lightning) for the reproduction's models."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import check_int, check_number, check_positive, check_same_size, check_tensor

__all__ = ["pgd_l2", "train_classifier"]


def _per_sample_norm(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.ndim - 1)))


def pgd_l2(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 7,
    step_size: float | None = None,
) -> Tensor:
    """L2 projected gradient ascent on the cross-entropy: ``(B, *) -> (B, *)`` in ``[0, 1]``.

    Starts at ``x`` (no random start); each step moves ``step_size`` (default ``2.5 * eps / steps``)
    along the per-sample normalised gradient, projects onto the L2 ball of radius ``eps`` around
    ``x`` and clamps to ``[0, 1]``. The caller puts ``model`` in eval mode (BatchNorm frozen).
    """
    check_tensor(x, "x", min_ndim=2)
    check_tensor(y, "y", ndim=1, dtype="integer")
    check_same_size(("x", x, 0), ("y", y, 0))
    eps = check_positive(eps, "eps")
    steps = check_int(steps, "steps", min=1)
    alpha = 2.5 * eps / steps if step_size is None else check_positive(step_size, "step_size")
    x0 = x.detach()
    adv = x0.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(F.cross_entropy(model(adv), y), adv)
        with torch.no_grad():
            adv = adv + alpha * g / (_per_sample_norm(g) + 1e-10)
            delta = adv - x0
            delta = delta * torch.clamp(eps / (_per_sample_norm(delta) + 1e-12), max=1.0)
            adv = (x0 + delta).clamp(0.0, 1.0)
    return adv.detach()


def train_classifier(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int = 40,
    batch_size: int = 64,
    lr: float = 1e-3,
    adv_eps: float = 0.0,
    adv_steps: int = 7,
    seed: int = 0,
    normalizer: Callable[[Tensor], Tensor] | None = None,
) -> nn.Module:
    """Adam + cross-entropy on ``(x (N, *), y (N,))``, optionally on L2-PGD examples (``adv_eps > 0``).

    Seeded shuffling (``torch.Generator(seed)``); the attack runs with the model in eval mode.
    Returns ``model`` in eval mode.
    """
    check_int(epochs, "epochs", min=0)
    check_int(batch_size, "batch_size", min=1)
    check_positive(lr, "lr")
    check_number(adv_eps, "adv_eps", lo=0.0)
    norm = normalizer or (lambda t: t)

    def net(t: Tensor) -> Tensor:
        return model(norm(t))

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for idx in perm.split(batch_size):
            xb, yb = x[idx], y[idx]
            if adv_eps > 0:
                model.eval()
                xb = pgd_l2(net, xb, yb, adv_eps, adv_steps)
            model.train()
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()
