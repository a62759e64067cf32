"""The groups H of the affine Lie groups G = R^2 x| H: SO(2) (for SE(2)) and SO(2) x R+ (for Sim(2)).

Elements are stored as rows of a float tensor: ``(theta,)`` for SE(2), ``(theta, s)`` for Sim(2)
(rotation-major order: index = j_rot * n_scale + j_scale). Planar coordinates are ``(x, y) =
(column, row)``; ``h = (theta, s)`` acts by ``x -> s R(theta) x`` with ``R = [[cos, -sin], [sin, cos]]``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from ballroom.core.validate import check_int, check_number, check_tensor

__all__ = ["SE2", "Group", "Sampling", "Sim2"]

Sampling = Literal["discretise", "uniform"]
TWO_PI = 2 * math.pi
_SNAP = 1e-5  #: rad; element grids agreeing to this are the same element (float32 rounding)


def _rotate(theta: Tensor, xy: Tensor) -> Tensor:
    """``R(theta) xy`` for ``theta (N,)`` and ``xy (..., 2)`` -> ``(N, ..., 2)``."""
    c, s = torch.cos(theta), torch.sin(theta)
    shape = (-1,) + (1,) * (xy.ndim - 1)
    c, s = c.view(shape), s.view(shape)
    x, y = xy[..., 0], xy[..., 1]
    return torch.stack([c * x - s * y, s * x + c * y], dim=-1)


class SE2:
    """The rotation part SO(2) of SE(2), sampled at ``n_rot`` angles.

    ``sample("discretise")`` gives ``theta_j = 2 pi j / N``; ``sample("uniform")`` adds one random
    offset ``delta ~ U(0, 2 pi (N-1) / N^2)`` to the whole grid (drawn at every call, as the official code).
    """

    dim = 1  #: Lie-algebra coordinates of an offset
    name = "SE2"

    def __init__(self, n_rot: int) -> None:
        self.n_rot = check_int(n_rot, "n_rot", min=1)

    def check_elements(self, elements: object, name: str = "elements") -> Tensor:
        """``elements`` must be a finite float ``(N, dim)`` tensor of this group (``dim`` = 1 for SE(2):
        ``(theta,)``; 2 for Sim(2): ``(theta, s)`` with ``s > 0``). Returns it."""
        check_tensor(elements, name, shape=(None, self.dim))
        assert isinstance(elements, Tensor)
        if self.dim == 2 and not bool((elements[:, 1] > 0).all()):
            raise ValueError(
                f"{name}: Sim(2) scales (column 1) must be > 0, got min {float(elements[:, 1].min()):.4g}"
            )
        return elements

    @property
    def size(self) -> int:
        """Number of sampled elements ``N``."""
        return self.n_rot

    def _angles(self, method: Sampling, generator: torch.Generator | None) -> Tensor:
        theta = torch.arange(self.n_rot, dtype=torch.float64) * (TWO_PI / self.n_rot)
        if method == "uniform":
            high = TWO_PI * (self.n_rot - 1) / self.n_rot**2
            theta = theta + torch.rand((), generator=generator, dtype=torch.float64) * high
        elif method != "discretise":
            raise ValueError(f"sampling must be 'discretise' or 'uniform', got {method!r}")
        return theta

    def sample(self, method: Sampling = "discretise", generator: torch.Generator | None = None) -> Tensor:
        """``(N, 1)`` float32 elements."""
        return self._angles(method, generator).float().unsqueeze(-1)

    def inverse(self, h: Tensor) -> Tensor:
        """``h^-1`` of ``(N, 1)`` elements."""
        return torch.remainder(-h, TWO_PI)

    def product(self, h1: Tensor, h2: Tensor) -> Tensor:
        """``h1 h2`` (broadcasting)."""
        return torch.remainder(h1 + h2, TWO_PI)

    def log_offset(self, h_out: Tensor, h_in: Tensor) -> Tensor:
        """Normalised coordinates of ``h_out^-1 h_in``: ``(N_out, N_in, 1)``, ``((theta_in - theta_out) mod 2 pi) / pi - 1``."""
        diff = torch.remainder(h_in[None, :, 0] - h_out[:, None, 0], TWO_PI)
        # a grid that differs from the other by rounding (h_in a few ulp below h_out) must give the
        # offset 0 (-1 normalised), not 2 pi (+1): snap differences within 1e-5 rad of 2 pi to 0
        diff = torch.where(diff > TWO_PI - _SNAP, diff - TWO_PI, diff)
        return (diff / math.pi - 1.0).unsqueeze(-1)

    def act_r2(self, h: Tensor, xy: Tensor) -> Tensor:
        """``h . xy`` for every element: ``h (N, 1)``, ``xy (..., 2)`` -> ``(N, ..., 2)``."""
        return _rotate(h[:, 0], xy)

    def act_r2_inverse(self, h: Tensor, xy: Tensor) -> Tensor:
        """``h^-1 . xy``: ``(N, ..., 2)``."""
        return _rotate(-h[:, 0], xy)

    def jacobian(self, h: Tensor) -> Tensor:
        """``|det h|`` on R^2: ones ``(N,)``."""
        return torch.ones(h.shape[0], dtype=h.dtype, device=h.device)

    def __repr__(self) -> str:
        return f"SE2(n_rot={self.n_rot})"


class Sim2(SE2):
    """SO(2) x R+ of Sim(2): ``n_rot`` angles times ``n_scale`` scales ``s_j = exp(j log(max_scale) / (n_scale - 1))``.

    Scales are always discretised (``s`` in ``[1, max_scale]``); rotations follow ``sample``'s method.
    """

    dim = 2
    name = "Sim2"

    def __init__(self, n_rot: int, n_scale: int, max_scale: float) -> None:
        super().__init__(n_rot)
        n_scale = check_int(n_scale, "n_scale", min=1)
        max_scale = check_number(max_scale, "max_scale", lo=1.0)
        if n_scale > 1 and max_scale == 1.0:
            raise ValueError(
                f"max_scale must be > 1 with several scales (n_scale={n_scale}), got {max_scale}"
            )
        self.n_scale, self.max_scale = n_scale, max_scale

    @property
    def size(self) -> int:
        return self.n_rot * self.n_scale

    def scales(self) -> Tensor:
        """``(n_scale,)`` float64 scales."""
        if self.n_scale == 1:
            return torch.ones(1, dtype=torch.float64)
        j = torch.arange(self.n_scale, dtype=torch.float64)
        return torch.exp(j * math.log(self.max_scale) / (self.n_scale - 1))

    def sample(self, method: Sampling = "discretise", generator: torch.Generator | None = None) -> Tensor:
        """``(N_rot * N_s, 2)`` float32 elements ``(theta, s)``, rotation-major."""
        theta = self._angles(method, generator)
        s = self.scales()
        grid = torch.stack(torch.meshgrid(theta, s, indexing="ij"), dim=-1).reshape(-1, 2)
        return grid.float()

    def inverse(self, h: Tensor) -> Tensor:
        return torch.stack([torch.remainder(-h[:, 0], TWO_PI), 1.0 / h[:, 1]], dim=-1)

    def product(self, h1: Tensor, h2: Tensor) -> Tensor:
        return torch.stack(
            [torch.remainder(h1[..., 0] + h2[..., 0], TWO_PI), h1[..., 1] * h2[..., 1]], dim=-1
        )

    def log_offset(self, h_out: Tensor, h_in: Tensor) -> Tensor:
        """``(N_out, N_in, 2)``: the rotation offset as in :class:`SE2` and ``log(s_in / s_out)`` (not normalised)."""
        rot = super().log_offset(h_out, h_in)
        scale = torch.log(h_in[None, :, 1] / h_out[:, None, 1]).unsqueeze(-1)
        return torch.cat([rot, scale], dim=-1)

    def act_r2(self, h: Tensor, xy: Tensor) -> Tensor:
        shape = (-1,) + (1,) * xy.ndim
        return _rotate(h[:, 0], xy) * h[:, 1].view(shape)

    def act_r2_inverse(self, h: Tensor, xy: Tensor) -> Tensor:
        shape = (-1,) + (1,) * xy.ndim
        return _rotate(-h[:, 0], xy) / h[:, 1].view(shape)

    def jacobian(self, h: Tensor) -> Tensor:
        """``|det h| = s^2`` on R^2, ``(N,)``."""
        return h[:, 1] ** 2

    def __repr__(self) -> str:
        return f"Sim2(n_rot={self.n_rot}, n_scale={self.n_scale}, max_scale={self.max_scale})"


Group = SE2 | Sim2
