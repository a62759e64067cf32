"""LightningModules: sequence classification and causal language modelling over the zoo's networks.

Both take the network as ``model`` (a zoo name such as ``"flowformer-listops-mini"`` or a built
``nn.Module``) plus ``model_kwargs`` (overrides of the zoo entry, e.g. ``{"attention": "softmax"}``),
keep it in ``self.net`` and train it with AdamW (no decay on biases, norms and positions), a linear
warm-up then linear decay over ``total_steps`` and optional gradient-norm clipping.
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor, nn

from ballroom.core.lit import ClassifierModule
from ballroom.core.zoo import resolve_model

__all__ = ["FlowformerClassifierModule", "FlowformerLMModule", "warmup_linear_decay"]


def _check_schedule(warmup: int, total: int) -> None:
    if not 0 <= warmup < total:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup}, {total}")


def _check_optimiser(lr: float, weight_decay: float, warmup_steps: int, total_steps: int) -> None:
    if lr <= 0 or weight_decay < 0:
        raise ValueError(f"need lr > 0 and weight_decay >= 0, got {lr}, {weight_decay}")
    if total_steps:
        _check_schedule(warmup_steps, total_steps)


def warmup_linear_decay(
    optimizer: torch.optim.Optimizer, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total`` (a triangular one-cycle).

    Args:
        optimizer: the optimiser to schedule.
        warmup: warm-up steps (``0 <= warmup < total``).
        total: the step at which the factor reaches 0.

    Returns:
        A ``LambdaLR``, to be stepped once per optimiser step.

    Raises:
        ValueError: not ``0 <= warmup < total``.
    """
    _check_schedule(warmup, total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / (total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _WarmupAdamW:
    """The optimiser both Flowformer modules share: AdamW (no decay on 1-d tensors and ``*pos``),
    linear warm-up then linear decay over ``total_steps`` (stepped), and gradient-norm clipping at the
    Trainer's ``gradient_clip_val`` if given, else the ``grad_clip`` hyperparameter."""

    hparams: Any

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, p in self.named_parameters():  # type: ignore[attr-defined]
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
        clip = gradient_clip_val if gradient_clip_val is not None else self.hparams["grad_clip"]
        if clip:
            self.clip_gradients(optimizer, clip, gradient_clip_algorithm or "norm")  # type: ignore[attr-defined]


class FlowformerClassifierModule(_WarmupAdamW, ClassifierModule):
    """Sequence classification of a :class:`~ballroom.flowformer.nn.FlowformerClassifier` (or any
    network with its ``forward(x, key_padding_mask)``), on :class:`ballroom.core.lit.ClassifierModule`.

    Batches are ``(x, y[, mask])``: ``x`` is ``(B, L)`` token ids or ``(B, C, T)`` series (the zoo
    model's ``in_features=C``; transposed to ``(B, T, C)``); ``mask (B, L)`` is True on padding
    (ballroom-core's UEA batches carry True on *observed* steps: set ``mask_is_valid=True``).
    ``num_classes`` must be the network's. Cross-entropy (in float32), AdamW, linear warm-up then
    linear decay over ``total_steps`` (0 = constant lr), gradient-norm clipping at ``grad_clip``
    (None = off). Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/acc``.
    The attention and its options are zoo overrides: ``model_kwargs={"attention": "softmax"}`` or
    ``{"source_clamp": 5.0}``.

    Args:
        model: a zoo name or a built network.
        model_kwargs: overrides of the zoo entry.
        num_classes: the number of classes (must match a linear ``head``).
        lr: the AdamW peak learning rate (> 0).
        weight_decay: AdamW weight decay (>= 0) of the matrices (not of biases, norms, positions).
        warmup_steps: linear warm-up steps (``< total_steps`` when a schedule is used).
        total_steps: steps of the warm-up/decay schedule; 0 keeps ``lr`` constant.
        grad_clip: gradient-norm clipping when the Trainer sets none; ``None`` or 0: off.
        mask_is_valid: the batches' mask is True on observed steps (inverted before use).

    Raises:
        ValueError: bad optimiser settings or a ``num_classes`` the network's head does not have.
    """

    def __init__(
        self,
        model: str | nn.Module = "flowformer-listops-mini",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 0,
        total_steps: int = 0,
        grad_clip: float | None = None,
        mask_is_valid: bool = False,
    ) -> None:
        _check_optimiser(lr, weight_decay, warmup_steps, total_steps)
        super().__init__(model, model_kwargs, num_classes=num_classes, lr=lr, weight_decay=weight_decay)
        head = getattr(self.net, "head", None)
        if isinstance(head, nn.Linear) and head.out_features != num_classes:
            raise ValueError(f"num_classes={num_classes} but the network has {head.out_features} outputs")

    def _unpack(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor | None]:
        x, y = batch[0], batch[1]
        mask = batch[2] if len(batch) > 2 else None
        if mask is not None and self.hparams["mask_is_valid"]:
            mask = ~mask
        if x.is_floating_point() and x.ndim == 3:
            x = x.transpose(1, 2)
        return x, y, mask

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """``x (B, L)`` tokens or ``(B, L, in_features)`` -> logits ``(B, num_classes)``."""
        return self.net(x, key_padding_mask)

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Cross-entropy on float32 logits (bf16/fp16 training keeps a float32 loss)."""
        return F.cross_entropy(logits.float(), y)

    def _step(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        x, y, mask = self._unpack(batch)
        logits = self(x, mask)
        return self.loss(logits, y), logits, y

    def predict_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x, _, mask = self._unpack(batch)
        return self(x, mask).argmax(-1)


class FlowformerLMModule(_WarmupAdamW, pl.LightningModule):
    """Next-token cross-entropy with a causal :class:`~ballroom.flowformer.nn.FlowformerLM`
    (``model``: a zoo name, default ``"flowformer-charlm"``, or a built network; ``self.net``).

    Batches are ``(tokens (B, L), targets (B, L))``. Logs ``train/loss``, ``val/loss`` (nats per
    token, token-weighted over the whole validation set) and ``val/bpc`` (bits per character).
    The network's vocabulary must cover the data module's (checked at setup). Optimiser and
    schedule as :class:`FlowformerClassifierModule`.

    Args:
        model: a zoo name or a built network.
        model_kwargs: overrides of the zoo entry (must be empty for a built network).
        lr: the AdamW peak learning rate (> 0).
        weight_decay: AdamW weight decay (>= 0) of the matrices (not of biases, norms, positions).
        warmup_steps: linear warm-up steps (``< total_steps`` when a schedule is used).
        total_steps: steps of the warm-up/decay schedule; 0 keeps ``lr`` constant.
        grad_clip: gradient-norm clipping when the Trainer sets none; ``None`` or 0: off.

    Raises:
        ValueError: bad optimiser settings.
    """

    def __init__(
        self,
        model: str | nn.Module = "flowformer-charlm",
        model_kwargs: dict[str, Any] | None = None,
        lr: float = 3e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 0,
        total_steps: int = 0,
        grad_clip: float | None = None,
    ) -> None:
        super().__init__()
        _check_optimiser(lr, weight_decay, warmup_steps, total_steps)
        # a built network is a module argument: not a hyperparameter (it would be pickled)
        self.save_hyperparameters(ignore=["model"] if isinstance(model, nn.Module) else None)
        self.net = resolve_model(model, model_kwargs)
        self.val_loss = torchmetrics.MeanMetric()

    @property
    def vocab_size(self) -> int | None:
        """The network's vocabulary size (its input embedding's rows), if it has one."""
        embed = getattr(self.net, "embed", None)
        return embed.num_embeddings if isinstance(embed, nn.Embedding) else None

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        needed = getattr(dm, "vocab_size", None)
        if needed is not None and self.vocab_size is not None and needed > self.vocab_size:
            raise ValueError(f"the data has {needed} symbols but the model's vocab_size is {self.vocab_size}")

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
