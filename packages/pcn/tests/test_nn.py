"""The PCN's closed forms against autograd, the two-node Eq. (5) step, inference, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ballroom.pcn import PCN, get_activation
from ballroom.pcn.activations import ACTIVATIONS

DT = torch.float64


def _net(sizes: list[int], act: str, bias: bool, act_in: bool, seed: int = 0) -> PCN:
    torch.manual_seed(seed)
    return PCN(sizes, activation=act, bias=bias, activate_input=act_in).double()


def _states(net: PCN, B: int = 3, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, n, generator=g, dtype=DT) for n in net.layer_sizes]


@pytest.mark.parametrize(
    ("act", "bias", "act_in"),
    list(itertools.product(["tanh", "sigmoid", "identity", "softplus"], [True, False], [True, False])),
)
def test_closed_form_gradients_equal_autograd(act: str, bias: bool, act_in: bool) -> None:
    net = _net([4, 5, 3, 2], act, bias, act_in)
    xs = [x.requires_grad_() for x in _states(net)]
    F = net.energy(xs).sum()
    auto_x = torch.autograd.grad(F, xs, retain_graph=True)
    closed_x = net.node_grads(xs, free=[0, 1, 2, 3])
    for a, c in zip(auto_x, closed_x):
        torch.testing.assert_close(c, a, atol=1e-12, rtol=0)
    params = dict(net.named_parameters())
    auto_p = torch.autograd.grad(net.energy(xs).mean(), list(params.values()))
    closed_p = net.param_grads(xs)
    assert set(closed_p) == set(params)
    for (k, _), a in zip(params.items(), auto_p):
        torch.testing.assert_close(closed_p[k], a, atol=1e-12, rtol=0)


def test_activation_derivatives_and_suprema() -> None:
    x = torch.linspace(-12, 12, 24001, dtype=DT, requires_grad=True)
    for name, act in ACTIVATIONS.items():
        d1 = torch.autograd.grad(act.f(x).sum(), x, create_graph=True)[0]
        d2 = torch.autograd.grad(d1.sum(), x)[0] if d1.requires_grad else torch.zeros_like(x)
        d1 = d1.detach()
        torch.testing.assert_close(act.df(x), d1, atol=1e-12, rtol=0)
        torch.testing.assert_close(act.d2f(x), d2, atol=1e-12, rtol=0)
        wide = torch.linspace(-40, 40, 80001, dtype=DT)  # softplus' sup |f'| = 1 is approached at +inf
        m1, m2 = float(act.df(wide).abs().max()), float(act.d2f(wide).abs().max())
        assert act.L1 - 1e-3 <= m1 <= act.L1 + 1e-12, name
        assert act.L2 - 1e-3 <= m2 <= act.L2 + 1e-12, name


def test_two_node_step_equals_eq5() -> None:
    """x1' = x1 - g (x1 - w1 f(x0) - f'(x1) w2 (x2 - w2 f(x1))), x2' = x2 - g (x2 - w2 f(x1))."""
    net = PCN([1, 1, 1], activation="tanh", bias=False, activate_input=True).double()
    w1, w2, g = 0.7, -1.3, 0.3
    with torch.no_grad():
        net.layers[0].weight.fill_(w1)
        net.layers[1].weight.fill_(w2)
    x0, x1, x2 = 0.4, -0.2, 0.9
    f, df = np.tanh, lambda t: 1 - np.tanh(t) ** 2
    xs = [torch.tensor([[v]], dtype=DT) for v in (x0, x1, x2)]
    new = net.inference_step(xs, g)
    e1 = x1 - g * (x1 - w1 * f(x0) - df(x1) * w2 * (x2 - w2 * f(x1)))
    e2 = x2 - g * (x2 - w2 * f(x1))
    assert abs(float(new[1]) - e1) < 1e-15 and abs(float(new[2]) - e2) < 1e-15
    assert new[0] is xs[0]  # the input stays clamped


