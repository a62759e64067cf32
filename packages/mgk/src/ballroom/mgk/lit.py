"""LightningModules: the ListOps/LRA classifier and the causal character/word language model."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor, nn

from ballroom.core.lit import ClassifierModule
from ballroom.mgk.models import MGKLanguageModel, count_params_flops

__all__ = ["MGKClassifierModule", "MGKLMModule", "warmup_linear_schedule"]


def warmup_linear_schedule(opt: torch.optim.Optimizer, warmup_steps: int, total_steps: int | None) -> Any:
    """One-cycle linear schedule: linear warm-up over ``warmup_steps``, then linear decay to 0 at
    ``total_steps`` (constant after warm-up when ``total_steps`` is ``None``). Stepped every batch."""

    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        if total_steps is None:
            return 1.0
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


class MGKClassifierModule(ClassifierModule):
    """Cross-entropy on ``(tokens, label, padding)`` batches (the LRA recipe: AdamW eps 1e-6, warm-up
    then linear decay). ``model``: a zoo name (e.g. ``"mgk-tiny"``) or an ``nn.Module`` taking
    ``(x, key_padding_mask)``. Logs ``train/loss``, ``val/acc``, ``test/acc`` and, once per
    validation, ``model/params`` and ``model/flops`` (one forward at ``flops_seq_len`` tokens).

    Args:
        model: zoo name or network.
        model_kwargs: overrides of the zoo entry's arguments.
        num_classes: classes of the accuracy metrics.
        lr: peak learning rate of AdamW (eps 1e-6).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps.
        total_steps: step at which the linear decay reaches 0 (``None``: constant after warm-up).
        flops_seq_len: sequence length of the logged FLOP count.
    """

    def __init__(
        self,
        model: str | nn.Module = "mgk-tiny",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        total_steps: int | None = None,
        flops_seq_len: int = 64,
    ) -> None:
        super().__init__(model=model, model_kwargs=model_kwargs, num_classes=num_classes, lr=lr,
                         weight_decay=weight_decay)  # fmt: skip
        self._counts: dict[str, int] | None = None

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """Logits ``(B, num_classes)`` of tokens ``(B, L)``."""
        return self.net(x, key_padding_mask)

    def _step(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        x, y = batch[0], batch[1]
        pad = batch[2] if len(batch) > 2 else None
        logits = self(x, pad)
        return self.loss(logits, y), logits, y

    def on_validation_epoch_end(self) -> None:
        if self._counts is None:
            self._counts = count_params_flops(self.net, int(self.hparams["flops_seq_len"]))
        self.log("model/params", float(self._counts["params"]), sync_dist=True)
        self.log("model/flops", float(self._counts["flops"]), sync_dist=True)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp["lr"], eps=1e-6, weight_decay=hp["weight_decay"])
        sched = warmup_linear_schedule(opt, hp["warmup_steps"], hp["total_steps"])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class MGKLMModule(pl.LightningModule):
    """Next-token cross-entropy for :class:`~ballroom.mgk.models.MGKLanguageModel` on ``(x, y)`` batches.

    Targets ``-100`` are not scored, so validation on :func:`~ballroom.mgk.data.char_windows` batches
    is the sliding-window protocol (each target once). Logs ``train/loss``, ``val/loss`` (nats per
    token), ``val/ppl`` = exp(loss) and ``val/bpc`` = loss / ln 2, token-weighted over the epoch.
    Optimiser: AdamW with warm-up then linear decay (``total_steps``).

    Args:
        vocab_size: characters / tokens of the corpus.
        d_model: model width.
        n_layers: transformer blocks.
        n_heads: heads per layer.
        head_dim: size of each head.
        d_ff: MLP hidden width.
        max_len: context length.
        attention: one of ``"softmax"``, ``"mgk"``, ``"smgk"``, ``"linear"``, ``"mlk"``, ``"smlk"``.
        dropout: model dropout.
        norm: ``"pre"`` or ``"post"`` LayerNorm.
        attn_kwargs: more attention arguments (``sigma2``, ``pi_mode``...).
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps.
        total_steps: step at which the linear decay reaches 0 (``None``: constant after warm-up).
    """

    def __init__(
        self,
        vocab_size: int = 99,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 2,
        head_dim: int = 16,
        d_ff: int = 256,
        max_len: int = 128,
        attention: str = "mgk",
        dropout: float = 0.0,
        norm: str = "pre",
        attn_kwargs: dict[str, Any] | None = None,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        total_steps: int | None = None,
    ) -> None:
        super().__init__()
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.save_hyperparameters()
        self.net = MGKLanguageModel(vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                                    head_dim=head_dim, d_ff=d_ff, max_len=max_len, attention=attention,
                                    dropout=dropout, norm=norm, attn_kwargs=attn_kwargs)  # fmt: skip
        self.val_nll = torchmetrics.MeanMetric()

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, N, vocab_size)``."""
        return self.net(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self.net.loss(*batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        # states made under a standalone validate() are inference tensors: remake them in this mode
        self.val_nll.reset()

    on_test_epoch_start = on_validation_epoch_start

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        nll = F.cross_entropy(self(x).flatten(0, 1), y.flatten(), ignore_index=-100, reduction="none")
        keep = y.flatten() != -100
        self.val_nll.update(nll[keep], weight=torch.ones_like(nll[keep]))

    def on_validation_epoch_end(self) -> None:
        loss = self.val_nll.compute()
        self.val_nll.reset()
        self.log("val/loss", loss, sync_dist=True)
        self.log("val/ppl", torch.exp(loss), sync_dist=True)
        self.log("val/bpc", loss / math.log(2.0), sync_dist=True, prog_bar=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.validation_step(batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        loss = self.val_nll.compute()
        self.val_nll.reset()
        self.log("test/loss", loss, sync_dist=True)
        self.log("test/bpc", loss / math.log(2.0), sync_dist=True)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        sched = warmup_linear_schedule(opt, hp["warmup_steps"], hp["total_steps"])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
