"""LightningModules: ExpCLR pretraining and the two baselines (SimCLR-TS, expert-feature decoding)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.expclr.functional import (
    expclr_loss,
    expert_similarity,
    normalized_distances,
    nt_xent_loss,
    optimal_delta,
)
from ballroom.expclr.nn import TimeSeriesAugment, build_encoder

__all__ = ["ExpCLRModule", "ExpertDecodingModule", "SimCLRTSModule", "effective_dimensionality"]


def effective_dimensionality(z: Tensor) -> Tensor:
    """Participation ratio ``(sum l)^2 / sum l^2`` of the covariance eigenvalues of ``z (N, e)``."""
    zc = z - z.mean(0)
    ev = torch.linalg.svdvals(zc).pow(2)
    return ev.sum().pow(2) / ev.pow(2).sum().clamp_min(1e-30)


class _Pretrain(pl.LightningModule, ABC):
    """Shared: the encoder (``encoder="resnet"|"tcn"``, ``in_channels``, ``repr_dim``, ``blocks``, ``width``), Adam."""

    def __init__(
        self, encoder: str, in_channels: int, repr_dim: int, blocks: int, width: int, lr: float
    ) -> None:
        super().__init__()
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.encoder = build_encoder(encoder, in_channels, repr_dim, blocks, width)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Representation ``(B, repr_dim)`` of ``x (B, C, T)``."""
        return self.encoder(x, mask)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    @abstractmethod
    def _loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
        """The training loss of ``batch`` and extra scalars to log under ``train/``."""

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        loss, extra = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        for k, v in extra.items():
            self.log(f"train/{k}", v)
        return loss

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        if batch[0].shape[0] < 2:
            return
        loss, _ = self._loss(batch)
        self.log("val/loss", loss, sync_dist=True)


class ExpCLRModule(_Pretrain):
    """ExpCLR pretraining on ``(x, f, y, mask)`` batches: one encoder pass per sample, no augmentation.

    ``delta="auto"`` sets ``delta = 1 / mean(1 - s)`` from the datamodule's training features at
    fit start (stored in ``hparams``-independent buffer ``delta_value``). ``use_labels``: pairs of
    labelled samples (``y >= 0``) get ``s = [y_i == y_j]`` (semi-supervised variant).
    Logs ``train/loss``, ``train/quadratic_loss``, ``train/D_mean``, ``train/D_std``,
    ``train/s_mean``, ``train/s_std``, ``train/effective_dim``.
    """

    def __init__(
        self,
        encoder: str = "resnet",
        in_channels: int = 1,
        repr_dim: int = 100,
        blocks: int = 8,
        width: int = 64,
        lr: float = 1e-3,
        delta: float | str = 1.0,
        temperature: float | None = 1.0,
        squared: bool = True,
        max_distance: float | None = None,
        use_labels: bool = False,
    ) -> None:
        super().__init__(encoder, in_channels, repr_dim, blocks, width, lr)
        if isinstance(delta, str) and delta != "auto":
            raise ValueError(f"delta must be a positive number or 'auto', got {delta!r}")
        self.save_hyperparameters()
        self.register_buffer(
            "delta_value", torch.tensor(1.0 if delta == "auto" else float(delta), dtype=torch.float64)
        )

    def on_fit_start(self) -> None:
        if self.hparams.delta == "auto":
            dm = self.trainer.datamodule
            if dm is None or not hasattr(dm, "datasets"):
                raise RuntimeError("delta='auto' needs a datamodule with the training expert features")
            dm.setup("fit")
            f = dm.datasets["train"].tensors[1]
            self.delta_value.fill_(optimal_delta(f.double(), self.hparams.squared, self.hparams.max_distance))

    def _loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
        x, f, y, mask = batch
        z = self.encoder(x, mask)
        hp = self.hparams
        labels = y if hp.use_labels else None
        delta = float(self.delta_value)
        loss = expclr_loss(z, f, delta, hp.temperature, hp.squared, hp.max_distance, labels)
        with torch.no_grad():
            zd = z.detach()
            d = normalized_distances(zd)
            s = expert_similarity(f, hp.max_distance, hp.squared, labels)
            extra = {
                "quadratic_loss": expclr_loss(zd, f, delta, None, hp.squared, hp.max_distance, labels),
                "D_mean": d.mean(),
                "D_std": d.std(),
                "s_mean": s.mean(),
                "s_std": s.std(),
                "effective_dim": effective_dimensionality(zd.float()),
            }
        return loss, extra


class SimCLRTSModule(_Pretrain):
    """SimCLR for time series: two augmented views (:class:`TimeSeriesAugment`), a 2-layer projection
    head (as in SimCLR; the representation is the encoder output before it), NT-Xent loss."""

    def __init__(
        self,
        encoder: str = "resnet",
        in_channels: int = 1,
        repr_dim: int = 100,
        blocks: int = 8,
        width: int = 64,
        lr: float = 1e-3,
        temperature: float = 0.5,
        jitter: float = 0.1,
        scale: float = 0.2,
        max_segments: int = 5,
        shift: float = 0.1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(encoder, in_channels, repr_dim, blocks, width, lr)
        self.save_hyperparameters()
        self.augment = TimeSeriesAugment(jitter, scale, max_segments, shift, dropout)
        self.projection = nn.Sequential(
            nn.Linear(repr_dim, repr_dim), nn.ReLU(), nn.Linear(repr_dim, repr_dim)
        )

    def _loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
        x, mask = batch[0], batch[-1]
        z1 = self.projection(self.encoder(self.augment(x, mask), mask))
        z2 = self.projection(self.encoder(self.augment(x, mask), mask))
        return nt_xent_loss(z1, z2, self.hparams.temperature), {}


class ExpertDecodingModule(_Pretrain):
    """Expert-feature decoding: regress ``f`` from ``x`` with MSE through a linear head on the encoder."""

    def __init__(
        self,
        feature_dim: int,
        encoder: str = "resnet",
        in_channels: int = 1,
        repr_dim: int = 100,
        blocks: int = 8,
        width: int = 64,
        lr: float = 1e-3,
    ) -> None:
        super().__init__(encoder, in_channels, repr_dim, blocks, width, lr)
        if feature_dim < 1:
            raise ValueError(f"feature_dim must be >= 1, got {feature_dim}")
        self.save_hyperparameters()
        self.head = nn.Linear(repr_dim, feature_dim)

    def _loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Any]]:
        x, f, _, mask = batch
        if f.shape[1] != self.hparams.feature_dim:
            raise ValueError(f"expected {self.hparams.feature_dim} expert features, got {f.shape[1]}")
        return F.mse_loss(self.head(self.encoder(x, mask)), f), {}
