"""Named configurations of ballroom-lsbd (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Tonnaer, Perez Rey, Menkovski, Holenderski, Portegies: Quantifying and Learning Linear Symmetry-Based Disentanglement, ICML 2022"

ZOO: dict[str, ModelCfg] = {
    "lsbd-tiny": ModelCfg(
        builder="ballroom.lsbd.nn:build_lsbd",
        input="images (B, 1, 16, 16) float in [0, 1] -> latent locations (B, 4) (two circles in R^2); decode() maps back",
        kwargs={"backbone": "mlp", "image_shape": (1, 16, 16), "latents": ("s1", "s1"), "hidden": (64,)},
        paper=_PAPER,
        section="spec: tests",
        notes="a small MLP LSBD-VAE (S1 x S1) on Square-16; trains in seconds, the tests' model",
    ),
    "lsbd-square16": ModelCfg(
        builder="ballroom.lsbd.nn:build_lsbd",
        input="images (B, 1, 16, 16) float in [0, 1] -> latent locations (B, 4) (two circles in R^2); decode() maps back",
        kwargs={"backbone": "mlp", "image_shape": (1, 16, 16), "latents": ("s1", "s1"), "hidden": (256, 256)},
        paper=_PAPER,
        section="spec: Offline reproduction plan",
        notes="256-256 MLP encoder, S1 x S1, 4-256-256-256 decoder: the offline reproduction's model",
    ),
    "lsbd-vae-square16": ModelCfg(
        builder="ballroom.lsbd.nn:build_lsbd",
        input="images (B, 1, 16, 16) float in [0, 1] -> Gaussian latent means (B, 4); decode() maps back",
        kwargs={"backbone": "mlp", "image_shape": (1, 16, 16), "latents": ("r4",), "hidden": (256, 256)},
        paper=_PAPER,
        section="spec: Offline reproduction plan (plain Gaussian VAE, 4-D latent)",
    ),
    "lsbd-dislib-square": ModelCfg(
        builder="ballroom.lsbd.nn:build_lsbd",
        input="images (B, 1, 64, 64) float in [0, 1] -> latent locations (B, 4) (two circles)",
        kwargs={"backbone": "dislib", "image_shape": (1, 64, 64), "latents": ("s1", "s1")},
        paper=_PAPER,
        section="spec: LSBD-VAE architecture (Square)",
    ),
    "lsbd-dislib-arrow": ModelCfg(
        builder="ballroom.lsbd.nn:build_lsbd",
        input="images (B, 3, 64, 64) float in [0, 1] -> latent locations (B, 4) (two circles)",
        kwargs={"backbone": "dislib", "image_shape": (3, 64, 64), "latents": ("s1", "s1")},
        paper=_PAPER,
        section="spec: LSBD-VAE architecture (Arrow, Airplane)",
    ),
    "lsbd-dislib-cylinder": ModelCfg(
        builder="ballroom.lsbd.nn:build_lsbd",
        input="images (B, 3, 64, 64) float in [0, 1] -> latent locations (B, 7) (a circle and R^5)",
        kwargs={"backbone": "dislib", "image_shape": (3, 64, 64), "latents": ("s1", "r5")},
        paper=_PAPER,
        section="spec: LSBD-VAE architecture (COIL-100, ModelNet40: S1 x R5)",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-lsbd model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
