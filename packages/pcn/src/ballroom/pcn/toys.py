"""The derived Neimark-Sacker counterexamples (our construction; the paper's own network is unknown).

:class:`NSToy` (primary, tanh): input ``d`` clamped, one hidden node ``h``, output clamped to ``y``,
learned input weight ``w``, fixed output weight ``v`` (the bifurcation parameter), no biases,
``F(h, w) = 1/2 (h - w d)^2 + 1/2 (y - v tanh h)^2``, alternating schedule::

    h' = h - gamma [(h - w d) - v tanh'(h) (y - v tanh h)];   w' = w + alpha d (h' - w d)

:class:`LinearNSToy` (secondary, identity): ``x0 = s -> x1 -> x2 = y`` with ``w1`` frozen and
``w2`` learned; ``y`` is the parameter. States are ``(..., 2)`` tensors (``(h, w)`` and ``(x1, w2)``);
``step`` broadcasts over a batch of states and parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ballroom.core.validate import check_number, check_positive, check_tensor
from ballroom.pcn.nn import PCN

__all__ = ["LinearNSToy", "NSToy", "ToyPCN"]

DT = torch.float64


class ToyPCN(NamedTuple):
    """A toy as a PCN: the network, the learned-parameter masks, the clamped input and target."""

    net: PCN
    learned: dict[str, Tensor]
    x0: Tensor
    target: Tensor


def _state(z: Tensor | tuple[float, float]) -> Tensor:
    z = torch.as_tensor(z, dtype=DT) if not isinstance(z, Tensor) else z
    check_tensor(z, "z", min_ndim=1, finite=False)
    if z.shape[-1] != 2:
        raise ValueError(f"z must have shape (..., 2), got shape {tuple(z.shape)}")
    return z


@dataclass(frozen=True)
class NSToy:
    """The tanh counterexample. ``v_critical() = 1.941425306188497`` at the defaults.

    A 1-1-1 tanh network on input ``d`` and target ``y`` whose hidden state ``h`` (inference step
    ``gamma``) and first weight ``w`` (learning rate ``alpha``) are updated in alternation; the
    second weight ``v`` is the bifurcation parameter (see :meth:`as_pcn`).

    Args:
        d: the input ``x_0``.
        y: the target (> 0; a fixed point needs ``v > y``).
        gamma: the inference step size (> 0).
        alpha: the learning rate of ``w`` (> 0).
    """

    d: float = 2.0
    y: float = 0.5
    gamma: float = 0.7
    alpha: float = 0.375

    def __post_init__(self) -> None:
        check_number(self.d, "d")
        check_positive(self.y, "y")
        check_positive(self.gamma, "gamma")
        check_positive(self.alpha, "alpha")

    def _v(self, v: float | Tensor) -> float | Tensor:
        if isinstance(v, Tensor):
            return v.to(DT)
        return check_number(v, "v")

    def step(self, z: Tensor, v: float | Tensor) -> Tensor:
        """One alternating iteration ``(h, w) -> (h', w')``: ``(..., 2) -> (..., 2)``."""
        z = _state(z)
        v = self._v(v)
        h, w = z[..., 0], z[..., 1]
        t = torch.tanh(h)
        h2 = h - self.gamma * ((h - w * self.d) - v * (1 - t * t) * (self.y - v * t))
        w2 = w + self.alpha * self.d * (h2 - w * self.d)
        return torch.stack([h2, w2], dim=-1)

    def _check_v(self, v: float) -> float:
        v = check_number(v, "v")
        if not v > self.y:
            raise ValueError(f"v must be > y = {self.y} (no fixed point otherwise), got {v}")
        return v

    def fixed_point(self, v: float) -> Tensor:
        """``(h*, w*) = (artanh(y / v), h* / d)``: ``(2,)`` float64; needs ``v > y``."""
        v = self._check_v(v)
        h = math.atanh(self.y / v)
        return torch.tensor([h, h / self.d], dtype=DT)

    def A(self, v: float) -> float:
        """``A = 1 + v^2 tanh'(h*)^2 = 1 + (v^2 - y^2)^2 / v^2``."""
        v = self._check_v(v)
        return 1.0 + (v * v - self.y**2) ** 2 / (v * v)

    def jacobian(self, v: float) -> Tensor:
        """The analytic Jacobian ``(2, 2)`` at the fixed point:
        ``[[1 - gamma A, gamma d], [alpha d (1 - gamma A), 1 - alpha d^2 + alpha gamma d^2]]``."""
        g, a, d = self.gamma, self.alpha, self.d
        k = 1.0 - g * self.A(v)
        return torch.tensor([[k, g * d], [a * d * k, 1 - a * d * d + a * g * d * d]], dtype=DT)

    def v_critical(self) -> float:
        """The Neimark-Sacker value: ``det J = 1``, i.e. ``1 - gamma A = 1 / (1 - alpha d^2)``, gives
        ``A_c = (1 - 1 / (1 - alpha d^2)) / gamma`` and ``v_c = (c + sqrt(c^2 + 4 y^2)) / 2`` with
        ``c = sqrt(A_c - 1)``; raises where the crossing is not a complex pair (``|tr J| >= 2``)."""
        g, a, d = self.gamma, self.alpha, self.d
        if a * d * d <= 1.0:
            raise ValueError("alpha d^2 must be > 1 for det J = 1 to be reachable")
        A_c = (1.0 - 1.0 / (1.0 - a * d * d)) / g
        c = math.sqrt(A_c - 1.0)
        v = (c + math.sqrt(c * c + 4 * self.y**2)) / 2
        tr = float(torch.trace(self.jacobian(v)))
        if abs(tr) >= 2:
            raise ValueError(
                f"the det = 1 crossing has |tr J| = {abs(tr):.4g} >= 2: not a Neimark-Sacker point"
            )
        return v

    def transversality(self) -> float:
        """``d|lambda|/dv`` at ``v_c``: ``(alpha d^2 - 1) gamma A'(v_c) / 2`` with
        ``A'(v) = 2 (v^4 - y^4) / v^3`` (``gamma A'(v_c) / 4`` at ``alpha d^2 = 1.5``)."""
        v = self.v_critical()
        dA = 2 * (v**4 - self.y**4) / v**3
        return (self.alpha * self.d**2 - 1.0) * self.gamma * dA / 2.0

    def as_pcn(self, v: float) -> ToyPCN:
        """A 1-1-1 tanh :class:`PCN` (no bias, no input activation; ``W_1 = w*``, ``W_2 = v``) with
        ``W_1`` learned and ``W_2`` frozen: ``training_map(net, x0, target, gamma, alpha,
        "alternating", learned)`` is :meth:`step`."""
        v = check_number(v, "v")
        net = PCN([1, 1, 1], activation="tanh", bias=False).double()
        w = float(self.fixed_point(v)[1]) if v > self.y else 0.0
        with torch.no_grad():
            net.weights[0].fill_(w)
            net.weights[1].fill_(v)
        learned = {"layers.0.weight": torch.tensor([[True]]), "layers.1.weight": torch.tensor([[False]])}
        return ToyPCN(net, learned, torch.tensor([self.d], dtype=DT), torch.tensor([self.y], dtype=DT))


