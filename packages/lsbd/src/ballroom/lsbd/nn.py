"""LSBD-VAE as a plain ``nn.Module``: backbone encoder, product of latent subspaces, decoder, losses.

:class:`LSBDAutoencoder` holds the pieces and computes the unsupervised loss (single images) and
the supervised loss (sets of views related by known rotations); :func:`build_lsbd` builds the zoo
configurations. No Lightning here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_tensor
from ballroom.lsbd.functional import random_walk_sample, reconstruction_loss
from ballroom.lsbd.latent import CircleLatent, Latent, make_latent
from ballroom.lsbd.models import DislibDecoder, DislibEncoder, MLPDecoder, MLPEncoder

__all__ = ["LSBDAutoencoder", "build_lsbd", "equivariance_loss", "reanchor"]

EQUIVARIANCE_MODES = ("per_subspace", "official_concat")
REDUCTIONS = ("sum", "mean")


class LSBDAutoencoder(nn.Module):
    """Encoder ``f``, latent subspaces (each with its own heads on ``f(x)``), decoder ``g``.

    ``forward(x (B, ...)) -> (B, D)``: the concatenated posterior locations (what D_LSBD scores).

    Args:
        encoder: ``f``: images ``(B, ...)`` -> features ``(B, F)``.
        decoder: ``g``: codes ``(B, D)`` -> images.
        latents: the subspaces (:class:`~ballroom.lsbd.latent.CircleLatent`,
            :class:`~ballroom.lsbd.latent.GaussianLatent`), in code order; ``D`` is the sum of their
            dimensions.

    Raises:
        ValueError: ``latents`` is empty.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latents: Sequence[Latent]) -> None:
        super().__init__()
        if len(latents) == 0:
            raise ValueError("latents must hold at least one subspace")
        self.encoder = encoder
        self.decoder = decoder
        self.latents = nn.ModuleList(latents)
        self.latent_dim = sum(lat.dim for lat in latents)
        self.n_circles = sum(lat.is_circle for lat in latents)

    @property
    def subspaces(self) -> Sequence[Latent]:
        """The latent subspaces: ``self.latents`` (an ``nn.ModuleList`` of :class:`Latent`) with its item type."""
        return cast("Sequence[Latent]", self.latents)

    def encode(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Posterior parameters of every subspace for images ``x (B, ...)``."""
        h = self.encoder(x)
        return [lat.params(h) for lat in self.subspaces]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([lat.location(p) for lat, p in zip(self.subspaces, self.encode(x))], dim=-1)

    def decode(self, z: Tensor) -> Tensor:
        """``(B, D) -> (B, ...)`` sigmoid images."""
        return self.decoder(z)

    def sample(self, params: Sequence[tuple[Tensor, Tensor]]) -> list[Tensor]:
        """A reparameterised sample of every subspace; the circles' random walks run as one batched
        walk (same draws' distribution as :meth:`CircleLatent.sample`, fewer small kernels)."""
        out: list[Tensor | None] = [None] * len(self.subspaces)
        circles = [i for i, lat in enumerate(self.subspaces) if lat.is_circle]
        steps = {cast(CircleLatent, self.subspaces[i]).steps for i in circles}  # is_circle: a CircleLatent
        if len(circles) > 1 and len(steps) == 1:
            mu = torch.stack([params[i][0] for i in circles], dim=-2)  # (B, C, 2)
            log_t = torch.stack([params[i][1] for i in circles], dim=-2)  # (B, C, 1)
            z = random_walk_sample(mu, log_t, steps.pop())
            for j, i in enumerate(circles):
                out[i] = z[..., j, :]
        for i, lat in enumerate(self.subspaces):
            if out[i] is None:
                out[i] = lat.sample(params[i])
        return cast("list[Tensor]", out)  # every slot is filled by one of the two loops

    def _angle_columns(self, angles: Tensor) -> list[int | None]:
        k = angles.shape[-1]
        if k == len(self.subspaces):
            return [i if lat.is_circle else None for i, lat in enumerate(self.subspaces)]
        if k == self.n_circles:
            cols, i = [], 0
            for lat in self.subspaces:
                cols.append(i if lat.is_circle else None)
                i += int(lat.is_circle)
            return cols
        raise ValueError(
            f"angles must have one column per latent subspace ({len(self.subspaces)}) or per circle "
            f"({self.n_circles}), got {k}"
        )

    def unsupervised_loss(self, x: Tensor, recon: str = "gaussian") -> dict[str, Tensor]:
        """``L_U = mean_batch[recon(x, g(z)) + sum_s KL_s]`` for images ``x (B, ...)``; returns
        ``{"recon", "kl", "loss"}`` (batch means)."""
        params = self.encode(x)
        z = torch.cat(self.sample(params), dim=-1)
        rec = reconstruction_loss(x, self.decode(z), recon).mean()
        kl = torch.stack([lat.kl(p) for lat, p in zip(self.subspaces, params)]).sum(0).mean()
        return {"recon": rec, "kl": kl, "loss": rec + kl}

    def supervised_loss(
        self,
        x: Tensor,
        angles: Tensor,
        dist_weight: float | Sequence[float] = 1.0,
        equivariance_mode: str = "per_subspace",
        equivariance_reduction: str = "sum",
        anchor_locations: bool = False,
        stop_gradient: bool = False,
        recon: str = "gaussian",
    ) -> dict[str, Tensor]:
        """``L_S`` on sets of views ``x (B, M, ...)`` with rotation labels ``angles (B, M, K)`` (radians).

        Every view is encoded and sampled; per circle subspace ``anchor = l2_normalize(sum_m
        R(theta_m)^T z_m)`` and ``zhat_m = R(theta_m) anchor``; per Euclidean subspace ``zhat_m =
        mean_m z_m``. The decoder reconstructs ``x_m`` from the concatenated ``zhat_m``.
        ``L_LSBD = sum_s gamma_s sum_m dist_s(z_m, zhat_m)`` (``equivariance_reduction="mean"``: mean
        over m); ``"official_concat"`` evaluates each subspace's distance on the concatenated codes,
        as the released code does. Returns ``{"recon", "kl", "equiv", "loss"}`` (batch means).
        """
        check_choice(equivariance_mode, "equivariance_mode", EQUIVARIANCE_MODES)
        check_choice(equivariance_reduction, "equivariance_reduction", REDUCTIONS)
        check_tensor(angles, "angles", ndim=3, finite=False)
        if x.ndim < 3 or x.shape[:2] != angles.shape[:2]:
            raise ValueError(
                f"x must be (B, M, ...) with the (B, M) of angles {tuple(angles.shape[:2])}, got {tuple(x.shape)}"
            )
        gammas = _gammas(dist_weight, len(self.subspaces))
        cols = self._angle_columns(angles)
        b, m = x.shape[:2]
        flat = x.reshape(b * m, *x.shape[2:])
        params = self.encode(flat)
        zs, zhats, locs, loc_hats = [], [], [], []
        zero = torch.zeros((b, m), dtype=angles.dtype, device=angles.device)
        samples = self.sample(params)
        for lat, p, col, sample in zip(self.subspaces, params, cols, samples):
            theta = zero if col is None else angles[..., col]
            z = sample.reshape(b, m, lat.dim)
            zs.append(z)
            zhats.append(_reanchor(lat, z, theta))
            if anchor_locations:
                mu = lat.location(p).reshape(b, m, lat.dim)
                locs.append(mu)
                loc_hats.append(_reanchor(lat, mu, theta))
        zhat = torch.cat(zhats, dim=-1)
        x_hat = self.decode(zhat.reshape(b * m, -1))
        rec = reconstruction_loss(flat, x_hat, recon).mean()
        kl = torch.stack([lat.kl(p) for lat, p in zip(self.subspaces, params)]).sum(0).mean()
        a, ahat = (locs, loc_hats) if anchor_locations else (zs, zhats)
        if stop_gradient:
            ahat = [t.detach() for t in ahat]
        equiv = equivariance_loss(
            list(self.subspaces), a, ahat, gammas, equivariance_mode, equivariance_reduction
        ).mean()
        return {"recon": rec, "kl": kl, "equiv": equiv, "loss": rec + kl + equiv}


def equivariance_loss(
    latents: Sequence[Latent],
    z: Sequence[Tensor],
    zhat: Sequence[Tensor],
    gammas: Sequence[float],
    mode: str = "per_subspace",
    reduction: str = "sum",
) -> Tensor:
    """``L_LSBD`` per set: ``(B,)`` from per-subspace codes ``z[s], zhat[s] (B, M, d_s)``.

    ``"per_subspace"``: ``sum_s gamma_s sum_m dist_s(z_m^s, zhat_m^s)``; ``"official_concat"``: the
    released code's ``sum_s gamma_s sum_m dist_s(z_m, zhat_m)`` on the concatenated codes (for two
    circles ``(gamma_1 + gamma_2) sum_m 2 (1 - clip(<z_m, zhat_m>_4D, -1, 1))``). ``reduction="mean"``
    averages over the M views instead of summing.
    """
    check_choice(mode, "equivariance_mode", EQUIVARIANCE_MODES)
    check_choice(reduction, "equivariance_reduction", REDUCTIONS)
    if mode == "per_subspace":
        terms = [g * lat.distance(a, b) for lat, g, a, b in zip(latents, gammas, z, zhat)]
    else:
        z_cat, zh_cat = torch.cat(list(z), -1), torch.cat(list(zhat), -1)
        terms = [g * lat.distance(z_cat, zh_cat) for lat, g in zip(latents, gammas)]
    per_view = torch.stack(terms).sum(0)  # (B, M)
    return per_view.sum(1) if reduction == "sum" else per_view.mean(1)


def reanchor(lat: Latent, z: Tensor, theta: Tensor) -> Tensor:
    """``zhat_m = T(theta_m) average_m(T(theta_m)^-1 z_m)``: ``(B, M, d), (B, M) -> (B, M, d)``.

    For a circle: ``anchor = l2_normalize(sum_m R(theta_m)^T z_m)``, ``zhat_m = R(theta_m) anchor``;
    for a Euclidean subspace ``zhat_m = mean_m z_m``.
    """
    return _reanchor(lat, z, theta)


def _reanchor(lat: Latent, z: Tensor, theta: Tensor) -> Tensor:
    """``zhat_m = T(theta_m) average_m(T(theta_m)^-1 z_m)``: ``(B, M, d), (B, M) -> (B, M, d)``."""
    anchor = lat.average(lat.inverse_transform(z, theta), dim=-2)
    return lat.transform(anchor[:, None, :].expand_as(z), theta)


def _gammas(dist_weight: float | Sequence[float], n: int) -> list[float]:
    if isinstance(dist_weight, int | float):
        return [float(dist_weight)] * n
    values = [float(v) for v in dist_weight]
    if len(values) != n:
        raise ValueError(f"dist_weight must be a number or one weight per subspace ({n}), got {values}")
    return values


def build_lsbd(
    backbone: str = "mlp",
    image_shape: Sequence[int] = (1, 16, 16),
    latents: Sequence[str] = ("s1", "s1"),
    hidden: Sequence[int] = (256, 256),
    log_t_range: Sequence[float] = (-10.0, -5.0),
    steps: int = 10,
) -> LSBDAutoencoder:
    """An :class:`LSBDAutoencoder` (the zoo's builder).

    Args:
        backbone: ``"mlp"`` (``hidden`` widths, the spec's Square-16 model) or ``"dislib"`` (conv).
        image_shape: ``(C, H, W)`` of the images.
        latents: subspaces, ``"s1"`` (circle) or ``"r<d>"`` (Gaussian ``R^d``): torus ``("s1", "s1")``,
            cylinder ``("s1", "r5")``, a plain VAE ``("r4",)``.
        hidden: MLP widths (encoder; the decoder mirrors them and adds one ``hidden[-1]`` layer, as in
            the spec's ``Linear(4,256)-ReLU-Linear(256,256)-ReLU-Linear(256,256)-sigmoid``).
        log_t_range, steps: of every circle subspace.
    """
    check_choice(backbone, "backbone", ("mlp", "dislib"))
    shape = tuple(int(s) for s in image_shape)
    encoder: MLPEncoder | DislibEncoder
    if backbone == "mlp":
        encoder = MLPEncoder(math.prod(shape), hidden)
    else:
        encoder = DislibEncoder(shape)
    features = encoder.features
    subspaces = [make_latent(s, int(features), log_t_range, steps) for s in latents]
    dim = sum(lat.dim for lat in subspaces)
    if backbone == "mlp":
        decoder: nn.Module = MLPDecoder(dim, shape, tuple(reversed(tuple(hidden))))
    else:
        decoder = DislibDecoder(dim, shape)
    return LSBDAutoencoder(encoder, decoder, subspaces)
