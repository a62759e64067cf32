"""torchmetrics ``Metric`` s of the faithfulness evaluation (accumulate over batches, sync over DDP).

- :class:`FaithfulnessViolation`: the violation ratio (lower is better).
- :class:`Comprehensiveness`, :class:`Sufficiency`: mean drop of ``p(ŷ)`` when the top / the lowest
  features are removed, averaged over the removal ratios.
- :class:`AUCTP`: area under accuracy vs the ratio of top features removed (trapezoid).
- :class:`RankCorrelation`: Spearman between ``|w|`` and the single-removal effects.

The model calls (removals) are done by :mod:`ballroom.faithfulness.evaluate`; these classes take
the resulting probabilities, so they work with any model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from ballroom.core.validate import check_tensor
from ballroom.faithfulness.functional import auc_trapezoid, spearman, violation_flags

__all__ = [
    "AUCTP",
    "AUCTP_RATIOS",
    "COMPREHENSIVENESS_RATIOS",
    "SUFFICIENCY_RATIOS",
    "Comprehensiveness",
    "FaithfulnessViolation",
    "RankCorrelation",
    "Sufficiency",
]

COMPREHENSIVENESS_RATIOS = (0.05, 0.1, 0.2, 0.5)
SUFFICIENCY_RATIOS = (0.5, 0.8, 0.9, 0.95)
AUCTP_RATIOS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class FaithfulnessViolation(Metric):
    """Violation ratio: the fraction of examples with ``w_t* · Δ_t* < 0`` (see :func:`violation_flags`).

    ``update(weights (B, n), deltas (B, n), valid (B, n) | None)``; ``compute() -> 0-d`` tensor.
    """

    # metric states, registered by add_state in __init__
    violations: Tensor
    total: Tensor

    higher_is_better = False
    full_state_update = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.add_state("violations", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, weights: Tensor, deltas: Tensor, valid: Tensor | None = None) -> None:
        flags = violation_flags(weights, deltas, valid)
        self.violations += flags.sum().to(torch.float64)
        self.total += flags.numel()

    def compute(self) -> Tensor:
        return self.violations / self.total.clamp_min(1.0)


class _Drop(Metric):
    # metric states, registered by add_state in __init__
    drop: Tensor
    total: Tensor

    full_state_update = False

    def __init__(self, ratios: Sequence[float], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.ratios = tuple(float(r) for r in ratios)
        if not self.ratios or any(not 0.0 <= r <= 1.0 for r in self.ratios):
            raise ValueError(f"ratios must be a non-empty list of numbers in [0, 1], got {list(ratios)}")
        self.add_state("drop", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, p_full: Tensor, p_removed: Tensor) -> None:
        """``p_full (B,)``: ``p(ŷ|x)``; ``p_removed (B, R)``: ``p(ŷ|x after removal)`` per ratio."""
        check_tensor(p_full, "p_full", ndim=1)
        check_tensor(p_removed, "p_removed", shape=(p_full.shape[0], len(self.ratios)))
        self.drop += (p_full[:, None] - p_removed).mean(1).sum().to(torch.float64)
        self.total += p_full.shape[0]

    def compute(self) -> Tensor:
        return self.drop / self.total.clamp_min(1.0)


class Comprehensiveness(_Drop):
    """Mean over ratios {5, 10, 20, 50} % of ``p(ŷ|x) − p(ŷ|x without the top-k by w)`` (higher is better)."""

    higher_is_better = True

    def __init__(self, ratios: Sequence[float] = COMPREHENSIVENESS_RATIOS, **kwargs: object) -> None:
        super().__init__(ratios, **kwargs)


class Sufficiency(_Drop):
    """The same drop when the lowest-weighted {50, 80, 90, 95} % are removed (lower is better).

    Args:
        ratios: the removal ratios, each in ``[0, 1]`` (``update`` takes one column per ratio).
        **kwargs: passed to ``torchmetrics.Metric``.

    Raises:
        ValueError: ``ratios`` is empty or has a value outside ``[0, 1]``.
    """

    higher_is_better = False

    def __init__(self, ratios: Sequence[float] = SUFFICIENCY_RATIOS, **kwargs: object) -> None:
        super().__init__(ratios, **kwargs)


class AUCTP(Metric):
    """Area under accuracy vs ratio of top features removed (trapezoid on the ratios; lower is better).

    ``update(correct (B, R) bool)``: whether the prediction after removing each ratio is right.
    """

    # metric states, registered by add_state in __init__
    correct: Tensor
    total: Tensor

    higher_is_better = False
    full_state_update = False

    def __init__(self, ratios: Sequence[float] = AUCTP_RATIOS, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.ratios = tuple(float(r) for r in ratios)
        if len(self.ratios) < 2 or list(self.ratios) != sorted(self.ratios):
            raise ValueError(f"ratios must be at least two increasing numbers, got {list(ratios)}")
        self.add_state("correct", torch.zeros(len(self.ratios), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, correct: Tensor) -> None:
        check_tensor(correct, "correct", ndim=2, dtype="bool")
        if correct.shape[1] != len(self.ratios):
            raise ValueError(
                f"correct must have {len(self.ratios)} columns (one per ratio), got {correct.shape[1]}"
            )
        self.correct += correct.sum(0).to(torch.float64)
        self.total += correct.shape[0]

    def accuracy(self) -> Tensor:
        """Accuracy at each ratio ``(R,)``."""
        return self.correct / self.total.clamp_min(1.0)

    def compute(self) -> Tensor:
        return auc_trapezoid(self.ratios, self.accuracy())


class RankCorrelation(Metric):
    """Mean Spearman correlation between ``|w|`` and the effects ``mean_c |p(c|x) − p(c|x_{−t})|``.

    ``update(weights (B, k), effects (B, k))`` over the top-k single removals; rows with an undefined
    correlation (constant ranks) are skipped.
    """

    # metric states, registered by add_state in __init__
    total_rho: Tensor
    total: Tensor

    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.add_state("total_rho", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, weights: Tensor, effects: Tensor) -> None:
        rho = spearman(weights.abs(), effects)
        ok = torch.isfinite(rho)
        self.total_rho += rho[ok].sum()
        self.total += ok.sum().to(torch.float64)

    def compute(self) -> Tensor:
        return self.total_rho / self.total.clamp_min(1.0)
