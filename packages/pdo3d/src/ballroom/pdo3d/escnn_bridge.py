"""escnn's layers seen through our conventions, for the ``R3Conv`` comparison (escnn optional).

escnn is not a dependency (it needs numpy < 2 and compiled extensions); nothing here imports it at
module level, and :func:`escnn_available` says whether it imports. escnn reads a volume
``[B, C, D, H, W]`` as ``(-Z, -Y, X)`` (the comment in ``escnn.gspaces.utils``), we read it as
``(z, y, x)``: the two coordinate frames differ by ``F = diag(1, -1, -1)`` (180 deg about x, a
rotation), so our rotation ``g`` is escnn's element with base-space matrix ``F g F``. With that map
an escnn field type becomes one of our :class:`~ballroom.pdo3d.nn.FieldType` objects whose ``rho(g)``
is escnn's fiber representation, and :func:`~ballroom.pdo3d.volumes.equivariance_error` measures
escnn's layers with exactly the protocol it uses for ours.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ballroom.core.validate import check_tensor
from ballroom.pdo3d.groups import Group, Rep
from ballroom.pdo3d.nn import FieldType

__all__ = ["EscnnModule", "escnn_available", "escnn_element", "escnn_field_type"]

#: our frame -> escnn's frame (``p_escnn = F p_ours``)
FRAME = np.diag([1.0, -1.0, -1.0])


def escnn_available() -> bool:
    """Whether ``escnn`` is importable here (it is not a declared dependency)."""
    return importlib.util.find_spec("escnn") is not None


def escnn_element(gspace: Any, g: Tensor) -> Any:
    """The element of ``gspace.fibergroup`` that rotates escnn's volumes as ``g`` rotates ours.

    Args:
        gspace: an escnn 3D gspace (``octaOnR3()``, ``rot3dOnR3()``, ...).
        g: our rotation ``(3, 3)`` (x, y, z coordinates; x the last array axis).

    Returns:
        The escnn ``GroupElement`` whose base-space action is ``F g F``; for a finite group, a
        ValueError if ``g`` is not one of its rotations.
    """
    g = check_tensor(g, "g", shape=(3, 3))
    target = FRAME @ g.detach().cpu().double().numpy() @ FRAME
    group = gspace.fibergroup
    if group.order() > 0:
        for e in group.elements:
            if np.abs(np.asarray(gspace.basespace_action(e)) - target).max() < 1e-6:
                return e
        raise ValueError(f"g must be an element of {group.name}, got {g.tolist()}")
    return group.element(target, "MAT")


def escnn_field_type(field_type: Any, group: Group) -> FieldType:
    """One of our ``FieldType`` objects with the channels and ``rho(g)`` of an escnn field type.

    Args:
        field_type: an ``escnn.nn.FieldType`` (its representations in order).
        group: our group standing for escnn's (``octahedral()``, ``so3()``): it names the type only.

    Returns:
        A ``FieldType`` whose ``representation(g)`` is escnn's ``rho(escnn_element(gspace, g))``
        (consecutive equal representations become one entry with a multiplicity).
    """
    gspace = field_type.gspace
    fields: list[tuple[Rep, int]] = []
    for rep in field_type.representations:
        if fields and fields[-1][0].name == f"escnn:{rep.name}":
            fields[-1] = (fields[-1][0], fields[-1][1] + 1)
            continue

        def fn(g: Tensor, rep: Any = rep) -> Tensor:
            return torch.from_numpy(np.asarray(rep(escnn_element(gspace, g)), dtype=np.float64))

        permutation = all(np.isin(np.round(rep(e), 8), (0.0, 1.0)).all() for e in _some_elements(gspace))
        fields.append((Rep(group, f"escnn:{rep.name}", rep.size, fn, permutation), 1))
    return FieldType(group, fields)


def _some_elements(gspace: Any) -> list[Any]:
    group = gspace.fibergroup
    return list(group.elements) if group.order() > 0 else [group.sample() for _ in range(3)]


class EscnnModule(nn.Module):
    """An escnn module on plain tensors: ``[B, C_in, D, H, W] -> [B, C_out, D', H', W']``.

    Wraps the tensor in escnn's ``GeometricTensor`` of the module's input type and returns the
    output tensor; ``in_type``/``out_type`` are the module's types as our ``FieldType`` objects
    (:func:`escnn_field_type`), so :func:`~ballroom.pdo3d.volumes.equivariance_error` applies.

    Args:
        module: an escnn ``EquivariantModule`` (e.g. ``R3Conv``).
        group: our group standing for escnn's fiber group.
    """

    def __init__(self, module: Any, group: Group) -> None:
        super().__init__()
        self.module = module
        self.escnn_in_type = module.in_type
        self.in_type = escnn_field_type(module.in_type, group)
        self.out_type = escnn_field_type(module.out_type, group)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the escnn module to ``x`` ``[B, C_in, D, H, W]`` (returns ``[B, C_out, ...]``)."""
        try:  # optional and undeclared: escnn needs numpy < 2 and compiled extensions
            from escnn.nn import GeometricTensor  # type: ignore[import-not-found]
        except ImportError as err:  # pragma: no cover - the module was built with escnn, so it imports
            raise ImportError(
                "EscnnModule needs escnn (pip install escnn in an environment with numpy < 2 and a "
                "Fortran compiler; see the pdo3d README)"
            ) from err
        x = check_tensor(x, "x", ndim=5)
        return self.module(GeometricTensor(x, self.escnn_in_type)).tensor
