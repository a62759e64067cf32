"""ballroom-pdo3d against the official formulation (a reference written here) and escnn's R3Conv.

``nox -s "bench(pdo3d, cpu)"`` -> ``.benchmarks/pdo3d-cpu.json``. Report ratios, not CPU seconds.

- ``tetris-<net>``: forward + backward of a Tetris net (batch 8, 20^3) with our ``PDOConv3d``
  (one einsum per field-type pair) vs the reference formulation (the weight assembled block by
  block, one field copy pair at a time, as the official layers do; checked equal first).
- ``basis-solve``: the cold solve of the O regular -> regular system (Reynolds projector + thin SVD)
  vs a thin SVD of the stacked generator constraints (6912 x 3456).
- ``escnn``: only when escnn is importable (it is not a declared extra: it needs compiled
  dependencies), our layer vs ``R3Conv`` on O regular fields: parameter count, equivariance error, time.
"""

from __future__ import annotations

import tempfile

import pytest
import torch
import torch.nn.functional as F

from ballroom.pdo3d import functional as fn
from ballroom.pdo3d.groups import octahedral
from ballroom.pdo3d.models import PDOTetrisNet, SO3TetrisNet
from ballroom.pdo3d.nn import FieldType, PDOConv3d

torch.set_num_threads(1)


def reference_weight(conv: PDOConv3d) -> torch.Tensor:
    """The official-style assembly: ``W[p-th out field, q-th in field] = sum_b theta[p, q, b] K_b``."""
    n = conv.kernel_size
    first = next(iter(conv.theta.values()))
    w = first.new_zeros(conv.out_type.size, conv.in_type.size, n, n, n)
    for name, si, mi, di, so, mo, do in conv._pairs:
        k = getattr(conv, f"kernel_{name}")
        theta = conv.theta[name]
        for p in range(mo):
            for q in range(mi):
                block = torch.tensordot(theta[p, q], k, dims=1)  # (do, di, n, n, n)
                w[so + p * do : so + (p + 1) * do, si + q * di : si + (q + 1) * di] = block
    return w


def _reference_forward(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    for layer in net.body:
        if isinstance(layer, PDOConv3d):
            x = F.conv3d(x, reference_weight(layer), stride=layer.stride, padding=layer.kernel_size // 2)
        else:
            x = layer(x)
    return net.head(x)


NETS = {
    "o-regular": lambda: PDOTetrisNet("O", "regular", 10, 64),
    "o-vquotient": lambda: PDOTetrisNet("O", "quotient-V", 10, 64),
    "so3-gaussian": lambda: SO3TetrisNet(((2, 2, 2), (4, 4, 4), (8, 4, 4)), 32, dropout=0.0),
}


def _step(forward: object, net: torch.nn.Module, x: torch.Tensor) -> None:
    net.zero_grad()
    forward(net, x).sum().backward()  # type: ignore[operator]


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("impl", ["ours", "reference"])
def test_tetris_forward_backward(benchmark: pytest.FixtureRequest, name: str, impl: str) -> None:
    benchmark.group = f"tetris-{name}"
    torch.manual_seed(0)
    net = NETS[name]().train()
    x = torch.randn(8, 1, 20, 20, 20)
    ours = lambda n, v: n(v)  # noqa: E731
    ref = _reference_forward
    with torch.no_grad():
        torch.testing.assert_close(ours(net, x), ref(net, x), rtol=1e-4, atol=1e-5)  # same outputs
    benchmark(_step, ours if impl == "ours" else ref, net, x)


@pytest.mark.parametrize("impl", ["reynolds", "stacked-svd"])
def test_basis_solve_cold(benchmark: pytest.FixtureRequest, impl: str) -> None:
    benchmark.group = "basis-solve-O-regular-regular"
    o = octahedral()
    reg = o.regular()

    def reynolds() -> None:
        fn._MEM.clear()
        with tempfile.TemporaryDirectory() as tmp:
            fn.solve_pdo_basis(reg, reg, cache_dir=tmp)

    def stacked() -> None:
        system = torch.cat([fn.constraint_matrices(reg, reg, g, 2) for g in o.generators])
        s = torch.linalg.svd(system, full_matrices=False)[1]
        assert int((s <= 1e-10).sum()) == 144

    benchmark.pedantic(reynolds if impl == "reynolds" else stacked, rounds=1, iterations=1)


def test_escnn_r3conv_comparison(benchmark: pytest.FixtureRequest) -> None:
    escnn_nn = pytest.importorskip("escnn.nn")
    gspaces = pytest.importorskip("escnn.gspaces")
    benchmark.group = "escnn-O-regular"
    gs = gspaces.octaOnR3()
    t_in = escnn_nn.FieldType(gs, [gs.regular_repr] * 2)
    t_out = escnn_nn.FieldType(gs, [gs.regular_repr] * 2)
    theirs = escnn_nn.R3Conv(t_in, t_out, kernel_size=3, padding=1)
    o = octahedral()
    ours = PDOConv3d(FieldType(o, [(o.regular(), 2)]), FieldType(o, [(o.regular(), 2)]))
    n_ours = sum(p.numel() for p in ours.parameters())
    n_theirs = sum(p.numel() for p in theirs.parameters())
    x = torch.randn(2, 48, 16, 16, 16)
    print(f"parameters: ours {n_ours}, escnn R3Conv {n_theirs}")
    benchmark(lambda: theirs(escnn_nn.GeometricTensor(x, t_in)).tensor.sum().backward())
