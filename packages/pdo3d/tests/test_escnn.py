"""Our ``PDOConv3d`` beside escnn's ``R3Conv`` on the same field types (runs only where escnn imports).

escnn is not a dependency: it needs numpy < 2 and a Fortran build (py3nj), so the workspace skips
this file. To run it: ``pip install escnn`` in an environment with numpy < 2 and gfortran, then
``pip install --no-deps -e shared -e packages/pdo3d`` and ``pytest packages/pdo3d/tests/test_escnn.py``.
Both layers are measured with the same protocol (:func:`ballroom.pdo3d.equivariance_error`; escnn's
through :mod:`ballroom.pdo3d.escnn_bridge`). The numbers of the README come from
``benchmarks/bench_escnn.py``.
"""

from __future__ import annotations

import pytest
import torch

enn = pytest.importorskip(
    "escnn.nn",
    reason="escnn is not installed (optional: it needs numpy < 2 and a Fortran compiler; see the README)",
)
gspaces = pytest.importorskip("escnn.gspaces")

from ballroom.pdo3d import (  # noqa: E402
    FieldType,
    PDOConv3d,
    central_ball,
    cube_rotations,
    equivariance_error,
    octahedral,
    random_rotations,
    rotate_volume,
    smooth_random_volumes,
    so3,
)
from ballroom.pdo3d.escnn_bridge import EscnnModule, escnn_element  # noqa: E402

OCT, S = octahedral(), so3()
GO, GS = gspaces.octaOnR3(), gspaces.rot3dOnR3()
SO3 = GS.fibergroup
E_TRIV, E_REG = enn.FieldType(GO, [GO.trivial_repr]), enn.FieldType(GO, [GO.regular_repr] * 2)
E0 = enn.FieldType(GS, [SO3.irrep(0)])
E1 = enn.FieldType(GS, [SO3.irrep(0)] * 2 + [SO3.irrep(1)] * 2 + [SO3.irrep(2)] * 2)
T_TRIV, T_REG = FieldType(OCT, [(OCT.trivial(), 1)]), FieldType(OCT, [(OCT.regular(), 2)])
U0 = FieldType(S, [(S.irrep(0), 1)])
U1 = FieldType(S, [(S.irrep(0), 2), (S.irrep(1), 2), (S.irrep(2), 2)])


def _escnn(t_in: object, t_out: object, k: int, group: object) -> EscnnModule:
    torch.manual_seed(0)
    return EscnnModule(enn.R3Conv(t_in, t_out, k, padding=k // 2, bias=False), group).double().eval()  # type: ignore[arg-type]


def _n(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_frame_map_is_a_bijection_onto_escnns_octahedral_group_and_a_homomorphism() -> None:
    rot = cube_rotations()
    elements = [escnn_element(GO, g) for g in rot]
    assert len(set(elements)) == 24
    assert escnn_element(GO, rot[3] @ rot[7]) == elements[3] @ elements[7]
    a, b = random_rotations(2, seed=3)
    e = escnn_element(GS, a @ b) @ (~(escnn_element(GS, a) @ escnn_element(GS, b)))
    assert abs(float(SO3.irrep(1)(e).trace()) - 3.0) < 1e-9  # the identity


def test_parameter_counts_equal_r3conv_on_a_3cubed_grid() -> None:
    """On 3^3 escnn's band-limited basis has the PDO basis's angular content (ring 0: l = 0;
    ring 1: l = 0, 1, 2 vs orders 0 / 1 / 2: l = 0 / 1 / 0 + 2): the same number of parameters."""
    for ours, theirs in (
        (PDOConv3d(T_TRIV, T_REG), _escnn(E_TRIV, E_REG, 3, OCT)),
        (PDOConv3d(T_REG, T_REG), _escnn(E_REG, E_REG, 3, OCT)),
        (PDOConv3d(U0, U1), _escnn(E0, E1, 3, S)),
        (PDOConv3d(U1, U1), _escnn(E1, E1, 3, S)),
    ):
        assert _n(ours) == _n(theirs), (ours, _n(ours), _n(theirs))
    assert _n(PDOConv3d(U1, U1, "gaussian")) < _n(
        _escnn(E1, E1, 5, S)
    )  # 5^3: escnn adds rings, we stay order 2


def test_both_are_exactly_equivariant_on_the_24_cube_rotations() -> None:
    x = torch.randn(1, 48, 8, 8, 8, dtype=torch.float64)
    for layer in (PDOConv3d(T_REG, T_REG).double().eval(), _escnn(E_REG, E_REG, 3, OCT)):
        assert max(equivariance_error(layer, x, g) for g in cube_rotations()) <= 1e-6
    # a control the test can fail: escnn's layer judged with our regular representation's basis
    wrong = _escnn(E_TRIV, E_REG, 3, OCT)
    xt = torch.randn(1, 1, 8, 8, 8, dtype=torch.float64)
    assert max(equivariance_error(wrong, xt, g, T_TRIV, T_REG) for g in cube_rotations()) > 1e-2


def test_so3_error_of_both_layers_under_the_same_protocol() -> None:
    x = smooth_random_volumes(1, 19, sigma=3.0, seed=1).double()
    g = random_rotations(1, seed=5)[0]
    ball = central_ball(x.shape, 4.0)
    floor = float(((rotate_volume(rotate_volume(x, g), g.T) - x) * ball).norm() / (x * ball).norm())
    torch.manual_seed(0)
    errs = {
        "ours gaussian": equivariance_error(PDOConv3d(U0, U1, "gaussian").double().eval(), x, g, radius=4.0),
        "escnn k=5": equivariance_error(_escnn(E0, E1, 5, S), x, g, radius=4.0),
    }
    for name, err in errs.items():
        assert floor < err < 0.05, (name, floor, errs)
