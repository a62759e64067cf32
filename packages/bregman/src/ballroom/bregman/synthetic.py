"""The two-spiral toy of the official demo, generated from a seed (no Lightning)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["two_spirals"]


def two_spirals(
    n: int = 1000, noise: float = 0.5, turns: float = 1.5, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Two interleaved spiral arms with Gaussian noise: ``(x (n, 2) float32 in [-1.57, 1.57]^2, y (n,) int64)``.

    Arm ``k`` (label ``k``, ``n / 2`` points each) is ``r (cos t, sin t)`` with ``r = t``,
    ``t = sqrt(u) * turns * 2 pi`` (``u`` uniform), the second arm rotated by ``pi``; ``noise`` is the
    standard deviation of the Gaussian added to each coordinate. Coordinates are then divided by
    their largest absolute value and multiplied by 1.57 (inside atan's range ``(-pi/2, pi/2)``).

    Args:
        n: the number of points (even, >= 2).
        noise: the noise standard deviation (before rescaling), >= 0.
        turns: turns of each arm.
        seed: the seed of the ``torch.Generator`` (points, noise and the final shuffle).

    Raises:
        ValueError: an odd ``n`` or ``n < 2``, or ``noise < 0``.
    """
    if n < 2 or n % 2:
        raise ValueError(f"n must be an even number >= 2, got {n}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    gen = torch.Generator().manual_seed(seed)
    half = n // 2
    t = torch.sqrt(torch.rand(half, generator=gen, dtype=torch.float64)) * turns * 2 * math.pi
    arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    x = torch.cat([arm, -arm]) + noise * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    x = 1.57 * x / x.abs().max()
    y = torch.cat([torch.zeros(half, dtype=torch.int64), torch.ones(half, dtype=torch.int64)])
    perm = torch.randperm(n, generator=gen)
    return x[perm].float(), y[perm]
