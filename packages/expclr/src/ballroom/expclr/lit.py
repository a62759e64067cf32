"""LightningModules: ExpCLR pretraining and the two baselines (SimCLR-TS, expert-feature decoding).

Each takes its encoder as ``model``: a zoo name (``"expclr-small"``, built with ``model_kwargs``,
e.g. ``{"in_channels": 12}``) or a built ``nn.Module`` with a ``repr_dim`` attribute, kept in
``self.net``; :func:`ballroom.core.checkpoint.load_zoo_model` turns a ``fit`` checkpoint of a
zoo-named module back into the trained encoder. Heads (SimCLR's projection, the decoding head)
live outside ``self.net``.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_positive
from ballroom.core.zoo import resolve_model
from ballroom.expclr.functional import (
    effective_dimensionality,
    expclr_loss,
    expert_similarity,
    normalized_distances,
    nt_xent_loss,
    optimal_delta,
)
from ballroom.expclr.nn import TimeSeriesAugment

__all__ = ["ExpCLRModule", "ExpertDecodingModule", "SimCLRTSModule"]


class _Pretrain(pl.LightningModule, ABC):
    """What the three pretraining modules share: the encoder ``self.net``, Adam, and logging each
    batch's loss (``train/loss``, ``val/loss``) plus the scalars :meth:`_loss` returns."""

    def __init__(self, model: str | nn.Module, model_kwargs: dict[str, Any] | None, lr: float) -> None:
        super().__init__()
        check_positive(lr, "lr")
        # collects the subclass's arguments too; a built network is not a hyperparameter
        self.save_hyperparameters(ignore=["model"] if isinstance(model, nn.Module) else None)
        self.net = resolve_model(model, model_kwargs)
        if not isinstance(getattr(self.net, "repr_dim", None), int):
            raise TypeError(
                f"model: the encoder needs an int attribute repr_dim, {type(self.net).__name__} has none"
            )

    @property
    def repr_dim(self) -> int:
        """The encoder's representation size."""
        return int(self.net.repr_dim)

    @property
    def encoder(self) -> nn.Module:
        """Deprecated name of :attr:`net`, the encoder."""
        warnings.warn(
            "the encoder is now `.net` (`.encoder` is deprecated)", DeprecationWarning, stacklevel=2
        )
        return self.net

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Representation ``(B, repr_dim)`` of ``x (B, C, T)``."""
        return self.net(x, mask)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"])

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

    Args:
        model: the encoder, a zoo name (default: the paper's ResNet) or a built module.
        model_kwargs: overrides of the zoo entry's arguments (e.g. ``{"in_channels": 12}``).
        lr: Adam's learning rate.
        delta: the target scale ``delta``, or ``"auto"``: ``1 / mean(1 - s)`` on the datamodule's
            training features at fit start (stored in the buffer ``delta_value``).
        temperature: the soft maximum's ``tau``; ``None`` = the quadratic loss.
        squared, max_distance: as in :func:`~ballroom.expclr.expert_similarity`.
        use_labels: pairs of labelled samples (``y >= 0``) get ``s = [y_i == y_j]`` (semi-supervised).

    Logs ``train/loss``, ``train/quadratic_loss``, ``train/D_mean``, ``train/D_std``,
    ``train/s_mean``, ``train/s_std``, ``train/effective_dim`` and ``val/loss``.
    """

    delta_value: Tensor  # 0-d float64 buffer registered in __init__ (fitted when delta="auto")

    def __init__(
        self,
        model: str | nn.Module = "expclr-resnet",
        model_kwargs: dict[str, Any] | None = None,
        lr: float = 1e-3,
        delta: float | str = 1.0,
        temperature: float | None = 1.0,
        squared: bool = True,
        max_distance: float | None = None,
        use_labels: bool = False,
    ) -> None:
        if isinstance(delta, str):
            check_choice(delta, "delta", ("auto",))
        else:
            check_positive(delta, "delta")
        if temperature is not None:
            check_positive(temperature, "temperature")
        if max_distance is not None:
            check_positive(max_distance, "max_distance")
        super().__init__(model, model_kwargs, lr)
        self.register_buffer(
            "delta_value", torch.tensor(1.0 if delta == "auto" else float(delta), dtype=torch.float64)
        )

    def on_fit_start(self) -> None:
        if self.hparams["delta"] == "auto":
            dm = self.trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning's data connector; Trainer does not declare it
            if dm is None or not hasattr(dm, "datasets"):
                raise RuntimeError("delta='auto' needs a datamodule with the training expert features")
            dm.setup("fit")
            f = dm.datasets["train"].tensors[1]
            self.delta_value.fill_(
                optimal_delta(f.double(), self.hparams["squared"], self.hparams["max_distance"])
            )

    def _loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
        x, f, y, mask = batch
        z = self.net(x, mask)
        hp = self.hparams
        labels = y if hp["use_labels"] else None
        delta = float(self.delta_value)
        loss = expclr_loss(z, f, delta, hp["temperature"], hp["squared"], hp["max_distance"], labels)
        with torch.no_grad():
            zd = z.detach()
            d = normalized_distances(zd)
            s = expert_similarity(f, hp["max_distance"], hp["squared"], labels)
            extra = {
                "quadratic_loss": expclr_loss(zd, f, delta, None, hp["squared"], hp["max_distance"], labels),
                "D_mean": d.mean(),
                "D_std": d.std(),
                "s_mean": s.mean(),
                "s_std": s.std(),
                "effective_dim": effective_dimensionality(zd.float()),
            }
        return loss, extra


