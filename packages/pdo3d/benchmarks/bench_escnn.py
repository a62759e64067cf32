"""ballroom-pdo3d's ``PDOConv3d`` against escnn's ``R3Conv`` on the same field types (escnn optional).

escnn is not a declared dependency (it needs numpy < 2 and a Fortran build of py3nj); everything
here skips where it does not import. In an environment where it does (``pip install escnn`` with
numpy < 2 and gfortran, then ``pip install --no-deps -e shared -e packages/pdo3d``):

- ``python benchmarks/bench_escnn.py``: the whole comparison table of the README: (a) parameters
  per layer, (b) the equivariance error on the 24 cube rotations, (c) the SO(3) equivariance error
  under random rotations of a smooth volume (single layers and the reproduction's 2-layer gated
  irreps net, 8 seeds), all with :func:`ballroom.pdo3d.equivariance_error` (escnn's layers are
  seen through :mod:`ballroom.pdo3d.escnn_bridge`), and (d) forward + backward time, ours and
  escnn's taken in turn (minimum of 7 each) and reported as a ratio.
- ``python benchmarks/bench_escnn.py --nets-only 1.6``: only the 2-layer net table, on the
  reproduction's input (smoothing std 1.6).
- ``pytest benchmarks/bench_escnn.py``: the timings as pytest-benchmark groups.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import torch
from torch import nn

from ballroom.pdo3d import (
    FieldType,
    GatedNonlinearity,
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
from ballroom.pdo3d.escnn_bridge import EscnnModule

torch.set_num_threads(1)

OCT, S = octahedral(), so3()


def _escnn() -> tuple[object, object]:
    enn = pytest.importorskip("escnn.nn", reason="escnn is not installed (it needs numpy < 2 and gfortran)")
    gspaces = pytest.importorskip("escnn.gspaces")
    return enn, gspaces


def layer_pairs() -> dict[str, tuple[Callable[[], nn.Module], Callable[[], nn.Module]]]:
    """Name -> (ours, escnn's) single-layer constructors on the same field types (no bias)."""
    enn, gspaces = _escnn()
    go, gs = gspaces.octaOnR3(), gspaces.rot3dOnR3()  # type: ignore[attr-defined]
    g = gs.fibergroup

    def e_type(space: object, reps: list[object]) -> object:
        return enn.FieldType(space, reps)  # type: ignore[attr-defined]

    o_triv, o_reg = e_type(go, [go.trivial_repr]), e_type(go, [go.regular_repr] * 2)  # type: ignore[attr-defined]
    s0 = e_type(gs, [g.irrep(0)])
    s1 = e_type(gs, [g.irrep(0)] * 2 + [g.irrep(1)] * 2 + [g.irrep(2)] * 2)
    t_triv, t_reg = FieldType(OCT, [(OCT.trivial(), 1)]), FieldType(OCT, [(OCT.regular(), 2)])
    u0 = FieldType(S, [(S.irrep(0), 1)])
    u1 = FieldType(S, [(S.irrep(0), 2), (S.irrep(1), 2), (S.irrep(2), 2)])

    def theirs(ti: object, to: object, k: int, group: object) -> Callable[[], nn.Module]:
        return lambda: EscnnModule(enn.R3Conv(ti, to, k, padding=k // 2, bias=False), group)  # type: ignore[attr-defined]

    return {
        "O trivial->regular x2 (FD 3^3 | R3Conv k=3)": (lambda: PDOConv3d(t_triv, t_reg), theirs(o_triv, o_reg, 3, OCT)),
        "O regular x2->regular x2 (FD 3^3 | R3Conv k=3)": (lambda: PDOConv3d(t_reg, t_reg), theirs(o_reg, o_reg, 3, OCT)),
        "SO(3) l=0 -> l=0,1,2 x2 (FD 3^3 | R3Conv k=3)": (lambda: PDOConv3d(u0, u1), theirs(s0, s1, 3, S)),
        "SO(3) l=0,1,2 x2 -> same (FD 3^3 | R3Conv k=3)": (lambda: PDOConv3d(u1, u1), theirs(s1, s1, 3, S)),
        "SO(3) l=0 -> l=0,1,2 x2 (Gaussian 5^3 | R3Conv k=5)": (
            lambda: PDOConv3d(u0, u1, "gaussian"), theirs(s0, s1, 5, S)),
        "SO(3) l=0,1,2 x2 -> same (Gaussian 5^3 | R3Conv k=5)": (
            lambda: PDOConv3d(u1, u1, "gaussian"), theirs(s1, s1, 5, S)),
    }  # fmt: skip


def irreps_nets(seed: int) -> dict[str, nn.Module]:
    """The reproduction's 2-layer irreps net (l = 0, 1, 2, multiplicity 2, gated) with our PDO
    layers (FD 3^3, Gaussian 5^3) and with escnn's ``R3Conv`` (k = 3, 5) in their place, the same
    gate (our ``GatedNonlinearity``: it scales whole fields, so it is basis independent)."""
    enn, gspaces = _escnn()
    gs = gspaces.rot3dOnR3()  # type: ignore[attr-defined]
    g = gs.fibergroup
    reps = [g.irrep(0)] * 2 + [g.irrep(1)] * 2 + [g.irrep(2)] * 2
    s0, s1 = enn.FieldType(gs, [g.irrep(0)]), enn.FieldType(gs, reps)  # type: ignore[attr-defined]
    s1g = enn.FieldType(gs, reps + [g.irrep(0)] * 4)  # type: ignore[attr-defined]
    u0 = FieldType(S, [(S.irrep(0), 1)])
    u1 = FieldType(S, [(S.irrep(0), 2), (S.irrep(1), 2), (S.irrep(2), 2)])
    nets: dict[str, nn.Module] = {}
    for mode in ("fd", "gaussian"):
        torch.manual_seed(seed)
        nets[f"ours {mode}"] = nn.Sequential(
            PDOConv3d(u0, u1.gated(), mode), GatedNonlinearity(u1), PDOConv3d(u1, u1, mode)
        )
    for k in (3, 5):
        torch.manual_seed(seed)
        conv = enn.R3Conv  # type: ignore[attr-defined]
        nets[f"escnn k={k}"] = nn.Sequential(EscnnModule(conv(s0, s1g, k, padding=k // 2, bias=False), S),
                                             GatedNonlinearity(u1), EscnnModule(conv(s1, s1, k, padding=k // 2, bias=False), S))  # fmt: skip
    return {k: v.double().eval() for k, v in nets.items()}


def _types(net: nn.Module) -> tuple[FieldType, FieldType]:
    first = net[0] if isinstance(net, nn.Sequential) else net
    last = net[-1] if isinstance(net, nn.Sequential) else net
    return first.in_type, last.out_type  # type: ignore[return-value]


def so3_error(net: nn.Module, x: torch.Tensor, rotations: torch.Tensor, radius: float = 6.0) -> float:
    """Mean relative SO(3) equivariance error over ``rotations`` (the reproduction's protocol)."""
    t_in, t_out = _types(net)
    return sum(equivariance_error(net, x, g, t_in, t_out, radius=radius) for g in rotations) / len(rotations)


def timed_pair(ours: nn.Module, theirs: nn.Module, x: torch.Tensor, repeats: int = 7) -> tuple[float, float]:
    """Minimum seconds of forward + backward (train mode), ours and escnn's taken in turn."""
    best = [float("inf"), float("inf")]
    for _ in range(repeats + 1):  # the first round warms up
        for k, m in enumerate((ours, theirs)):
            m.zero_grad()
            start = time.perf_counter()
            m(x).square().sum().backward()
            best[k] = min(best[k], time.perf_counter() - start)
    return best[0], best[1]


def main() -> None:
    """Print the README's comparison table (a)-(d)."""
    import escnn  # type: ignore[import-not-found]
    import numpy as np

    print(f"escnn {escnn.__version__}, numpy {np.__version__}, torch {torch.__version__}, 1 thread")
    x = smooth_random_volumes(1, 25, sigma=3.0, seed=0).double()
    rots = random_rotations(4, seed=100)
    ball = central_ball(x.shape, 6.0)
    floor = sum(float(((rotate_volume(rotate_volume(x, g), g.T) - x) * ball).norm() / (x * ball).norm())
                for g in rots) / len(rots)  # fmt: skip
    print(f"interpolation round-trip floor (25^3, sigma 3, ball r = 6): {100 * floor:.3f} %")
    print("| layer | params ours / escnn | cube-rotation error ours / escnn | SO(3) error ours / escnn | "
          "fwd+bwd ours / escnn |")  # fmt: skip
    for name, (make_ours, make_theirs) in layer_pairs().items():
        torch.manual_seed(0)
        ours, theirs = make_ours().double().eval(), make_theirs().double().eval()
        p = [sum(q.numel() for q in m.parameters()) for m in (ours, theirs)]
        c_in = ours.in_type.size  # type: ignore[union-attr]
        xc = torch.randn(1, c_in, 12, 12, 12, dtype=torch.float64)
        cube = [max(equivariance_error(m, xc, g) for g in cube_rotations()) for m in (ours, theirs)]
        xs = smooth_random_volumes(1, 25, sigma=3.0, channels=c_in, seed=0).double()
        so3_err = [so3_error(m, xs, rots) for m in (ours, theirs)] if "SO(3)" in name else None
        ours.float().train(), theirs.float().train()
        t = timed_pair(ours, theirs, torch.randn(8, c_in, 20, 20, 20))
        e = f"{100 * so3_err[0]:.2f} % / {100 * so3_err[1]:.2f} %" if so3_err else "- (O only)"
        print(f"| {name} | {p[0]} / {p[1]} | {cube[0]:.1e} / {cube[1]:.1e} | {e} | "
              f"{t[0] * 1e3:.1f} / {t[1] * 1e3:.1f} ms = {t[0] / t[1]:.2f}x |", flush=True)  # fmt: skip
    net_table(x, rots, 3.0)


def net_table(x: torch.Tensor, rots: torch.Tensor, smooth: float) -> None:
    """The 2-layer net's SO(3) error over 8 seeds on ``x`` (smoothing std ``smooth``), ours and escnn's."""
    per_seed: dict[str, list[float]] = {}
    for seed in range(8):
        for name, net in irreps_nets(seed).items():
            per_seed.setdefault(name, []).append(so3_error(net, x, rots))
    print(f"2-layer gated irreps net (the reproduction's), smoothing std {smooth:g}, SO(3) error over 8 seeds "
          "(mean / median / min-max):")  # fmt: skip
    for name, errs in per_seed.items():
        e = sorted(errs)
        print(f"  {name}: {100 * sum(e) / len(e):.2f} % / {100 * (e[3] + e[4]) / 2:.2f} % / "
              f"{100 * e[0]:.2f}-{100 * e[-1]:.2f} %; per seed {[round(100 * v, 2) for v in errs]}")  # fmt: skip
    wins = sum(g < f for g, f in zip(per_seed["ours gaussian"], per_seed["ours fd"]))
    print(f"  ours Gaussian < ours FD in {wins} of 8 seeds")


def nets_only(smooth: float) -> None:
    """Only the 2-layer net table, on a volume smoothed with std ``smooth`` (the reproduction uses 1.6)."""
    x = smooth_random_volumes(1, 25, sigma=smooth, seed=0).double()
    rots = random_rotations(4, seed=100)
    ball = central_ball(x.shape, 6.0)
    floor = sum(float(((rotate_volume(rotate_volume(x, g), g.T) - x) * ball).norm() / (x * ball).norm())
                for g in rots) / len(rots)  # fmt: skip
    print(f"interpolation round-trip floor (25^3, sigma {smooth:g}, ball r = 6): {100 * floor:.3f} %")
    net_table(x, rots, smooth)


@pytest.mark.parametrize("impl", ["ours", "escnn"])
@pytest.mark.parametrize("name", ["O regular x2->regular x2", "SO(3) l=0,1,2 x2 -> same (Gaussian"])
def test_forward_backward_vs_r3conv(benchmark: pytest.FixtureRequest, name: str, impl: str) -> None:
    pairs = layer_pairs()
    key = next(k for k in pairs if k.startswith(name))
    benchmark.group = f"escnn-{key}"
    torch.manual_seed(0)
    layer = pairs[key][0 if impl == "ours" else 1]().train()
    x = torch.randn(8, layer.in_type.size, 20, 20, 20)  # type: ignore[union-attr]

    def step() -> None:
        layer.zero_grad()
        layer(x).square().sum().backward()

    benchmark(step)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="ours vs escnn R3Conv (the README's tables)")
    parser.add_argument("--nets-only", type=float, metavar="SMOOTH", default=None,
                        help="only the 2-layer net table, input smoothed with this std (e.g. 1.6)")  # fmt: skip
    ns = parser.parse_args()
    if ns.nets_only is None:
        main()
    else:
        nets_only(ns.nets_only)
