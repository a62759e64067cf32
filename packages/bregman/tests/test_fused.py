"""The hand-written stack backward and the fused sigmoid inverse against plain autograd (float64)."""

from __future__ import annotations

import copy

import pytest
import torch

from ballroom.bregman import BregmanMLP, get_activation, scale_to_range
from ballroom.bregman.fused import _clamp_grad, bregman_stack, supports_fused_backward

D = torch.float64
FUSABLE = ["sigmoid", "tanh", "isru", "atan", "softplus10", "relu"]


def _inputs(name: str, dtype: torch.dtype = D) -> torch.Tensor:
    torch.manual_seed(0)
    x = scale_to_range(torch.rand(9, 6, dtype=dtype), name)
    act = get_activation(name)
    # the clamp's edge cases: exactly at lo + eps (a black pixel), inside the eps margin, and (for
    # bounded ranges) exactly at hi - eps; the clamp gradient passes at the bounds and is 0 inside
    x[0, 0] = act.lo + 1e-5  # exactly the lower bound of the clamp
    x[1, 1] = act.lo + 0.5e-5
    if act.bounded:
        x[2, 2] = act.hi - 1e-5
        x[3, 3] = act.hi - 0.5e-5
    return x


@pytest.mark.parametrize("carry", [False, True], ids=["explicit", "carried"])
@pytest.mark.parametrize("name", FUSABLE)
def test_fused_stack_equals_plain_autograd(name: str, carry: bool) -> None:
    torch.manual_seed(1)
    # identity skips at 6->6 and 5->5 (carried when carry=True), P at 6->5 and 5->4
    plain = BregmanMLP(6, [6, 6, 5, 5, 4], 3, name, fused_backward=False).double()
    with torch.no_grad():
        for layer in plain.layers:
            layer.weight.mul_(3.0)  # large pre-activations: outputs near the ends of the range
    fused = copy.deepcopy(plain)
    fused.fused_backward, fused.carry_preactivation = True, carry
    x1 = _inputs(name).requires_grad_(True)
    x2 = x1.detach().clone().requires_grad_(True)
    out_fused, out_plain = fused(x1), plain(x2)
    assert "BregmanStack" in str(out_fused.grad_fn.next_functions)
    assert "BregmanStack" not in str(out_plain.grad_fn.next_functions)
    if carry:  # clamp(z) in place of sigma^-1(clamp(sigma(z))): equal up to float64 rounding
        torch.testing.assert_close(out_fused, out_plain, rtol=1e-10, atol=1e-12)
    else:
        assert torch.equal(out_fused, out_plain)  # the same forward, bit for bit
    w = torch.randn_like(out_plain)
    (out_fused * w).sum().backward()
    (out_plain * w).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-9, atol=1e-12)
    for (key, p1), p2 in zip(fused.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-9, atol=1e-12, msg=key)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus10"])
def test_carried_clamp_is_the_explicit_clamp_where_it_is_active(name: str) -> None:
    """Pre-activations far past sigma^-1(hi - eps) (and below sigma^-1(lo + eps)): the carried clamp
    cuts them where the explicit one does, with the same values and a zero gradient there."""
    torch.manual_seed(3)
    plain = BregmanMLP(8, [8] * 5, 3, name, fused_backward=False).double()
    with torch.no_grad():
        for layer in plain.layers:
            layer.weight.mul_(40.0)
            layer.bias.mul_(40.0)
    fused = copy.deepcopy(plain)
    fused.fused_backward = True
    x = scale_to_range(torch.rand(16, 8, dtype=D), name)
    act, eps = plain.act, plain.layers[0].eps
    feats = plain.forward_features(x)[1:-1]  # the inputs of layers 2..L (the carried ones)
    below = sum(int((f < act.lo + eps).sum()) for f in feats)
    above = sum(int((f > act.hi - eps).sum()) for f in feats)
    assert below > 0 and (above > 0 or not act.bounded)  # the clamp is active on both sides
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_fused, out_plain = fused(x1), plain(x2)
    torch.testing.assert_close(out_fused, out_plain, rtol=1e-9, atol=1e-12)
    out_fused.square().sum().backward()
    out_plain.square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-8, atol=1e-12)
    for (key, p1), p2 in zip(fused.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-8, atol=1e-12, msg=key)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "atan"])
def test_carried_forward_is_closer_to_float64_than_the_explicit_one(name: str) -> None:
    """float32, depth 20: the carried stack skips the rounding of sigma^-1(sigma(z)); its error against
    a float64 evaluation is no larger than the explicit (layer-by-layer) forward's, and both are small."""
    torch.manual_seed(0)
    net = BregmanMLP(64, [64] * 20, 10, name)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.mul_(2.0)  # outputs near the ends of the range, where sigma^-1 rounds worst
    x = scale_to_range(torch.rand(64, 64), name)
    ref = copy.deepcopy(net).double()
    ref.carry_preactivation = False
    truth = ref(x.double().requires_grad_(True)).detach()
    explicit = copy.deepcopy(net)
    explicit.carry_preactivation = False
    x = x.requires_grad_(True)
    err_carried = float((net(x).detach().double() - truth).abs().max())
    err_explicit = float((explicit(x).detach().double() - truth).abs().max())
    layerwise = float((net.output(net.forward_features(x)[-1]).detach().double() - truth).abs().max())
    assert err_explicit == layerwise  # the explicit stack is the layer-by-layer forward
    assert err_carried <= err_explicit and err_carried < 1e-4


