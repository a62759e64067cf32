"""RTD as a torchmetrics ``Metric``, like core's ``LinearCKA`` and ``SVCCA``.

It accumulates both representations over batches (and across DDP ranks: the states are concatenated)
and computes RTD once on the whole set in :meth:`RTD.compute`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

from ballroom.core.validate import check_int, check_tensor
from ballroom.rtd.backends import Backend
from ballroom.rtd.cross import Norm
from ballroom.rtd.functional import rtd, rtd_sym

__all__ = ["RTD"]


class RTD(Metric):
    """Symmetric RTD between two representations of the same inputs, accumulated over batches.

    ``update(x, y)`` adds a batch (``x (B, ...)`` and ``y (B, ...)`` flattened to ``(B, d1)``,
    ``(B, d2)``); ``compute()`` returns :func:`~ballroom.rtd.functional.rtd_sym` of all accumulated
    points when there are at most ``batch`` of them, else :func:`~ballroom.rtd.functional.rtd` over
    ``trials`` random subsets of ``batch`` points drawn from ``np.random.default_rng(seed)`` (the
    paper's protocol, reproducible). The value is a 0-dim float64 tensor, like every torchmetrics
    metric (the functions return Python floats: RTD is not differentiable).

    Args:
        trials: subsets averaged when more than ``batch`` points are accumulated.
        batch: subset size (the paper's 500).
        seed: seed of the subset draws.
        norm: distance normalisation (see :func:`~ballroom.rtd.functional.rtd_sym`).
        backend: the persistence backend (``"auto"``, ``"gph"``, ``"ripser"``, ``"gudhi"``).
        metric: any :func:`scipy.spatial.distance.pdist` metric.
        kwargs: forwarded to :class:`torchmetrics.Metric` (``dist_sync_on_step``, ...).
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    xs: list[Tensor]
    ys: list[Tensor]

    def __init__(
        self,
        trials: int = 10,
        batch: int = 500,
        seed: int = 0,
        norm: Norm = "quantile",
        backend: Backend | str = "auto",
        metric: str = "euclidean",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trials = check_int(trials, "trials", min=1)
        self.batch = check_int(batch, "batch", min=2)
        self.seed = check_int(seed, "seed", min=0)
        self.norm: Norm = norm
        self.backend = backend
        self.metric = metric
        self.add_state("xs", default=[], dist_reduce_fx="cat")
        self.add_state("ys", default=[], dist_reduce_fx="cat")

    def update(self, x: Tensor, y: Tensor) -> None:
        """Add a batch: ``x (B, ...)`` and ``y (B, ...)`` describe the same ``B`` inputs."""
        check_tensor(x, "x", min_ndim=2, dtype="floating", finite=True, nonempty=True)
        check_tensor(y, "y", min_ndim=2, dtype="floating", finite=True, nonempty=True)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x and y must describe the same batch: got {x.shape[0]} and {y.shape[0]} rows")
        self.xs.append(x.detach().flatten(1))
        self.ys.append(y.detach().flatten(1))

    def compute(self) -> Tensor:
        """RTD of everything accumulated so far (0-dim float64 tensor on the metric's device)."""
        if not self.xs:
            raise RuntimeError("RTD.compute() called before any update()")
        X = torch.cat(self.xs) if isinstance(self.xs, list) else self.xs
        Y = torch.cat(self.ys) if isinstance(self.ys, list) else self.ys
        A = X.double().cpu().numpy()
        B = Y.double().cpu().numpy()
        opts: dict[str, Any] = {"norm": self.norm, "backend": self.backend, "metric": self.metric}
        if A.shape[0] <= self.batch:
            value = rtd_sym(A, B, **opts)
        else:
            value = rtd(
                A, B, trials=self.trials, batch=self.batch, rng=np.random.default_rng(self.seed), **opts
            )
        return torch.tensor(value, dtype=torch.float64, device=X.device)
