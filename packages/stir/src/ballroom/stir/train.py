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
    use_best: bool = True,
) -> Tensor:
    """L2 projected gradient ascent on the cross-entropy: ``(B, *) -> (B, *)`` in ``[0, 1]``.

    Starts at ``x`` (no random start); each step moves ``step_size`` (default ``2.5 * eps / steps``)
    along the per-sample normalised gradient, projects onto the L2 ball of radius ``eps`` around
    ``x`` and clamps to ``[0, 1]``. The caller puts ``model`` in eval mode (BatchNorm frozen).

    ``use_best=True`` (the default of the robustness library the official code trains with) returns,
    per sample, the iterate of highest loss among the start, every intermediate iterate and the
    last one (replaced on strict increase only); ``use_best=False`` returns the last iterate.

    Args:
        model: ``(B, *) -> logits (B, C)`` on unnormalised inputs (normalise inside it).
        x: ``(B, *)`` clean inputs in ``[0, 1]``.
        y: ``(B,)`` integer labels.
        eps: the L2 radius (> 0).
        steps: the number of steps (>= 1).
        step_size: the L2 length of each step (default above).
        use_best: return the highest-loss iterate (above).

    Returns:
        ``(B, *)`` adversarial inputs, detached.

    Raises:
        TypeError: ``x`` is not floating or ``y`` not integer.
        ValueError: bad shapes, batch sizes that differ, or a bad ``eps``, ``steps`` or ``step_size``.
    """
    check_tensor(x, "x", min_ndim=2)
    check_tensor(y, "y", ndim=1, dtype="integer")
    check_same_size(("x", x, 0), ("y", y, 0))
    eps = check_positive(eps, "eps")
    steps = check_int(steps, "steps", min=1)
    alpha = 2.5 * eps / steps if step_size is None else check_positive(step_size, "step_size")
    x0 = x.detach()
    adv = x0.clone()
    best, best_loss = adv, None
    for _ in range(steps):
        adv.requires_grad_(True)
        with torch.enable_grad():
            losses = F.cross_entropy(model(adv), y, reduction="none")
            (g,) = torch.autograd.grad(losses.mean(), adv)
        with torch.no_grad():
            if use_best:
                best, best_loss = _keep_highest(adv.detach(), losses.detach(), best, best_loss)
            adv = adv + alpha * g / (_per_sample_norm(g) + 1e-10)
            delta = adv - x0
            delta = delta * torch.clamp(eps / (_per_sample_norm(delta) + 1e-12), max=1.0)
            adv = (x0 + delta).clamp(0.0, 1.0)
    if not use_best:
        return adv.detach()
    with torch.no_grad():
        best, _ = _keep_highest(adv, F.cross_entropy(model(adv), y, reduction="none"), best, best_loss)
    return best.detach()


def _keep_highest(x: Tensor, loss: Tensor, best: Tensor, best_loss: Tensor | None) -> tuple[Tensor, Tensor]:
    if best_loss is None:
        return x.clone(), loss.clone()
    better = (loss > best_loss).view((-1,) + (1,) * (x.ndim - 1))
    return torch.where(better, x, best), torch.maximum(loss, best_loss)


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
    adv_use_best: bool = True,
    seed: int = 0,
    normalizer: Callable[[Tensor], Tensor] | None = None,
) -> nn.Module:
    """Adam + cross-entropy on ``(x (N, *), y (N,))``, optionally on L2-PGD examples (``adv_eps > 0``).

    Seeded shuffling (``torch.Generator(seed)``); the attack runs with the model in eval mode and
    returns the highest-loss PGD iterate per sample unless ``adv_use_best=False`` (see :func:`pgd_l2`).
    Returns ``model`` in eval mode.

    Args:
        model: the network, ``model(normalizer(x)) -> logits``; trained in place.
        x: ``(N, *)`` inputs, unnormalised in ``[0, 1]``.
        y: ``(N,)`` integer labels.
        epochs: passes over the data (0: no training).
        batch_size: examples per step.
        lr: Adam's learning rate.
        adv_eps: the PGD L2 radius; 0 trains on clean inputs.
        adv_steps: PGD steps per batch.
        adv_use_best: keep the highest-loss PGD iterate.
        seed: the seed of the shuffling.
        normalizer: applied before ``model`` (``None``: identity).

    Raises:
        ValueError: ``epochs < 0``, ``batch_size < 1``, ``lr <= 0`` or ``adv_eps < 0``.
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
                xb = pgd_l2(net, xb, yb, adv_eps, adv_steps, use_best=adv_use_best)
            model.train()
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()
