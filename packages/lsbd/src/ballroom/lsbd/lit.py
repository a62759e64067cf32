"""The LightningModule of LSBD-VAE (semi-supervised; with ``pairs=0`` it is a Delta-VAE, with a
``("r4",)`` latent a plain Gaussian VAE)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torchmetrics
from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_positive
from ballroom.lsbd.metrics import dlsbd
from ballroom.lsbd.nn import EQUIVARIANCE_MODES, REDUCTIONS, LSBDAutoencoder

__all__ = ["LSBDVAE"]


class LSBDVAE(pl.LightningModule):
    """LSBD-VAE training: unsupervised ELBO on single images plus the supervised LSBD loss on sets.

    ``model`` is a zoo name (built with ``model_kwargs``) or an :class:`LSBDAutoencoder`, kept in
    ``self.net``. ``training_step`` takes ``{"images": (B, 1, ...)}`` (unsupervised),
    ``{"images": (B, M, ...), "angles": (B, M, K)}`` (supervised) or, in the ``joint`` schedule,
    ``{"labelled": ..., "unlabelled": ...}`` (the two losses summed, one optimiser step).
    Adam (``lr`` 1e-3, ``eps`` 1e-7, the Keras default; fused kernel on CPU/CUDA). Logs ``train/recon_u``, ``train/kl_u``,
    ``train/recon_s``, ``train/kl_s``, ``train/equiv_s``, ``train/loss``; ``val/recon`` and, when the
    datamodule has a ``grid``, ``val/dlsbd`` and ``val/omega_k`` on the locations of the whole grid.

    Args:
        model: a zoo name or a built :class:`LSBDAutoencoder`.
        model_kwargs: overrides of the zoo entry.
        dist_weight: ``gamma``: the weight of the LSBD (equivariance) loss, one number or one per
            subspace.
        equivariance_mode: ``"per_subspace"`` or ``"official_concat"`` (see
            :func:`~ballroom.lsbd.nn.equivariance_loss`).
        equivariance_reduction: ``"sum"`` or ``"mean"`` over the views of a set.
        anchor_locations: compute the equivariance loss on the posterior locations instead of the
            samples.
        stop_gradient: detach the re-anchored codes ``zhat`` in the equivariance loss.
        recon: the reconstruction loss: ``"gaussian"``, ``"sse"`` or ``"bce"``.
        schedule: ``"alternate"`` or ``"joint"`` (must match the data module's).
        lr: Adam's learning rate.
        adam_eps: Adam's ``eps``.
        manifold: ``"torus"`` or ``"cylinder"``: how ``val/dlsbd`` reads the grid.

    Raises:
        ValueError: an unknown option or a non-positive ``lr`` / ``adam_eps``.
        TypeError: ``model`` does not build an :class:`LSBDAutoencoder`.
    """

    def __init__(
        self,
        model: str | nn.Module = "lsbd-tiny",
        model_kwargs: dict[str, Any] | None = None,
        dist_weight: float | Sequence[float] = 1.0,
        equivariance_mode: str = "per_subspace",
        equivariance_reduction: str = "sum",
        anchor_locations: bool = False,
        stop_gradient: bool = False,
        recon: str = "gaussian",
        schedule: str = "alternate",
        lr: float = 1e-3,
        adam_eps: float = 1e-7,
        manifold: str = "torus",
    ) -> None:
        super().__init__()
        check_choice(equivariance_mode, "equivariance_mode", EQUIVARIANCE_MODES)
        check_choice(equivariance_reduction, "equivariance_reduction", REDUCTIONS)
        check_choice(recon, "recon", ("gaussian", "sse", "bce"))
        check_choice(schedule, "schedule", ("alternate", "joint"))
        check_choice(manifold, "manifold", ("torus", "cylinder"))
        check_positive(lr, "lr")
        check_positive(adam_eps, "adam_eps")
        if isinstance(model, str):
            from ballroom.lsbd.zoo import create

            self.save_hyperparameters()
            net = create(model, **(model_kwargs or {}))
        else:
            self.save_hyperparameters(ignore=["model"])
            net = model
        if not isinstance(net, LSBDAutoencoder):
            raise TypeError(f"model must build an LSBDAutoencoder, got {type(net).__name__}")
        self.net = net
        self.val_recon = torchmetrics.MeanMetric()

    def forward(self, x: Tensor) -> Tensor:
        """Posterior locations ``(B, D)`` of images ``x (B, C, H, W)``."""
        return self.net(x)

    def _supervised(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h = self.hparams
        return self.net.supervised_loss(
            batch["images"],
            batch["angles"],
            dist_weight=h["dist_weight"],
            equivariance_mode=h["equivariance_mode"],
            equivariance_reduction=h["equivariance_reduction"],
            anchor_locations=h["anchor_locations"],
            stop_gradient=h["stop_gradient"],
            recon=h["recon"],
        )

    def _unsupervised(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x = batch["images"]
        return self.net.unsupervised_loss(x.reshape(-1, *x.shape[2:]), recon=self.hparams["recon"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        parts: dict[str, Tensor] = {}
        if "labelled" in batch or "unlabelled" in batch:
            lab, unl = batch.get("labelled"), batch.get("unlabelled")
        elif "angles" in batch:
            lab, unl = batch, None
        else:
            lab, unl = None, batch
        loss = torch.zeros((), device=self.device)
        if lab is not None:
            out = self._supervised(lab)
            parts |= {"train/recon_s": out["recon"], "train/kl_s": out["kl"], "train/equiv_s": out["equiv"]}
            loss = loss + out["loss"]
        if unl is not None:
            out = self._unsupervised(unl)
            parts |= {"train/recon_u": out["recon"], "train/kl_u": out["kl"]}
            loss = loss + out["loss"]
        for key, value in parts.items():
            self.log(key, value.detach(), on_step=False, on_epoch=True)
        self.log("train/loss", loss.detach(), on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        x = batch["images"].flatten(0, 1)
        params = self.net.encode(x)
        z = torch.cat([lat.location(p) for lat, p in zip(self.net.subspaces, params)], dim=-1)
        from ballroom.lsbd.functional import reconstruction_loss

        self.val_recon(reconstruction_loss(x, self.net.decode(z), self.hparams["recon"]))
        self.log("val/recon", self.val_recon)

    @torch.no_grad()
    def grid_codes(self, images: Tensor, factor_shape: Sequence[int], chunk: int = 512) -> Tensor:
        """Locations of the whole grid ``images (N, C, H, W)`` reshaped to ``(*factor_shape, D)``."""
        codes = [self.net(images[i : i + chunk].to(self.device)) for i in range(0, len(images), chunk)]
        return torch.cat(codes).reshape(*factor_shape, -1)

    def on_validation_epoch_end(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        grid = getattr(dm, "grid", None)
        if grid is None or dm is None:  # (no datamodule: no grid)
            return
        codes = self.grid_codes(dm.images, grid.factor_shape)  # every rank: same data, same value
        score, omega = dlsbd(codes, manifold=self.hparams["manifold"])
        self.log("val/dlsbd", score, sync_dist=True)
        for k, w in enumerate(omega[:4]):
            self.log(f"val/omega_{k + 1}", float(w), sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = list(self.parameters())
        return make_adam(params, lr=self.hparams["lr"], eps=self.hparams["adam_eps"])


def fused_adam_supported(params: Sequence[Tensor]) -> bool:
    """Whether ``torch.optim.Adam(params, fused=True)`` runs here: floating parameters on CUDA, or on
    the CPU from torch 2.4 (the first release with the fused CPU kernel)."""
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2] if p.isdigit())
    devices = {"cuda", "cpu"} if version >= (2, 4) else {"cuda"}
    return bool(params) and all(p.device.type in devices and p.is_floating_point() for p in params)


def make_adam(params: Sequence[Tensor], lr: float, eps: float) -> torch.optim.Adam:
    """Adam with the fused kernel where it exists (same update, fewer kernel launches), else the default."""
    return torch.optim.Adam(params, lr=lr, eps=eps, fused=fused_adam_supported(params))
