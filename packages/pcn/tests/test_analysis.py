"""The dynamical analysis (orbits: 20 000 iterations here, the spec's 60 000 in reproduce): prediction Jacobians, certificates, schedules, the derived NS counterexamples."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.pcn import PCN
from ballroom.pcn.analysis import (
    LinearNSToy,
    NSToy,
    certify_ball,
    certify_local,
    classify_crossing,
    eigenvalues,
    find_bifurcation,
    first_lyapunov_coefficient,
    iterate,
    jacobian,
    orbit_stats,
    prediction_jacobian_closed_form,
    prediction_map,
    spectral_radius,
    training_map,
)

DT = torch.float64


def _net(sizes: list[int], act: str = "tanh", scale: float = 1.0, seed: int = 0, bias: bool = True) -> PCN:
    torch.manual_seed(seed)
    net = PCN(sizes, activation=act, bias=bias).double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
    return net


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "identity"])
def test_prediction_jacobian_closed_form_is_autograd_symmetric_and_real(act: str) -> None:
    net = _net([3, 4, 5, 2], act, scale=2.0)
    x0 = torch.randn(3, dtype=DT)
    gamma = 0.3
    pmap = prediction_map(net, x0, gamma)
    z = pmap.initial_state()
    assert float((pmap(z) - z).abs().max()) == 0.0  # the feedforward pass is a fixed point
    J = jacobian(pmap, z)
    Jc = prediction_jacobian_closed_form(net, x0, gamma)
    torch.testing.assert_close(Jc, J, atol=1e-12, rtol=0)
    torch.testing.assert_close(J, J.T, atol=1e-12, rtol=0)
    Je = (torch.eye(J.shape[0], dtype=DT) - J) / gamma  # = Je^T Je
    s = torch.linalg.svdvals(torch.linalg.cholesky(Je).T)
    ev = torch.sort(eigenvalues(J).real).values
    torch.testing.assert_close(ev, torch.sort(1 - gamma * s**2).values, atol=1e-10, rtol=0)


def test_analysis_copies_a_network_from_any_device(device: torch.device) -> None:
    net = _net([3, 4, 2], scale=2.0)
    x0 = torch.randn(3, dtype=DT)
    ref = prediction_jacobian_closed_form(net, x0, 0.2)
    moved = prediction_jacobian_closed_form(net.to(device), x0.to(device), 0.2)
    assert moved.device.type == "cpu" and torch.equal(moved, ref)
    assert certify_local(net, 0.2).beta == certify_local(net.cpu(), 0.2).beta


def _two_node_linear(w2: float) -> PCN:
    net = PCN([1, 1, 1], activation="identity", bias=False).double()
    with torch.no_grad():
        net.layers[0].weight.fill_(0.8)
        net.layers[1].weight.fill_(w2)
    return net


def test_two_node_linear_flip_at_w2_1p5() -> None:
    gamma = 0.5
    J = prediction_jacobian_closed_form(_two_node_linear(1.5), [1.0], gamma)
    ev = torch.sort(eigenvalues(J).real).values
    assert abs(float(ev[0]) + 1.0) < 1e-12
    assert classify_crossing(eigenvalues(J)) == "flip"
    for w2, ok in ((1.49, True), (1.51, False)):
        net = _two_node_linear(w2)
        x0 = torch.tensor([[1.0]], dtype=DT)
        xs = net.infer(x0, steps=4000, gamma=gamma, init="zeros")
        err = max(float((a - b).abs().max()) for a, b in zip(xs, net.feedforward(x0)))
        assert (err < 1e-6) == ok, (w2, err)
    assert (
        abs(
            find_bifurcation(
                lambda w: prediction_jacobian_closed_form(_two_node_linear(w), [1.0], gamma), 1.0, 2.0
            )
            - 1.5
        )
        < 1e-9
    )


@pytest.mark.parametrize("seed", range(4))
def test_certificates_are_sound(seed: int) -> None:
    for scale, gamma in ((0.3, 0.9), (0.5, 0.5), (0.2, 1.0)):
        net = _net([4, 6, 5, 3], "tanh", scale=scale, seed=seed)
        x0 = torch.randn(1, 4, dtype=DT)
        cert = certify_local(net, gamma)
        rho = spectral_radius(prediction_jacobian_closed_form(net, x0, gamma))
        if cert.holds:
            assert rho <= cert.bound + 1e-9
        r = 0.3
        ball = certify_ball(net, x0, gamma, r)
        if not ball.holds:
            continue
        xstar = torch.cat(net.feedforward(x0)[1:], 1)
        d = torch.randn(1, xstar.shape[1], dtype=DT, generator=torch.Generator().manual_seed(seed))
        start = xstar + r * d / d.norm()
        traj = net.infer(x0, steps=60, gamma=gamma, init=start, return_trace=False)
        dist0 = float((start - xstar).norm())
        xs = [x0, *list(torch.split(start, net.layer_sizes[1:], 1))]
        prev = dist0
        for _ in range(60):
            xs = net.inference_step(xs, gamma)
            cur = float((torch.cat(xs[1:], 1) - xstar).norm())
            assert cur <= ball.bound * prev + 1e-9
            prev = cur
        assert float((torch.cat(traj[1:], 1) - xstar).norm()) < dist0 * ball.bound**59
    big = certify_local(_net([4, 6, 3], scale=10.0), 0.5)
    assert not big.holds and big.beta > 1 and "beta" in big.reason


@pytest.mark.parametrize("seed", range(3))
def test_simultaneous_spectra_are_real_alternating_map_differs(seed: int) -> None:
    net = _net([3, 4, 3, 2], "tanh", scale=1.5, seed=seed)
    g = torch.Generator().manual_seed(seed)
    x0, y = torch.randn(3, dtype=DT, generator=g), torch.randn(2, dtype=DT, generator=g)
    sim = training_map(net, x0, y, 0.4, 0.3, "simultaneous")
    z = sim.initial_state() + 0.1 * torch.randn(sim.dim, dtype=DT, generator=g)
    assert float(eigenvalues(jacobian(sim, z)).imag.abs().max()) < 1e-9
    alt = training_map(net, x0, y, 0.4, 0.3, "alternating")
    xs, params = alt.unpack(z)
    assert torch.equal(alt.pack(xs, params), z)
    assert not torch.allclose(alt(z), sim(z))


def test_ns_toy_analytic_jacobian_as_pcn_and_reference_values() -> None:
    toy = NSToy()
    for v in (1.0, 1.9, 2.0, 2.2):
        net, learned, x0, y = toy.as_pcn(v)
        tmap = training_map(net, x0, y, toy.gamma, toy.alpha, "alternating", learned)
        fp = toy.fixed_point(v)
        torch.testing.assert_close(tmap.initial_state(), fp, atol=1e-15, rtol=0)
        z = fp + torch.tensor([0.13, -0.07], dtype=DT)
        torch.testing.assert_close(tmap(z), toy.step(z, v), atol=1e-14, rtol=0)
        torch.testing.assert_close(
            jacobian(lambda q, v=v: toy.step(q, v), fp), toy.jacobian(v), atol=1e-12, rtol=0
        )
    rhos = [spectral_radius(toy.jacobian(v)) for v in (1.0, 1.9, 2.0, 2.2)]
    assert [round(r, 4) for r in rhos] == [0.3, 0.9719, 1.0395, 1.172]
    vc = find_bifurcation(toy.jacobian, 0.6, 3.0)
    assert abs(vc - 1.941425306188497) < 1e-9 and abs(toy.v_critical() - vc) < 1e-9
    ev = eigenvalues(toy.jacobian(vc))
    lead = ev[int(torch.argmax(ev.imag))]
    assert abs(float(lead.real) + 0.725) < 1e-9 and abs(float(lead.imag) - 0.688749) < 1e-6
    assert classify_crossing(ev) == "neimark-sacker"
    assert abs(math.atan2(float(lead.imag), float(lead.real)) / math.pi - 0.75816) < 1e-5
    h = 1e-5
    fd = (spectral_radius(toy.jacobian(vc + h)) - spectral_radius(toy.jacobian(vc - h))) / (2 * h)
    assert abs(fd - toy.transversality()) < 1e-5 and abs(fd - 0.6765) < 1e-4
    l1 = first_lyapunov_coefficient(lambda z: toy.step(z, vc), toy.fixed_point(vc))
    assert abs(l1 + 1.49) < 0.01
    assert all(spectral_radius(toy.jacobian(v)) < 1 for v in torch.linspace(0.51, vc - 1e-6, 200).tolist())


def test_linear_toy_exact_values() -> None:
    toy = LinearNSToy()
    yc = find_bifurcation(toy.jacobian, 4.0, 5.0)
    assert abs(yc - 2 * math.sqrt(5)) < 1e-9
    ev = torch.sort(eigenvalues(toy.jacobian(yc)).imag).values
    torch.testing.assert_close(
        ev, torch.tensor([-math.sqrt(39) / 8, math.sqrt(39) / 8], dtype=DT), atol=1e-12, rtol=0
    )
    torch.testing.assert_close(
        eigenvalues(toy.jacobian(yc)).real, torch.full((2,), 5 / 8, dtype=DT), atol=1e-12, rtol=0
    )
    fp = toy.fixed_point(yc)
    torch.testing.assert_close(jacobian(lambda z: toy.step(z, yc), fp), toy.jacobian(yc), atol=1e-12, rtol=0)
    net, learned, x0, y = toy.as_pcn(yc)
    tmap = training_map(net, x0, y, toy.gamma, toy.alpha, "alternating", learned)
    z = fp + torch.tensor([0.2, 0.1], dtype=DT)
    torch.testing.assert_close(tmap(z), toy.step(z, yc), atol=1e-14, rtol=0)
    assert abs(first_lyapunov_coefficient(lambda z: toy.step(z, yc), fp) + 0.675) < 0.01


def test_orbits_stable_below_and_invariant_curve_above() -> None:
    toy = NSToy()
    vc = toy.v_critical()
    vs = [vc - 0.05, vc + 0.02, vc + 0.08]
    p = torch.tensor(vs, dtype=DT)
    fps = torch.stack([toy.fixed_point(v) for v in vs])
    orbit = iterate(lambda z: toy.step(z, p), fps + torch.tensor([0.01, 0.0], dtype=DT), 20000)
    stats = [orbit_stats(orbit[:, k], fps[k], tail=5000) for k in range(3)]
    assert stats[0]["max"] < 1e-10
    assert abs(stats[1]["min"] - 0.0441) < 1e-3 and abs(stats[1]["max"] - 0.2032) < 1e-3
    assert abs(stats[2]["min"] - 0.0758) < 1e-3 and abs(stats[2]["max"] - 0.4477) < 1e-3
    lin = LinearNSToy()
    y = lin.v_critical() + 0.05
    orb = iterate(lambda z: lin.step(z, y), lin.fixed_point(y) + torch.tensor([0.01, 0.0], dtype=DT), 20000)
    st = orbit_stats(orb, lin.fixed_point(y), tail=5000)
    assert abs(st["min"] - 0.0358) < 1e-3 and abs(st["max"] - 0.2890) < 1e-3


def test_analysis_bad_input() -> None:
    net = _net([3, 4, 2])
    with pytest.raises(ValueError, match="x0 must be one input with 3 features"):
        prediction_map(net, torch.zeros(5, dtype=DT), 0.1)
    with pytest.raises(ValueError, match="schedule must be one of"):
        training_map(net, torch.zeros(3, dtype=DT), torch.zeros(2, dtype=DT), 0.1, 0.1, "gauss-seidel")
    with pytest.raises(ValueError, match="learned: unknown parameter"):
        training_map(
            net, torch.zeros(3, dtype=DT), torch.zeros(2, dtype=DT), 0.1, 0.1, learned={"w": torch.ones(1)}
        )
    with pytest.raises(ValueError, match="J must be square"):
        eigenvalues(torch.zeros(2, 3, dtype=DT))
    with pytest.raises(ValueError, match="no crossing bracketed"):
        find_bifurcation(NSToy().jacobian, 0.6, 1.0)
    with pytest.raises(ValueError, match="v must be > y"):
        NSToy().fixed_point(0.4)
    with pytest.raises(ValueError, match="r must lie in"):
        certify_ball(net, torch.zeros(3, dtype=DT), 0.1, -1.0)
    with pytest.raises(ValueError, match="not a Neimark-Sacker point"):
        first_lyapunov_coefficient(lambda z: 0.5 * z, torch.zeros(2, dtype=DT))