def test_the_fused_path_is_taken_only_where_it_applies() -> None:
    x = scale_to_range(torch.rand(4, 8), "tanh")
    net = BregmanMLP(8, [8, 8], 2, "tanh")
    assert "BregmanStack" in str(net(x).grad_fn.next_functions)
    for off in (
        BregmanMLP(8, [8, 8], 2, "tanh", fused_backward=False),
        BregmanMLP(8, [8, 8], 2, "tanh", offset="official"),
        BregmanMLP(8, [8, 8], 2, "sin"),  # no hand-written derivatives
        BregmanMLP(8, [8, 8], 2, "tanh", version="euclidean"),
        BregmanMLP(8, [4, 8], 2, "tanh", trainable_skip=True),
    ):
        assert "BregmanStack" not in str(off(x).grad_fn.next_functions)
    with_grad = net(x).detach()
    with torch.no_grad():
        assert net(x).grad_fn is None
        assert torch.equal(net(x), with_grad)  # carried with and without gradients
        explicit = copy.deepcopy(net)
        explicit.carry_preactivation = False
        assert torch.equal(explicit(x), net.output(net.forward_features(x)[-1]))  # layer by layer


@pytest.mark.parametrize("carry", [False, True], ids=["explicit", "carried"])
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_gradcheck_bregman_stack(name: str, carry: bool) -> None:
    torch.manual_seed(2)
    act = get_activation(name)
    x = scale_to_range(torch.rand(3, 4, dtype=D), name, eps=0.05).requires_grad_(True)
    w1 = (torch.randn(4, 4, dtype=D) * 0.5).requires_grad_(True)
    w2 = (torch.randn(4, 4, dtype=D) * 0.5).requires_grad_(True)  # identity skip: carried
    w3 = (torch.randn(3, 4, dtype=D) * 0.5).requires_grad_(True)
    b1 = torch.randn(4, dtype=D).requires_grad_(True)
    b2 = torch.randn(4, dtype=D).requires_grad_(True)
    p3 = torch.softmax(torch.randn(3, 4, dtype=D), 1)  # a fixed simplex skip
    assert supports_fused_backward(act)
    assert torch.autograd.gradcheck(
        lambda x, w1, b1, w2, b2, w3: bregman_stack(
            x, [w1, w2, w3], [b1, b2, None], [None, None, p3], act, 1e-5, carry=carry
        ),
        (x, w1, b1, w2, b2, w3),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_sigmoid_inverse_is_clamp_then_logit(dtype: torch.dtype) -> None:
    act = get_activation("sigmoid")
    eps = 1e-5
    assert act.fused_inverse is not None and act.fused_inverse_grad is not None
    lo, hi = act.lo + eps, act.hi - eps
    y = torch.cat([
        torch.linspace(-0.5, 1.5, 2001, dtype=dtype),
        torch.tensor([0.0, lo, hi, 1.0, eps / 2, 1 - eps / 2], dtype=dtype),
        torch.rand(1000, dtype=dtype),
    ])  # fmt: skip
    y2 = y.clone().requires_grad_(True)
    two_step = torch.logit(torch.clamp(y2, lo, hi))
    assert torch.equal(act.fused_inverse(y, eps), two_step)  # one kernel, the same values
    g = torch.rand_like(y)
    two_step.backward(g)
    # the stack's backward: logit_backward, then the clamp's mask (torch's clamp gradient at the
    # bounds: 0 in recent torch, passed through in older releases such as 2.1)
    ours = _clamp_grad(act.fused_inverse_grad(g, y, eps), y, lo, hi)
    assert torch.equal(ours, y2.grad)


def test_bregman_stack_bad_input_table() -> None:
    act = get_activation("tanh")
    x = torch.zeros(2, 4)
    w, b = torch.zeros(4, 4), torch.zeros(4)
    cases = [
        (dict(x=x.numpy()), TypeError, "x must be a torch.Tensor"),
        (dict(x=torch.zeros(4)), ValueError, "rank 2"),
        (dict(weights=[torch.zeros(4, 3)]), ValueError, r"weights\[0\] must have shape"),
        (dict(weights=[torch.zeros(4, 4, dtype=torch.int64)]), TypeError, "floating-point"),
        (dict(biases=[torch.zeros(3)]), ValueError, r"biases\[0\]"),
        (dict(skips=[torch.zeros(3, 4)]), ValueError, r"skips\[0\]"),
        (dict(biases=[b, b]), ValueError, "same length"),
        (dict(act=get_activation("sin")), ValueError, "no hand-written derivatives"),
        (dict(carry=1), TypeError, "carry must be a bool"),
    ]
    for change, err, msg in cases:
        kwargs = dict(x=x, weights=[w], biases=[b], skips=[None], act=act, eps=1e-5) | change
        with pytest.raises(err, match=msg):
            bregman_stack(**kwargs)
