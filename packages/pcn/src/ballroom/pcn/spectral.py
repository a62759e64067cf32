"""Jacobians and spectra of the PCN maps (float64): what both the convergence certificates of
:mod:`ballroom.pcn.analysis` and the bifurcation analysis of :mod:`ballroom.pcn.bifurcation` use.
Re-exported by :mod:`ballroom.pcn.analysis`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ballroom.core.validate import check_tensor

__all__ = ["eigenvalues", "jacobian", "spectral_radius"]

DT = torch.float64
Map = Callable[[Tensor], Tensor]


def jacobian(F: Map, z: Tensor) -> Tensor:
    """The Jacobian ``dF/dz (D, D)`` of a map ``F: (D,) -> (D,)`` at ``z``, in float64 (``torch.func.jacrev``)."""
    z = check_tensor(torch.as_tensor(z), "z", ndim=1).to(DT)
    return torch.func.jacrev(F)(z)


def eigenvalues(J: Tensor) -> Tensor:
    """The eigenvalues ``(D,)`` (complex128) of a square matrix ``J (D, D)``."""
    J = check_tensor(J, "J", ndim=2, dtype=None)
    if J.shape[0] != J.shape[1]:
        raise ValueError(f"J must be square, got shape {tuple(J.shape)}")
    return torch.linalg.eigvals(J.to(DT) if not J.is_complex() else J)


def spectral_radius(J: Tensor) -> float:
    """``max |lambda|`` of a square matrix ``J (D, D)`` or of its eigenvalues ``(D,)``."""
    J = check_tensor(J, "J", ndim=(1, 2), dtype=None)
    eigs = J if J.ndim == 1 else eigenvalues(J)
    return float(eigs.abs().max())
