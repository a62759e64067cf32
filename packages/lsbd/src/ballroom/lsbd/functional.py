"""Pure functions of LSBD-VAE (torch only): circle geometry, the Delta-VAE KL, losses.

Shapes: a circle code is ``(..., 2)``, an angle ``(...)`` in radians.
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
from torch import Tensor

from ballroom.core.validate import check_choice, check_tensor

__all__ = [
    "circle_kl",
    "gaussian_kl",
    "l2_normalize",
    "random_walk_reference",
    "random_walk_sample",
    "reconstruction_loss",
    "rotate",
]

#: Keras ``l2_normalize`` epsilon (on the squared norm)
L2_EPS = 1e-12


def l2_normalize(x: Tensor, dim: int = -1) -> Tensor:
    """Keras ``l2_normalize``: ``x / sqrt(max(sum x^2, 1e-12))`` along ``dim`` (shape kept)."""
    return x * torch.rsqrt(torch.clamp((x * x).sum(dim, keepdim=True), min=L2_EPS))


def rotate(z: Tensor, angle: Tensor) -> Tensor:
    """``R(angle) z`` with ``R(a) = [[cos a, -sin a], [sin a, cos a]]``: ``(..., 2), (...) -> (..., 2)``."""
    c, s = torch.cos(angle), torch.sin(angle)
    x, y = z[..., 0], z[..., 1]
    return torch.stack([c * x - s * y, s * x + c * y], dim=-1)


def random_walk_sample(mu: Tensor, log_t: Tensor, steps: int = 10, noise: Tensor | None = None) -> Tensor:
    """Reparameterised Brownian motion on the circle (Delta-VAE): ``(..., 2), (..., 1) -> (..., 2)``.

    ``z = mu``; ``steps`` times ``z = l2_normalize(z + exp(log_t / 2) / sqrt(steps) * eps)``,
    ``eps ~ N(0, I_2)``. ``noise (steps, ..., 2)`` replaces the draws (tests). When a gradient is
    needed the walk runs as one autograd node (:class:`_RandomWalk`: the same forward, the backward
    written out) instead of about sixty small ones; :func:`random_walk_reference` is the plain loop.
    """
    if noise is None:
        noise = torch.randn((steps, *mu.shape), dtype=mu.dtype, device=mu.device)
    scale = torch.exp(log_t / 2) / math.sqrt(steps)
    if torch.is_grad_enabled() and (mu.requires_grad or scale.requires_grad):
        return cast(Tensor, _RandomWalk.apply(mu, scale, noise))
    return _walk(mu, scale, noise)[0]


def random_walk_reference(mu: Tensor, log_t: Tensor, steps: int = 10, noise: Tensor | None = None) -> Tensor:
    """:func:`random_walk_sample` as the plain autograd loop of :func:`l2_normalize` steps (the
    reference the fused walk is tested against): ``(..., 2), (..., 1) -> (..., 2)``."""
    if noise is None:
        noise = torch.randn((steps, *mu.shape), dtype=mu.dtype, device=mu.device)
    scale = torch.exp(log_t / 2) / math.sqrt(steps)
    z = mu
    for i in range(steps):
        z = l2_normalize(z + scale * noise[i])
    return z


#: ``sqrt`` of :data:`L2_EPS`: ``sqrt(max(|u|^2, 1e-12)) = max(|u|, 1e-6)``
_NORM_EPS = math.sqrt(L2_EPS)


def _walk(mu: Tensor, scale: Tensor, noise: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """The walk without a graph: the end point, every step's output ``z_i`` and norm
    ``n_i = max(|u_i|, 1e-6)`` (= :func:`l2_normalize`'s ``sqrt(max(|u|^2, 1e-12))``)."""
    kicks = (scale * noise).unbind(0)  # all steps' scale * eps_i in one product
    z, zs, ns = mu, [], []
    for kick in kicks:
        u = z + kick
        n = torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp_min_(_NORM_EPS)
        z = u / n
        zs.append(z)
        ns.append(n)
    return z, zs, ns


class _RandomWalk(torch.autograd.Function):
    """``z_i = u_i / max(|u_i|, 1e-6)``, ``u_i = z_{i-1} + scale * eps_i``: one node, backward by hand.

    For ``|u| > 1e-6``: ``dL/du = (g - z <z, g>) / |u|``; where the clamp is active the norm is a
    constant: ``dL/du = g / 1e-6``. Then ``dL/dz_{i-1} = dL/du_i`` and
    ``dL/dscale = sum_i <dL/du_i, eps_i>``.
    """

    @staticmethod
    def forward(ctx: Any, mu: Tensor, scale: Tensor, noise: Tensor) -> Tensor:
        ctx.scale_shape = scale.shape
        z, zs, ns = _walk(mu, scale, noise)
        ctx.save_for_backward(noise, *zs, *ns)
        ctx.clamped = bool(torch.stack(ns).min() <= _NORM_EPS)  # |u| <= 1e-6 somewhere
        return z

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        noise, *saved = ctx.saved_tensors
        steps = noise.shape[0]
        zs, ns = saved[:steps], saved[steps:]
        g, gs = grad, []
        for i in range(steps - 1, -1, -1):
            z, n = zs[i], ns[i]
            proj = (z * g).sum(-1, keepdim=True)
            if ctx.clamped:  # where the clamp is active the norm is a constant: no projection
                proj = torch.where(n > _NORM_EPS, proj, 0.0)
            g = torch.addcmul(g, z, proj, value=-1.0) / n
            gs.append(g)
        g_scale = (torch.stack(gs[::-1]) * noise).sum((0, -1), keepdim=True)[0]
        return g, _sum_to(g_scale, ctx.scale_shape), None


def _sum_to(t: Tensor, shape: torch.Size) -> Tensor:
    """Sum a broadcast gradient back to ``shape``."""
    return t if t.shape == shape else t.sum_to_size(shape)


def circle_kl(log_t: Tensor, m: int = 1) -> Tensor:
    """Delta-VAE's closed-form KL of the Brownian posterior against the uniform prior on ``S^m``.

    ``-m/2 log_t - m/2 log(2 pi) - m/2 + log(vol) + m(m-1)/4 exp(log_t)`` with ``vol = 2 pi``
    (the code's constant for the circle): ``(B, 1) -> (B,)``.
    """
    kl = -m / 2 * log_t - m / 2 * math.log(2 * math.pi) - m / 2 + math.log(2 * math.pi)
    if m > 1:  # the curvature term m(m-1)/4 exp(log_t) is 0 on the circle: skip its kernels
        kl = kl + m * (m - 1) / 4 * torch.exp(log_t)
    return kl.sum(-1)


def gaussian_kl(mu: Tensor, log_sigma: Tensor) -> Tensor:
    """``KL(N(mu, sigma^2) || N(0, I)) = -1/2 sum(1 + 2 log_sigma - mu^2 - exp(2 log_sigma))``: ``(B, D) -> (B,)``."""
    return -0.5 * (1 + 2 * log_sigma - mu**2 - torch.exp(2 * log_sigma)).sum(-1)


def reconstruction_loss(x: Tensor, x_hat: Tensor, kind: str = "gaussian") -> Tensor:
    """Per-sample reconstruction loss ``(B, ...) -> (B,)``.

    ``"gaussian"`` (official default): Gaussian negative log-likelihood with fixed std ``1/sqrt 2``,
    ``sum_pixels[(x - x_hat)^2 + log(1/sqrt 2) + 0.5 log(2 pi)]``; ``"sse"``: the sum of squared
    errors (the same up to a constant); ``"bce"``: binary cross-entropy summed over pixels.

    Args:
        x: ``(B, ...)`` target images in ``[0, 1]``.
        x_hat: ``(B, ...)`` reconstructions, same shape (in ``[0, 1]`` for ``"bce"``).
        kind: ``"gaussian"``, ``"sse"`` or ``"bce"``.

    Raises:
        ValueError: an unknown ``kind`` or shapes that differ.
    """
    check_choice(kind, "kind", ("gaussian", "sse", "bce"))
    check_tensor(x, "x", min_ndim=1, finite=False)
    if x.shape != x_hat.shape:
        raise ValueError(
            f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}"
        )
    dims = tuple(range(1, x.ndim))
    if kind == "bce":
        return torch.nn.functional.binary_cross_entropy(x_hat, x, reduction="none").sum(dims)
    sq = ((x - x_hat) ** 2).sum(dims)
    if kind == "sse":
        return sq
    n_pix = math.prod(x.shape[1:])
    return sq + n_pix * (math.log(1 / math.sqrt(2)) + 0.5 * math.log(2 * math.pi))
