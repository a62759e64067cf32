"""Activations as Legendre pairs: ``sigma``, its exact inverse ``sigma^{-1} = psi'``, the open range, ``psi``.

A Bregman layer needs ``sigma^{-1}`` on the range of ``sigma``; every activation here is a
separable Legendre pair, so ``sigma = (psi*)'`` and ``sigma^{-1} = psi'``. All functions are
elementwise and work on tensors of any shape, in the tensor's dtype.

Names (spec table): ``sigmoid``, ``tanh``, ``scaled_tanh``, ``isru``, ``atan``, ``sin``, ``asinh``,
``softplus`` (beta = 1000, the official default), ``softplus<beta>`` (e.g. ``softplus10``),
``relu`` (the smoothed ReLU: the bent identity ``(z + sqrt(z^2 + 1)) / 2``), ``identity``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.core.validate import check_choice, check_tensor

__all__ = ["ACTIVATIONS", "Activation", "bregman_divergence", "get_activation"]

Fn = Callable[[Tensor], Tensor]

SCALED_TANH_A = 1.7159
SCALED_TANH_B = 0.6666
#: beta of ``"softplus"`` without a number (the official code's sharp ReLU surrogate)
SOFTPLUS_DEFAULT_BETA = 1000.0


@dataclass(frozen=True)
class Activation:
    """A Legendre pair ``(sigma, sigma^{-1})`` on the open range ``(lo, hi)`` (infinite ends allowed).

    Attributes:
        name: the name it was built from.
        sigma: the activation, ``R -> (lo, hi)``, elementwise.
        inverse: its exact inverse ``(lo, hi) -> R`` (= ``psi'``), elementwise, numerically stable.
        lo, hi: the open range of ``sigma``.
        psi: the Legendre potential (per coordinate), for tests and :func:`bregman_divergence`.
        official_inverse: the offset the official ``bregmanet`` code uses (differs for sigmoid, relu).
        plain: the activation the official code applies in ``standard``/``euclidean`` nets (ReLU for relu).
    """

    name: str
    sigma: Fn
    inverse: Fn
    lo: float
    hi: float
    psi: Fn | None = None
    official_inverse: Fn | None = None
    plain: Fn | None = None

    def clamp(self, y: Tensor, eps: float = 1e-5) -> Tensor:
        """``y`` clamped to ``[lo + eps, hi - eps]`` (infinite ends left open); the domain guard of ``inverse``."""
        lo = self.lo + eps if math.isfinite(self.lo) else None
        hi = self.hi - eps if math.isfinite(self.hi) else None
        if lo is None and hi is None:
            return y
        return torch.clamp(y, lo, hi)

    def offset(self, kind: str = "exact") -> Fn:
        """``sigma^{-1}`` (``kind="exact"``) or the official code's offset (``kind="official"``)."""
        check_choice(kind, "offset", ("exact", "official"))
        if kind == "official" and self.official_inverse is not None:
            return self.official_inverse
        return self.inverse

    @property
    def bounded(self) -> bool:
        """Whether both ends of the range are finite."""
        return math.isfinite(self.lo) and math.isfinite(self.hi)


# ---------------------------------------------------------------- the elementwise functions


def _sigmoid_psi(y: Tensor) -> Tensor:
    return torch.xlogy(y, y) + torch.xlogy(1 - y, 1 - y)


def _sigmoid_official(y: Tensor) -> Tensor:
    return torch.log(y / (1 + y))


def _tanh_psi(y: Tensor) -> Tensor:
    return 0.5 * (torch.xlogy(1 + y, 1 + y) + torch.xlogy(1 - y, 1 - y))


def _scaled_tanh(z: Tensor) -> Tensor:
    return SCALED_TANH_A * torch.tanh(SCALED_TANH_B * z)


def _scaled_tanh_inv(y: Tensor) -> Tensor:
    return torch.atanh(y / SCALED_TANH_A) / SCALED_TANH_B


def _scaled_tanh_psi(y: Tensor) -> Tensor:
    return (SCALED_TANH_A / SCALED_TANH_B) * _tanh_psi(y / SCALED_TANH_A)


def _isru(z: Tensor) -> Tensor:
    return z * torch.rsqrt(1 + z * z)


def _isru_inv(y: Tensor) -> Tensor:
    return y * torch.rsqrt((1 - y) * (1 + y))


def _isru_psi(y: Tensor) -> Tensor:
    return -torch.sqrt((1 - y) * (1 + y))


def _atan_psi(y: Tensor) -> Tensor:
    return -torch.log(torch.cos(y))


def _sin(z: Tensor) -> Tensor:
    # sin is invertible on [-pi/2, pi/2] only; clamping there makes sin(clamp(z)) the exact argmin of
    # psi(x) - <z, x> over the closed range [-1, 1] (the constrained minimiser sits on the boundary)
    return torch.sin(torch.clamp(z, -math.pi / 2, math.pi / 2))


def _sin_psi(y: Tensor) -> Tensor:
    return y * torch.asin(y) + torch.sqrt((1 - y) * (1 + y))


def _softplus(z: Tensor, beta: float) -> Tensor:
    return -F.logsigmoid(-beta * z) / beta


def _softplus_inv(y: Tensor, beta: float) -> Tensor:
    return y + torch.log(-torch.expm1(-beta * y)) / beta


def _softplus_official_inv(y: Tensor, beta: float) -> Tensor:
    small = beta * y < math.exp(-5)
    return torch.where(small, torch.log(beta * y) / beta + y, y + torch.log(-torch.expm1(-beta * y)) / beta)


def _softplus_psi(y: Tensor, beta: float) -> Tensor:
    from scipy.special import spence  # Li2(w) = spence(1 - w)

    w = torch.exp(-beta * y.detach()).cpu().double().numpy()
    li2 = torch.as_tensor(spence(1.0 - w), dtype=y.dtype, device=y.device)
    return 0.5 * y * y + li2 / (beta * beta)


def _bent(z: Tensor) -> Tensor:
    # (z + sqrt(z^2 + 1)) / 2, written as 1 / (2 (sqrt(z^2 + 1) - z)) for z < 0 (no cancellation)
    root = torch.sqrt(z * z + 1)
    return torch.where(z >= 0, 0.5 * (z + root), 0.5 / (root - z))


def _bent_inv(y: Tensor) -> Tensor:
    return y - 0.25 / y


def _bent_official_inv(y: Tensor) -> Tensor:
    return y + 1 / y


def _bent_psi(y: Tensor) -> Tensor:
    return 0.5 * y * y - 0.25 * torch.log(y)


def _identity(z: Tensor) -> Tensor:
    return z


def _half_square(y: Tensor) -> Tensor:
    return 0.5 * y * y


def _softplus_activation(name: str, beta: float) -> Activation:
    return Activation(
        name,
        partial(_softplus, beta=beta),
        partial(_softplus_inv, beta=beta),
        0.0,
        math.inf,
        partial(_softplus_psi, beta=beta),
        partial(_softplus_official_inv, beta=beta),
    )


_TABLE: dict[str, Callable[[], Activation]] = {
    "sigmoid": lambda: Activation(
        "sigmoid", torch.sigmoid, torch.logit, 0.0, 1.0, _sigmoid_psi, _sigmoid_official
    ),
    "tanh": lambda: Activation("tanh", torch.tanh, torch.atanh, -1.0, 1.0, _tanh_psi),
    "scaled_tanh": lambda: Activation(
        "scaled_tanh", _scaled_tanh, _scaled_tanh_inv, -SCALED_TANH_A, SCALED_TANH_A, _scaled_tanh_psi
    ),
    "isru": lambda: Activation("isru", _isru, _isru_inv, -1.0, 1.0, _isru_psi),
    "atan": lambda: Activation("atan", torch.atan, torch.tan, -math.pi / 2, math.pi / 2, _atan_psi),
    "sin": lambda: Activation("sin", _sin, torch.asin, -1.0, 1.0, _sin_psi),
    "asinh": lambda: Activation("asinh", torch.asinh, torch.sinh, -math.inf, math.inf, torch.cosh),
    "relu": lambda: Activation(
        "relu", _bent, _bent_inv, 0.0, math.inf, _bent_psi, _bent_official_inv, torch.relu
    ),
    "identity": lambda: Activation("identity", _identity, _identity, -math.inf, math.inf, _half_square),
}
#: every name :func:`get_activation` accepts (plus ``softplus<beta>``)
ACTIVATIONS: tuple[str, ...] = (*_TABLE, "softplus")
_SOFTPLUS = re.compile(r"softplus(\d+(?:\.\d*)?)?")


def get_activation(name: str | Activation) -> Activation:
    """The :class:`Activation` called ``name`` (an :class:`Activation` is returned as it is).

    ``"softplus"`` has beta = 1000 (official default), ``"softplus10"`` beta = 10; ``"bent_identity"``
    is an alias of ``"relu"``.
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name (str) or an Activation, got {type(name).__name__}")
    key = name.lower().strip()
    key = "relu" if key == "bent_identity" else key
    if key in _TABLE:
        return _TABLE[key]()
    match = _SOFTPLUS.fullmatch(key)
    if match:
        beta = float(match.group(1)) if match.group(1) else SOFTPLUS_DEFAULT_BETA
        if not beta > 0:
            raise ValueError(f"activation: softplus beta must be > 0, got {name!r}")
        return _softplus_activation(key, beta)
    raise ValueError(f"activation must be one of {list(ACTIVATIONS)} or 'softplus<beta>', got {name!r}")


def bregman_divergence(psi: Fn, grad_psi: Fn, x: Tensor, y: Tensor, reduction: str = "sum") -> Tensor:
    """``D_psi(x, y) = psi(x) - psi(y) - <psi'(y), x - y>`` for a separable ``psi``.

    Args:
        psi, grad_psi: the potential and its gradient (``Activation.psi``, ``Activation.inverse``).
        x, y: tensors of the same shape ``(*, D)`` inside the domain of ``psi``.
        reduction: ``"sum"`` over the last dimension (``(*, D) -> (*)``) or ``"none"`` (per coordinate).

    Returns:
        the divergence, ``>= 0``, zero exactly where ``x == y``.
    """
    check_tensor(x, "x")
    check_tensor(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    check_choice(reduction, "reduction", ("sum", "none"))
    per = psi(x) - psi(y) - grad_psi(y) * (x - y)
    return per.sum(-1) if reduction == "sum" else per
