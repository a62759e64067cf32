"""Latent subspaces of LSBD-VAE: a circle ``S^1`` (Delta-VAE head) and a Euclidean ``R^d`` (Gaussian head).

Each subspace maps backbone features ``h (B, F)`` to posterior parameters (:meth:`params`), draws
reparameterised samples (:meth:`sample`), gives the KL to its prior (:meth:`kl`) and carries the
group action used by the supervised loss: :meth:`transform` (``SO(2)`` rotates a circle, acts
trivially on ``R^d``), :meth:`inverse_transform`, :meth:`average` (the anchor of a set of
un-rotated codes) and :meth:`distance`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ballroom.core.validate import check_int, check_number
from ballroom.lsbd.functional import (
    circle_kl,
    gaussian_kl,
    l2_normalize,
    random_walk_sample,
    rotate,
)

__all__ = ["CircleLatent", "GaussianLatent", "Latent", "make_latent"]

Params = tuple[Tensor, Tensor]


class Latent(nn.Module, ABC):
    """Base class: ``dim`` numbers per code; ``is_circle`` says whether ``SO(2)`` acts on it."""

    dim: int
    is_circle: bool

    @abstractmethod
    def params(self, h: Tensor) -> Params:
        """Posterior parameters of the encoder features ``h (B, features)``."""

    def location(self, params: Params) -> Tensor:
        """The posterior location ``mu (B, dim)`` (what the metric encodes)."""
        return params[0]

    if TYPE_CHECKING:  # the interface every subspace implements (CircleLatent, GaussianLatent); types only

        def sample(self, params: Params) -> Tensor: ...
        def kl(self, params: Params) -> Tensor: ...
        def transform(self, z: Tensor, angle: Tensor) -> Tensor: ...
        def inverse_transform(self, z: Tensor, angle: Tensor) -> Tensor: ...
        def average(self, z: Tensor, dim: int = -2) -> Tensor: ...
        def distance(self, z1: Tensor, z2: Tensor) -> Tensor: ...


class CircleLatent(Latent):
    """``S^1`` subspace (Delta-VAE): location on the unit circle, Brownian-motion posterior.

    ``mu = l2_normalize(Linear(F, 2)(h))``; ``log_t = a * tanh(Linear(F, 1)(h)) + c`` with
    ``a = (hi - lo)/2``, ``c = (hi + lo)/2`` and that Linear's weight zero-initialised; its bias is
    ``log_t_bias`` (0, the spec, so ``log_t = (lo + hi)/2`` at initialisation; 1.0 is the released
    code's ``bias_initializer=ones``: ``log_t = a tanh(1) + c``, -5.60 for ``(-10, -5)``). Default
    ``log_t_range = (-10, -5)`` (the experiment script; the official class default is ``(-10, -6)``).

    Args:
        in_features: the encoder feature size ``F``.
        log_t_range: ``(lo, hi)`` of the posterior's log diffusion time, ``lo < hi``.
        steps: random-walk steps of the reparameterised sample.
        log_t_bias: the initial bias of the ``log_t`` Linear (0: the spec; 1: the official code).

    Raises:
        ValueError: ``in_features < 1``, ``hi <= lo``, ``steps < 1`` or a non-finite ``log_t_bias``.
    """

    is_circle = True

    def __init__(
        self,
        in_features: int,
        log_t_range: Sequence[float] = (-10.0, -5.0),
        steps: int = 10,
        log_t_bias: float = 0.0,
    ) -> None:
        super().__init__()
        check_int(in_features, "in_features", min=1)
        self.log_t_bias = check_number(log_t_bias, "log_t_bias")
        lo, hi = (float(v) for v in log_t_range)
        check_number(hi, "log_t_range[1]", lo=lo, lo_open=True)
        self.steps = check_int(steps, "steps", min=1)
        self.dim = 2
        self.log_t_range = (lo, hi)
        self.loc = nn.Linear(in_features, 2)
        self.log_t = nn.Linear(in_features, 1)
        nn.init.zeros_(self.log_t.weight)
        nn.init.constant_(self.log_t.bias, self.log_t_bias)

    def params(self, h: Tensor) -> Params:
        """``h (B, F) -> (mu (B, 2), log_t (B, 1))``."""
        lo, hi = self.log_t_range
        mu = l2_normalize(self.loc(h))
        log_t = (hi - lo) / 2 * torch.tanh(self.log_t(h)) + (hi + lo) / 2
        return mu, log_t

    def sample(self, params: Params) -> Tensor:
        """A random-walk sample on the circle, ``(B, 2)``, unit norm."""
        return random_walk_sample(params[0], params[1], self.steps)

    def kl(self, params: Params) -> Tensor:
        """KL to the uniform distribution on the circle, ``(B,)``."""
        return circle_kl(params[1], m=1)

    def transform(self, z: Tensor, angle: Tensor) -> Tensor:
        """``R(angle) z``: ``(..., 2), (...) -> (..., 2)``."""
        return rotate(z, angle)

    def inverse_transform(self, z: Tensor, angle: Tensor) -> Tensor:
        """``R(-angle) z``: ``(..., 2), (...) -> (..., 2)``."""
        return rotate(z, -angle)

    def average(self, z: Tensor, dim: int = -2) -> Tensor:
        """Projected mean ``l2_normalize(sum z)`` over ``dim`` (e.g. ``(B, M, 2) -> (B, 2)``)."""
        return l2_normalize(z.sum(dim))

    def distance(self, z1: Tensor, z2: Tensor) -> Tensor:
        """``||z1 - z2||^2 = 2 (1 - clip(<z1, z2>, -1, 1))`` for unit vectors: ``(..., 2) -> (...)``."""
        return 2 * (1 - torch.clamp((z1 * z2).sum(-1), -1.0, 1.0))

    def extra_repr(self) -> str:
        return f"log_t_range={self.log_t_range}, steps={self.steps}"


class GaussianLatent(Latent):
    """``R^dim`` subspace with a diagonal Gaussian posterior; the group acts trivially on it.

    ``mu = Linear(F, dim)(h)``, ``log_sigma = Linear(F, dim)(h)`` (zero weight and bias).

    Args:
        in_features: the encoder feature size ``F``.
        dim: the subspace dimension.

    Raises:
        ValueError: ``in_features < 1`` or ``dim < 1``.
    """

    is_circle = False

    def __init__(self, in_features: int, dim: int) -> None:
        super().__init__()
        check_int(in_features, "in_features", min=1)
        self.dim = check_int(dim, "dim", min=1)
        self.loc = nn.Linear(in_features, dim)
        self.log_sigma = nn.Linear(in_features, dim)
        nn.init.zeros_(self.log_sigma.weight)
        nn.init.zeros_(self.log_sigma.bias)

    def params(self, h: Tensor) -> Params:
        """``h (B, F) -> (mu (B, dim), log_sigma (B, dim))``."""
        return self.loc(h), self.log_sigma(h)

    def sample(self, params: Params) -> Tensor:
        """``mu + exp(log_sigma) * eps``, ``(B, dim)``."""
        mu, log_sigma = params
        return mu + torch.exp(log_sigma) * torch.randn_like(mu)

    def kl(self, params: Params) -> Tensor:
        """KL to ``N(0, I)``, ``(B,)``."""
        return gaussian_kl(*params)

    def transform(self, z: Tensor, angle: Tensor) -> Tensor:
        """Trivial action: ``z`` unchanged."""
        return z

    def inverse_transform(self, z: Tensor, angle: Tensor) -> Tensor:
        """Trivial action: ``z`` unchanged."""
        return z

    def average(self, z: Tensor, dim: int = -2) -> Tensor:
        """Arithmetic mean over ``dim``."""
        return z.mean(dim)

    def distance(self, z1: Tensor, z2: Tensor) -> Tensor:
        """Euclidean distance ``||z1 - z2||_2`` (not squared), ``(..., D) -> (...)``."""
        return torch.linalg.vector_norm(z1 - z2, dim=-1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def make_latent(
    spec: str,
    in_features: int,
    log_t_range: Sequence[float] = (-10.0, -5.0),
    steps: int = 10,
    log_t_bias: float = 0.0,
) -> Latent:
    """``"s1"`` -> :class:`CircleLatent`; ``"r<d>"`` (e.g. ``"r5"``) -> :class:`GaussianLatent` of dim d."""
    if spec == "s1":
        return CircleLatent(in_features, log_t_range, steps, log_t_bias)
    if isinstance(spec, str) and spec.startswith("r") and spec[1:].isdigit() and int(spec[1:]) >= 1:
        return GaussianLatent(in_features, int(spec[1:]))
    raise ValueError(f"latents entries must be 's1' or 'r<d>' (e.g. 'r5'), got {spec!r}")
