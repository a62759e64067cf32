"""Bad input to the public entry points raises a clear TypeError/ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from ballroom.pdo3d import functional as fn
from ballroom.pdo3d.escnn_bridge import escnn_element
from ballroom.pdo3d.groups import klein4, octahedral, real_wigner_d, so3
from ballroom.pdo3d.models import PDOTetrisNet, PlainCNN3d, SO3TetrisNet
from ballroom.pdo3d.nn import FieldReLU, FieldType, PDOConv3d
from ballroom.pdo3d.volumes import equivariance_error, random_rotations, rotate_volume, tetris_volumes

OCT = octahedral()
T_IN = FieldType(OCT, [(OCT.trivial(), 1)])
T_REG = FieldType(OCT, [(OCT.regular(), 1)])


def _conv() -> PDOConv3d:
    return PDOConv3d(T_IN, T_REG)


CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("stencil mode", lambda: fn.pdo_stencils("spline"), ValueError, r"mode must be one of \['fd', 'gaussian'\]"),
    ("stencil sigma", lambda: fn.pdo_stencils("gaussian", sigma=0.0), ValueError, "sigma"),
    ("stencil radius", lambda: fn.pdo_stencils("gaussian", radius=0), ValueError, "radius must be an integer"),
    ("basis not reps", lambda: fn.solve_pdo_basis("regular", OCT.trivial()), TypeError, "rho_in and rho_out must be Rep"),
    ("basis mixed groups", lambda: fn.solve_pdo_basis(OCT.trivial(), so3().irrep(1)), ValueError, "one group"),
    ("basis wrong group", lambda: fn.solve_pdo_basis(OCT.trivial(), OCT.trivial(), klein4()), ValueError, "group must be"),
    ("wigner l", lambda: real_wigner_d(-1, torch.eye(3)), ValueError, "l must be an integer"),
    ("wigner shape", lambda: real_wigner_d(1, torch.eye(2)), ValueError, r"rotation must have shape \(3, 3\)"),
    ("not an element", lambda: OCT.regular()(random_rotations(1)[0]), ValueError, "g must be an element of O"),
    ("field mult", lambda: FieldType(OCT, [(OCT.regular(), 0)]), ValueError, "multiplicity"),
    ("field rep group", lambda: FieldType(OCT, [(so3().irrep(1), 1)]), ValueError, "every rep must be a Rep of O"),
    ("conv types", lambda: PDOConv3d("trivial", T_REG), TypeError, "FieldType"),  # type: ignore[arg-type]
    ("conv mode", lambda: PDOConv3d(T_IN, T_REG, mode="sobel"), ValueError, "mode must be one of"),
    ("conv stride", lambda: PDOConv3d(T_IN, T_REG, stride=0), ValueError, "stride"),
    ("conv radius", lambda: PDOConv3d(T_IN, T_REG, "gaussian", radius=0), ValueError, "radius must be an integer"),
    ("conv radius fd", lambda: PDOConv3d(T_IN, T_REG, "fd", radius=4), ValueError, "radius applies to mode='gaussian'"),
    ("stencil radius fd", lambda: fn.pdo_stencils("fd", radius=2), ValueError, "radius applies to mode='gaussian'"),
    ("conv radius type", lambda: PDOConv3d(T_IN, T_REG, "gaussian", radius=2.5), TypeError, "radius"),  # type: ignore[arg-type]
    ("conv rank", lambda: _conv()(torch.randn(1, 1, 8, 8)), ValueError, "x must have rank 5"),
    ("conv channels", lambda: _conv()(torch.randn(1, 2, 8, 8, 8)), ValueError, "x must have 1 channels"),
    ("conv dtype", lambda: _conv()(torch.ones(1, 1, 4, 4, 4, dtype=torch.long)), TypeError, "floating-point"),
    ("conv numpy", lambda: _conv()(np.zeros((1, 1, 4, 4, 4))), TypeError, "torch.Tensor"),
    ("conv nan", lambda: _conv()(torch.full((1, 1, 4, 4, 4), float("nan"))), ValueError, "finite"),
    ("conv empty batch", lambda: _conv()(torch.zeros(0, 1, 4, 4, 4)), ValueError, "must not be empty"),
    ("relu on irreps", lambda: FieldReLU(FieldType(so3(), [(so3().irrep(1), 1)])), ValueError, "GatedNonlinearity"),
    ("net field", lambda: PDOTetrisNet(field="irrep1"), ValueError, "field must be one of"),
    ("net group", lambda: PDOTetrisNet(group="SO3"), ValueError, "group must be one of"),
    ("net mult", lambda: PDOTetrisNet(mult=0), ValueError, "mult"),
    ("so3 mults", lambda: SO3TetrisNet(mults=((1, 1, 1),)), ValueError, "mults must list 3 layers"),
    ("so3 dropout", lambda: SO3TetrisNet(dropout=1.5), ValueError, "dropout"),
    ("cnn channels", lambda: PlainCNN3d()(torch.randn(1, 2, 8, 8, 8)), ValueError, "1 channel"),
    ("tetris scale", lambda: tetris_volumes(0), ValueError, "scale"),
    ("rotate g shape", lambda: rotate_volume(torch.randn(1, 1, 4, 4, 4), torch.eye(2)), ValueError, "g must have"),
    ("rotate inf", lambda: rotate_volume(torch.full((1, 1, 4, 4, 4), float("inf")), torch.eye(3)), ValueError, "finite"),
    ("escnn element g", lambda: escnn_element(None, torch.eye(2)), ValueError, r"g must have shape \(3, 3\)"),
    ("eq types", lambda: equivariance_error(torch.nn.Identity(), torch.randn(1, 1, 4, 4, 4), torch.eye(3)), ValueError,
     "in_type and out_type"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "call", "exc", "match"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(
    what: str, call: Callable[[], object], exc: type[Exception], match: str
) -> None:
    with pytest.raises(exc, match=match):
        call()
