"""Official checkpoints load into our layers: a state dict in the official layout (per type pair
``weights_{a}_to_{b}`` (out_mul, in_mul, m) and ``B_base_{a}_to_{b}`` (out_dim, in_dim, m, n, n, n)),
built here on a different basis of the same space and with the official FD stencils (mixed second
derivatives negated), gives the same logits through our net as the official forward written out."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ballroom.pdo3d.functional import pdo_kernels
from ballroom.pdo3d.groups import octahedral
from ballroom.pdo3d.models import PDOTetrisNet, field_rep
from ballroom.pdo3d.official import load_official_conv, load_official_tetris, official_dense_weight


def _official_state(convention: str, field: str, mult: int, readout: int) -> dict[str, torch.Tensor]:
    """An official-layout Tetris-O state dict: random theta on a randomly mixed kernel basis."""
    o = octahedral()
    rep, triv = field_rep(o, field), o.trivial()
    name = {"regular": "regular", "quotient-V": "quotient_V"}[field]
    gen = torch.Generator().manual_seed(5)
    state: dict[str, torch.Tensor] = {}
    layers = [("conv1", triv, "trivial", 1, rep, name, mult), ("conv2", rep, name, mult, rep, name, mult),
              ("conv3", rep, name, mult, triv, "trivial", readout)]  # fmt: skip
    for prefix, ri, ni, mi, ro, no, mo in layers:
        k = pdo_kernels(ri, ro, "fd", convention=convention)  # (m, do, di, n, n, n)
        m = k.shape[0]
        mix = torch.randn(m, m, generator=gen, dtype=torch.float64) + 3 * torch.eye(m, dtype=torch.float64)
        base = torch.einsum("cb,boizyx->oiczyx", mix, k)  # another basis of the same kernel space
        state[f"{prefix}.weights_{ni}_to_{no}"] = torch.randn(mo, mi, m, generator=gen).float()
        state[f"{prefix}.B_base_{ni}_to_{no}"] = base.float()
    state["linear.weight"] = torch.randn(8, readout, generator=gen)
    state["linear.bias"] = torch.randn(8, generator=gen)
    return state


def _official_forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The official Tetris-O forward: relu(conv) -> avg -> relu(conv) -> avg -> relu(conv) -> mean -> linear."""
    w = [official_dense_weight(state, f"conv{k}.").to(x.dtype) for k in (1, 2, 3)]
    h = F.avg_pool3d(F.relu(F.conv3d(x, w[0], padding=1)), 2)
    h = F.avg_pool3d(F.relu(F.conv3d(h, w[1], padding=1)), 2)
    h = F.relu(F.conv3d(h, w[2], padding=1)).mean(dim=(2, 3, 4))
    return F.linear(h, state["linear.weight"].to(x.dtype), state["linear.bias"].to(x.dtype))


@pytest.mark.parametrize("field", ["regular", "quotient-V"])
@pytest.mark.parametrize("convention", ["ours", "official"])
def test_official_tetris_checkpoint_gives_the_same_logits(field: str, convention: str) -> None:
    state = _official_state(convention, field, mult=2, readout=4)
    net = PDOTetrisNet("O", field, mult=2, readout=4).double().eval()
    residuals = load_official_tetris(net, state)
    assert max(residuals.values()) < 1e-6, residuals
    x = torch.randn(3, 1, 12, 12, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = _official_forward(state, x)
    assert torch.allclose(net(x), ref, rtol=1e-5, atol=1e-6 * float(ref.abs().max()))


def test_a_kernel_outside_our_span_is_reported() -> None:
    o = octahedral()
    from ballroom.pdo3d.nn import FieldType, PDOConv3d

    layer = PDOConv3d(FieldType(o, [(o.trivial(), 1)]), FieldType(o, [(o.regular(), 1)]))
    w = torch.randn(24, 1, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    assert load_official_conv(layer, w) > 0.5  # a generic kernel is not O-equivariant
    with pytest.raises(ValueError, match="shape"):
        load_official_conv(layer, torch.randn(24, 2, 3, 3, 3))
    with pytest.raises(ValueError, match="in_names"):
        official_dense_weight({}, "conv1.")
