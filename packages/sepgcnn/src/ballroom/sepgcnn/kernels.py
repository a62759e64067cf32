"""The kernel factorisations behind :class:`~ballroom.sepgcnn.nn.GroupConv`.

A :class:`KernelFactorisation` is one way to parametrise the kernel ``k^{o,i}(x, h)`` of a group
convolution ``(C_in, N_in) -> (C_out, N_out)`` and to run it. Each variant is one subclass, and all of
them answer the same four questions:

- :meth:`~KernelFactorisation.kernel` ``(in_el, out_el)``: what the forward pass convolves with (one
  materialised kernel, or a tuple of factors);
- :meth:`~KernelFactorisation.full_kernel` ``(in_el, out_el)``: always the materialised
  ``(C_out N_out, C_in N_in, k, k)`` kernel, so that one ``conv2d`` with it equals the forward pass;
- :meth:`~KernelFactorisation.project` ``(x)``: what happens to the input first (the identity, or the
  channel projection of the depthwise variants);
- :meth:`~KernelFactorisation.convolve` ``(x, kernel, ...)``: the convolutions themselves.

``GroupConv(implementation=...)`` picks the subclass once, at construction, from its name or alias
(:func:`factorisation_class`):

- ``nonseparable`` / ``none``: :class:`NonSeparable`, ``k^{o,i}(x, h)``, one conv2d;
- ``gseparable`` / ``g``: :class:`GSeparable`, ``k_H^{o,i}(h) k_R^{o,i}(x)``, materialised;
- ``separable`` / ``hc``: :class:`Separable`, ``k_H^{o,i}(h) k_R^{o}(x)``, a 1x1 H-conv and a depthwise conv;
- ``dseparable`` / ``dw``: :class:`DSeparable`, a channel projection, then per-channel ``k^{o}(x, h)``;
- ``dgseparable`` / ``dwg``: :class:`DGSeparable`, the projection, ``k_H^{o}(h)``, depthwise ``k_R^{o}(x)``;
- ``separable+2d`` / ``hc2d``: :class:`Separable2D`, Sim(2) only, ``k_SO2^{o,i}(theta) k_R+^{o}(s) k_R^{o}(x)``;
- ``gseparable+2d`` / ``g2d``: :class:`GSeparable2D`, Sim(2) only, ``k_SO2^{o,i}(theta) k_R+^{o,i}(s) k_R^{o,i}(x)``.

A new variant is a subclass with its own ``name`` and ``alias``; ``GroupConv(implementation=MyVariant)``
takes the class itself.
"""

from __future__ import annotations

from ballroom.sepgcnn.factorisations import (
    DGSeparable,
    DSeparable,
    FreeKernel,
    GSeparable,
    KernelFactorisation,
    NonSeparable,
    Separable,
)
from ballroom.sepgcnn.factorisations_sim2 import GSeparable2D, Separable2D

__all__ = [
    "ALIASES",
    "FACTORISATIONS",
    "IMPLEMENTATIONS",
    "DGSeparable",
    "DSeparable",
    "FreeKernel",
    "GSeparable",
    "GSeparable2D",
    "KernelFactorisation",
    "NonSeparable",
    "Separable",
    "Separable2D",
    "factorisation_class",
]

FACTORISATIONS: tuple[type[KernelFactorisation], ...] = (
    NonSeparable,
    GSeparable,
    Separable,
    DSeparable,
    DGSeparable,
    Separable2D,
    GSeparable2D,
)
IMPLEMENTATIONS: tuple[str, ...] = tuple(cls.name for cls in FACTORISATIONS)
#: Short names (the issue's) for the official implementation names.
ALIASES: dict[str, str] = {cls.alias: cls.name for cls in FACTORISATIONS}


def factorisation_class(implementation: str | type[KernelFactorisation]) -> type[KernelFactorisation]:
    """The :class:`KernelFactorisation` subclass for an implementation name or alias (a subclass is
    returned as is, so user-defined variants plug into ``GroupConv`` too)."""
    if isinstance(implementation, type) and issubclass(implementation, KernelFactorisation):
        return implementation
    name = ALIASES.get(implementation, implementation)
    extra: tuple[type[KernelFactorisation], ...] = (FreeKernel,)
    for cls in FACTORISATIONS + extra:
        if cls.name == name:
            return cls
    names = ", ".join(f"{cls.name!r}/{cls.alias!r}" for cls in FACTORISATIONS)
    raise ValueError(f"implementation must be one of {names}, got {implementation!r}")
