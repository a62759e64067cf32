"""The PCN's inference and training stages as discrete-time dynamical systems (float64, on the CPU:
a network on another device is copied).

* :func:`prediction_map` / :func:`training_map`: the one-step maps ``z -> z'`` on a flat state of a
  single example (:class:`StateMap` with ``pack``/``unpack``); the prediction stage clamps the input,
  the training stage also the target and adds the learned parameters to the state (``simultaneous``
  or ``alternating`` schedule).
* :func:`jacobian`, :func:`eigenvalues`, :func:`spectral_radius`, the closed form
  :func:`prediction_jacobian_closed_form` (``I - gamma Je^T Je`` at the feedforward pass).
* :func:`certify_local`, :func:`certify_ball`: the small-weight convergence certificates (derived; the
  paper's constants are unknown) as a :class:`Certificate`.
* :func:`classify_crossing`, :func:`find_bifurcation`, :func:`first_lyapunov_coefficient` (Kuznetsov's
  formula for maps), :func:`iterate`, :func:`orbit_stats`.
* the derived counterexamples :class:`~ballroom.pcn.toys.NSToy` and
  :class:`~ballroom.pcn.toys.LinearNSToy` (re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ballroom.core.validate import check_choice, check_positive, check_tensor
from ballroom.pcn import functional as PF
from ballroom.pcn.nn import PCN
from ballroom.pcn.spectral import eigenvalues, jacobian, spectral_radius

__all__ = [
    "Certificate",
    "LinearNSToy",
    "NSToy",
    "StateMap",
    "certify_ball",
    "certify_local",
    "classify_crossing",
    "eigenvalues",
    "find_bifurcation",
    "first_lyapunov_coefficient",
    "iterate",
    "jacobian",
    "orbit_stats",
    "prediction_jacobian_closed_form",
    "prediction_map",
    "spectral_radius",
    "training_map",
]

DT = torch.float64
SCHEDULES = ("simultaneous", "alternating")
Map = Callable[[Tensor], Tensor]


def _x0_row(net: PCN, x0: Tensor | Sequence[float]) -> Tensor:
    x0 = torch.as_tensor(x0, dtype=DT) if not isinstance(x0, Tensor) else x0
    check_tensor(x0, "x0", ndim=(1, 2))
    x0 = x0.reshape(1, -1).to("cpu", DT)
    if x0.shape[1] != net.layer_sizes[0]:
        raise ValueError(
            f"x0 must be one input with {net.layer_sizes[0]} features, got shape {tuple(x0.shape)}"
        )
    return x0


def _params64(net: PCN) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", DT) for k, v in net.named_parameters()}


def _weights_biases(net: PCN, params: Mapping[str, Tensor]) -> tuple[list[Tensor], list[Tensor | None]]:
    ws = [params[f"layers.{i}.weight"] for i in range(net.depth)]
    bs = [params.get(f"layers.{i}.bias") if net.bias else None for i in range(net.depth)]
    return ws, bs


@dataclass
class StateMap:
    """A one-step map on a flat float64 state ``z (D,)`` of one example, with its layout.

    Attributes:
        step: ``z -> z'`` (differentiable; ``torch.func`` and autograd work through it).
        nodes: the free layers in the state, in order; ``sizes`` their widths.
        learned: ``{parameter name: bool mask}`` of the learned entries after the nodes (training map).
        base_nodes: the full node list ``[x_0, ..., x_L]`` with clamped values (free ones as in ``z0``).
        base_params: every parameter in float64 (learned entries are overwritten by the state).
    """

    step: Map
    net: PCN
    nodes: list[int]
    learned: dict[str, Tensor]
    base_nodes: list[Tensor]
    base_params: dict[str, Tensor]

    def __call__(self, z: Tensor) -> Tensor:
        return self.step(z)

    @property
    def dim(self) -> int:
        """``D``, the length of the state."""
        return sum(self.net.layer_sizes[ell] for ell in self.nodes) + sum(
            int(m.sum()) for m in self.learned.values()
        )

    def unpack(self, z: Tensor) -> tuple[list[Tensor], dict[str, Tensor]]:
        """``z (D,) -> (xs [x_0 (1, n_0), ..., x_L], params)`` with the state's values filled in."""
        xs = list(self.base_nodes)
        i = 0
        for ell in self.nodes:
            n = self.net.layer_sizes[ell]
            xs[ell] = z[i : i + n].reshape(1, n)
            i += n
        params = dict(self.base_params)
        for name, mask in self.learned.items():
            k = int(mask.sum())
            full = params[name].reshape(-1)
            idx = mask.reshape(-1).nonzero().squeeze(1)
            params[name] = full.index_put((idx,), z[i : i + k]).reshape(mask.shape)
            i += k
        return xs, params

    def pack(self, xs: Sequence[Tensor], params: Mapping[str, Tensor] | None = None) -> Tensor:
        """The flat state ``(D,)`` of nodes ``xs`` (the free layers) and ``params`` (the learned entries)."""
        parts = [xs[ell].reshape(-1).to(DT) for ell in self.nodes]
        p = self.base_params if params is None else params
        parts += [p[name].reshape(-1).to(DT)[mask.reshape(-1)] for name, mask in self.learned.items()]
        return torch.cat(parts)

    def initial_state(self) -> Tensor:
        """The state at the feedforward nodes (target clamped) and the network's parameters."""
        return self.pack(self.base_nodes, self.base_params)


