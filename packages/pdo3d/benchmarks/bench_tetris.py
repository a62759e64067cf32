"""ballroom-pdo3d against the official formulation (a reference written here).

``nox -s "bench(pdo3d, cpu)"`` -> ``.benchmarks/pdo3d-cpu.json``. Report ratios, not CPU seconds.

- ``tetris-<net>``: forward + backward of a Tetris net (batch 8, 20^3) with our ``PDOConv3d``
  (one einsum per field-type pair written into the weight) vs the official formulation (one einsum
  per type pair on kernels in the official ``(out_dim, in_dim, m, n, n, n)`` layout, blocks
  concatenated, as ``PDO_e3DConv.forward``; checked equal first).
- ``python benchmarks/bench_tetris.py``: the same comparison timed interleaved (ours, official,
  ours, ...; the minimum of 7 each), the robust number on a shared machine.
- ``basis-solve``: the cold solve of the O regular -> regular system (Reynolds projector + thin SVD)
  vs a thin SVD of the stacked generator constraints (6912 x 3456).
- escnn's ``R3Conv``: ``bench_escnn.py`` (only where escnn imports).
"""

from __future__ import annotations

import tempfile

import pytest
import torch
import torch.nn.functional as F

from ballroom.pdo3d import functional as fn
from ballroom.pdo3d.groups import octahedral
from ballroom.pdo3d.models import PDOTetrisNet, SO3TetrisNet
from ballroom.pdo3d.nn import PDOConv3d

torch.set_num_threads(1)


def official_layout(conv: PDOConv3d) -> list[tuple[torch.Tensor, torch.Tensor, int, int]]:
    """Our layer's parameters in the official layout, per (output type, input type) pair, output
    types outer: ``(weights (out_mul, in_mul, m), B_base (out_dim, in_dim, m, n, n, n), so, si)``.
    Built once outside the timed region (the official layer keeps ``B_base`` as a buffer)."""
    out = []
    for name, si, _mi, _di, so, _mo, _do in conv._pairs:
        k = getattr(conv, f"kernel_{name}")
        out.append((conv.theta[name], k.permute(1, 2, 0, 3, 4, 5).contiguous(), so, si))
    return out


def reference_weight(
    conv: PDOConv3d, layout: list[tuple[torch.Tensor, torch.Tensor, int, int]]
) -> torch.Tensor:
    """The official assembly (``PDO_e3DConv.forward``): one ``einsum("ijk,lmknop->iljmnop")`` per
    type pair, the blocks concatenated along inputs then outputs (types without a basis: zeros)."""
    n = conv.kernel_size
    ref = layout[0][0]
    rows = []
    for rep_o, so, mo in conv.out_type.slices():
        cols = []
        for rep_i, si, mi in conv.in_type.slices():
            hit = [(t, b) for t, b, so_, si_ in layout if so_ == so and si_ == si]
            if hit:
                t, b = hit[0]
                w = torch.einsum("ijk,lmknop->iljmnop", t, b).reshape(mo * rep_o.dim, mi * rep_i.dim, n, n, n)
            else:
                w = ref.new_zeros(mo * rep_o.dim, mi * rep_i.dim, n, n, n)
            cols.append(w)
        rows.append(torch.cat(cols, 1))
    return torch.cat(rows, 0)


def _reference_forward(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    layouts = net.__dict__.setdefault("_official_layout", {})
    for k, layer in enumerate(net.body):
        if isinstance(layer, PDOConv3d):
            if k not in layouts:
                layouts[k] = official_layout(layer)
            w = reference_weight(layer, layouts[k])
            x = F.conv3d(x, w, stride=layer.stride, padding=layer.kernel_size // 2)
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


def _interleaved(name: str, repeats: int = 7) -> tuple[float, float]:
    """Minimum seconds of forward + backward, ours and the official formulation taken in turn
    (core's ``round_robin``: one warm-up call each, then ``repeats`` rounds)."""
    from ballroom.core.profiling import round_robin

    torch.manual_seed(0)
    net = NETS[name]().train()
    x = torch.randn(8, 1, 20, 20, 20)
    timings = round_robin(
        {
            "ours": lambda: _step(lambda n, v: n(v), net, x),
            "official": lambda: _step(_reference_forward, net, x),
        },
        rounds=repeats,
        warmup=1,
    )
    return timings["ours"].min, timings["official"].min


if __name__ == "__main__":
    for net_name in sorted(NETS):
        t_ours, t_off = _interleaved(net_name)
        print(
            f"{net_name}: ours {t_ours:.3f} s, official formulation {t_off:.3f} s, ratio {t_ours / t_off:.2f}x"
        )
