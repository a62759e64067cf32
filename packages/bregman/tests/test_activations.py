"""The activation table: exact inverse pairs, psi' = sigma^{-1}, the argmin property, Bregman divergences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ballroom.bregman import bregman_divergence, get_activation
from ballroom.bregman.activations import ACTIVATIONS

NAMES = [
    "sigmoid",
    "tanh",
    "scaled_tanh",
    "isru",
    "atan",
    "sin",
    "asinh",
    "softplus",
    "softplus1",
    "softplus10",
    "relu",
]


def _grid(name: str, n: int = 201) -> torch.Tensor:
    act = get_activation(name)
    lo = act.lo if math.isfinite(act.lo) else -5.0
    hi = act.hi if math.isfinite(act.hi) else 5.0
    margin = 1e-4 * (hi - lo)
    return torch.linspace(lo + margin, hi - margin, n, dtype=torch.float64)


@pytest.mark.parametrize("name", NAMES)
def test_sigma_of_inverse_is_identity_on_the_range(name: str) -> None:
    act, y = get_activation(name), _grid(name)
    torch.testing.assert_close(act.sigma(act.inverse(y)), y, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_inverse_of_sigma_is_identity(name: str) -> None:
    act = get_activation(name)
    z = torch.linspace(-4, 4, 161, dtype=torch.float64)
    if name == "sin":
        z = z[z.abs() < math.pi / 2 - 1e-3]  # sin is invertible on (-pi/2, pi/2) only
    y = act.sigma(z)
    keep = (y > act.lo + 1e-12) & (y < act.hi - 1e-12)  # saturated points carry no information
    tol = 1e-4 if name == "softplus" else 1e-6
    torch.testing.assert_close(act.inverse(y[keep]), z[keep], rtol=tol, atol=tol)
    assert keep.float().mean() > 0.4


@pytest.mark.parametrize("name", NAMES)
def test_psi_gradient_is_the_inverse(name: str) -> None:
    act = get_activation(name)
    y = _grid(name, 41)[5:-5].requires_grad_(True)
    if name.startswith("softplus"):  # psi goes through scipy: finite differences instead of autograd
        h = 1e-6
        num = (act.psi(y.detach() + h) - act.psi(y.detach() - h)) / (2 * h)
        torch.testing.assert_close(num, act.inverse(y.detach()), rtol=1e-5, atol=1e-5)
        return
    (grad,) = torch.autograd.grad(act.psi(y).sum(), y)
    torch.testing.assert_close(grad, act.inverse(y.detach()), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "isru", "atan"])
def test_layer_output_is_the_argmin_of_the_lower_level_problem(name: str) -> None:
    from scipy.optimize import minimize_scalar

    act = get_activation(name)
    rng = np.random.default_rng(0)
    prev = _grid(name, 9)[1:-1]
    drive = torch.as_tensor(rng.normal(size=prev.shape), dtype=torch.float64)  # (W x + b)_i
    closed = act.sigma(act.inverse(prev) + drive)
    for p, d, c in zip(prev.tolist(), drive.tolist(), closed.tolist()):
        g = float(act.inverse(torch.tensor(p, dtype=torch.float64))) + d

        def objective(t: float, g: float = g) -> float:
            return float(act.psi(torch.tensor(t, dtype=torch.float64))) - g * t

        res = minimize_scalar(objective, bounds=(act.lo, act.hi), method="bounded", options={"xatol": 1e-12})
        assert abs(res.x - c) < 1e-6, (name, p, d, res.x, c)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "softplus10", "atan"])
def test_bregman_divergence_is_nonnegative_zero_iff_equal_and_matches_the_formula(name: str) -> None:
    act = get_activation(name)
    grid = _grid(name, 60)[5:-5]
    x, y = grid.view(-1, 1).expand(-1, 50).reshape(-1, 1), grid.view(1, -1).expand(50, -1).reshape(-1, 1)
    d = bregman_divergence(act.psi, act.inverse, x, y)
    assert d.shape == (2500,)
    assert bool((d >= -1e-12).all())
    same = (x == y).squeeze(1)
    assert bool((d[same].abs() < 1e-12).all()) and bool((d[~same] > 0).all())
    per = bregman_divergence(act.psi, act.inverse, x, y, reduction="none").squeeze(1)
    torch.testing.assert_close(per, (act.psi(x) - act.psi(y) - act.inverse(y) * (x - y)).squeeze(1))


def test_official_offsets_differ_where_the_spec_says() -> None:
    y = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    sig = get_activation("sigmoid")
    torch.testing.assert_close(sig.offset("official")(y), torch.log(y / (1 + y)))
    torch.testing.assert_close(sig.offset("exact")(y), torch.log(y / (1 - y)))
    relu = get_activation("relu")
    torch.testing.assert_close(relu.offset("official")(y), y + 1 / y)
    torch.testing.assert_close(relu.offset()(y), y - 0.25 / y)
    tanh = get_activation("tanh")
    assert tanh.offset("official") is tanh.inverse


def test_softplus_beta_parsing_and_stable_float32() -> None:
    assert get_activation("softplus").sigma(torch.tensor([1.0])).item() == pytest.approx(1.0)
    sp = get_activation("softplus10")
    z = torch.linspace(-3, 3, 61)
    torch.testing.assert_close(sp.sigma(z), torch.nn.functional.softplus(z, beta=10, threshold=100))
    y = torch.tensor([1e-5, 1e-3, 0.5, 30.0])
    for name in ("softplus1", "softplus1000", "relu"):
        act = get_activation(name)
        rel = (act.sigma(act.inverse(y)) - y).abs() / y
        assert float(rel.max()) < 1e-6, name
    # the official softplus inverse approximates below beta y = e^-5; ours is exact
    y64 = torch.tensor([1e-4], dtype=torch.float64)
    assert abs(float(sp.sigma(sp.inverse(y64))) - 1e-4) < 1e-16
    assert abs(float(sp.sigma(sp.offset("official")(y64))) - 1e-4) > 1e-8


def test_sin_is_clamped_to_its_invertible_interval_and_option_e_padding_maps_to_zero() -> None:
    sin = get_activation("sin")
    assert float(sin.sigma(torch.tensor(3.0))) == 1.0
    for name in NAMES:
        act = get_activation(name)
        zero = act.inverse(act.sigma(torch.zeros(1, dtype=torch.float64)))
        assert abs(float(zero)) < 1e-7, name


def test_bad_names_and_inputs_are_refused() -> None:
    assert "softplus" in ACTIVATIONS
    with pytest.raises(ValueError, match="activation must be one of"):
        get_activation("swish")
    with pytest.raises(TypeError, match="activation must be a name"):
        get_activation(3)  # type: ignore[arg-type]
    act = get_activation("tanh")
    with pytest.raises(ValueError, match="same shape"):
        bregman_divergence(act.psi, act.inverse, torch.zeros(3), torch.zeros(4))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        bregman_divergence(act.psi, act.inverse, np.zeros(3), torch.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reduction"):
        bregman_divergence(act.psi, act.inverse, torch.zeros(3), torch.zeros(3), reduction="mean")
    with pytest.raises(ValueError, match="offset"):
        act.offset("paper")
