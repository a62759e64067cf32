"""Kernels against an independent transcription of the formula, gradcheck, parameter and FLOP counters,
grids of residual blocks, the separability diagnostic on networks."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.sepgcnn.groups import SE2, Sim2
from ballroom.sepgcnn.metrics import (
    count_flops,
    count_parameters,
    group_conv_flops,
    group_conv_parameters,
    kernel_separability,
)
from ballroom.sepgcnn.models import CKGResNet, Z2ResNet, z2_widths_for
from ballroom.sepgcnn.nn import IMPLEMENTATIONS, GroupConv, SIRENKernel


def test_nonseparable_kernel_matches_the_formula_on_distinct_grids() -> None:
    """W[(o,m),(i,j),r,c] = k^{o,i}(R(-theta_m) (lin[c], lin[r]), ((theta_j - theta_m) mod 2pi)/pi - 1),
    disc-masked, with *different* input and output grids (the official layer's swapped arguments
    would only agree when both grids coincide)."""
    torch.manual_seed(0)
    conv = GroupConv(SE2(4), 2, 3, 5, implementation="nonseparable", hidden=8).double()
    in_el = torch.tensor([[0.1], [1.3], [2.9], [4.4]], dtype=torch.float64)
    out_el = torch.tensor([[0.5], [2.0], [3.3], [5.9], [6.1]], dtype=torch.float64)
    w = conv.kernel(in_el, out_el)
    assert isinstance(w, torch.Tensor) and w.shape == (3 * 5, 2 * 4, 5, 5)
    lin = torch.linspace(-1, 1, 5, dtype=torch.float64)
    for m, (t_out,) in enumerate(out_el.tolist()):
        for j, (t_in,) in enumerate(in_el.tolist()):
            for r in range(5):
                for c in range(5):
                    x, y = float(lin[c]), float(lin[r])
                    xr = math.cos(-t_out) * x - math.sin(-t_out) * y
                    yr = math.sin(-t_out) * x + math.cos(-t_out) * y
                    phi = ((t_in - t_out) % (2 * math.pi)) / math.pi - 1
                    value = conv.kernel_net(torch.tensor([xr, yr, phi], dtype=torch.float64)).view(3, 2)
                    if math.hypot(x, y) > 1 + 1e-6:
                        value = value * 0
                    torch.testing.assert_close(w.view(3, 5, 2, 4, 5, 5)[:, m, :, j, r, c], value)


class _FullKernel(torch.nn.Module):
    """``el -> conv.full_kernel(el, el)`` as a module, so ``functional_call`` can swap its parameters."""

    def __init__(self, conv: GroupConv) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, el: torch.Tensor) -> torch.Tensor:
        return self.conv.full_kernel(el, el)


def test_kernel_generation_gradcheck() -> None:
    torch.manual_seed(1)
    for impl, group in (("nonseparable", SE2(4)), ("separable", SE2(4)), ("separable+2d", Sim2(4, 2, 1.5))):
        wrap = _FullKernel(GroupConv(group, 2, 2, 3, implementation=impl, hidden=4)).double()  # type: ignore[arg-type]
        el = group.sample().double()
        names = [n for n, _ in wrap.named_parameters()]
        params = tuple(p.detach().clone().requires_grad_() for p in wrap.parameters())

        def materialise(
            *ps: torch.Tensor, wrap: torch.nn.Module = wrap, el: torch.Tensor = el, names: list[str] = names
        ) -> torch.Tensor:
            return torch.func.functional_call(wrap, dict(zip(names, ps)), (el,))

        assert torch.autograd.gradcheck(materialise, params, fast_mode=True)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_parameter_counts_follow_the_closed_form(implementation: str) -> None:
    for n_rot, k in ((4, 3), (8, 7)):
        group = Sim2(n_rot, 2, 1.5) if implementation.endswith("+2d") else SE2(n_rot)
        conv = GroupConv(group, 3, 5, k, implementation=implementation, hidden=16, num_hidden=2)  # type: ignore[arg-type]
        assert count_parameters(conv) == group_conv_parameters(implementation, 3, 5, group.dim, 16, 2)
    assert count_parameters(SIRENKernel(2, 7, hidden=16, num_hidden=2)) == (3 * 16) + 2 * 17 * 16 + 17 * 7


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_flop_counter_agrees_with_the_closed_form(implementation: str) -> None:
    group = Sim2(4, 2, 1.5) if implementation.endswith("+2d") else SE2(8)
    conv = GroupConv(group, 3, 4, 5, implementation=implementation, hidden=8).eval()  # type: ignore[arg-type]
    el = group.sample()
    x = torch.randn(2, 3, group.size, 6, 7)
    with torch.no_grad():
        conv(x, el)  # builds and caches the kernel: the next call is only the convolutions
        counted = count_flops(conv, x, el)
    expected = group_conv_flops(
        implementation, 3, 4, group.size, group.size, 5, 6, 7, batch=2, n_scale=getattr(group, "n_scale", 1)
    )
    assert counted == expected
    full = group_conv_flops("nonseparable", 32, 32, 16, 16, 7, 28, 28)
    assert full / group_conv_flops("separable", 32, 32, 16, 16, 7, 28, 28) > 20  # the paper's cost argument


def test_residual_blocks_reuse_the_input_grid_and_networks_are_invariant_with_uniform_sampling() -> None:
    torch.manual_seed(2)
    net = CKGResNet(
        SE2(4), widths=(2, 2, 4), kernel_size=3, hidden=8, sampling="uniform", input_size=16
    ).double()
    grids: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    for layer in net.modules():
        if isinstance(layer, GroupConv):
            layer.register_forward_hook(lambda mod, args, out: grids.append((args[1], out[1])))
    net.eval()
    with torch.no_grad():
        net(torch.randn(1, 1, 16, 16, dtype=torch.float64))
    assert grids and all(torch.equal(a, b) for a, b in grids)  # every conv maps onto its input grid
    assert all(torch.equal(grids[0][0], g[0]) for g in grids)  # one grid throughout (the lifting's)
    assert float(grids[0][0][0, 0]) > 0  # uniform: a random offset was drawn


def test_z2_baseline_matches_parameter_count() -> None:
    target = count_parameters(CKGResNet(SE2(8), widths=(8, 8, 16), kernel_size=5, hidden=32))
    assert target == 44_058  # the spec's "~44k"
    widths = z2_widths_for(target, kernel_size=5)
    n = count_parameters(Z2ResNet(widths=widths, kernel_size=5))
    assert abs(n - target) / target < 0.05
    with torch.no_grad():
        assert Z2ResNet(widths=widths, kernel_size=5)(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_trained_like_kernels_score_higher_separability() -> None:
    torch.manual_seed(3)
    low_rank = torch.einsum("on,ok->onk", torch.randn(16, 8), torch.randn(16, 25)) + 0.05 * torch.randn(
        16, 8, 25
    )
    random = torch.randn(16, 8, 25)
    # (C_out N_out, C_in N_in, k, k) with C_out = 2, N = 8, C_in = 1: each (N_in, k^2) slice is one matrix
    assert float(kernel_separability(low_rank.view(16, 8, 5, 5), 8, 8).mean()) > 0.9
    assert float(kernel_separability(random.view(16, 8, 5, 5), 8, 8).mean()) < 0.5
    stack = low_rank.view(16, 8, 5, 5)  # (..., N, k, k): no group sizes needed
    torch.testing.assert_close(kernel_separability(stack), kernel_separability(stack, 8, 8).flatten())
    with pytest.raises(ValueError, match="both n_out and n_in"):
        kernel_separability(stack, 8)
    with pytest.raises(ValueError, match="C_out\\*N_out"):
        kernel_separability(torch.randn(7, 8, 5, 5), 4, 4)


def test_eval_sampling_makes_uniform_models_deterministic() -> None:
    from ballroom.sepgcnn.models import set_eval_sampling

    torch.manual_seed(4)
    net = CKGResNet(
        "SE2", n_rot=4, widths=(2, 2, 4), kernel_size=3, hidden=8, sampling="uniform", input_size=16
    )
    x = torch.randn(3, 1, 16, 16)
    net.eval()
    with torch.no_grad():
        a, b = net(x), net(x)
        assert not torch.allclose(a, b)  # the official behaviour: a new random grid in every eval call
        set_eval_sampling(net, "discretise")
        c, d = net(x), net(x)
    torch.testing.assert_close(c, d, rtol=0, atol=0)
    net.train()
    grids = []
    net.lift.register_forward_hook(lambda mod, args, out: grids.append(out[1]))
    net(x)
    assert float(grids[0][0, 0]) > 0  # training still samples uniformly
    with pytest.raises(ValueError, match="eval sampling"):
        set_eval_sampling(net, "random")
