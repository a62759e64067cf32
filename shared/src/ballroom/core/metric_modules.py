"""torchmetrics ``Metric`` classes for representation similarity (re-exported by :mod:`ballroom.core.metrics`).

They accumulate both representations over batches (and across DDP ranks) and compute on the whole
set with the functions of :mod:`ballroom.core.metrics`; :class:`MinibatchCKA` keeps only three running
sums (Nguyen et al., 2021). Kept apart so that importing the functions does not import torchmetrics.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics import Metric

from ballroom.core.metrics import _cka_from_triplet, _hsic_triplet, linear_cka, pwcca, rbf_cka, svcca
from ballroom.core.validate import check_positive

__all__ = ["PWCCA", "RBFCKA", "SVCCA", "LinearCKA", "MinibatchCKA"]


class _PairMetric(Metric):
    """Accumulates ``(B, ...)`` representation pairs (flattened to ``(B, d)``) and compares the whole set."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    xs: list[Tensor]
    ys: list[Tensor]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("xs", default=[], dist_reduce_fx="cat")
        self.add_state("ys", default=[], dist_reduce_fx="cat")

    def update(self, x: Tensor, y: Tensor) -> None:
        """Add a batch: ``x (B, ...)`` and ``y (B, ...)`` describe the same ``B`` inputs."""
        if x.ndim < 2 or y.ndim < 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"expected two batches (B, ...) with the same B, got shapes {tuple(x.shape)} and {tuple(y.shape)}"
            )
        self.xs.append(x.detach().flatten(1))
        self.ys.append(y.detach().flatten(1))

    def _gather(self) -> tuple[Tensor, Tensor]:
        X = torch.cat(self.xs) if isinstance(self.xs, list) else self.xs
        Y = torch.cat(self.ys) if isinstance(self.ys, list) else self.ys
        return X, Y


class LinearCKA(_PairMetric):
    """Linear CKA over all accumulated points (see :func:`linear_cka`).

    Args:
        debiased: use the unbiased HSIC (needs at least 4 points in all).
        **kwargs: passed to ``torchmetrics.Metric`` (``dist_sync_on_step``, ...).
    """

    def __init__(self, debiased: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.debiased = debiased

    def compute(self) -> Tensor:
        return linear_cka(*self._gather(), debiased=self.debiased)


class RBFCKA(_PairMetric):
    """RBF-kernel CKA over all accumulated points (see :func:`rbf_cka`).

    Args:
        sigma_frac: each side's bandwidth as a multiple of its median distance between distinct
            points.
        debiased: use the unbiased HSIC (needs at least 4 points in all).
        **kwargs: passed to ``torchmetrics.Metric`` (``dist_sync_on_step``, ...).

    Raises:
        ValueError: ``sigma_frac`` is not positive.
    """

    def __init__(self, sigma_frac: float = 1.0, debiased: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sigma_frac = check_positive(sigma_frac, "sigma_frac")
        self.debiased = debiased

    def compute(self) -> Tensor:
        return rbf_cka(*self._gather(), sigma_frac=self.sigma_frac, debiased=self.debiased)


class SVCCA(_PairMetric):
    """SVCCA over all accumulated points (see :func:`svcca`).

    Args:
        keep: the fraction of the singular-value sum each side keeps, in ``(0, 1]`` (checked by
            ``compute``).
        center: ``"points"`` (centre every feature over the points) or ``"features"`` (centre every
            point over its features).
        **kwargs: passed to ``torchmetrics.Metric`` (``dist_sync_on_step``, ...).
    """

    def __init__(
        self, keep: float = 0.99, center: Literal["points", "features"] = "points", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.keep = keep
        self.center = center

    def compute(self) -> Tensor:
        return svcca(*self._gather(), keep=self.keep, center=self.center)


class PWCCA(_PairMetric):
    """PWCCA over all accumulated points (see :func:`pwcca`)."""

    def compute(self) -> Tensor:
        return pwcca(*self._gather())


class MinibatchCKA(Metric):
    """Minibatch linear CKA with constant memory: three running sums of unbiased HSICs (see :func:`minibatch_cka`)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    sums: Tensor
    batches: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("sums", default=torch.zeros(3, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("batches", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, x: Tensor, y: Tensor) -> None:
        """Add a batch ``x (B, ...)``, ``y (B, ...)`` with ``B >= 4``."""
        self.sums = self.sums + _hsic_triplet(x.detach().flatten(1), y.detach().flatten(1)).to(
            self.sums.device
        )
        self.batches = self.batches + 1

    def compute(self) -> Tensor:
        if not bool(self.batches > 0):
            raise ValueError("MinibatchCKA.compute() called before any update()")
        return _cka_from_triplet(self.sums / self.batches)
