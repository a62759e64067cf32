"""The LightningModule: core's ``ClassifierModule`` over a Bregman network, with SGD/Adam, MultiStepLR and diagnostics."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor, nn

from ballroom.bregman.nn import layer_displacement
from ballroom.core.lit import ClassifierModule

__all__ = ["BregmanClassifier"]


class BregmanClassifier(ClassifierModule):
    """Cross-entropy training of ``model`` (a zoo name, e.g. ``"bregman-tiny"``, or an ``nn.Module``).

    Args:
        model, model_kwargs: the network (``self.net``); logits out, no softmax.
        num_classes: classes of the accuracy metrics.
        optimizer: ``"adam"`` or ``"sgd"`` (with ``momentum``, ``nesterov=False``); ``weight_decay`` for both.
        lr: learning rate.
        milestones: epochs where a ``MultiStepLR`` multiplies the rate by ``gamma`` (``None``: constant).
        displacement_every: every that many epochs, log ``diag/displacement_l{i}`` (mean
            ``||x_l - x_{l-1}||^2`` on the first validation batch, :func:`layer_displacement`); 0 = never.

    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/acc``.
    """

    def __init__(
        self,
        model: str | nn.Module = "bregman-tiny",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        optimizer: str = "adam",
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        milestones: list[int] | None = None,
        gamma: float = 0.1,
        displacement_every: int = 0,
    ) -> None:
        if optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
        if milestones is not None and any(b <= a for a, b in itertools.pairwise(milestones)):
            raise ValueError(f"milestones must increase strictly, got {milestones}")
        if displacement_every < 0:
            raise ValueError(f"displacement_every must be >= 0, got {displacement_every}")
        super().__init__(
            model=model, model_kwargs=model_kwargs, num_classes=num_classes, lr=lr, weight_decay=weight_decay
        )

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        every = self.hparams["displacement_every"]
        if (
            every
            and batch_idx == 0
            and (self.current_epoch + 1) % every == 0
            and hasattr(self.net, "skip_maps")
        ):
            for i, d in enumerate(layer_displacement(self.net, batch[0]).tolist(), 1):
                self.log(f"diag/displacement_l{i}", float(d), sync_dist=True)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        if hp["optimizer"] == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(
                self.parameters(), lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"]
            )
        else:
            opt = torch.optim.Adam(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        if not hp["milestones"]:
            return opt
        sched = torch.optim.lr_scheduler.MultiStepLR(
            opt, milestones=list(hp["milestones"]), gamma=hp["gamma"]
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
