"""The continuous kernel: a SIREN from group/tap coordinates to kernel values."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import cast

import torch
from torch import Tensor, nn

__all__ = ["SIRENKernel"]


class SIRENKernel(nn.Module):
    """A SIREN ``(..., in_features) -> (..., out_features)``: ``sin(w0 (W x + b))`` layers, linear read-out.

    Initialisation as the official code: first layer ``W ~ U(-1/d_in, 1/d_in)`` (PyTorch's default
    bias), hidden ``W ~ U(+-sqrt(6/hidden)/omega0)`` with zero bias, last ``W ~ U(+-sqrt(6/hidden)/sqrt(fan_in))``
    with zero bias (``fan_in``: the fan-in of the convolution the kernel parametrises).

    Args:
        in_features: coordinates per input point (``>= 1``; 2 for planar taps, ``2 + d`` with a group offset).
        out_features: kernel values per point (``>= 1``; e.g. ``C_out C_in``).
        hidden: width of every hidden layer (``>= 1``); default 64.
        num_hidden: number of ``hidden -> hidden`` sine layers after the first (``>= 0``); default 1.
        omega0_first: frequency ``w0`` of the first sine layer (the official ``first_omega_0``); default 10.
        omega0: frequency ``w0`` of the hidden sine layers, also in their init bound; default 10.
        fan_in: fan-in of the convolution the kernel parametrises (``>= 1``), scales the read-out init;
            default 1.

    Raises:
        ValueError: if ``in_features``, ``out_features``, ``hidden`` or ``fan_in`` is below 1, or
            ``num_hidden`` below 0.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0_first: float = 10.0,
        omega0: float = 10.0,
        fan_in: int = 1,
    ) -> None:
        super().__init__()
        if min(in_features, out_features, hidden, fan_in) < 1 or num_hidden < 0:
            raise ValueError("in_features, out_features, hidden and fan_in must be >= 1, num_hidden >= 0")
        self.omega0_first, self.omega0 = omega0_first, omega0
        self.first = nn.Linear(in_features, hidden)
        nn.init.uniform_(self.first.weight, -1.0 / in_features, 1.0 / in_features)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(num_hidden))
        bound = math.sqrt(6.0 / hidden) / omega0
        for layer in cast("Iterable[nn.Linear]", self.hidden):  # the ModuleList of Linear layers above
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.zeros_(layer.bias)
        self.last = nn.Linear(hidden, out_features)
        nn.init.uniform_(
            self.last.weight,
            -math.sqrt(6.0 / hidden) / math.sqrt(fan_in),
            math.sqrt(6.0 / hidden) / math.sqrt(fan_in),
        )
        nn.init.zeros_(self.last.bias)

    def forward(self, coords: Tensor) -> Tensor:
        h = torch.sin(self.omega0_first * self.first(coords))
        for layer in self.hidden:
            h = torch.sin(self.omega0 * layer(h))
        return self.last(h)
