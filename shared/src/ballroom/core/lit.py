"""A generic classification ``LightningModule`` over any zoo model."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor, nn

from ballroom.core.zoo import resolve_model

__all__ = ["ClassifierModule"]


class ClassifierModule(pl.LightningModule):
    """Cross-entropy training of ``model``: a zoo name (built with ``model_kwargs``) or a built ``nn.Module``.

    The network is ``self.net``; :func:`ballroom.core.checkpoint.load_zoo_model` turns a checkpoint
    of a zoo-named module back into the plain network. Method packages subclass this module and
    override :meth:`loss` (what a batch costs), :meth:`configure_optimizers` or add metrics.

    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/acc`` (torchmetrics, one
    instance per stage, synced across DDP ranks). Batches are ``(x, y, *rest)``; extra items are ignored.
    Optimiser: AdamW with ``lr`` and ``weight_decay``; optional cosine annealing over ``cosine_epochs``.
    Every hyperparameter is a plain value, so checkpoints reload with ``load_from_checkpoint(path)``.

    Args:
        model: a zoo name (see :mod:`ballroom.core.zoo`) or a built network (not saved as a
            hyperparameter).
        model_kwargs: keyword arguments for the zoo builder (must be empty for a built network).
        num_classes: the number of classes of the accuracy metrics (the network's output size).
        lr: the AdamW learning rate.
        weight_decay: the AdamW weight decay.
        cosine_epochs: ``T_max`` (in epochs) of a cosine-annealing schedule stepped once per epoch;
            ``None`` or 0 keeps ``lr`` constant.

    Raises:
        ValueError: ``lr <= 0``, ``num_classes < 2``, or ``model_kwargs`` with a built network.
        TypeError: ``model`` is neither a string nor an ``nn.Module``.
    """

    def __init__(
        self,
        model: str | nn.Module = "core-tiny",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        cosine_epochs: int | None = None,
    ) -> None:
        super().__init__()
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        # a built network is a module argument: not a hyperparameter (it would be pickled)
        self.save_hyperparameters(ignore=["model"] if isinstance(model, nn.Module) else None)
        self.net = resolve_model(model, model_kwargs)
        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.test_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)``."""
        logits: Tensor = self.net(x)
        return logits

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """The training objective for logits ``(B, C)`` and labels ``(B,)``: cross-entropy."""
        return F.cross_entropy(logits, y)

    def _step(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        x, y = batch[0], batch[1]
        logits = self(x)
        return self.loss(logits, y), logits, y

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        loss, logits, y = self._step(batch)
        self.train_acc(logits, y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        loss, logits, y = self._step(batch)
        self.val_acc(logits, y)
        self.log("val/loss", loss, sync_dist=True)
        self.log("val/acc", self.val_acc, prog_bar=True)

    def test_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        _, logits, y = self._step(batch)
        self.test_acc(logits, y)
        self.log("test/acc", self.test_acc)

    def predict_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        logits: Tensor = self(batch[0])
        return logits.argmax(-1)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(
            self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"]
        )
        cosine_epochs = self.hparams.get("cosine_epochs")
        if not cosine_epochs:
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cosine_epochs)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
