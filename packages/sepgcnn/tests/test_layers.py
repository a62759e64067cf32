"""Lifting and group convolutions: rot90 equivariance, two paths agree, the N = 1 case, offsets."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ballroom.sepgcnn.groups import SE2, Sim2
from ballroom.sepgcnn.metrics import kernel_separability
from ballroom.sepgcnn.nn import (
    IMPLEMENTATIONS,
    GroupBatchNorm,
    GroupConv,
    GroupInvariantMax,
    GroupMaxPool2d,
    LiftingConv,
    SIRENKernel,
    tap_grid,
)


def _rot(x: torch.Tensor) -> torch.Tensor:
    return torch.rot90(x, 1, (-2, -1))


def _roll_group(y: torch.Tensor, group: SE2) -> torch.Tensor:
    """Shift the rotation index by -N_rot/4 (Sim(2): the rotation sub-axis of the rotation-major axis)."""
    if isinstance(group, Sim2):
        b, c, n, h, w = y.shape
        y = y.view(b, c, group.n_rot, group.n_scale, h, w)
        return torch.roll(y, -group.n_rot // 4, dims=2).view(b, c, n, h, w)
    return torch.roll(y, -group.n_rot // 4, dims=2)


GROUPS = [SE2(4), SE2(8), Sim2(4, 2, 1.5)]


@pytest.mark.parametrize("group", GROUPS, ids=repr)
def test_lifting_rot90_equivariance(group: SE2) -> None:
    torch.manual_seed(0)
    lift = LiftingConv(group, 3, 4, 5, hidden=16).double()
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    y, _ = lift(x)
    y_rot, _ = lift(_rot(x))
    err = (y_rot - _roll_group(_rot(y), group)).abs().max() / y.abs().max()
    assert float(err) < 1e-5


@pytest.mark.parametrize("group", GROUPS, ids=repr)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_group_conv_rot90_equivariance(group: SE2, implementation: str) -> None:
    if implementation.endswith("+2d") and not isinstance(group, Sim2):
        pytest.skip("separable+2d is Sim(2) only")
    torch.manual_seed(1)
    conv = GroupConv(group, 3, 2, 5, implementation=implementation, hidden=16).double()  # type: ignore[arg-type]
    el = group.sample().double()
    x = torch.randn(2, 3, group.size, 12, 12, dtype=torch.float64)
    y, _ = conv(x, el)
    y_rot, _ = conv(_roll_group(_rot(x), group), el)
    err = (y_rot - _roll_group(_rot(y), group)).abs().max() / y.abs().max()
    assert float(err) < 1e-5


@pytest.mark.parametrize("group", GROUPS, ids=repr)
def test_separable_two_paths_agree(group: SE2) -> None:
    torch.manual_seed(2)
    conv = GroupConv(group, 3, 2, 5, implementation="separable", hidden=16).double()
    el = group.sample().double()
    w_h, w_r = conv.kernel(el)  # type: ignore[misc]
    n = group.size
    full = w_h.view(2 * n, 3 * n, 1, 1) * w_r.view(2 * n, 1, 5, 5)  # k_H^{o,i}(h) k_R^{o}(x) materialised
    x = torch.randn(2, 3, n, 10, 10, dtype=torch.float64)
    ref = F.conv2d(x.reshape(2, 3 * n, 10, 10), full, padding=2).view(2, 2, n, 10, 10)
    torch.testing.assert_close(conv(x, el)[0], ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_forward_equals_conv_with_the_full_kernel(implementation: str) -> None:
    """Every factorised forward pass == one conv2d with the materialised kernel (two independent paths)."""
    group = Sim2(4, 2, 1.5) if implementation.endswith("+2d") else SE2(4)
    torch.manual_seed(7)
    conv = GroupConv(group, 3, 2, 3, implementation=implementation, hidden=16).double()  # type: ignore[arg-type]
    el = group.sample().double()
    n = group.size
    x = torch.randn(2, 3, n, 8, 8, dtype=torch.float64)
    full = conv.full_kernel(el)
    assert full.shape == (2 * n, 3 * n, 3, 3)
    torch.testing.assert_close(conv.full_kernel(), full)  # default: the discretised grid
    ref = F.conv2d(x.reshape(2, 3 * n, 8, 8), full, padding=1).view(2, 2, n, 8, 8)
    for channels_last in (False, True):
        conv.channels_last = channels_last
        torch.testing.assert_close(conv(x, el)[0], ref, rtol=1e-10, atol=1e-10)


def test_gseparable_and_separable_kernels_are_the_products_of_their_factors() -> None:
    """The materialised gseparable kernel is k_H^{o,i} k_R^{o,i}; separable ties k_R over inputs."""
    torch.manual_seed(8)
    el = SE2(4).sample().double()
    for impl in ("gseparable", "separable"):
        conv = GroupConv(SE2(4), 3, 2, 5, implementation=impl, hidden=16).double()
        kh = conv._group_factor(el, el)  # (N_out, N_in, C_out, C_in)
        kr = conv._spatial_factor(el)  # (N_out, k, k, C_out[, C_in])
        if impl == "separable":
            kr = kr[..., None].expand(*kr.shape, 3)
        full = torch.einsum("abij,aklij->iajbkl", kh, kr).reshape(8, 12, 5, 5)
        torch.testing.assert_close(conv.full_kernel(el), full, rtol=1e-12, atol=1e-12)
        sep = kernel_separability(full, 4, 4)
        torch.testing.assert_close(sep, torch.ones_like(sep))  # each (N_in, k^2) slice is rank one


def test_aliases_and_bad_arguments() -> None:
    assert GroupConv(SE2(4), 2, 2, 3, separable="hc").implementation == "separable"
    assert GroupConv(SE2(4), 2, 2, 3, implementation="none").implementation == "nonseparable"
    with pytest.raises(ValueError, match="implementation must be one of"):
        GroupConv(SE2(4), 2, 2, 3, implementation="full")
    with pytest.raises(ValueError, match="needs a Sim2 group"):
        GroupConv(SE2(4), 2, 2, 3, implementation="separable+2d")
    conv = GroupConv(SE2(4), 2, 2, 3)
    with pytest.raises(ValueError, match=r"x must have shape \(B, C_in=2, N_in=4"):
        conv(torch.randn(1, 3, 4, 6, 6), SE2(4).sample())
    with pytest.raises(TypeError, match="floating-point dtype"):
        conv(torch.ones(1, 2, 4, 6, 6, dtype=torch.int64), SE2(4).sample())


def test_single_element_lifting_is_a_masked_conv2d() -> None:
    torch.manual_seed(3)
    lift = LiftingConv(SE2(1), 2, 3, 5, hidden=16).double()
    grid = tap_grid(5).double()
    w = lift.kernel_net(grid).view(5, 5, 3, 2).permute(2, 3, 0, 1) * (grid.norm(dim=-1) <= 1.0 + 1e-6)
    x = torch.randn(1, 2, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(lift(x)[0][:, :, 0], F.conv2d(x, w, padding=2), rtol=1e-12, atol=1e-12)


def test_offsets_and_sampling() -> None:
    g = SE2(8)
    el = g.sample()
    off = g.log_offset(el, el)
    assert torch.allclose(torch.diagonal(off[..., 0]), torch.full((8,), -1.0))  # phi(theta, theta) = -1
    shifted = g.product(el, torch.tensor([[0.3]]))
    torch.testing.assert_close(g.log_offset(shifted, shifted), off, rtol=0, atol=1e-5)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        delta = float(g.sample("uniform", gen)[0, 0])
        assert 0.0 <= delta < 2 * math.pi * 7 / 64
    s = Sim2(4, 3, 2.0)
    el = s.sample()
    assert el.shape == (12, 2) and torch.allclose(el[:3, 1], torch.tensor([1.0, math.sqrt(2.0), 2.0]))
    torch.testing.assert_close(
        s.product(el, s.inverse(el)), torch.tensor([[0.0, 1.0]]).expand(12, 2), rtol=0, atol=1e-6
    )


def test_kernel_size_two_is_refused() -> None:
    with pytest.raises(ValueError, match="dead layer"):
        GroupConv(SE2(4), 2, 2, 2)


def test_kernel_separability_and_equivariance_error() -> None:
    from ballroom.sepgcnn.metrics import equivariance_error, kernel_separability

    torch.manual_seed(4)
    outer = torch.einsum("oaib,okl->oaibkl", torch.randn(2, 4, 3, 4), torch.randn(2, 5, 5)).reshape(
        8, 12, 5, 5
    )
    torch.testing.assert_close(kernel_separability(outer, 4, 4), torch.ones(2, 4, 3))
    rand = kernel_separability(torch.randn(8, 12, 5, 5), 4, 4)
    assert float(rand.mean()) < 0.6
    lift = LiftingConv(SE2(8), 1, 2, 5, hidden=16).double()
    x = torch.randn(1, 1, 12, 12, dtype=torch.float64)
    assert equivariance_error(lift, x, 1, n_rot=8) < 1e-5
    assert equivariance_error(lift, x, 2, n_rot=8) < 1e-5
    pooled = torch.nn.Sequential(
        lift_to_tensor(lift), GroupMaxPool2d(), GroupBatchNorm(2).eval().double(), GroupInvariantMax()
    )
    assert equivariance_error(pooled, x, 1) < 1e-5


def lift_to_tensor(lift: LiftingConv) -> torch.nn.Module:
    class Only(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return lift(x)[0]

    return Only()


@pytest.mark.parametrize("implementation", ["nonseparable", "separable"])
def test_networks_are_rot90_invariant(implementation: str) -> None:
    from ballroom.sepgcnn.models import CKGCNN, CKGResNet

    torch.manual_seed(5)
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    for net in (
        CKGResNet(SE2(4), widths=(4, 4, 8), kernel_size=5, implementation=implementation, hidden=16),  # type: ignore[arg-type]
        CKGCNN(SE2(4), widths=(4, 8), kernel_size=5, implementation=implementation, hidden=16),  # type: ignore[arg-type]
    ):
        net = net.double().eval()
        with torch.no_grad():
            y = net(x)
            for k in (1, 2, 3):
                torch.testing.assert_close(net(torch.rot90(x, k, (-2, -1))), y, rtol=1e-4, atol=1e-6)


def test_eval_kernel_cache() -> None:
    torch.manual_seed(6)
    conv = GroupConv(SE2(4), 2, 2, 3, hidden=8).eval()
    el = SE2(4).sample()
    x = torch.randn(1, 2, 4, 6, 6)
    calls = []
    original = conv.kernel

    def counting(*args: object) -> object:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    conv.kernel = counting  # type: ignore[method-assign]
    with torch.no_grad():
        first = conv(x, el)[0]
        second = conv(x, el)[0]
        assert len(calls) == 1 and torch.equal(first, second)
        conv.load_state_dict({k: v * 2 for k, v in conv.state_dict().items()})
        third = conv(x, el)[0]
    assert len(calls) == 2 and not torch.allclose(first, third)  # new weights, new kernel
    conv(x, el)  # grad enabled: never cached
    assert len(calls) == 3


def test_lazy_namespace_exports_everything_and_layers_do_not_import_lightning() -> None:
    import importlib.metadata
    import subprocess
    import sys

    import ballroom.sepgcnn as pkg

    assert set(pkg.__all__) == {"__version__", *pkg._SOURCES}
    assert pkg.__version__ == importlib.metadata.version("ballroom-sepgcnn")
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'SE3'"):
        pkg.SE3  # noqa: B018
    code = (
        "import sys, torch; from ballroom.sepgcnn import SE2, GroupConv, LiftingConv, CKGResNet; "
        "import ballroom.sepgcnn.functional, ballroom.sepgcnn.kernels, ballroom.sepgcnn.zoo; "
        "CKGResNet(SE2(4), widths=(2, 2, 4), kernel_size=3, hidden=4)(torch.randn(2, 1, 16, 16)); "
        "assert 'pytorch_lightning' not in sys.modules and 'lightning' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_first_siren_frequency_is_separate_and_defaults_to_omega0() -> None:
    from ballroom.sepgcnn.models import CKGResNet

    x = torch.randn(2, 1, 9, 9)

    def lift(**kw: float) -> LiftingConv:
        torch.manual_seed(0)
        return LiftingConv(SE2(4), 1, 2, 5, hidden=8, omega0=10.0, **kw)

    same, other = lift(omega0_first=10.0), lift(omega0_first=30.0)
    torch.testing.assert_close(lift()(x)[0], same(x)[0], rtol=0, atol=0)
    assert other.kernel_net.omega0_first == 30.0 and other.kernel_net.omega0 == 10.0
    assert not torch.allclose(other(x)[0], same(x)[0])
    conv = GroupConv(SE2(4), 2, 2, 3, hidden=8, omega0=5.0, omega0_first=20.0)
    nets = [m for m in conv.modules() if hasattr(m, "omega0_first")]
    assert nets and all(m.omega0_first == 20.0 and m.omega0 == 5.0 for m in nets)
    net = CKGResNet("SE2", n_rot=4, widths=(4, 4), kernel_size=5, hidden=8, input_size=16, omega0_first=25.0)
    assert net.lift.kernel_net.omega0_first == 25.0
    with pytest.raises(ValueError, match="omega0_first must lie in"):
        LiftingConv(SE2(4), 1, 2, 5, omega0_first=0.0)


def test_gseparable_2d_kernel_is_the_product_of_its_three_per_pair_factors() -> None:
    """The official gseparable+2d: k_SO2^{o,i}(theta) k_R+^{o,i}(s) k_R^{o,i}(x), each per channel pair."""
    torch.manual_seed(9)
    group = Sim2(4, 2, 1.5)
    conv = GroupConv(group, 3, 2, 3, implementation="g2d", hidden=16).double()
    el = group.sample().double()
    w_rot, w_scale, w_r = conv.kernel(el)  # type: ignore[misc]
    assert w_rot.shape == (2, 4, 3, 4) and w_scale.shape == (2, 2, 3, 2) and w_r.shape == (16, 3, 3, 3)
    spatial = w_r.view(2, 4, 2, 3, 3, 3)  # (o, r, s, i, k, k)
    full = torch.einsum("oaib,osit,oasikl->oasibtkl", w_rot, w_scale, spatial).reshape(16, 24, 3, 3)
    torch.testing.assert_close(conv.full_kernel(el), full, rtol=1e-12, atol=1e-12)
    # unlike separable+2d, the scale and spatial factors differ per input channel
    assert not torch.allclose(w_scale[:, :, 0], w_scale[:, :, 1])
    assert not torch.allclose(spatial[:, :, :, 0], spatial[:, :, :, 1])


@pytest.mark.parametrize("model", ["CKGResNet", "CKGCNN"])
def test_models_pass_both_siren_frequencies_to_every_kernel(model: str) -> None:
    """``omega0_first`` (the official ``first_omega_0``) and ``omega0`` reach every SIREN of the model."""
    import ballroom.sepgcnn as sep

    cls = getattr(sep, model)
    kw = dict(widths=(4, 4, 8), kernel_size=5, hidden=8, input_size=28)
    net = cls("SE2", n_rot=4, omega0_first=30.0, omega0=7.0, **kw)
    sirens = [m for m in net.modules() if isinstance(m, SIRENKernel)]
    assert len(sirens) >= 5  # lifting, every group conv's factors, the final conv
    assert all(m.omega0_first == 30.0 and m.omega0 == 7.0 for m in sirens)
    default = cls("SE2", n_rot=4, omega0=7.0, **kw)
    assert all(m.omega0_first == 7.0 for m in default.modules() if isinstance(m, SIRENKernel))


@pytest.mark.parametrize("group", [SE2(4), SE2(8)], ids=repr)
def test_free_kernel_is_equivariant_unstructured_and_selected_by_name(group: SE2) -> None:
    """The section-3 baseline: a plain parameter per (o, i, h, tap), resampled at h_out^-1 x."""
    from ballroom.sepgcnn.kernels import FreeKernel

    torch.manual_seed(4)
    conv = GroupConv(group, 3, 2, 5, implementation="free").double()
    assert isinstance(conv.factorisation, FreeKernel) and conv.weight.shape == (2, 3, group.size, 5, 5)
    assert [n for n, _ in conv.named_parameters()] == ["factorisation.weight"]  # no SIREN
    el = group.sample().double()
    x = torch.randn(2, 3, group.size, 12, 12, dtype=torch.float64)
    y, _ = conv(x, el)
    y_rot, _ = conv(_roll_group(_rot(x), group), el)
    assert float((y_rot - _roll_group(_rot(y), group)).abs().max() / y.abs().max()) < 1e-5
    full = conv.full_kernel(el)
    ref = F.conv2d(x.reshape(2, -1, 12, 12), full, padding=2).view_as(y)
    torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10)
    # identity output element: the kernel is the parameter itself (masked by the disc)
    disc = (tap_grid(5).norm(dim=-1) <= 1 + 1e-6).double()
    torch.testing.assert_close(full.view(2, group.size, 3, group.size, 5, 5)[:, 0], conv.weight * disc)
    # i.i.d. init: far from separable
    assert float(kernel_separability(full, group.size, group.size).mean()) < 0.6
    with pytest.raises(ValueError, match="SE\\(2\\) only"):
        GroupConv(Sim2(4, 2, 1.5), 2, 2, 3, implementation="free")
    with pytest.raises(ValueError, match="discretised grid"):
        conv.full_kernel(el + 0.1)