@dataclass(frozen=True)
class LinearNSToy:
    """The linear counterexample (exact rationals): ``y_c = 2 sqrt 5`` at the defaults, multipliers
    ``(5 +- i sqrt 39) / 8``.

    A 1-1-1 identity network on input ``s`` with the first weight ``w1`` frozen; its hidden state
    ``x1`` (inference step ``gamma``) and second weight ``w2`` (learning rate ``alpha``) are updated
    in alternation; the target ``y`` is the bifurcation parameter.

    Args:
        s: the input ``x_0``.
        w1: the frozen first weight (``w1 * s`` must be nonzero for a fixed point).
        gamma: the inference step size (> 0).
        alpha: the learning rate of ``w2`` (> 0).
    """

    s: float = 2.0
    w1: float = 1.0
    gamma: float = 0.5
    alpha: float = 0.375

    def __post_init__(self) -> None:
        check_number(self.s, "s")
        check_number(self.w1, "w1")
        check_positive(self.gamma, "gamma")
        check_positive(self.alpha, "alpha")

    def step(self, z: Tensor, y: float | Tensor) -> Tensor:
        """``(x1, w2) -> (x1', w2')``: ``x1' = x1 - gamma((x1 - w1 s) - w2 (y - w2 x1))``,
        ``w2' = w2 + alpha (y - w2 x1') x1'``; ``(..., 2) -> (..., 2)``."""
        z = _state(z)
        y = y.to(DT) if isinstance(y, Tensor) else check_number(y, "y")
        x1, w2 = z[..., 0], z[..., 1]
        x1n = x1 - self.gamma * ((x1 - self.w1 * self.s) - w2 * (y - w2 * x1))
        w2n = w2 + self.alpha * (y - w2 * x1n) * x1n
        return torch.stack([x1n, w2n], dim=-1)

    def fixed_point(self, y: float) -> Tensor:
        """``(w1 s, y / (w1 s))``: ``(2,)``."""
        y = check_number(y, "y")
        x1 = self.w1 * self.s
        if x1 == 0:
            raise ValueError("w1 * s must be nonzero for a fixed point")
        return torch.tensor([x1, y / x1], dtype=DT)

    def jacobian(self, y: float) -> Tensor:
        """``[[a, -gamma y], [-alpha y a, 1 - alpha x1*^2 + alpha gamma y^2]]`` with ``a = 1 - gamma(1 + w2*^2)``."""
        x1, w2 = (float(t) for t in self.fixed_point(y))
        g, al = self.gamma, self.alpha
        a = 1 - g * (1 + w2 * w2)
        return torch.tensor([[a, -g * y], [-al * y * a, 1 - al * x1 * x1 + al * g * y * y]], dtype=DT)

    def v_critical(self) -> float:
        """``y_c``: ``det J = a (1 - alpha x1*^2) = 1``, ``w2_c^2 = (1 - a_c)/gamma - 1``, ``y_c = x1* w2_c``."""
        x1 = self.w1 * self.s
        k = 1 - self.alpha * x1 * x1
        if k >= 0:
            raise ValueError("alpha (w1 s)^2 must be > 1 for det J = 1 to be reachable")
        a_c = 1 / k
        w2sq = (1 - a_c) / self.gamma - 1
        if w2sq <= 0:
            raise ValueError("no positive crossing value for these parameters")
        y = abs(x1) * math.sqrt(w2sq)
        if abs(float(torch.trace(self.jacobian(y)))) >= 2:
            raise ValueError("the det = 1 crossing is not a complex pair (|tr J| >= 2)")
        return y

    def as_pcn(self, y: float) -> ToyPCN:
        """A 1-1-1 identity :class:`PCN` (``W_1 = w1`` frozen, ``W_2 = w2*`` learned) on input ``s`` and target ``y``."""
        y = check_number(y, "y")
        net = PCN([1, 1, 1], activation="identity", bias=False).double()
        with torch.no_grad():
            net.weights[0].fill_(self.w1)
            net.weights[1].fill_(float(self.fixed_point(y)[1]))
        learned = {"layers.0.weight": torch.tensor([[False]]), "layers.1.weight": torch.tensor([[True]])}
        return ToyPCN(net, learned, torch.tensor([self.s], dtype=DT), torch.tensor([y], dtype=DT))