def test_feedforward_is_the_fixed_point_and_inference_lowers_energy() -> None:
    net = _net([6, 5, 4], "tanh", True, False)
    x0 = torch.randn(7, 6, dtype=DT)
    xs = net.feedforward(x0)
    assert float(net.energy(xs).abs().max()) == 0.0
    assert all(float(g.abs().max()) == 0.0 for g in net.node_grads(xs))
    y = torch.randn(7, 4, dtype=DT)
    out, trace = net.infer(x0, y, steps=30, gamma=0.1, return_trace=True)
    assert torch.equal(out[-1], y) and torch.equal(out[0], x0)
    e = trace["energy"].sum(1)
    assert bool((e[1:] < e[:-1]).all())
    # prediction stage from zeros converges to the feedforward pass (small gamma)
    pred = net.infer(x0, None, steps=3000, gamma=0.2, init="zeros", tol=1e-12)
    torch.testing.assert_close(pred[-1], xs[-1], atol=1e-9, rtol=0)


def test_infer_inits_agree_and_seeded_runs_are_deterministic(device: torch.device) -> None:
    net = _net([3, 4, 2], "tanh", True, False).to(device)
    x0 = torch.randn(2, 3, dtype=DT, device=device)
    flat = torch.zeros(2, 6, dtype=DT, device=device)
    a = net.infer(x0, steps=5, gamma=0.1, init="zeros")
    b = net.infer(x0, steps=5, gamma=0.1, init=flat)
    c = net.infer(x0, steps=5, gamma=0.1, init=[flat[:, :4], flat[:, 4:]])
    assert all(torch.equal(p, q) and torch.equal(p, r) for p, q, r in zip(a, b, c))
    assert not torch.equal(a[1], net.infer(x0, steps=6, gamma=0.1, init="zeros")[1])


BAD = [
    (lambda n: n.feedforward(np.zeros((2, 3))), TypeError, "x0 must be a torch.Tensor"),
    (lambda n: n.feedforward(torch.zeros(2, 5, dtype=DT)), ValueError, "x0 must have 3 features"),
    (lambda n: n.feedforward(torch.zeros(2, 3, dtype=torch.int64)), TypeError, "x0 must have a floating-point"),
    (lambda n: n.feedforward(torch.full((2, 3), float("nan"), dtype=DT)), ValueError, "x0 must be finite"),
    (lambda n: n.feedforward(torch.zeros(0, 3, dtype=DT)), ValueError, "x0 must not be empty"),
    (lambda n: n.energy([torch.zeros(2, 3, dtype=DT)]), ValueError, "xs must be a list of 3"),
    (lambda n: n.energy([torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(3, 2)]), ValueError, "sizes must agree"),
    (lambda n: n.energy([torch.zeros(2, 3), torch.zeros(2, 5), torch.zeros(2, 2)]), ValueError, r"xs\[1\] must have shape"),
    (lambda n: n.inference_step(n.feedforward(torch.zeros(1, 3, dtype=DT)), gamma=0.0), ValueError, "gamma must lie in"),
    (lambda n: n.node_grads(n.feedforward(torch.zeros(1, 3, dtype=DT)), free=[5]), ValueError, "free must be an integer"),
    (lambda n: n.infer(torch.zeros(2, 3, dtype=DT), torch.zeros(3, 2, dtype=DT)), ValueError, "sizes must agree"),
    (lambda n: n.infer(torch.zeros(2, 3, dtype=DT), steps=-1), ValueError, "steps must be an integer"),
    (lambda n: n.infer(torch.zeros(2, 3, dtype=DT), init="random"), ValueError, "init must be one of"),
    (lambda n: n.infer(torch.zeros(2, 3, dtype=DT), init=torch.zeros(2, 5, dtype=DT)), ValueError, "init must have shape"),
    (lambda n: n.param_grads(n.feedforward(torch.zeros(1, 3, dtype=DT)), reduction="max"), ValueError, "reduction must"),
    (lambda n: PCN([3]), ValueError, "layer_sizes must list at least two"),
    (lambda n: PCN([3, 0, 2]), ValueError, r"layer_sizes\[1\] must be an integer"),
    (lambda n: PCN([3, 2], activation="relu"), ValueError, "activation must be one of"),
    (lambda n: get_activation(3), TypeError, "activation must be a string"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "exc", "match"), BAD, ids=[b[2] for b in BAD])
def test_bad_input_is_refused_clearly(call: object, exc: type[Exception], match: str) -> None:
    net = _net([3, 4, 2], "tanh", True, False)
    with pytest.raises(exc, match=match):
        call(net)  # type: ignore[operator]
