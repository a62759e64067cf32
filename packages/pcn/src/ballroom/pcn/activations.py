"""The activation registry: each entry is ``(f, f', f'', L1, L2)`` with ``L1 = sup|f'|``, ``L2 = sup|f''|``.

``f`` must be C² (the convergence analysis differentiates it twice). Every function maps a tensor to
a tensor of the same shape and is built from differentiable torch operations, so autograd (and
``torch.func``) can differentiate the closed forms again::

    from ballroom.pcn.activations import get_activation
    act = get_activation("tanh")
    act.f(x), act.df(x), act.d2f(x), act.L1, act.L2     # L2 = 4 / (3 sqrt 3) for tanh
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ballroom.core.validate import check_choice, check_positive

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "register_activation", "softplus"]

Fn = Callable[[Tensor], Tensor]


class Activation(NamedTuple):
    """An activation ``f`` with its first two derivatives and their suprema over the real line."""

    f: Fn
    df: Fn
    d2f: Fn
    L1: float
    L2: float


def _tanh_d1(x: Tensor) -> Tensor:
    t = torch.tanh(x)
    return 1.0 - t * t


def _tanh_d2(x: Tensor) -> Tensor:
    t = torch.tanh(x)
    return -2.0 * t * (1.0 - t * t)


def _sigmoid_d1(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1.0 - s)


def _sigmoid_d2(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _identity(x: Tensor) -> Tensor:
    return x


def _ones(x: Tensor) -> Tensor:
    return torch.ones_like(x)


def _zeros(x: Tensor) -> Tensor:
    return torch.zeros_like(x)


def softplus(beta: float = 1.0) -> Activation:
    """``f(x) = log(1 + exp(beta x)) / beta``: ``f' = sigmoid(beta x)``, ``f'' = beta s (1 - s)``;
    ``L1 = 1``, ``L2 = beta / 4``."""
    b = check_positive(beta, "beta")

    def f(x: Tensor) -> Tensor:
        return torch.nn.functional.softplus(x, beta=b)

    def df(x: Tensor) -> Tensor:
        return torch.sigmoid(b * x)

    def d2f(x: Tensor) -> Tensor:
        s = torch.sigmoid(b * x)
        return b * s * (1.0 - s)

    return Activation(f, df, d2f, 1.0, b / 4.0)


#: name -> activation; ``tanh`` is the default of every network
ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(torch.tanh, _tanh_d1, _tanh_d2, 1.0, 4.0 / (3.0 * math.sqrt(3.0))),
    "identity": Activation(_identity, _ones, _zeros, 1.0, 0.0),
    "sigmoid": Activation(torch.sigmoid, _sigmoid_d1, _sigmoid_d2, 0.25, 1.0 / (6.0 * math.sqrt(3.0))),
    "softplus": softplus(1.0),
}


def get_activation(name: str) -> Activation:
    """The registered activation ``name`` (one of :data:`ACTIVATIONS`)."""
    if not isinstance(name, str):
        raise TypeError(
            f"activation must be a string naming a registered activation, got {type(name).__name__}"
        )
    return ACTIVATIONS[check_choice(name, "activation", sorted(ACTIVATIONS))]


def register_activation(name: str, activation: Activation) -> None:
    """Add ``activation`` under ``name`` (it must not exist yet)."""
    if name in ACTIVATIONS:
        raise ValueError(f"name: activation {name!r} is already registered")
    if not isinstance(activation, Activation):
        raise TypeError(
            f"activation must be an Activation(f, df, d2f, L1, L2), got {type(activation).__name__}"
        )
    ACTIVATIONS[name] = activation