def prediction_map(net: PCN, x0: Tensor | Sequence[float], gamma: float) -> StateMap:
    """The prediction stage as a map: input ``x0 (n_0,)`` clamped, state ``z = (x_1, ..., x_L)``,
    ``z' = z - gamma dF/dz``. Its unique fixed point is the feedforward pass (``initial_state()``)."""
    gamma = check_positive(gamma, "gamma")
    x0r = _x0_row(net, x0)
    params = _params64(net)
    ws, bs = _weights_biases(net, params)
    with torch.no_grad():
        base = [x0r]
        for ell in range(net.depth):
            mu = PF.presynaptic(base[-1], ell, net.act, net.activate_input) @ ws[ell].T
            bias_l = bs[ell]
            base.append(mu + bias_l if bias_l is not None else mu)
    free = list(range(1, net.depth + 1))
    smap = StateMap(lambda z: z, net, free, {}, base, params)

    def step(z: Tensor) -> Tensor:
        xs, _ = smap.unpack(z)
        g = PF.node_grads(ws, bs, xs, net.act, net.activate_input)
        return z - gamma * torch.cat([g[ell].reshape(-1) for ell in free])

    smap.step = step
    return smap


def training_map(
    net: PCN,
    x0: Tensor | Sequence[float],
    target: Tensor | Sequence[float],
    gamma: float,
    alpha: float,
    schedule: str = "alternating",
    learned: Mapping[str, Tensor] | None = None,
) -> StateMap:
    """The training stage on one example as a map on ``z = (hidden nodes x_1..x_{L-1}, learned params)``.

    ``simultaneous``: ``x' = x - gamma dF/dx(x, theta)``, ``theta' = theta - alpha dF/dtheta(x, theta)``.
    ``alternating`` (infer-then-learn; nodes persist): the weight step reads the updated nodes,
    ``theta' = theta - alpha dF/dtheta(x', theta)``. ``learned`` maps parameter names
    (``layers.0.weight`` is ``W_1``) to bool masks of the learned entries; default: every parameter.
    """
    gamma = check_positive(gamma, "gamma")
    alpha = check_positive(alpha, "alpha")
    schedule = check_choice(schedule, "schedule", SCHEDULES)
    if net.depth < 2:
        raise ValueError("net: the training map needs a hidden layer (layer_sizes of length >= 3)")
    x0r = _x0_row(net, x0)
    t = torch.as_tensor(target, dtype=DT) if not isinstance(target, Tensor) else target
    check_tensor(t, "target", ndim=(1, 2))
    t = t.reshape(1, -1).to("cpu", DT)
    if t.shape[1] != net.layer_sizes[-1]:
        raise ValueError(f"target must have {net.layer_sizes[-1]} entries, got shape {tuple(t.shape)}")
    params = _params64(net)
    if learned is None:
        masks = {k: torch.ones_like(v, dtype=torch.bool) for k, v in params.items()}
    else:
        masks = {}
        for k, m in learned.items():
            if k not in params:
                raise ValueError(f"learned: unknown parameter {k!r}; known: {sorted(params)}")
            m = torch.as_tensor(m, dtype=torch.bool)
            if m.shape != params[k].shape:
                raise ValueError(
                    f"learned[{k!r}] must have shape {tuple(params[k].shape)}, got {tuple(m.shape)}"
                )
            if bool(m.any()):
                masks[k] = m
    ws, bs = _weights_biases(net, params)
    with torch.no_grad():
        base = [x0r]
        for ell in range(net.depth):
            mu = PF.presynaptic(base[-1], ell, net.act, net.activate_input) @ ws[ell].T
            bias_l = bs[ell]
            base.append(mu + bias_l if bias_l is not None else mu)
        base[-1] = t
    hidden = list(range(1, net.depth))
    smap = StateMap(lambda z: z, net, hidden, masks, base, params)

    def node_step(xs: list[Tensor], p: dict[str, Tensor]) -> list[Tensor]:
        w, b = _weights_biases(net, p)
        g = PF.node_grads(w, b, xs, net.act, net.activate_input)
        new = list(xs)
        for ell in hidden:
            new[ell] = xs[ell] - gamma * g[ell]
        return new

    def param_step(xs: list[Tensor], p: dict[str, Tensor]) -> list[Tensor]:
        w, b = _weights_biases(net, p)
        grads = PF.param_grads(w, b, xs, net.act, net.activate_input, "sum")
        flat = {}
        for i, (gw, gb) in enumerate(grads):
            flat[f"layers.{i}.weight"] = gw
            if gb is not None:
                flat[f"layers.{i}.bias"] = gb
        return [(p[k] - alpha * flat[k]).reshape(-1)[m.reshape(-1)] for k, m in masks.items()]

    def step(z: Tensor) -> Tensor:
        xs, p = smap.unpack(z)
        new = node_step(xs, p)
        theta = param_step(new if schedule == "alternating" else xs, p)
        return torch.cat([new[ell].reshape(-1) for ell in hidden] + theta)

    smap.step = step
    return smap


