"""Bregman ResNets: option-E shortcut, the zero-conv closed form, shapes, parameter counts, gradients."""

from __future__ import annotations

import pytest
import torch

from ballroom.bregman import (
    BregmanBasicBlock,
    BregmanBottleneck,
    bregman_resnet18,
    bregman_resnet20,
    bregman_resnet50,
    get_activation,
    layer_displacement,
    load_official_state_dict,
)
from ballroom.bregman.resnet import BLOCK_EPS


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_resnet20_has_the_standard_parameter_count() -> None:
    bregman, standard = bregman_resnet20(), bregman_resnet20(standard=True)
    assert _count(bregman) == _count(standard) == 269_722  # 0.27 M, no extra parameters
    assert [k for k, _ in bregman.named_parameters()] == [k for k, _ in standard.named_parameters()]


@pytest.mark.parametrize(("stride", "cin", "cout"), [(1, 16, 16), (2, 16, 32), (2, 32, 64)])
def test_block_shapes_and_strides(stride: int, cin: int, cout: int) -> None:
    block = BregmanBasicBlock(cin, cout, stride, "softplus").eval()
    x = get_activation("softplus").sigma(torch.randn(2, cin, 8, 8))
    assert block(x).shape == (2, cout, 8 // stride, 8 // stride)


@pytest.mark.parametrize("name", ["softplus", "sigmoid", "tanh", "atan"])
def test_zero_conv_block_in_eval_mode_is_the_closed_form(name: str) -> None:
    act = get_activation(name)
    block = BregmanBasicBlock(8, 16, 2, name).double().eval()
    with torch.no_grad():
        block.conv1.weight.zero_()
        block.conv2.weight.zero_()
        block.bn2.bias.zero_()
        block.bn2.running_mean.uniform_(-1, 1)
        block.bn2.running_var.uniform_(0.5, 2)
    x = act.sigma(torch.randn(3, 8, 6, 6, dtype=torch.float64))
    shift = -block.bn2.running_mean / torch.sqrt(block.bn2.running_var + block.bn2.eps) * block.bn2.weight
    s = torch.nn.functional.pad(
        x[:, :, ::2, ::2], (0, 0, 0, 0, 4, 4), value=float(act.sigma(torch.zeros(1, dtype=torch.float64)))
    )
    expected = act.sigma(act.inverse(act.clamp(s, BLOCK_EPS)) + shift.view(1, -1, 1, 1))
    torch.testing.assert_close(block(x), expected)
    # the padded channels are exactly sigma(0 + shift): the pad value maps to 0 after sigma^{-1}
    torch.testing.assert_close(block(x)[:, :4], act.sigma(shift[:4]).view(1, -1, 1, 1).expand(3, 4, 3, 3))


def test_gradcheck_small_block() -> None:
    torch.manual_seed(0)
    block = BregmanBasicBlock(2, 4, 2, "tanh").double().eval()
    x = (torch.rand(1, 2, 4, 4, dtype=torch.float64) - 0.5).requires_grad_(True)
    assert torch.autograd.gradcheck(block, (x,))


def test_imagenet_family_shapes_and_block_activation() -> None:
    x = torch.randn(1, 3, 64, 64)
    assert bregman_resnet18(num_classes=7).eval()(x).shape == (1, 7)
    r50 = bregman_resnet50(num_classes=5, block_activation="softplus", activation="sigmoid").eval()
    assert r50(x).shape == (1, 5) and r50.layer1[0].act.name == "softplus" and r50.act.name == "sigmoid"
    bott = BregmanBottleneck(64, 64, 1, "softplus").eval()
    assert bott(get_activation("softplus").sigma(torch.randn(1, 64, 4, 4))).shape == (1, 256, 4, 4)
    std = bregman_resnet18(standard=True, num_classes=3).eval()
    assert std(x).shape == (1, 3) and "layer2.0.shortcut.0.weight" in dict(std.named_parameters())


def test_official_cifar_names_load_unchanged_and_displacement() -> None:
    src, dst = bregman_resnet20(), bregman_resnet20()
    load_official_state_dict(dst, src.state_dict())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(dst.eval()(x), src.eval()(x))
    assert {k.split(".")[0] for k in src.state_dict()} == {
        "conv1",
        "bn1",
        "layer1",
        "layer2",
        "layer3",
        "linear",
    }
    disp = layer_displacement(src, x)
    assert disp.shape == (9,) and bool(torch.isfinite(disp).all())


def test_bad_input() -> None:
    net = bregman_resnet20().eval()
    with pytest.raises(ValueError, match="rank 4"):
        net(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="3 channels"):
        net(torch.randn(1, 1, 32, 32))
    with pytest.raises(TypeError, match="floating-point"):
        net(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="finite"):
        net(torch.full((1, 3, 8, 8), float("inf")))
    block = net.blocks[0]
    with pytest.raises(ValueError, match="z must have shape"):
        block.forward_carried(torch.rand(1, 16, 8, 8), torch.rand(1, 16, 8, 4))
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        block.forward_carried(torch.rand(1, 16, 8, 8), torch.rand(1, 16, 8, 8).numpy())


def test_resnet_on_device(device: torch.device) -> None:
    net = bregman_resnet20().to(device).eval()
    assert net(torch.randn(2, 3, 32, 32, device=device)).shape == (2, 10)


@pytest.mark.parametrize("name", ["softplus", "sigmoid", "tanh"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_carried_resnet_equals_the_block_by_block_forward(name: str, train: bool) -> None:
    """forward (carried pre-activations) against forward_features (the explicit inverse in each block),
    float64: the same logits and gradients up to rounding; the clamp is active in the test."""
    torch.manual_seed(0)
    net = bregman_resnet20(name).double().train(train)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 3.0)  # pre-activations far into the saturated ends
                m.running_var.uniform_(0.2, 1.0)
    assert net._carries()
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    act = get_activation(name)
    feats = net.forward_features(x)
    clamped = sum(int(((f < act.lo + BLOCK_EPS) | (f > act.hi - BLOCK_EPS)).sum()) for f in feats[:-1])
    assert clamped > 0
    explicit = net.linear(torch.nn.functional.adaptive_avg_pool2d(feats[-1], 1).flatten(1))
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out = net(x1)
    torch.testing.assert_close(out, explicit, rtol=1e-8, atol=1e-10)
    reference = bregman_resnet20(name, carry_preactivation=False).double().train(train)
    reference.load_state_dict(net.state_dict())
    out_ref = reference(x2)
    assert not reference._carries()
    w = torch.randn_like(out)
    (out * w).sum().backward()
    (out_ref * w).sum().backward()
    # saturated, chaotic nets amplify rounding: compare relative to each gradient's scale
    for (key, a), b in [(("x", x1), x2), *zip(net.named_parameters(), reference.parameters())]:
        scale = float(b.grad.abs().max())
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-7, atol=1e-9 * scale, msg=key)


def test_gradcheck_carried_block_and_where_carrying_applies() -> None:
    torch.manual_seed(0)
    act = get_activation("tanh")
    block = BregmanBasicBlock(2, 4, 2, "tanh").double()
    z = (torch.randn(2, 2, 4, 4, dtype=torch.float64) * 2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: block.forward_carried(act.sigma(z), z)[0], (z,))
    y, z_out = block.forward_carried(act.sigma(z), z)
    torch.testing.assert_close(y, block(act.sigma(z)))
    torch.testing.assert_close(y, act.sigma(z_out))
    assert not bregman_resnet20(offset="official")._carries()
    assert not bregman_resnet20(standard=True)._carries()
    hooked = bregman_resnet20()
    hooked.blocks[0].register_forward_hook(lambda *_: None)
    assert not hooked._carries()  # a hook must see the block's forward
