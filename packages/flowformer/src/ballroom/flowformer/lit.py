"""LightningModules: sequence classification and causal language modelling with any attention."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor

from ballroom.flowformer.nn import ATTENTIONS, FlowformerClassifier, FlowformerLM

__all__ = ["FlowformerClassifierModule", "FlowformerLMModule", "warmup_linear_decay"]


def _check_schedule(warmup: int, total: int) -> None:
    if not 0 <= warmup < total:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup}, {total}")


def warmup_linear_decay(
    optimizer: torch.optim.Optimizer, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total`` (a triangular one-cycle)."""
    _check_schedule(warmup, total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / (total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _Base(pl.LightningModule):
    """AdamW (no decay on biases, norms and embeddings' positions), optional schedule and clipping."""

    def _check_common(self) -> None:
        hp = self.hparams
        if hp.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {hp.attention!r}")
        if hp.lr <= 0 or hp.weight_decay < 0:
            raise ValueError(f"need lr > 0 and weight_decay >= 0, got {hp.lr}, {hp.weight_decay}")
        if hp.total_steps:
            _check_schedule(hp.warmup_steps, hp.total_steps)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            (no_decay if p.ndim < 2 or name.endswith("pos") else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": hp.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=hp.lr)
        if not hp.total_steps:
            return opt
        sched = warmup_linear_decay(opt, hp.warmup_steps, hp.total_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        clip = gradient_clip_val if gradient_clip_val is not None else self.hparams.grad_clip
        if clip:
            self.clip_gradients(optimizer, clip, gradient_clip_algorithm or "norm")


class FlowformerClassifierModule(_Base):
    """Sequence classification with a :class:`~ballroom.flowformer.nn.FlowformerClassifier`.

    Batches are ``(x, y[, mask])``: ``x`` is ``(B, L)`` token ids (``vocab_size``) or ``(B, C, T)``
    series (``in_features=C``, transposed to ``(B, T, C)``); ``mask (B, L)`` is True on padding
    (ballroom-core's UEA batches carry True on *observed* steps: set ``mask_is_valid=True``).
    Cross-entropy, AdamW, linear warm-up then linear decay over ``total_steps`` (0 = constant lr),
    gradient-norm clipping at ``grad_clip`` (None = off). Logs ``train/loss``, ``train/acc``,
    ``val/loss``, ``val/acc``, ``test/acc``. Extra keyword arguments of the attention
    (``source_clamp``, ``feature_map``, ``competition``, ``allocation``, ``eps``) go in ``flow_kwargs``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        vocab_size: int | None = None,
        in_features: int | None = None,
        d_model: int = 64,
        depth: int = 2,
        n_heads: int = 4,
        d_ff: int = 128,
        max_len: int = 128,
        attention: str = "flow",
        pooling: str = "cls",
        positions: str = "learned",
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 0,
        total_steps: int = 0,
        grad_clip: float | None = None,
        mask_is_valid: bool = False,
        flow_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self._check_common()
        self.net = FlowformerClassifier(
            num_classes, vocab_size, in_features, d_model, depth, n_heads, d_ff, max_len, attention,
            pooling, positions, dropout, **(flow_kwargs or {}),
        )  # fmt: skip
        metric = dict(task="multiclass", num_classes=num_classes)
        self.train_acc = torchmetrics.Accuracy(**metric)  # type: ignore[arg-type]
        self.val_acc = torchmetrics.Accuracy(**metric)  # type: ignore[arg-type]
        self.test_acc = torchmetrics.Accuracy(**metric)  # type: ignore[arg-type]

    def _unpack(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor | None]:
        x, y = batch[0], batch[1]
        mask = batch[2] if len(batch) > 2 else None
        if mask is not None and self.hparams.mask_is_valid:
            mask = ~mask
        if x.is_floating_point() and x.ndim == 3:
            x = x.transpose(1, 2)
        return x, y, mask

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """``x (B, L)`` tokens or ``(B, L, in_features)`` -> logits ``(B, num_classes)``."""
        return self.net(x, key_padding_mask)

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x, y, mask = self._unpack(batch)
        logits = self(x, mask)
        loss = F.cross_entropy(logits.float(), y)
        self.train_acc(logits, y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        x, y, mask = self._unpack(batch)
        logits = self(x, mask)
        self.val_acc(logits, y)
        self.log("val/loss", F.cross_entropy(logits.float(), y), sync_dist=True)
        self.log("val/acc", self.val_acc, prog_bar=True)

    def test_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        x, y, mask = self._unpack(batch)
        self.test_acc(self(x, mask), y)
        self.log("test/acc", self.test_acc)


class FlowformerLMModule(_Base):
    """Next-token cross-entropy with a causal :class:`~ballroom.flowformer.nn.FlowformerLM`.

    Batches are ``(tokens (B, L), targets (B, L))``. Logs ``train/loss``, ``val/loss`` (nats per
    token, token-weighted over the whole validation set) and ``val/bpc`` (bits per character).
    ``vocab_size`` must cover the data module's vocabulary (checked at setup).
    """

    def __init__(
        self,
        vocab_size: int = 128,
        d_model: int = 64,
        depth: int = 2,
        n_heads: int = 4,
        d_ff: int = 256,
        max_len: int = 128,
        attention: str = "flow",
        dropout: float = 0.0,
        lr: float = 3e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 0,
        total_steps: int = 0,
        grad_clip: float | None = None,
        flow_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self._check_common()
        self.net = FlowformerLM(
            vocab_size, d_model, depth, n_heads, d_ff, max_len, attention, dropout, **(flow_kwargs or {})
        )
        self.val_loss = torchmetrics.MeanMetric()

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        needed = getattr(dm, "vocab_size", None)
        if needed is not None and needed > self.hparams.vocab_size:
            raise ValueError(
                f"the data has {needed} symbols but the model's vocab_size is {self.hparams.vocab_size}"
            )

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens (B, L)`` -> next-token logits ``(B, L, vocab_size)``."""
        return self.net(tokens)

    def _loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        logits = self(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.val_loss.update(self._loss(batch), weight=batch[0].numel())

    def on_validation_epoch_end(self) -> None:
        loss = self.val_loss.compute()
        self.val_loss.reset()
        self.log("val/loss", loss)
        self.log("val/bpc", loss / math.log(2), prog_bar=True)
