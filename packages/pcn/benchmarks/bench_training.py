"""A PCN training step against the backprop step of the same MLP (and against inference by autograd,
the formulation users would write first), plus the analysis tools on the NS toy; side by side.

``nox -s "bench(pcn, cpu)"`` -> ``.benchmarks/pcn-cpu.json``. Report ratios, not CPU seconds.
Target (spec "Performance"): PCN step <= 1.5 (T + 1) x the backprop step; analysis tools < 1 s each.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ballroom.pcn import BackpropClassifier, NSToy, PCNClassifier
from ballroom.pcn.analysis import (
    find_bifurcation,
    first_lyapunov_coefficient,
    jacobian,
    spectral_radius,
    training_map,
)

B, SIZES, T = 32, [64, 64, 10], 20


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(B, 64, generator=g), torch.randint(0, 10, (B,), generator=g)


def _pcn_step(module: PCNClassifier, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    xs, _, _, _ = module.relax(x, y)
    opt.zero_grad()
    (module.net.energy(xs).sum() / B).backward()
    opt.step()


def _autograd_infer(module: PCNClassifier, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Reference: the same T steps with dF/dx from autograd (a graph per step) instead of the closed forms."""
    net = module.net
    xs = net.feedforward(x)
    xs = [xs[0].detach(), *(t.detach() for t in xs[1:-1]), F.one_hot(y, 10).float()]
    for _ in range(T):
        hidden = [t.requires_grad_() for t in xs[1:-1]]
        e = net.energy([xs[0], *hidden, xs[-1]]).sum()
        grads = torch.autograd.grad(e, hidden)
        xs = [xs[0], *(h.detach() - 0.1 * g for h, g in zip(hidden, grads)), xs[-1]]
    return xs


def _autograd_step(
    module: PCNClassifier, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> None:
    xs = _autograd_infer(module, x, y)
    opt.zero_grad()
    (module.net.energy(xs).sum() / B).backward()
    opt.step()


def test_autograd_reference_equals_closed_forms() -> None:
    torch.manual_seed(0)
    module = PCNClassifier(SIZES)
    x, y = _batch()
    ours = module.relax(x, y)[0]
    ref = _autograd_infer(module, x, y)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", ["pcn-closed-form", "pcn-autograd-reference", "backprop"])
def test_training_step(benchmark: pytest.FixtureRequest, method: str) -> None:
    benchmark.group = f"train-step-{'-'.join(map(str, SIZES))}-B{B}-T{T}"
    torch.manual_seed(0)
    x, y = _batch()
    if method == "backprop":
        module = BackpropClassifier(SIZES)
        opt = torch.optim.SGD(module.parameters(), lr=0.05, momentum=0.9)

        def step() -> None:
            out = module.net(x)
            loss = 0.5 * ((out - F.one_hot(y, 10).float()) ** 2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        benchmark(step)
        return
    module = PCNClassifier(SIZES, T=T)
    opt = torch.optim.SGD(module.parameters(), lr=0.05, momentum=0.9)
    fn = _pcn_step if method == "pcn-closed-form" else _autograd_step
    benchmark(fn, module, opt, x, y)


TOY = NSToy()


def _pcn_jacobian(v: float) -> torch.Tensor:
    net, learned, x0, y = TOY.as_pcn(v)
    tmap = training_map(net, x0, y, TOY.gamma, TOY.alpha, "alternating", learned)
    return jacobian(tmap, tmap.initial_state())


@pytest.mark.parametrize("tool", ["jacobian", "spectral_radius", "find_bifurcation", "lyapunov"])
def test_analysis_tools_on_the_ns_toy(benchmark: pytest.FixtureRequest, tool: str) -> None:
    benchmark.group = "analysis-ns-toy"
    vc = TOY.v_critical()
    fp = TOY.fixed_point(vc)
    if tool == "jacobian":
        benchmark(_pcn_jacobian, 2.0)
    elif tool == "spectral_radius":
        J = _pcn_jacobian(2.0)
        benchmark(spectral_radius, J)
    elif tool == "find_bifurcation":
        out = benchmark(find_bifurcation, _pcn_jacobian, 1.5, 2.5, 1e-10)
        assert abs(out - vc) < 1e-9
    else:
        benchmark(first_lyapunov_coefficient, lambda z: TOY.step(z, vc), fp)
