"""``SepGCNNClassifier``: the LightningModule that trains G-CNNs (and the Z^2 baseline) on images."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor

from ballroom.sepgcnn.data import rotate_about_background
from ballroom.sepgcnn.models import MODELS, build_model
from ballroom.sepgcnn.nn import ALIASES, IMPLEMENTATIONS

__all__ = ["SepGCNNClassifier"]


class SepGCNNClassifier(pl.LightningModule):
    """Image classification with a continuous-kernel G-CNN (``CKGResNet``/``CKGCNN``) or the Z^2 baseline.

    Batches are ``(x (B, C, S, S) float, y (B,) int64)``. Cross-entropy; Adam with L2 weight decay
    (``torch.optim.Adam(weight_decay=...)``, as the official code) and cosine annealing over
    ``cosine_epochs`` epochs (default: the trainer's ``max_epochs``; 0 = constant lr).
    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``val/rot_acc`` (the validation
    images rotated by seeded uniformly random angles, bilinear, about the background value),
    ``test/acc`` and ``time/epoch`` (wall seconds of the training epoch).
    The defaults are the paper's MNIST-rot runs (widths 32,32,64, k=7, N=8, lr 1e-4, wd 1e-4).
    ``eval_sampling="discretise"`` evaluates a ``sampling="uniform"`` model on the fixed grid
    (deterministic validation; the official code samples in eval too, the default None).
    """

    def __init__(
        self,
        model: str = "ckgresnet",
        group: str = "SE2",
        n_rot: int = 8,
        n_scale: int = 2,
        max_scale: float = 1.5,
        implementation: str = "separable",
        widths: Sequence[int] = (32, 32, 64),
        kernel_size: int = 7,
        hidden: int = 64,
        sampling: str = "discretise",
        in_channels: int = 1,
        num_classes: int = 10,
        input_size: int = 28,
        lr: float = 1e-4,
        weight_decay: float = 1e-4,
        cosine_epochs: int | None = None,
        rot_seed: int = 0,
        eval_sampling: str | None = None,
    ) -> None:
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {model!r}")
        if ALIASES.get(implementation, implementation) not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        if lr <= 0 or weight_decay < 0:
            raise ValueError(f"need lr > 0 and weight_decay >= 0, got {lr}, {weight_decay}")
        if cosine_epochs is not None and cosine_epochs < 0:
            raise ValueError(f"cosine_epochs must be >= 0, got {cosine_epochs}")
        widths = [int(w) for w in widths]
        self.save_hyperparameters()
        self.net = build_model(
            model, group, n_rot, n_scale, max_scale, implementation, widths, kernel_size, hidden, sampling,
            in_channels, num_classes, input_size, eval_sampling,
        )  # fmt: skip
        metric: dict[str, Any] = dict(task="multiclass", num_classes=num_classes)
        self.train_acc = torchmetrics.Accuracy(**metric)
        self.val_acc = torchmetrics.Accuracy(**metric)
        self.val_rot_acc = torchmetrics.Accuracy(**metric)
        self.test_acc = torchmetrics.Accuracy(**metric)
        self._epoch_start: float | None = None

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, C, S, S)`` -> logits ``(B, num_classes)``."""
        return self.net(x)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        epochs = hp.cosine_epochs
        if epochs is None:
            epochs = self.trainer.max_epochs if self._trainer is not None else 0
            epochs = epochs if epochs and epochs > 0 else 0
        if not epochs:
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def on_train_epoch_start(self) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        if self._epoch_start is not None:
            self.log("time/epoch", time.perf_counter() - self._epoch_start, sync_dist=True)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits.float(), y)
        self.train_acc(logits, y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def _rotated(self, x: Tensor, batch_idx: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.hparams.rot_seed * 100_003 + batch_idx)
        angles = torch.rand(x.shape[0], generator=gen, dtype=torch.float64) * (2 * math.pi)
        return rotate_about_background(x, angles)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.val_acc(logits, y)
        self.val_rot_acc(self(self._rotated(x, batch_idx)), y)
        self.log("val/loss", F.cross_entropy(logits.float(), y), sync_dist=True)
        self.log("val/acc", self.val_acc, prog_bar=True)
        self.log("val/rot_acc", self.val_rot_acc)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        self.test_acc(self(x), y)
        self.log("test/acc", self.test_acc)
