"""The baselines AGNAS is compared with: DARTS first order (alpha + softmax mixed op, alternating
updates) and random search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.agnas.nn import AttentionSupernet, DartsMixedOp, MixedFactory
from ballroom.agnas.ops import DARTS_PRIMITIVES
from ballroom.core.validate import check_int

__all__ = ["DartsSupernet", "darts_first_order_step", "random_search"]


class DartsSupernet(AttentionSupernet):
    """The DARTS supernet of the same skeleton as :class:`AttentionSupernet`, with op weights
    ``softmax(alpha)``; ``alpha (layers, E, K)`` is one table per cell (as AGNAS' per-cell attention,
    not DARTS' two shared normal/reduce tables), initialised ``1e-3 * N(0, 1)`` as in DARTS.

    ``forward(x, return_importance=True)`` returns ``softmax(alpha)`` as the importance.

    Args:
        C: channels of the first stage.
        layers: cells.
        steps: nodes per cell.
        num_classes: classifier outputs.
        in_channels: image channels.
        primitives: the candidate ops.
        reductions: reduction cells (default ``layers // 3``, ``2 * layers // 3``).
        stem_multiplier: the stem has ``stem_multiplier * C`` channels.
    """

    def __init__(
        self,
        C: int = 16,
        layers: int = 8,
        steps: int = 4,
        num_classes: int = 10,
        in_channels: int = 3,
        primitives: Sequence[str] = DARTS_PRIMITIVES,
        reductions: Sequence[int] | None = None,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__(C, layers, steps, num_classes, in_channels, primitives, reductions, stem_multiplier)
        self.alpha = nn.Parameter(1e-3 * torch.randn(*self.importance_shape))

    def _mixed_factory(self) -> MixedFactory:
        prims = self.primitives
        return lambda c, s: DartsMixedOp(c, s, prims)

    def _weights(self) -> Tensor:
        return torch.softmax(self.alpha, dim=-1)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p is not self.alpha]


def darts_first_order_step(
    model: nn.Module,
    train_batch: Sequence[Tensor],
    val_batch: Sequence[Tensor],
    w_optimizer: torch.optim.Optimizer,
    a_optimizer: torch.optim.Optimizer,
    grad_clip: float = 5.0,
) -> Tensor:
    """One alternating DARTS-1st step: ``alpha <- alpha - grad_alpha L_val(w, alpha)`` (Adam), then
    ``w <- w - grad_w L_train(w, alpha)`` (SGD, grad-norm clip).

    Args:
        model: a DARTS supernet (``(B, 3, H, W) -> (B, classes)``).
        train_batch: ``(x, y, ...)`` of the train split (the weights' step).
        val_batch: ``(x, y, ...)`` of the selection split (alpha's step).
        w_optimizer: optimiser of the network weights.
        a_optimizer: optimiser of alpha.
        grad_clip: gradient-norm clip of the weights.

    Returns:
        the training loss (detached scalar).
    """
    xv, yv = val_batch[0], val_batch[1]
    a_optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(xv), yv).backward()
    a_optimizer.step()
    xt, yt = train_batch[0], train_batch[1]
    w_optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(xt), yt)
    loss.backward()
    weights = [p for g in w_optimizer.param_groups for p in g["params"]]
    nn.utils.clip_grad_norm_(weights, grad_clip)
    w_optimizer.step()
    return loss.detach()


def random_search(
    sample: Callable[[int, torch.Generator], Sequence[Any]],
    score: Callable[[Any], float],
    n: int = 8,
    seed: int = 0,
) -> tuple[Any, list[tuple[Any, float]]]:
    """Draw ``n`` architectures with ``sample(n, generator)``, score each (higher is better, e.g. the
    selection accuracy after short training).

    Args:
        sample: ``sample(n, generator)`` returns ``n`` architectures.
        score: higher is better.
        n: architectures to draw.
        seed: seed of the sampling generator.

    Returns:
        ``(best architecture, [(architecture, score), ...])``.
    """
    check_int(n, "n", min=1)
    archs = list(sample(n, torch.Generator().manual_seed(seed)))
    scored = [(a, float(score(a))) for a in archs]
    best = max(scored, key=lambda t: t[1])[0]
    return best, scored