def prediction_jacobian_closed_form(net: PCN, x0: Tensor | Sequence[float], gamma: float) -> Tensor:
    """``I - gamma Je^T Je (D, D)`` at the feedforward pass, ``D = n_1 + ... + n_L``: ``Je`` is the
    identity minus the block sub-diagonal with blocks ``W_l diag(f'(x*_{l-1}))``, ``l = 2..L``."""
    gamma = check_positive(gamma, "gamma")
    Je = _error_jacobian(net, x0)
    return torch.eye(Je.shape[0], dtype=DT) - gamma * Je.T @ Je


def _error_jacobian(net: PCN, x0: Tensor | Sequence[float]) -> Tensor:
    x0r = _x0_row(net, x0)
    params = _params64(net)
    ws, bs = _weights_biases(net, params)
    sizes = net.layer_sizes[1:]
    offs = [0]
    for n in sizes:
        offs.append(offs[-1] + n)
    Je = torch.eye(offs[-1], dtype=DT)
    with torch.no_grad():
        x = x0r
        for ell in range(net.depth):
            a = PF.presynaptic(x, ell, net.act, net.activate_input) @ ws[ell].T
            bias_l = bs[ell]
            x_next = a + bias_l if bias_l is not None else a
            if ell >= 1:  # block (l+1, l): -W_{l+1} diag(f'(x_l)), layer l free
                Je[offs[ell] : offs[ell + 1], offs[ell - 1] : offs[ell]] = -ws[ell] * net.act.df(x[0])
            x = x_next
    return Je


@dataclass(frozen=True)
class Certificate:
    """The result of a convergence certificate.

    Attributes:
        holds: the sufficient condition is met (convergence is guaranteed).
        beta: ``L1 * max_{l >= 2} ||W_l||_2``.
        bound: the bound on the per-step contraction (``rho`` bound for :func:`certify_local`,
            ``q`` for :func:`certify_ball`; ``inf`` where the bound does not apply).
        reason: why it holds or fails, in words.
    """

    holds: bool
    beta: float
    bound: float
    reason: str