class SimCLRTSModule(_Pretrain):
    """SimCLR for time series: two augmented views (:class:`TimeSeriesAugment`), a 2-layer projection
    head (as in SimCLR; the representation is the encoder output before it), NT-Xent loss.

    ``model``, ``model_kwargs``, ``lr`` as in :class:`ExpCLRModule`; ``temperature`` is NT-Xent's,
    the rest are the augmentations' settings. Logs ``train/loss`` and ``val/loss``.

    Args:
        model: a zoo name or a built encoder.
        model_kwargs: overrides of the zoo entry.
        lr: the learning rate.
        temperature: NT-Xent's temperature (> 0).
        jitter: Gaussian jitter, in units of each series' std (see :class:`TimeSeriesAugment`).
        scale: the std of the per-channel scaling factor around 1.
        max_segments: the most segments permuted.
        shift: the largest circular shift, as a fraction of ``T``.
        dropout: the rate at which steps are dropped.

    Raises:
        ValueError: ``temperature <= 0`` or a bad augmentation setting.
    """

    def __init__(
        self,
        model: str | nn.Module = "expclr-resnet",
        model_kwargs: dict[str, Any] | None = None,
        lr: float = 1e-3,
        temperature: float = 0.5,
        jitter: float = 0.1,
        scale: float = 0.2,
        max_segments: int = 5,
        shift: float = 0.1,
        dropout: float = 0.1,
    ) -> None:
        check_positive(temperature, "temperature")
        super().__init__(model, model_kwargs, lr)
        self.augment = TimeSeriesAugment(jitter, scale, max_segments, shift, dropout)
        r = self.repr_dim
        self.projection = nn.Sequential(nn.Linear(r, r), nn.ReLU(), nn.Linear(r, r))

    def _loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
        x, mask = batch[0], batch[-1]
        z1 = self.projection(self.net(self.augment(x, mask), mask))
        z2 = self.projection(self.net(self.augment(x, mask), mask))
        return nt_xent_loss(z1, z2, self.hparams["temperature"]), {}


class ExpertDecodingModule(_Pretrain):
    """Expert-feature decoding: regress ``f`` from ``x`` with MSE through a linear head on the encoder.

    ``feature_dim`` is the number of expert features; ``model``, ``model_kwargs``, ``lr`` as in
    :class:`ExpCLRModule`. Logs ``train/loss`` and ``val/loss``.
    """

    def __init__(
        self,
        feature_dim: int,
        model: str | nn.Module = "expclr-resnet",
        model_kwargs: dict[str, Any] | None = None,
        lr: float = 1e-3,
    ) -> None:
        if feature_dim < 1:
            raise ValueError(f"feature_dim must be >= 1, got {feature_dim}")
        super().__init__(model, model_kwargs, lr)
        self.head = nn.Linear(self.repr_dim, feature_dim)

    def _loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Any]]:
        x, f, _, mask = batch
        if f.shape[1] != self.hparams["feature_dim"]:
            raise ValueError(f"expected {self.hparams['feature_dim']} expert features, got {f.shape[1]}")
        return F.mse_loss(self.head(self.net(x, mask)), f), {}
