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
        fused_inverse: ``(y, eps) -> inverse(clamp(y, eps))`` in one kernel where torch has one
            (sigmoid: ``torch.logit(y, eps)``, whose clamp to ``[eps, 1 - eps]`` is exactly
            ``[lo + eps, hi - eps]``): the same values as the two-step form (tested).
        grad_sigma: ``(g, y) -> g * sigma'(z)`` written with the output ``y = sigma(z)`` (for the
            hand-written backward of :mod:`~ballroom.bregman.fused`; ``None``: autograd only).
        grad_inverse: ``(g, c) -> g * (sigma^{-1})'(c)`` at a point ``c`` inside the range.
        fused_inverse_grad: ``(g, y, eps) -> g * d fused_inverse(y, eps) / dy`` (zero outside the
            bounds; the bounds themselves are masked by the caller, as ``torch.clamp`` does).
    """

    name: str
    sigma: Fn
    inverse: Fn
    lo: float
    hi: float
    psi: Fn | None = None
    official_inverse: Fn | None = None
    plain: Fn | None = None
    fused_inverse: Callable[[Tensor, float], Tensor] | None = None
    grad_sigma: Callable[[Tensor, Tensor], Tensor] | None = None
    grad_inverse: Callable[[Tensor, Tensor], Tensor] | None = None
    fused_inverse_grad: Callable[[Tensor, Tensor, float], Tensor] | None = None

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

    def clamped_inverse(self, kind: str = "exact", eps: float = 1e-5) -> Fn:
        """``y -> offset(kind)(clamp(y, eps))``: the domain guard and the offset as one function.

        The bounds are computed once here. (:attr:`fused_inverse` is not used: ``torch.logit(y, eps)``
        has the same values but lets the gradient through at the bounds themselves, where
        ``torch.clamp``'s is 0; the stack backward of :mod:`~ballroom.bregman.fused` uses it with the
        clamp's mask.)

        Args:
            kind: ``"exact"`` or ``"official"`` (see :meth:`offset`).
            eps: the clamp margin: ``[lo + eps, hi - eps]``.

        Returns:
            An elementwise function, any shape in, same shape out.
        """
        inverse = self.offset(kind)
        lo = self.lo + eps if math.isfinite(self.lo) else None
        hi = self.hi - eps if math.isfinite(self.hi) else None
        if lo is None and hi is None:
            return inverse
        return partial(_clamp_then, inverse, lo, hi)  # a partial, not a closure: modules stay picklable

    @property
    def bounded(self) -> bool:
        """Whether both ends of the range are finite."""
        return math.isfinite(self.lo) and math.isfinite(self.hi)


# ---------------------------------------------------------------- the elementwise functions


def _clamp_then(inverse: Fn, lo: float | None, hi: float | None, y: Tensor) -> Tensor:
    return inverse(torch.clamp(y, lo, hi))


def _sigmoid_psi(y: Tensor) -> Tensor:
    return torch.xlogy(y, y) + torch.xlogy(1 - y, 1 - y)


def _logit_clamped(y: Tensor, eps: float) -> Tensor:
    # torch.logit's eps clamps to [eps, 1 - eps] = [lo + eps, hi - eps] before log(y / (1 - y))
    return torch.logit(y, eps)


# derivatives for the hand-written backward (ballroom.bregman.fused): sigma' from the output y,
# (sigma^{-1})' at the clamped point c; every pair is checked against autograd in float64


def _sigmoid_grad(g: Tensor, y: Tensor) -> Tensor:
    return torch.ops.aten.sigmoid_backward(g, y)  # g * y (1 - y)


def _logit_grad(g: Tensor, c: Tensor) -> Tensor:
    return g / (c * (1 - c))


def _logit_clamped_grad(g: Tensor, y: Tensor, eps: float) -> Tensor:
    return torch.ops.aten.logit_backward(g, y, eps)  # g / (y (1 - y)), zero outside [eps, 1 - eps]


def _tanh_grad(g: Tensor, y: Tensor) -> Tensor:
    return torch.ops.aten.tanh_backward(g, y)  # g * (1 - y^2)


def _atanh_grad(g: Tensor, c: Tensor) -> Tensor:
    return g / (1 - c * c)  # autograd's own form for atanh


def _atan_grad(g: Tensor, y: Tensor) -> Tensor:
    return g * torch.cos(y).square()  # 1 / (1 + tan(y)^2)


def _tan_grad(g: Tensor, c: Tensor) -> Tensor:
    return g / torch.cos(c).square()


def _isru_grad(g: Tensor, y: Tensor) -> Tensor:
    return g * ((1 - y) * (1 + y)).pow(1.5)  # (1 + z^2)^(-3/2) with 1 + z^2 = 1 / (1 - y^2)


def _isru_inv_grad(g: Tensor, c: Tensor) -> Tensor:
    return g * ((1 - c) * (1 + c)).pow(-1.5)


def _softplus_grad(g: Tensor, y: Tensor, beta: float) -> Tensor:
    return g * -torch.expm1(-beta * y)  # sigmoid(beta z) = 1 - exp(-beta y)


def _softplus_inv_grad(g: Tensor, c: Tensor, beta: float) -> Tensor:
    return g / -torch.expm1(-beta * c)


def _bent_grad(g: Tensor, y: Tensor) -> Tensor:
    y2 = 4 * y * y  # (1 + z / sqrt(z^2 + 1)) / 2 = 4 y^2 / (4 y^2 + 1)
    return g * y2 / (y2 + 1)


def _bent_inv_grad(g: Tensor, c: Tensor) -> Tensor:
    return g * (1 + 0.25 / (c * c))


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
        grad_sigma=partial(_softplus_grad, beta=beta),
        grad_inverse=partial(_softplus_inv_grad, beta=beta),
    )


_TABLE: dict[str, Callable[[], Activation]] = {
    "sigmoid": lambda: Activation(
        "sigmoid",
        torch.sigmoid,
        torch.logit,
        0.0,
        1.0,
        _sigmoid_psi,
        _sigmoid_official,
        fused_inverse=_logit_clamped,
        grad_sigma=_sigmoid_grad,
        grad_inverse=_logit_grad,
        fused_inverse_grad=_logit_clamped_grad,
    ),
    "tanh": lambda: Activation(
        "tanh", torch.tanh, torch.atanh, -1.0, 1.0, _tanh_psi, grad_sigma=_tanh_grad, grad_inverse=_atanh_grad
    ),
    "scaled_tanh": lambda: Activation(
        "scaled_tanh", _scaled_tanh, _scaled_tanh_inv, -SCALED_TANH_A, SCALED_TANH_A, _scaled_tanh_psi
    ),
    "isru": lambda: Activation(
        "isru", _isru, _isru_inv, -1.0, 1.0, _isru_psi, grad_sigma=_isru_grad, grad_inverse=_isru_inv_grad
    ),
    "atan": lambda: Activation(
        "atan",
        torch.atan,
        torch.tan,
        -math.pi / 2,
        math.pi / 2,
        _atan_psi,
        grad_sigma=_atan_grad,
        grad_inverse=_tan_grad,
    ),
    "sin": lambda: Activation("sin", _sin, torch.asin, -1.0, 1.0, _sin_psi),
    "asinh": lambda: Activation("asinh", torch.asinh, torch.sinh, -math.inf, math.inf, torch.cosh),
    "relu": lambda: Activation(
        "relu",
        _bent,
        _bent_inv,
        0.0,
        math.inf,
        _bent_psi,
        _bent_official_inv,
        torch.relu,
        grad_sigma=_bent_grad,
        grad_inverse=_bent_inv_grad,
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
