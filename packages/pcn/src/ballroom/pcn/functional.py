"""The closed forms of a predictive coding network, as pure functions of weights and node values.

Conventions (spec "Method"): layers ``l = 0..L``; ``xs[l]`` is ``(B, n_l)``; ``weights[l-1]`` is
``W_l: (n_l, n_{l-1})`` and ``biases[l-1]`` is ``b_l: (n_l,)`` or ``None``. The activation sits on
the presynaptic node: ``mu_l = W_l a_{l-1}(x_{l-1}) + b_l`` with ``a_l = f`` for ``l >= 1`` and
``a_0 = identity`` unless ``activate_input``. Errors ``eps_l = x_l - mu_l``, energy
``F = 1/2 sum_l ||eps_l||^2`` per sample::

    dF/dx_l = eps_l - f'(x_l) * (eps_{l+1} W_{l+1})         (second term only for l < L)
    dF/dW_l = -eps_l^T a_{l-1}(x_{l-1}),   dF/db_l = -eps_l  (summed over the batch here)

These functions are differentiable torch expressions: :mod:`ballroom.pcn.analysis` differentiates
the maps built from them again. :class:`ballroom.pcn.nn.PCN` calls them with its own parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ballroom.pcn.activations import Activation

__all__ = ["energy", "errors", "node_grads", "param_grads", "presynaptic", "presynaptic_grad"]


def presynaptic(x: Tensor, layer: int, act: Activation, activate_input: bool) -> Tensor:
    """``a_layer(x)``: ``f(x)`` for ``layer >= 1`` (or the input when ``activate_input``), else ``x``."""
    return act.f(x) if (layer >= 1 or activate_input) else x


def presynaptic_grad(x: Tensor, layer: int, act: Activation, activate_input: bool) -> Tensor:
    """``a_layer'(x)``, elementwise, of ``x``'s shape."""
    return act.df(x) if (layer >= 1 or activate_input) else torch.ones_like(x)


def errors(
    weights: Sequence[Tensor],
    biases: Sequence[Tensor | None],
    xs: Sequence[Tensor],
    act: Activation,
    activate_input: bool = False,
) -> list[Tensor]:
    """``[eps_1, ..., eps_L]``, each ``(B, n_l)``: ``eps_l = x_l - W_l a_{l-1}(x_{l-1}) - b_l``."""
    out = []
    for ell in range(1, len(xs)):
        mu = presynaptic(xs[ell - 1], ell - 1, act, activate_input) @ weights[ell - 1].T
        b = biases[ell - 1]
        if b is not None:
            mu = mu + b
        out.append(xs[ell] - mu)
    return out


def energy(
    weights: Sequence[Tensor],
    biases: Sequence[Tensor | None],
    xs: Sequence[Tensor],
    act: Activation,
    activate_input: bool = False,
) -> Tensor:
    """Per-sample energy ``F = 1/2 sum_l ||eps_l||^2``: ``(B,)``."""
    eps = errors(weights, biases, xs, act, activate_input)
    return 0.5 * sum((e * e).sum(-1) for e in eps)  # type: ignore[return-value]


def node_grads(
    weights: Sequence[Tensor],
    biases: Sequence[Tensor | None],
    xs: Sequence[Tensor],
    act: Activation,
    activate_input: bool = False,
    eps: Sequence[Tensor] | None = None,
) -> list[Tensor]:
    """``[dF/dx_0, ..., dF/dx_L]`` (each ``(B, n_l)``) of the per-sample energy, in closed form.

    ``dF/dx_0 = -a_0'(x_0) * (eps_1 W_1)`` (the input is usually clamped; it is returned for
    completeness); ``dF/dx_l = eps_l - f'(x_l) * (eps_{l+1} W_{l+1})`` for ``1 <= l < L``;
    ``dF/dx_L = eps_L``. ``eps`` reuses errors computed already.
    """
    if eps is None:
        eps = errors(weights, biases, xs, act, activate_input)
    L = len(xs) - 1
    grads = []
    for ell in range(L + 1):
        g = eps[ell - 1] if ell >= 1 else torch.zeros_like(xs[0])
        if ell < L:
            back = eps[ell] @ weights[ell]  # (B, n_l): W_{l+1}^T eps_{l+1}
            g = g - presynaptic_grad(xs[ell], ell, act, activate_input) * back
        grads.append(g)
    return grads


def param_grads(
    weights: Sequence[Tensor],
    biases: Sequence[Tensor | None],
    xs: Sequence[Tensor],
    act: Activation,
    activate_input: bool = False,
    reduction: str = "mean",
) -> list[tuple[Tensor, Tensor | None]]:
    """``[(dF/dW_l, dF/db_l)]`` for ``l = 1..L`` in closed form: ``-eps_l^T a_{l-1}(x_{l-1})`` and
    ``-eps_l`` reduced over the batch (``"mean"``: the gradient of ``F.mean()``, ``"sum"``: of
    ``F.sum()``). ``dF/db_l`` is ``None`` where the layer has no bias."""
    eps = errors(weights, biases, xs, act, activate_input)
    scale = 1.0 / xs[0].shape[0] if reduction == "mean" else 1.0
    out: list[tuple[Tensor, Tensor | None]] = []
    for ell in range(1, len(xs)):
        a = presynaptic(xs[ell - 1], ell - 1, act, activate_input)
        gw = -(eps[ell - 1].T @ a) * scale
        gb = -eps[ell - 1].sum(0) * scale if biases[ell - 1] is not None else None
        out.append((gw, gb))
    return out
