"""Bregman layers and MLPs: identity at zero, reductions, the simplex skip, gradients, official weights, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ballroom.bregman import (
    BregmanLinear,
    BregmanMLP,
    bregman_layer,
    get_activation,
    layer_displacement,
    load_official_state_dict,
    project_simplex,
    scale_to_range,
)

D = torch.float64


@pytest.mark.parametrize(
    "name", ["sigmoid", "tanh", "atan", "isru", "relu", "softplus10", "scaled_tanh", "asinh"]
)
def test_bregman_layer_at_zero_is_the_identity_and_standard_is_not(name: str) -> None:
    torch.manual_seed(0)
    x = scale_to_range(torch.rand(7, 16, dtype=D), name, eps=1e-3)
    layer = BregmanLinear(16, 16, name).double()
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
    torch.testing.assert_close(layer(x), x, rtol=1e-10, atol=1e-10)
    std = BregmanLinear(16, 16, name, version="standard").double()
    with torch.no_grad():
        std.weight.zero_()
        std.bias.zero_()
    assert not torch.allclose(std(x), x, atol=1e-3)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_deep_zero_init_stack_is_the_identity(name: str) -> None:
    net = BregmanMLP(32, [32] * 20, 10, name, init="zero").double()
    x = scale_to_range(torch.rand(5, 32, dtype=D), name)
    feats = net.forward_features(x)
    assert len(feats) == 21
    torch.testing.assert_close(feats[-1], x, rtol=1e-9, atol=1e-12)
    # zero init: the read-out is eye(10, 32), so the logits are the first 10 coordinates
    torch.testing.assert_close(net(x), x[:, :10], rtol=1e-9, atol=1e-12)
    assert float(layer_displacement(net, x).max()) < 1e-18
    std = BregmanMLP(32, [32] * 20, 10, name, version="standard", init="zero").double()
    assert not torch.allclose(std.forward_features(x)[-1], x)


def test_boundary_inputs_are_clamped_not_nan() -> None:
    layer = BregmanLinear(4, 4, "sigmoid")
    out = layer(torch.tensor([[0.0, 1.0, 0.5, 1.0]]))
    assert bool(torch.isfinite(out).all())


def test_euclidean_is_a_standard_layer_with_v_equal_identity_plus_w() -> None:
    torch.manual_seed(1)
    layer = BregmanLinear(8, 8, "tanh", version="euclidean").double()
    x = torch.randn(5, 8, dtype=D)
    expected = torch.tanh(F.linear(x, torch.eye(8, dtype=D) + layer.weight, layer.bias))
    torch.testing.assert_close(layer(x), expected)


def test_bregman_with_identity_activation_is_x_plus_wx_plus_b() -> None:
    torch.manual_seed(2)
    layer = BregmanLinear(6, 6, "identity").double()
    x = torch.randn(4, 6, dtype=D)
    torch.testing.assert_close(layer(x), x + F.linear(x, layer.weight, layer.bias))


def test_functional_layer_matches_the_module() -> None:
    torch.manual_seed(3)
    layer = BregmanLinear(10, 6, "sigmoid").double()
    x = scale_to_range(torch.rand(3, 10, dtype=D), "sigmoid")
    out = bregman_layer(x, layer.weight, layer.bias, "sigmoid", layer.skip_weight)
    torch.testing.assert_close(out, layer(x))
    act = get_activation("sigmoid")
    torch.testing.assert_close(
        out,
        torch.sigmoid(
            torch.logit(act.clamp(x @ layer.skip_weight.T)) + F.linear(x, layer.weight, layer.bias)
        ),
    )


@pytest.mark.parametrize("skip", ["simplex", "mean"])
def test_simplex_skip_rows_are_on_the_simplex_and_keep_x_in_range(skip: str) -> None:
    torch.manual_seed(4)
    layer = BregmanLinear(12, 5, "tanh", skip=skip)
    p = layer.skip_weight
    assert "skip_weight" in dict(layer.named_buffers()) and "skip_weight" not in dict(
        layer.named_parameters()
    )
    torch.testing.assert_close(p.sum(1), torch.ones(5))
    assert bool((p >= 0).all())
    x = scale_to_range(torch.rand(100, 12), "tanh")
    px = x @ p.T
    assert bool((px > -1).all()) and bool((px < 1).all())
    if skip == "mean":
        assert torch.equal(p, torch.full((5, 12), 1 / 12))


def test_project_simplex_is_the_exact_euclidean_projection() -> None:
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    v = torch.as_tensor(rng.normal(size=(6, 5)) * 2, dtype=D)
    w = project_simplex(v)
    torch.testing.assert_close(w.sum(1), torch.ones(6, dtype=D))
    assert bool((w >= 0).all()) and bool((w == 0).any())  # some entries clipped: the hard case
    for row, got in zip(v.numpy(), w.numpy()):
        res = minimize(
            lambda u, row=row: ((u - row) ** 2).sum(), np.full(5, 0.2), method="SLSQP",
            bounds=[(0, None)] * 5, constraints=[{"type": "eq", "fun": lambda u: u.sum() - 1}], tol=1e-14,
        )  # fmt: skip
        assert np.abs(res.x - got).max() < 1e-6
    torch.testing.assert_close(project_simplex(w), w)  # idempotent


def test_trainable_skip_is_a_row_softmax_parameter_that_the_optimizer_updates() -> None:
    torch.manual_seed(5)
    layer = BregmanLinear(8, 4, "sigmoid", trainable_skip=True)
    assert "skip_logits" in dict(layer.named_parameters())
    torch.testing.assert_close(layer.projection.sum(1), torch.ones(4))
    before = layer.projection.detach().clone()
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    layer(scale_to_range(torch.rand(16, 8), "sigmoid")).sum().backward()
    opt.step()
    assert not torch.allclose(layer.projection, before)
    torch.testing.assert_close(layer.projection.sum(1), torch.ones(4))


def test_frozen_skip_is_never_reprojected_or_trained() -> None:
    layer = BregmanLinear(8, 4, "sigmoid")
    p = layer.skip_weight.clone()
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    for _ in range(3):
        opt.zero_grad()
        layer(scale_to_range(torch.rand(16, 8), "sigmoid")).sum().backward()
        opt.step()
    assert torch.equal(layer.skip_weight, p)


def test_gradcheck_bregman_linear() -> None:
    torch.manual_seed(6)
    layer = BregmanLinear(5, 3, "tanh").double()
    x = (torch.rand(4, 5, dtype=D) * 1.2 - 0.6).requires_grad_(True)
    assert torch.autograd.gradcheck(layer, (x,))
    assert torch.autograd.gradcheck(lambda w: bregman_layer(x.detach(), w, layer.bias, "sigmoid", layer.skip_weight.abs() / layer.skip_weight.abs().sum(1, keepdim=True)), (layer.weight.detach().clone().requires_grad_(True),))  # fmt: skip


def test_init_modes() -> None:
    net = BregmanMLP(16, [8, 8], 3, "sigmoid", init="deterministic")
    assert all(float(layer.weight.detach().abs().sum()) == 0 for layer in net.layers)
    assert torch.equal(net.output.weight, torch.full((3, 8), 1 / 8))
    assert torch.equal(net.output.bias, torch.full((3,), 1 / 8))
    z = BregmanMLP(16, [8, 8], 3, "sigmoid", init="zero")
    assert torch.equal(z.output.weight, torch.eye(3, 8)) and float(z.output.bias.detach().abs().sum()) == 0
    s = BregmanMLP(8, [8], 3, "sigmoid", version="standard", init="deterministic")
    assert torch.equal(s.layers[0].weight, torch.eye(8))


def _official_mlp_forward(sd: dict, x: torch.Tensor, n_layers: int, act_name: str) -> torch.Tensor:
    """The official forward (bregman version, offset as in bregmanet), written from the spec."""
    act, eps = get_activation(act_name), 1e-5
    for i in range(n_layers):
        skip = (
            F.linear(x, project_simplex(sd[f"reparametrization.{i}.weight"]))
            if f"reparametrization.{i}.weight" in sd
            else x
        )
        skip = torch.clamp(skip, act.lo + eps, act.hi - eps)
        x = act.sigma(act.offset("official")(skip) + F.linear(x, sd[f"lin.{i}.weight"], sd[f"lin.{i}.bias"]))
    return F.linear(x, sd["output.weight"], sd["output.bias"])


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_official_mlp_weights_load_by_name_and_give_the_same_logits(name: str) -> None:
    torch.manual_seed(7)
    widths = [20, 12, 12, 6]
    sd = {}
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        sd[f"lin.{i}.weight"], sd[f"lin.{i}.bias"] = torch.randn(b, a) * 0.3, torch.randn(b) * 0.1
        if a != b:
            sd[f"reparametrization.{i}.weight"] = project_simplex(torch.randn(b, a))
    sd["output.weight"], sd["output.bias"] = torch.randn(4, 6), torch.randn(4)
    ours = BregmanMLP(20, widths[1:], 4, name, offset="official")
    load_official_state_dict(ours, sd)
    x = scale_to_range(torch.rand(9, 20), name)
    torch.testing.assert_close(ours(x), _official_mlp_forward(sd, x, 3, name))
    with pytest.raises(KeyError, match="unexpected key"):
        load_official_state_dict(BregmanMLP(20, widths[1:], 4, name), {**sd, "lin.0.weight_g": torch.ones(1)})


def test_bad_input_table() -> None:
    net = BregmanMLP(8, [8], 3, "sigmoid")
    good = scale_to_range(torch.rand(2, 8), "sigmoid")
    cases = [
        (np.zeros((2, 8)), TypeError, "x must be a torch.Tensor"),
        (torch.ones(2, 8, dtype=torch.int64), TypeError, "floating-point"),
        (torch.rand(8), ValueError, "rank >= 2"),
        (torch.rand(2, 7), ValueError, "8 features"),
        (torch.rand(0, 8), ValueError, "must not be empty"),
        (torch.full((2, 8), float("nan")), ValueError, "finite"),
        (good + 2.0, ValueError, "range"),
    ]
    for x, err, msg in cases:
        with pytest.raises(err, match=msg):
            net(x)
    with pytest.raises(ValueError, match="8 features"):
        BregmanLinear(8, 4)(torch.rand(2, 5))
    with pytest.raises(ValueError, match="version must be one of"):
        BregmanLinear(4, 4, version="resnet")
    with pytest.raises(ValueError, match="skip must be one of"):
        BregmanLinear(4, 4, skip="conv")
    with pytest.raises(ValueError, match="skip='identity' needs"):
        BregmanLinear(4, 3, skip="identity")
    with pytest.raises(ValueError, match="offset must be one of"):
        BregmanLinear(4, 4, offset="paper")
    with pytest.raises(ValueError, match="in_features"):
        BregmanLinear(0, 4)
    with pytest.raises(ValueError, match="eps must be"):
        BregmanLinear(4, 4, eps=0.6)
    with pytest.raises(ValueError, match="init must be one of"):
        BregmanMLP(4, [4], 2, init="ones")
    with pytest.raises(ValueError, match="hidden_dims"):
        BregmanMLP(4, [], 2)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        scale_to_range(torch.tensor([1.5]), "sigmoid")
    with pytest.raises(TypeError, match="forward_features"):
        layer_displacement(torch.nn.Linear(2, 2), torch.zeros(1, 2))


def test_scale_to_range_formula_and_unbounded_ranges() -> None:
    p = torch.tensor([0.0, 0.5, 1.0], dtype=D)
    torch.testing.assert_close(scale_to_range(p, "tanh"), -1 + 1e-5 + (2 - 2e-5) * p)
    torch.testing.assert_close(scale_to_range(p, "softplus"), p + 1e-5)
    torch.testing.assert_close(scale_to_range(p, "asinh"), p)


@pytest.mark.parametrize("version", ["bregman", "euclidean", "standard"])
def test_device_and_shapes(device: torch.device, version: str) -> None:
    net = BregmanMLP(64, [32, 64], 10, "tanh", version=version).to(device)
    x = scale_to_range(torch.rand(4, 1, 8, 8, device=device), "tanh")
    out = net(x)
    assert out.shape == (4, 10) and out.dtype == torch.float32 and out.device.type == device.type
