"""The mathematics of STIR: seeds, the inversion's steps, fake ReLU, linear identities, direction, measures."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ballroom.core.metrics import linear_cka, minibatch_cka, rbf_cka
from ballroom.stir import (
    FeatureMLP,
    LinearFeatureModel,
    Normalizer,
    box_clamp,
    fake_relu,
    invert_representation,
    resolve_measure,
    seed_images,
    stir,
    train_classifier,
)
from ballroom.stir.data import digits_split

# ----------------------------------------------------------------------------------------- seeds


def test_seed_shapes_ranges_and_structure() -> None:
    like = torch.rand(7, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    noise = seed_images("super-noise", like, g)
    assert noise.shape == like.shape and noise.min() < 0 and noise.max() > 1  # not clipped
    same = seed_images("super-noise-same", like, g)
    assert torch.equal(same, same[:1].expand_as(same))
    rnd = seed_images("completely-random", like, g)
    k = rnd * 255
    assert torch.allclose(k, k.round(), atol=1e-4) and k.max() <= 254 and k.min() >= 0
    assert torch.equal(rnd, rnd[:1].expand_as(rnd))
    assert torch.equal(seed_images("white", like), torch.ones_like(like))
    assert torch.equal(seed_images("black", like), torch.zeros_like(like))
    assert torch.equal(seed_images("mixed_inputs", like), like[[6, 5, 4, 3, 2, 1, 0]])
    mixed = seed_images("all_types", like, g)  # thirds: 2 noise-same, 2 white, 3 black
    assert torch.equal(mixed[0], mixed[1]) and not torch.equal(mixed[0], torch.ones_like(mixed[0]))
    assert torch.equal(mixed[2:4], torch.ones(2, 1, 4, 4)) and torch.equal(mixed[4:], torch.zeros(3, 1, 4, 4))


# ----------------------------------------------------------------------------- normaliser, ReLU


def test_box_clamp_gradient_is_one_on_the_closed_box_and_zero_outside() -> None:
    x = torch.tensor([-0.5, 0.0, 0.3, 1.0, 1.5], requires_grad=True)
    y = box_clamp(x)
    assert torch.equal(y.detach(), x.detach().clamp(0, 1))
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(g, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))
    # clamp_grad="torch" is torch.clamp's own gradient, whatever this torch's edge rule is (recent
    # releases give 0 at the edges, the reason for the default; torch 2.1 gave 1, as box_clamp does)
    (g2,) = torch.autograd.grad(Normalizer(clamp_grad="torch")(x).sum(), x)
    (g3,) = torch.autograd.grad(x.clamp(0.0, 1.0).sum(), x)
    assert torch.equal(g2, g3)
    assert torch.equal(g2[[0, 2, 4]], torch.tensor([0.0, 1.0, 0.0]))  # inside and outside: no doubt


def test_fake_relu_changes_the_gradient_only_where_the_preactivation_is_negative() -> None:
    torch.manual_seed(0)
    net = FeatureMLP(12, (9,), 3)
    x = torch.randn(5, 12, requires_grad=True)
    w = torch.randn(5, 9)
    grads = {}
    for fake in (False, True):
        _logits, rep = net(x, with_latent=True, fake_relu=fake)
        (grads[fake],) = torch.autograd.grad((rep * w).sum(), x)
        assert fake or torch.equal(rep, torch.relu(net.hidden[0](x)))
    pre = net.hidden[0](x).detach()
    W = net.hidden[0].weight.detach()
    torch.testing.assert_close(grads[True] - grads[False], (w * (pre <= 0)) @ W, atol=1e-6, rtol=1e-5)
    v = torch.tensor([-1.0, 2.0], requires_grad=True)
    assert torch.equal(fake_relu(v), torch.relu(v))
    (gv,) = torch.autograd.grad(fake_relu(v).sum(), v)
    assert torch.equal(gv, torch.ones(2))


# ------------------------------------------------------------------------------------ inversion


def _tiny_net(seed: int = 0) -> FeatureMLP:
    torch.manual_seed(seed)
    return FeatureMLP(16, (24, 8), 4).eval()


def test_best_tracked_loss_is_non_increasing_and_iterates_stay_in_the_box() -> None:
    net, x = _tiny_net(), torch.rand(6, 16, generator=torch.Generator().manual_seed(1))
    errs = []
    for its in range(0, 30, 3):
        xp, err = invert_representation(
            net, x, "super-noise", normalizer=Normalizer(), iterations=its, step_size=0.3,
            generator=torch.Generator().manual_seed(2),
        )  # fmt: skip
        errs.append(err)
        if its:
            assert xp.min() >= 0 and xp.max() <= 1
    stacked = torch.stack(errs)
    assert bool((stacked[1:] <= stacked[:-1]).all()) and stacked[-1].mean() < stacked[0].mean()


def test_zero_iterations_return_the_seed() -> None:
    net, x = _tiny_net(), torch.rand(4, 16)
    x0 = torch.randn(4, 16) * 2
    xp, err = invert_representation(net, x, x0, normalizer=Normalizer(), iterations=0)
    assert torch.equal(xp, x0) and err.shape == (4,)


def test_first_step_ignores_pixels_outside_the_box_and_has_length_step_size() -> None:
    net, x = _tiny_net(), torch.rand(3, 16)
    x0 = torch.randn(3, 16, generator=torch.Generator().manual_seed(3)) * 1.5
    x1, _ = invert_representation(net, x, x0, normalizer=Normalizer(), iterations=1, use_best=False, box=None)
    moved = x1 - x0
    outside = (x0 < 0) | (x0 > 1)
    assert outside.any() and torch.equal(moved[outside], torch.zeros_like(moved[outside]))
    torch.testing.assert_close(moved.norm(dim=1), torch.full((3,), 0.5), atol=1e-5, rtol=0)


def test_gradient_normalisation_is_per_sample() -> None:
    net = _tiny_net()
    x = torch.rand(1, 16)
    x0 = torch.randn(1, 16, generator=torch.Generator().manual_seed(4))
    one, _ = invert_representation(net, x, x0, normalizer=Normalizer(), iterations=25)
    five, _ = invert_representation(
        net, x.repeat(5, 1), x0.repeat(5, 1), normalizer=Normalizer(), iterations=25
    )
    torch.testing.assert_close(five, one.expand(5, -1), atol=1e-5, rtol=0)
    # a second, different sample does not change the first one's IRI
    two, _ = invert_representation(
        net, torch.cat([x, torch.rand(1, 16)]), torch.cat([x0, torch.randn(1, 16)]), normalizer=Normalizer(),
        iterations=25,
    )  # fmt: skip
    torch.testing.assert_close(two[:1], one, atol=1e-5, rtol=0)


def test_linear_model_updates_stay_in_the_row_space() -> None:
    gen = torch.Generator().manual_seed(5)
    W1 = torch.randn(3, 10, generator=gen, dtype=torch.float64)
    P_row = W1.T @ torch.linalg.solve(W1 @ W1.T, W1)
    P_null = torch.eye(10, dtype=torch.float64) - P_row
    x = torch.rand(8, 10, generator=gen, dtype=torch.float64)
    x0 = torch.randn(8, 10, generator=gen, dtype=torch.float64)
    xp, err = invert_representation(
        LinearFeatureModel(W1),
        x,
        x0,
        normalizer=None,
        box=None,
        fake_relu=False,
        step_size=0.01,
        iterations=2000,
    )
    torch.testing.assert_close(xp @ P_null, x0 @ P_null, atol=1e-10, rtol=0)
    assert float(((xp - x) @ P_row).norm(dim=1).max()) <= 0.01
    assert float(err.max()) < 0.01


# ------------------------------------------------------------------------------------------ STIR


def test_stir_direction_with_a_stub_that_ignores_half_the_input() -> None:
    gen = torch.Generator().manual_seed(6)
    W1 = torch.randn(12, 8, generator=gen, dtype=torch.float64)  # sees everything (full column rank)
    W2 = torch.zeros(4, 8, dtype=torch.float64)
    W2[:, :4] = torch.randn(4, 4, generator=gen, dtype=torch.float64)  # ignores pixels 4..7
    X = torch.rand(40, 8, generator=gen, dtype=torch.float64)
    r = stir(LinearFeatureModel(W1), LinearFeatureModel(W2), X, normalizer1=None, normalizer2=None, box=None,
             step_size=0.01, iterations=1500, generator=gen)  # fmt: skip
    assert r.m2m1 > 0.999  # IRIs of m1 equal X, so m2 sees no difference
    assert r.m1m2 < 0.9  # IRIs of m2 are free in the half m2 ignores; m1 sees it
    assert r.rsm < 1.0


def test_self_stir_of_a_trained_net_and_batching() -> None:
    torch.set_num_threads(1)
    data = digits_split(0)
    x, y = data["train"]
    torch.manual_seed(0)
    net = train_classifier(FeatureMLP(64, (64, 16), 10), x, y, epochs=5, seed=0, normalizer=Normalizer())
    X = data["test"][0][:40]
    kw = {"normalizer1": Normalizer(), "normalizer2": Normalizer(), "iterations": 150}
    full = stir(net, net, X, generator=torch.Generator().manual_seed(0), **kw)
    assert 0.9 <= full.m2m1 <= 1.0 and 0.9 <= full.m1m2 <= 1.0 and math.isclose(full.rsm, 1.0)
    batched = stir(net, net, X, batch_size=16, generator=torch.Generator().manual_seed(0), **kw)
    assert math.isclose(batched.m2m1, full.m2m1, abs_tol=1e-4)  # S on all 40, not the last batch
    again = stir(net, net, X, generator=torch.Generator().manual_seed(0), **kw)
    assert again == full  # seeded: deterministic
    mb = stir(
        net, net, X, measure="minibatch_cka", batch_size=20, generator=torch.Generator().manual_seed(0), **kw
    )
    assert 0.8 <= mb.m2m1 <= 1.0
    calls = []
    custom = stir(net, net, X, measure=lambda a, b: calls.append(a.shape) or 0.5, iterations=2,
                  normalizer1=Normalizer(), normalizer2=Normalizer())  # fmt: skip
    assert custom.m2m1 == 0.5 and calls[0] == (40, 16)


# ------------------------------------------------------------------------------------- measures


def test_linear_cka_identities() -> None:
    gen = torch.Generator().manual_seed(7)
    X = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    Y = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    S = resolve_measure("linear_CKA")
    Q, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=torch.float64))
    assert math.isclose(S(X, X), 1.0, rel_tol=1e-12)
    assert math.isclose(S(X @ Q * 3.0 + 2.0, Y), S(X, Y), rel_tol=1e-10)
    assert math.isclose(S(X, Y), S(Y, X), rel_tol=1e-12)
    assert not math.isclose(
        S(X * torch.tensor([1, 1, 1, 1, 9.0], dtype=torch.float64), Y), S(X, Y), rel_tol=1e-3
    )
    K, L = X @ X.T, Y @ Y.T
    H = torch.eye(30, dtype=torch.float64) - 1 / 30
    hs = lambda A, B: ((H @ A @ H) * (H @ B @ H)).sum()  # noqa: E731
    assert math.isclose(S(X, Y), float(hs(K, L) / torch.sqrt(hs(K, K) * hs(L, L))), rel_tol=1e-10)
    assert math.isclose(float(minibatch_cka([X], [Y])), float(linear_cka(X, Y, debiased=True)), rel_tol=1e-10)
    assert math.isclose(float(rbf_cka(X, Y, sigma_x=1e4, sigma_y=1e4)), S(X, Y), rel_tol=1e-4)
    assert resolve_measure("kernel_CKA")(X, Y) == float(rbf_cka(X, Y))


# ------------------------------------------------------------------------------------ bad input

_X = torch.rand(4, 16)
_NET = FeatureMLP(16, (8,), 3)
_N = Normalizer()


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda: invert_representation(_NET, _X.numpy(), "black", normalizer=_N),
            TypeError,
            "x_target must be a torch.Tensor",
        ),
        (
            lambda: invert_representation(_NET, _X.long(), "black", normalizer=_N),
            TypeError,
            "x_target must have a floating",
        ),
        (
            lambda: invert_representation(_NET, _X[0], "black", normalizer=_N),
            ValueError,
            "x_target must have rank >= 2",
        ),
        (
            lambda: invert_representation(_NET, _X[:0], "black", normalizer=_N),
            ValueError,
            "x_target must not be empty",
        ),
        (
            lambda: invert_representation(_NET, _X * float("nan"), "black", normalizer=_N),
            ValueError,
            "x_target must be finite",
        ),
        (lambda: invert_representation(_NET, _X, "grey", normalizer=_N), ValueError, "kind must be one of"),
        (
            lambda: invert_representation(_NET, _X, torch.rand(3, 16), normalizer=_N),
            ValueError,
            r"seed must have shape \(4, 16\)",
        ),
        (
            lambda: invert_representation(_NET, _X, "black", normalizer=_N, step_size=0),
            ValueError,
            "step_size must lie in",
        ),
        (
            lambda: invert_representation(_NET, _X, "black", normalizer=_N, iterations=-1),
            ValueError,
            "iterations must be an integer",
        ),
        (
            lambda: invert_representation(_NET, _X, "black", normalizer=_N, iterations=2.5),
            TypeError,
            "iterations must be an integer",
        ),
        (
            lambda: invert_representation(_NET, _X, "black", normalizer=_N, loss="l1"),
            ValueError,
            "loss must be one of",
        ),
        (
            lambda: invert_representation(LinearFeatureModel(torch.zeros(2, 16)), _X, "black", normalizer=_N),
            ValueError,
            "representation is zero",
        ),
        (
            lambda: invert_representation(nn.Linear(16, 3), _X, "black", normalizer=_N),
            TypeError,
            "FeatureModel protocol",
        ),
        (
            lambda: stir(_NET, _NET, _X, normalizer1=_N, normalizer2=_N, measure="cka"),
            ValueError,
            "measure must be one of",
        ),
        (
            lambda: stir(_NET, _NET, _X, normalizer1=_N, normalizer2=_N, measure=3),
            TypeError,
            "measure must be a measure name",
        ),
        (
            lambda: stir(_NET, _NET, _X, normalizer1=_N, normalizer2=_N, n_draws=0),
            ValueError,
            "n_draws must be an integer",
        ),
        (
            lambda: stir(_NET, _NET, _X, normalizer1=_N, normalizer2=_N, batch_size=0),
            ValueError,
            "batch_size must be an integer",
        ),
        (
            lambda: stir(_NET, _NET, _X, normalizer1=_N, normalizer2=_N, seed="noise"),
            ValueError,
            "seed must be one of",
        ),
        (
            lambda: stir(_NET, _NET, [[0.5] * 16], normalizer1=_N, normalizer2=_N),
            TypeError,
            "X must be a torch.Tensor",
        ),
        (lambda: seed_images("white", torch.rand(0, 3)), ValueError, "like must not be empty"),
        (lambda: Normalizer(std=0.0), ValueError, "std must be > 0"),
        (lambda: Normalizer(clamp_grad="soft"), ValueError, "clamp_grad must be one of"),
        (lambda: FeatureMLP(hidden=()), ValueError, "hidden must be a non-empty"),
        (lambda: _NET(torch.rand(2, 10)), ValueError, "16 features"),
        (lambda: _NET(_X, layer=3), ValueError, "layer must be an integer"),
    ],
)
def test_bad_input_is_refused_clearly(call, exc, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=match):
        call()
