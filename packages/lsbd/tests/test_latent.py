"""Latent subspaces and the LSBD-VAE losses: the spec's identities and initialisations."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.lsbd import CircleLatent, GaussianLatent, build_lsbd, circle_kl, l2_normalize, rotate
from ballroom.lsbd.functional import random_walk_sample, reconstruction_loss
from ballroom.lsbd.nn import equivariance_loss, reanchor

GEN = torch.Generator().manual_seed(0)


def _unit(*shape: int) -> torch.Tensor:
    return l2_normalize(torch.randn(*shape, 2, generator=GEN, dtype=torch.float64))


def test_circle_head_init_samples_and_kl(device: torch.device) -> None:
    lat = CircleLatent(8).to(device)
    h = torch.randn(16, 8, device=device)
    mu, log_t = lat.params(h)
    assert torch.allclose(log_t, torch.full_like(log_t, -7.5))  # zero-initialised tanh head
    assert torch.allclose(mu.norm(dim=-1), torch.ones(16, device=device), atol=1e-6)
    z = lat.sample((mu, log_t))
    assert torch.allclose(z.norm(dim=-1), torch.ones(16, device=device), atol=1e-6)
    lo_lat = CircleLatent(8, log_t_range=(-10, -6))
    assert torch.allclose(lo_lat.params(h.cpu())[1], torch.full((16, 1), -8.0))
    expected = -0.5 * log_t - 0.5 * math.log(2 * math.pi) - 0.5 + math.log(2 * math.pi)  # m = 1
    torch.testing.assert_close(lat.kl((mu, log_t)), expected[:, 0])


def test_walk_with_vanishing_time_stays_at_mu_and_the_kl_formula() -> None:
    mu = _unit(32)
    z = random_walk_sample(mu, torch.full((32, 1), -60.0, dtype=torch.float64), steps=10)
    torch.testing.assert_close(z, mu, atol=1e-12, rtol=0)
    far = random_walk_sample(mu, torch.full((32, 1), 2.0, dtype=torch.float64), steps=10)
    assert (far - mu).norm(dim=-1).mean() > 0.5
    # the m = 2 curvature term: m(m-1)/4 exp(log_t)
    lt = torch.tensor([[0.3]], dtype=torch.float64)
    want = -math.log(2 * math.pi) - 1 + math.log(2 * math.pi) - 0.3 + 0.5 * math.exp(0.3)
    assert float(circle_kl(lt, m=2)) == pytest.approx(want, abs=1e-12)


def test_l2_normalize_matches_keras_and_rotation_composes() -> None:
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(l2_normalize(x), torch.tensor([[0.6, 0.8], [0.0, 0.0]], dtype=torch.float64))
    z = _unit(5)
    a, b = torch.rand(5, dtype=torch.float64), torch.rand(5, dtype=torch.float64)
    torch.testing.assert_close(rotate(rotate(z, a), b), rotate(z, a + b))
    torch.testing.assert_close(
        rotate(torch.tensor([1.0, 0.0]), torch.tensor(math.pi / 2)),
        torch.tensor([0.0, 1.0]),
        atol=1e-7,
        rtol=0,
    )
    assert torch.autograd.gradcheck(lambda t: l2_normalize(rotate(t, a)), (z.clone().requires_grad_(),))


def test_gaussian_head_init_and_kl() -> None:
    lat = GaussianLatent(8, 5)
    mu, log_sigma = lat.params(torch.randn(4, 8))
    assert torch.equal(log_sigma, torch.zeros(4, 5))
    mu = torch.randn(4, 5, dtype=torch.float64)
    ls = torch.randn(4, 5, dtype=torch.float64) * 0.3
    mc = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, ls.exp()), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    torch.testing.assert_close(lat.kl((mu, ls)), mc)
    z1, z2 = torch.randn(3, 5), torch.randn(3, 5)
    torch.testing.assert_close(lat.distance(z1, z2), (z1 - z2).norm(dim=-1))  # not squared
    assert torch.equal(lat.transform(z1, torch.ones(3)), z1)


def test_equivariant_codes_have_zero_lsbd_loss_and_common_rotations_commute() -> None:
    lat = CircleLatent(4)
    theta = torch.rand(6, 3, dtype=torch.float64) * 2 * math.pi
    theta[:, 0] = 0
    z1 = _unit(6)
    z = rotate(z1[:, None, :].expand(6, 3, 2), theta)  # z_m = R(theta_m) z_1
    zhat = reanchor(lat, z, theta)
    torch.testing.assert_close(zhat, z)
    loss = equivariance_loss([lat], [z], [zhat], [100.0])
    assert float(loss.abs().max()) < 1e-12
    noisy = l2_normalize(z + 0.3 * torch.randn(z.shape, generator=GEN, dtype=torch.float64))
    zhat_n = reanchor(lat, noisy, theta)
    assert float(equivariance_loss([lat], [noisy], [zhat_n], [1.0]).min()) > 0
    phi = torch.tensor(0.7, dtype=torch.float64)
    moved = rotate(noisy, phi)
    torch.testing.assert_close(reanchor(lat, moved, theta), rotate(zhat_n, phi))
    torch.testing.assert_close(
        equivariance_loss([lat], [moved], [rotate(zhat_n, phi)], [1.0]),
        equivariance_loss([lat], [noisy], [zhat_n], [1.0]),
    )
    one = noisy[:, :1]
    torch.testing.assert_close(reanchor(lat, one, theta[:, :1]), one)  # M = 1: zhat = z
    g = GaussianLatent(4, 3)
    e = torch.randn(6, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(reanchor(g, e, theta), e.mean(1, keepdim=True).expand_as(e))


def test_official_concat_loss_is_twice_the_paper_loss_minus_a_constant_without_the_clip() -> None:
    lats = [CircleLatent(4), CircleLatent(4)]
    z = [_unit(8, 2), _unit(8, 2)]
    zhat = [_unit(8, 2), _unit(8, 2)]
    c = sum((a * b).sum(-1) for a, b in zip(z, zhat))  # <z, zhat>_4D in [-2, 2]
    keep = (c.abs() < 1).all(1)
    assert keep.sum() > 0
    g = 3.0
    per = equivariance_loss(lats, z, zhat, [g, g], "per_subspace")[keep]
    off = equivariance_loss(lats, z, zhat, [g, g], "official_concat")[keep]
    torch.testing.assert_close(off, 2 * per - 2 * 4 * g)  # per view: 2 * per_m - 4 g, M = 2 views
    # the clip: once c1 + c2 >= 1 the official term is 0 (no gradient)
    same = [zz.clone() for zz in z]
    assert float(equivariance_loss(lats, z, same, [g, g], "official_concat").abs().max()) == 0.0
    mean = equivariance_loss(lats, z, zhat, [g, g], reduction="mean")
    torch.testing.assert_close(mean, equivariance_loss(lats, z, zhat, [g, g]) / 2)


def test_decoder_gets_the_re_rotated_anchor_of_the_pair_angles() -> None:
    torch.manual_seed(0)
    net = build_lsbd(image_shape=(1, 16, 16), hidden=(32,)).double()
    seen: list[torch.Tensor] = []
    dec = net.decoder.forward
    net.decoder.forward = lambda z: (seen.append(z), dec(z))[1]  # type: ignore[method-assign]
    x = torch.rand(3, 2, 1, 16, 16, dtype=torch.float64)
    angles = torch.zeros(3, 2, 2, dtype=torch.float64)
    angles[:, 1] = torch.tensor([0.5, 2.0], dtype=torch.float64)
    out = net.supervised_loss(x, angles, dist_weight=100.0)
    zhat = seen[0].reshape(3, 2, 4)
    for s in range(2):
        torch.testing.assert_close(
            zhat[:, 1, 2 * s : 2 * s + 2], rotate(zhat[:, 0, 2 * s : 2 * s + 2], angles[:, 1, s])
        )
    assert set(out) == {"recon", "kl", "equiv", "loss"}
    torch.testing.assert_close(out["loss"], out["recon"] + out["kl"] + out["equiv"])


def test_reconstruction_losses() -> None:
    x, xh = torch.rand(4, 1, 3, 3), torch.rand(4, 1, 3, 3)
    sse = ((x - xh) ** 2).sum((1, 2, 3))
    torch.testing.assert_close(reconstruction_loss(x, xh, "sse"), sse)
    const = 9 * (math.log(1 / math.sqrt(2)) + 0.5 * math.log(2 * math.pi))
    torch.testing.assert_close(reconstruction_loss(x, xh), sse + const)
    # the Gaussian with std 1/sqrt(2): its log-density per pixel
    normal = torch.distributions.Normal(xh, 1 / math.sqrt(2))
    torch.testing.assert_close(reconstruction_loss(x, xh), -normal.log_prob(x).sum((1, 2, 3)))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: CircleLatent(0), ValueError, "in_features must be an integer"),
        (lambda: CircleLatent(4, log_t_range=(-5, -10)), ValueError, "log_t_range"),
        (lambda: CircleLatent(4, steps=0), ValueError, "steps must be an integer"),
        (lambda: GaussianLatent(4, 0), ValueError, "dim must be an integer"),
        (lambda: build_lsbd(latents=("s2",)), ValueError, "latents entries must be"),
        (lambda: build_lsbd(backbone="resnet"), ValueError, "backbone must be one of"),
        (lambda: build_lsbd(backbone="dislib", image_shape=(1, 20, 20)), ValueError, "divisible by 16"),
        (lambda: reconstruction_loss(torch.rand(2, 3), torch.rand(2, 4)), ValueError, "same shape"),
        (
            lambda: reconstruction_loss(torch.rand(2, 3), torch.rand(2, 3), "l1"),
            ValueError,
            "kind must be one of",
        ),
        (
            lambda: build_lsbd(hidden=(8,)).supervised_loss(
                torch.rand(2, 2, 1, 16, 16), torch.zeros(2, 2, 3)
            ),
            ValueError,
            "angles must have one column per latent",
        ),
        (
            lambda: build_lsbd(hidden=(8,)).supervised_loss(
                torch.rand(2, 3, 1, 16, 16), torch.zeros(2, 2, 2)
            ),
            ValueError,
            "x must be",
        ),
        (
            lambda: build_lsbd(hidden=(8,)).supervised_loss(torch.rand(2, 2, 1, 16, 16), torch.zeros(2, 2)),
            ValueError,
            "angles must have rank 3",
        ),
        (
            lambda: build_lsbd(hidden=(8,)).supervised_loss(
                torch.rand(2, 2, 1, 16, 16), torch.zeros(2, 2, 2), equivariance_mode="concat"
            ),
            ValueError,
            "equivariance_mode must be one of",
        ),
        (
            lambda: build_lsbd(hidden=(8,)).supervised_loss(
                torch.rand(2, 2, 1, 16, 16), torch.zeros(2, 2, 2), dist_weight=[1.0]
            ),
            ValueError,
            "dist_weight must be",
        ),
        (lambda: build_lsbd(hidden=(8,))(torch.rand(2, 1, 8, 8)), ValueError, "256 values per sample"),
    ],
)
def test_bad_input_is_refused_clearly(call: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()  # type: ignore[operator]