def _beta(net: PCN) -> tuple[float, float]:
    w = 0.0
    for W in net.weights[1:]:
        w = max(w, float(torch.linalg.matrix_norm(W.detach().to(DT), ord=2)))
    return net.act.L1 * w, w


def certify_local(net: PCN, gamma: float) -> Certificate:
    """Local stability of the prediction stage for every input: ``beta < 1`` puts the singular values of
    ``Je`` in ``[1 - beta, 1 + beta]``, so ``rho <= max(|1 - gamma (1-beta)^2|, |1 - gamma (1+beta)^2|)``;
    holds when that bound is ``< 1``. For the identity activation the result is global.

    Args:
        net: the network (``beta`` is computed from its weights ``W_2 ... W_L``).
        gamma: the inference step size (> 0).

    Returns:
        A :class:`Certificate`.

    Raises:
        ValueError: ``gamma <= 0``.
    """
    gamma = check_positive(gamma, "gamma")
    beta, _ = _beta(net)
    if beta >= 1.0:
        return Certificate(False, beta, math.inf, f"beta = {beta:.4g} >= 1: the bound does not apply")
    bound = max(abs(1 - gamma * (1 - beta) ** 2), abs(1 - gamma * (1 + beta) ** 2))
    scope = "globally (linear f)" if net.act.L2 == 0.0 else "locally, for every input"
    if bound < 1.0:
        return Certificate(
            True, beta, bound, f"beta = {beta:.4g} < 1 and rho <= {bound:.4g} < 1: converges {scope}"
        )
    return Certificate(False, beta, bound, f"rho bound {bound:.4g} >= 1 (gamma (1 + beta)^2 >= 2)")


def certify_ball(net: PCN, x0: Tensor | Sequence[float], gamma: float, r: float) -> Certificate:
    """Convergence from every start within distance ``r`` of the feedforward pass ``x*`` of ``x0``.

    ``mu = (1-beta)^2 - L2 w (1+beta) r``, ``Lam = (1+beta)^2 + L2 w (1+beta) r``,
    ``q = max(|1 - gamma mu|, |1 - gamma Lam|)``: if ``beta < 1``, ``mu > 0`` and ``q < 1`` the step
    is a ``q``-contraction of the ball into itself, ``||x_t - x*|| <= q^t ||x_0 - x*||``.

    Args:
        net: the network.
        x0: the input ``(n_0,)`` (or ``(1, n_0)``), tensor or sequence of floats; only its size is
            checked: the bound uses global constants, so it is the same for every input.
        gamma: the inference step size (> 0).
        r: the radius of the ball around ``x*`` (>= 0).

    Returns:
        A :class:`Certificate` (its ``bound`` is ``q``).

    Raises:
        ValueError: ``gamma <= 0``, ``r < 0`` or an ``x0`` of the wrong size.
    """
    gamma = check_positive(gamma, "gamma")
    r = check_positive(r, "r", strict=False)
    _x0_row(net, x0)
    beta, w = _beta(net)
    if beta >= 1.0:
        return Certificate(False, beta, math.inf, f"beta = {beta:.4g} >= 1: the bound does not apply")
    curv = net.act.L2 * w * (1 + beta) * r
    mu = (1 - beta) ** 2 - curv
    lam = (1 + beta) ** 2 + curv
    q = max(abs(1 - gamma * mu), abs(1 - gamma * lam))
    if mu <= 0:
        return Certificate(
            False, beta, math.inf, f"mu = {mu:.4g} <= 0: the ball of radius {r:g} is too large"
        )
    if q < 1:
        return Certificate(True, beta, q, f"q = {q:.4g} < 1: a contraction of the ball of radius {r:g}")
    return Certificate(False, beta, q, f"q = {q:.4g} >= 1")


from ballroom.pcn.bifurcation import (  # noqa: E402  (re-exported)
    classify_crossing,
    find_bifurcation,
    first_lyapunov_coefficient,
    iterate,
    orbit_stats,
)
from ballroom.pcn.toys import LinearNSToy, NSToy  # noqa: E402  (the toys build on the maps above)
