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
from ballroom.lsbd.functional import L2_EPS, circle_kl, l2_normalize, random_walk_sample, reconstruction_loss
from ballroom.lsbd.latent import CircleLatent, Latent, Params, make_latent
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
        self._circles = [i for i, lat in enumerate(latents) if lat.is_circle]

    @property
    def subspaces(self) -> Sequence[Latent]:
        """The latent subspaces: ``self.latents`` (an ``nn.ModuleList`` of :class:`Latent`) with its item type."""
        return cast("Sequence[Latent]", self.latents)

    def _circle_latents(self) -> list[CircleLatent]:
        return [cast(CircleLatent, self.subspaces[i]) for i in self._circles]  # is_circle: a CircleLatent

    def _heads(self, h: Tensor) -> tuple[Tensor | None, Tensor | None, list[Params | None]]:
        """All heads on the features ``h (B, F)``: the circles' ``mu (B, C, 2)`` and ``log_t (B, C, 1)``
        in one matrix product (their ``loc`` and ``log_t`` Linears stacked: the same numbers as
        :meth:`CircleLatent.params` per circle), and the other subspaces' params (``None`` for circles)."""
        others: list[Params | None] = [None if lat.is_circle else lat.params(h) for lat in self.subspaces]
        circles = self._circle_latents()
        if not circles:
            return None, None, others
        c = len(circles)
        heads: list[nn.Linear] = [lat.loc for lat in circles] + [lat.log_t for lat in circles]
        weight = torch.cat([lin.weight for lin in heads])
        bias = torch.cat([lin.bias for lin in heads])
        out = nn.functional.linear(h, weight, bias)  # (B, 3C)
        mu = l2_normalize(out[..., : 2 * c].reshape(*out.shape[:-1], c, 2))
        raw = torch.tanh(out[..., 2 * c :]).unsqueeze(-1)  # (B, C, 1)
        ranges = {lat.log_t_range for lat in circles}
        if len(ranges) == 1:
            lo, hi = ranges.pop()
            log_t = (hi - lo) / 2 * raw + (hi + lo) / 2
        else:
            lo_hi = torch.tensor([lat.log_t_range for lat in circles], dtype=raw.dtype, device=raw.device)
            log_t = ((lo_hi[:, 1] - lo_hi[:, 0]) / 2)[:, None] * raw + ((lo_hi[:, 1] + lo_hi[:, 0]) / 2)[
                :, None
            ]
        return mu, log_t, others

    def encode(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Posterior parameters of every subspace for images ``x (B, ...)``."""
        mu, log_t, others = self._heads(self.encoder(x))
        out = list(others)
        for j, i in enumerate(self._circles):
            out[i] = (mu[..., j, :], log_t[..., j, :])  # type: ignore[index]  # set when there are circles
        return cast("list[tuple[Tensor, Tensor]]", out)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([lat.location(p) for lat, p in zip(self.subspaces, self.encode(x))], dim=-1)

    def decode(self, z: Tensor) -> Tensor:
        """``(B, D) -> (B, ...)`` sigmoid images."""
        return self.decoder(z)

    def _walk(self, mu: Tensor, log_t: Tensor) -> Tensor:
        """The circles' samples ``(B, C, 2)``: one batched walk when their ``steps`` agree."""
        circles = self._circle_latents()
        steps = {lat.steps for lat in circles}
        if len(steps) == 1:
            return random_walk_sample(mu, log_t, steps.pop())
        return torch.stack(
            [lat.sample((mu[..., j, :], log_t[..., j, :])) for j, lat in enumerate(circles)], -2
        )

    def _concat(self, circ: Tensor | None, others: Sequence[Tensor | None]) -> Tensor:
        """Concatenate per-subspace codes in subspace order from the stacked circles ``(..., C, 2)``
        and the other subspaces' codes (``None`` at the circles' slots)."""
        if circ is not None and len(self._circles) == len(self.subspaces):
            return circ.flatten(-2)
        return torch.cat(self._split(circ, others), dim=-1)

    def _split(self, circ: Tensor | None, others: Sequence[Tensor | None]) -> list[Tensor]:
        """Per-subspace codes in subspace order from the stacked circles and the others."""
        parts = list(others)
        for j, i in enumerate(self._circles):
            parts[i] = circ[..., j, :]  # type: ignore[index]  # set when there are circles
        return cast("list[Tensor]", parts)

    def sample(self, params: Sequence[tuple[Tensor, Tensor]]) -> list[Tensor]:
        """A reparameterised sample of every subspace; the circles' random walks run as one batched
        walk (same draws' distribution as :meth:`CircleLatent.sample`, fewer small kernels)."""
        out: list[Tensor | None] = [None] * len(self.subspaces)
        if self._circles:
            mu = torch.stack([params[i][0] for i in self._circles], dim=-2)  # (B, C, 2)
            log_t = torch.stack([params[i][1] for i in self._circles], dim=-2)  # (B, C, 1)
            z = self._walk(mu, log_t)
            for j, i in enumerate(self._circles):
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

    def _posterior(
        self, x: Tensor
    ) -> tuple[Tensor | None, Tensor | None, list[Params | None], list[Tensor | None], Tensor]:
        """``(mu (B, C, 2), z (B, C, 2))`` of the stacked circles, the other subspaces' params and
        samples (``None`` at the circles' slots) and the summed KL ``(B,)``."""
        mu, log_t, others = self._heads(self.encoder(x))
        zc = self._walk(mu, log_t) if mu is not None and log_t is not None else None
        samples: list[Tensor | None] = [
            None if p is None else lat.sample(p) for lat, p in zip(self.subspaces, others)
        ]
        kls = [lat.kl(p) for lat, p in zip(self.subspaces, others) if p is not None]
        if log_t is not None:
            kls.append(circle_kl(log_t, m=1).sum(-1))  # (B, C, 1) -> (B, C) -> (B,)
        kl = kls[0] if len(kls) == 1 else torch.stack(kls).sum(0)
        return mu, zc, others, samples, kl

    def unsupervised_loss(self, x: Tensor, recon: str = "gaussian") -> dict[str, Tensor]:
        """``L_U = mean_batch[recon(x, g(z)) + sum_s KL_s]`` for images ``x (B, ...)``; returns
        ``{"recon", "kl", "loss"}`` (batch means)."""
        _, zc, _, samples, kl = self._posterior(x)
        rec = reconstruction_loss(x, self.decode(self._concat(zc, samples)), recon).mean()
        kl = kl.mean()
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

        The B x M views go through the encoder and the decoder as one batch each, and all circles
        are handled as one stacked ``(B, M, C, 2)`` tensor (one batched walk, one re-anchoring, the
        rotation as one complex factor ``e^{i theta}`` for both directions); :func:`reanchor` and
        :func:`equivariance_loss` are the per-subspace forms of the same equations.
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
        mu, zc, others, samples, kl = self._posterior(flat)
        z_o = [None if z is None else z.reshape(b, m, -1) for z in samples]  # Euclidean codes (B, M, d)
        zh_o = [None if z is None else z.mean(1, keepdim=True).expand_as(z) for z in z_o]
        zc_s = zh_c = rot = None
        if zc is not None and mu is not None:
            ccols = [cols[i] for i in self._circles]
            theta = angles if ccols == list(range(angles.shape[-1])) else angles[..., ccols]  # (B, M, C)
            # e^{i theta} (B, M, C): R(theta) as a complex factor
            rot = torch.polar(torch.ones_like(theta), theta)
            zc_s = zc.reshape(b, m, *zc.shape[1:])
            zh_c = _reanchor_circles(zc_s, rot)
        x_hat = self.decode(self._concat(zh_c, zh_o).reshape(b * m, -1))
        rec = reconstruction_loss(flat, x_hat, recon).mean()
        if anchor_locations:  # the LSBD term on the locations and their own anchor
            a_c = None if mu is None else mu.reshape(b, m, *mu.shape[1:])
            ah_c = None if a_c is None else _reanchor_circles(a_c, cast(Tensor, rot))
            a_o = [None if p is None else p[0].reshape(b, m, -1) for p in others]
            ah_o = [None if t is None else t.mean(1, keepdim=True).expand_as(t) for t in a_o]
        else:
            a_c, ah_c, a_o, ah_o = zc_s, zh_c, z_o, zh_o
        if stop_gradient:
            ah_c = None if ah_c is None else ah_c.detach()
            ah_o = [None if t is None else t.detach() for t in ah_o]
        if equivariance_mode == "per_subspace":
            per_view = _per_subspace_equivariance(self, a_c, ah_c, a_o, ah_o, gammas)  # (B, M)
            equiv = (per_view.sum(1) if equivariance_reduction == "sum" else per_view.mean(1)).mean()
        else:
            split = [self._split(a_c, a_o), self._split(ah_c, ah_o)]
            equiv = equivariance_loss(
                list(self.subspaces), split[0], split[1], gammas, equivariance_mode, equivariance_reduction
            ).mean()
        kl = kl.mean()
        return {"recon": rec, "kl": kl, "equiv": equiv, "loss": rec + kl + equiv}


def _reanchor_circles(z: Tensor, rot: Tensor) -> Tensor:
    """All circles at once: ``z (B, M, C, 2)`` and ``rot = e^{i theta} (B, M, C)`` ->
    ``zhat_m = R(theta_m) l2_normalize(sum_m R(theta_m)^T z_m)``, ``(B, M, C, 2)``; a point
    ``(x, y)`` of R^2 is the complex number ``x + i y``, so ``R(theta) z = e^{i theta} z``."""
    if z.dtype not in (torch.float32, torch.float64):  # no complex half types: compute in float32
        return _reanchor_circles(z.float(), rot.to(torch.complex64)).to(z.dtype)
    zc = torch.view_as_complex(z.contiguous())
    rot = rot.to(zc.dtype)
    total = (zc * rot.conj()).sum(1, keepdim=True)  # sum_m R(theta_m)^T z_m, (B, 1, C)
    anchor = total / total.abs().clamp_min(math.sqrt(L2_EPS))  # l2_normalize: / sqrt(max(|.|^2, 1e-12))
    return torch.view_as_real(anchor * rot)


def _per_subspace_equivariance(
    net: LSBDAutoencoder,
    z_c: Tensor | None,
    zh_c: Tensor | None,
    z_o: Sequence[Tensor | None],
    zh_o: Sequence[Tensor | None],
    gammas: Sequence[float],
) -> Tensor:
    """``sum_s gamma_s dist_s(z_m, zhat_m)`` per view ``(B, M)``: the circles' squared chord
    ``2 (1 - clip(<z, zhat>, -1, 1))`` on the stacked ``(B, M, C, 2)`` codes, plus the other
    subspaces' :meth:`Latent.distance`."""
    total: Tensor | None = None
    if z_c is not None and zh_c is not None:
        dist = 2 * (1 - torch.clamp((z_c * zh_c).sum(-1), -1.0, 1.0))  # (B, M, C)
        g = [gammas[i] for i in net._circles]
        total = dist.sum(-1) * g[0] if len(set(g)) == 1 else (dist * dist.new_tensor(g)).sum(-1)
    for lat, gamma, a, ah in zip(net.subspaces, gammas, z_o, zh_o):
        if a is not None and ah is not None:
            term = gamma * lat.distance(a, ah)
            total = term if total is None else total + term
    return cast(Tensor, total)  # at least one subspace


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
    log_t_bias: float = 0.0,
    decoder_output: str = "sigmoid",
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
        log_t_bias: the initial bias of every circle's ``log_t`` head (0: the spec; 1.0: the released
            code's ``bias_initializer=ones``).
        decoder_output: the dislib decoder's last activation, ``"sigmoid"`` (the spec) or ``"linear"``
            (the released ``architectures.py``: no activation, for its checkpoints); MLP: sigmoid only.
    """
    check_choice(backbone, "backbone", ("mlp", "dislib"))
    shape = tuple(int(s) for s in image_shape)
    encoder: MLPEncoder | DislibEncoder
    if backbone == "mlp":
        encoder = MLPEncoder(math.prod(shape), hidden)
    else:
        encoder = DislibEncoder(shape)
    features = encoder.features
    check_choice(decoder_output, "decoder_output", ("sigmoid", "linear"))
    if backbone == "mlp" and decoder_output != "sigmoid":
        raise ValueError("decoder_output='linear' is only available for backbone='dislib'")
    subspaces = [make_latent(s, int(features), log_t_range, steps, log_t_bias) for s in latents]
    dim = sum(lat.dim for lat in subspaces)
    if backbone == "mlp":
        decoder: nn.Module = MLPDecoder(dim, shape, tuple(reversed(tuple(hidden))))
    else:
        decoder = DislibDecoder(dim, shape, output=decoder_output)
    return LSBDAutoencoder(encoder, decoder, subspaces)
