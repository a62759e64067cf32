"""The LightningModule: cross-entropy on Tetris, test accuracy under cube and SO(3) rotations and
the invariance error of the logits."""

from __future__ import annotations

from typing import Any

import torch
import torchmetrics
from torch import Tensor, nn

from ballroom.core.lit import ClassifierModule
from ballroom.core.validate import check_choice

__all__ = ["PDOClassifier"]


class PDOClassifier(ClassifierModule):
    """Cross-entropy training of ``model`` (a zoo name, e.g. ``"pdo3d-tiny"``, or an ``nn.Module``).

    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc`` and, on the two test loaders of
    :class:`~ballroom.pdo3d.data.TetrisDataModule`, ``test/acc_cube`` / ``test/acc_so3`` and
    ``test/inv_err_cube`` / ``test/inv_err_so3`` (mean relative change of the logits between a
    rotated sample and its unrotated shape; batches are ``(x, y, x_canonical)``).

    ``schedule``: ``"constant"`` (Adam, ``lr``; the offline plan) or ``"official"`` (Adam, 1e-3 for
    epochs <= 50, then ``1e-2 * 0.98^(epoch - 50)``, the official Tetris schedule).

    Args:
        model: a zoo name or a network ``[B, 1, S, S, S] -> [B, num_classes]``.
        model_kwargs: keyword overrides for a zoo ``model``.
        num_classes: number of classes (8 Tetris shapes).
        lr: Adam learning rate (``schedule="constant"``).
        weight_decay: Adam weight decay.
        schedule: ``"constant"`` or ``"official"``.
    """

    def __init__(
        self,
        model: str | nn.Module = "pdo3d-tiny",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 8,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        schedule: str = "constant",
    ) -> None:
        check_choice(schedule, "schedule", ("constant", "official"))
        super().__init__(model=model, model_kwargs=model_kwargs, num_classes=num_classes, lr=lr,
                         weight_decay=weight_decay)  # fmt: skip
        self.test_acc_so3 = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.inv_cube = torchmetrics.MeanMetric()
        self.inv_so3 = torchmetrics.MeanMetric()

    def test_step(self, batch: tuple[Tensor, ...], batch_idx: int, dataloader_idx: int = 0) -> None:
        x, y = batch[0], batch[1]
        logits = self(x)
        acc, inv, tag = (self.test_acc, self.inv_cube, "cube") if dataloader_idx == 0 else (
            self.test_acc_so3, self.inv_so3, "so3")  # fmt: skip
        acc(logits, y)
        self.log(f"test/acc_{tag}", acc, add_dataloader_idx=False)
        if len(batch) > 2:
            ref = self(batch[2])
            err = (logits - ref).norm(dim=1) / ref.norm(dim=1).clamp_min(1e-30)
            inv(err)
            self.log(f"test/inv_err_{tag}", inv, add_dataloader_idx=False)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(
            self.parameters(), lr=float(self.hparams["lr"]), weight_decay=float(self.hparams["weight_decay"])
        )
        if self.hparams["schedule"] == "constant":
            return opt
        for group in opt.param_groups:
            group["lr"] = 1.0
        sched = torch.optim.lr_scheduler.LambdaLR(opt, official_lr)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


def official_lr(epoch: int) -> float:
    """The official Tetris learning rate of (0-based) ``epoch``: 1e-3 for epochs <= 50 (1-based),
    then ``1e-2 * 0.98^(epoch - 50)``."""
    e = epoch + 1
    return 1e-3 if e <= 50 else 1e-2 * 0.98 ** (e - 50)
