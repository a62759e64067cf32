"""``SepGCNNClassifier``: core's ``ClassifierModule`` for G-CNNs (and the Z^2 baseline) on images."""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor, nn

from ballroom.core.lit import ClassifierModule
from ballroom.sepgcnn.data import rotate_about_background
from ballroom.sepgcnn.models import set_eval_sampling

__all__ = ["SepGCNNClassifier"]


class SepGCNNClassifier(ClassifierModule):
    """Image classification with a continuous-kernel G-CNN or the Z^2 baseline.

    ``model`` is a zoo name (``"sepgcnn-digits-se2"``, ...; ``model_kwargs`` override its keyword
    arguments, e.g. ``{"implementation": "nonseparable"}``) or a built ``nn.Module``. Batches are
    ``(x (B, C, S, S) float, y (B,) int64)``. Cross-entropy (on float32 logits); Adam with L2 weight
    decay (``torch.optim.Adam(weight_decay=...)``, as the official code, not AdamW) and cosine
    annealing over ``cosine_epochs`` epochs (default: the trainer's ``max_epochs``; 0 = constant lr).

    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``val/rot_acc`` (the validation
    images rotated by seeded uniformly random angles, bilinear, about the background value;
    ``rot_seed`` seeds them), ``test/acc`` and ``time/epoch`` (wall seconds of the training epoch).
    The defaults are the paper's MNIST-rot runs (``sepgcnn-mnist-rot-se2``: widths 32,32,64, k=7,
    N=16; lr 1e-4, wd 1e-4). ``eval_sampling="discretise"`` evaluates a ``sampling="uniform"`` model on
    the fixed grid (deterministic validation; the official code samples in eval too, the default None).

    Args:
        model: a zoo name (default ``"sepgcnn-mnist-rot-se2"``) or a built ``nn.Module``.
        model_kwargs: keyword overrides for a zoo name; default None: none.
        num_classes: number of classes, for the accuracy metrics; default 10.
        lr: Adam's learning rate; default 1e-4.
        weight_decay: Adam's L2 weight decay (``>= 0``); default 1e-4.
        cosine_epochs: cosine-annealing period in epochs (``>= 0``; 0: constant lr); default None: the
            trainer's ``max_epochs``.
        rot_seed: seed of the ``val/rot_acc`` rotation angles; default 0.
        eval_sampling: sampling of the group layers in eval mode; default None: as in training.

    Raises:
        ValueError: if ``weight_decay`` or ``cosine_epochs`` is negative, or ``eval_sampling`` is unknown.
    """

    def __init__(
        self,
        model: str | nn.Module = "sepgcnn-mnist-rot-se2",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 1e-4,
        weight_decay: float = 1e-4,
        cosine_epochs: int | None = None,
        rot_seed: int = 0,
        eval_sampling: str | None = None,
    ) -> None:
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        if cosine_epochs is not None and cosine_epochs < 0:
            raise ValueError(f"cosine_epochs must be >= 0, got {cosine_epochs}")
        super().__init__(model, model_kwargs, num_classes, lr, weight_decay, cosine_epochs)
        set_eval_sampling(self.net, eval_sampling)
        self.val_rot_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self._epoch_start: float | None = None

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Cross-entropy on float32 logits (bf16-mixed runs too)."""
        return F.cross_entropy(logits.float(), y)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.Adam(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        epochs = hp["cosine_epochs"]
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

    def _rotated(self, x: Tensor, batch_idx: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.hparams["rot_seed"] * 100_003 + batch_idx)
        angles = torch.rand(x.shape[0], generator=gen, dtype=torch.float64) * (2 * math.pi)
        return rotate_about_background(x, angles)

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        x, y = batch[0], batch[1]
        self.val_rot_acc(self(self._rotated(x, batch_idx)), y)
        self.log("val/rot_acc", self.val_rot_acc)
