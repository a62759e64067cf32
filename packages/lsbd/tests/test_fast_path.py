"""The fused training path equals the per-subspace equations of the spec, written out here the slow
way: each head on its own, the walk as a plain autograd loop, one re-anchoring per subspace with
:meth:`Latent.transform` / ``inverse_transform`` / ``average`` / ``distance``. Same noise draws, so
losses and every parameter gradient must agree to rounding."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.lsbd.functional import (
    circle_kl,
    random_walk_reference,
    random_walk_sample,
    reconstruction_loss,
)
from ballroom.lsbd.latent import CircleLatent
from ballroom.lsbd.nn import LSBDAutoencoder, build_lsbd, equivariance_loss


def _reference_posterior(net: LSBDAutoencoder, x: torch.Tensor) -> tuple[list, list]:
    h = net.encoder(x)
    params = [lat.params(h) for lat in net.subspaces]
    circles = [i for i, lat in enumerate(net.subspaces) if lat.is_circle]
    samples: list = [None] * len(params)
    if circles:  # the circles' noise is drawn first, as one (steps, B, C, 2) block
        steps = net.subspaces[circles[0]].steps  # type: ignore[attr-defined]
        mu = torch.stack([params[i][0] for i in circles], -2)
        noise = torch.randn((steps, *mu.shape), dtype=mu.dtype)
        for j, i in enumerate(circles):
            samples[i] = random_walk_reference(params[i][0], params[i][1], steps, noise[:, :, j])
    for i in range(len(params)):
        if samples[i] is None:
            mu, log_sigma = params[i]
            samples[i] = mu + torch.exp(log_sigma) * torch.randn_like(mu)
    return params, samples


def _kl(net: LSBDAutoencoder, params: list) -> torch.Tensor:
    return torch.stack(
        [circle_kl(p[1]) if lat.is_circle else lat.kl(p) for lat, p in zip(net.subspaces, params)]
    ).sum(0)


def _reference_supervised(
    net: LSBDAutoencoder,
    x: torch.Tensor,
    angles: torch.Tensor,
    gammas: list[float],
    mode: str,
    reduction: str,
    anchor_locations: bool,
    stop_gradient: bool,
) -> dict[str, torch.Tensor]:
    b, m = x.shape[:2]
    flat = x.reshape(b * m, *x.shape[2:])
    params, samples = _reference_posterior(net, flat)
    cols, k = [], 0
    for lat in net.subspaces:  # angles: one column per circle here
        cols.append(k if lat.is_circle else None)
        k += int(lat.is_circle)

    def anchor(lat, z, col):  # type: ignore[no-untyped-def]
        theta = torch.zeros(b, m, dtype=x.dtype) if col is None else angles[..., col]
        mean = lat.average(lat.inverse_transform(z, theta), dim=-2)
        return lat.transform(mean[:, None, :].expand_as(z), theta)

    zs = [s.reshape(b, m, -1) for s in samples]
    zhats = [anchor(lat, z, c) for lat, z, c in zip(net.subspaces, zs, cols)]
    rec = reconstruction_loss(flat, net.decode(torch.cat(zhats, -1).reshape(b * m, -1)), "sse").mean()
    if anchor_locations:
        zs = [p[0].reshape(b, m, -1) for p in params]
        zhats = [anchor(lat, z, c) for lat, z, c in zip(net.subspaces, zs, cols)]
    if stop_gradient:
        zhats = [t.detach() for t in zhats]
    equiv = equivariance_loss(list(net.subspaces), zs, zhats, gammas, mode, reduction).mean()
    kl = _kl(net, params).mean()
    return {"recon": rec, "kl": kl, "equiv": equiv, "loss": rec + kl + equiv}


CASES = [
    (("s1", "s1"), [100.0, 100.0], "per_subspace", "sum", False, False),
    (("s1", "s1"), [3.0, 0.5], "per_subspace", "mean", False, False),
    (("s1", "s1"), [2.0, 2.0], "official_concat", "sum", False, False),
    (("s1", "s1"), [1.0, 1.0], "per_subspace", "sum", True, True),
    (("s1", "r5"), [10.0, 1.0], "per_subspace", "sum", False, False),
    (("s1", "r5"), [10.0, 1.0], "official_concat", "mean", True, False),
    (("r3", "s1", "s1"), [1.0, 4.0, 2.0], "per_subspace", "sum", True, False),
]


@pytest.mark.parametrize(("latents", "gammas", "mode", "reduction", "locs", "stop"), CASES)
def test_fused_supervised_loss_and_gradients_equal_the_per_subspace_equations(
    latents: tuple[str, ...], gammas: list[float], mode: str, reduction: str, locs: bool, stop: bool
) -> None:
    torch.manual_seed(0)
    net = build_lsbd(
        image_shape=(1, 16, 16), latents=latents, hidden=(32,), log_t_range=(-4.0, -1.0)
    ).double()
    for lat in net.subspaces:  # non-zero log_t / log_sigma heads, so their gradients are exercised
        for p in lat.parameters():
            torch.nn.init.normal_(p, std=0.3)
    x = torch.rand(5, 3, 1, 16, 16, dtype=torch.float64)
    angles = torch.rand(5, 3, net.n_circles, dtype=torch.float64) * 2 * math.pi
    angles[:, 0] = 0
    opts = {"equivariance_mode": mode, "equivariance_reduction": reduction}
    torch.manual_seed(1)
    fast = net.supervised_loss(
        x, angles, gammas, **opts, anchor_locations=locs, stop_gradient=stop, recon="sse"
    )
    g_fast = torch.autograd.grad(fast["loss"], list(net.parameters()))
    torch.manual_seed(1)
    ref = _reference_supervised(net, x, angles, gammas, mode, reduction, locs, stop)
    g_ref = torch.autograd.grad(ref["loss"], list(net.parameters()))
    for key in ref:
        torch.testing.assert_close(fast[key], ref[key], rtol=1e-10, atol=1e-10)
    assert float(ref["equiv"].detach()) > 0
    for a, b in zip(g_fast, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("latents", [("s1", "s1"), ("s1", "r5"), ("r4",)])
def test_fused_unsupervised_loss_equals_the_per_subspace_equations(latents: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    net = build_lsbd(image_shape=(1, 16, 16), latents=latents, hidden=(32,)).double()
    x = torch.rand(7, 1, 16, 16, dtype=torch.float64)
    torch.manual_seed(1)
    fast = net.unsupervised_loss(x, "sse")
    torch.manual_seed(1)
    params, samples = _reference_posterior(net, x)
    rec = reconstruction_loss(x, net.decode(torch.cat(samples, -1)), "sse").mean()
    torch.testing.assert_close(fast["recon"], rec, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fast["kl"], _kl(net, params).mean(), rtol=1e-10, atol=1e-10)
    # encode() (the fused heads) gives each subspace's own params
    for (a, b), (c, d) in zip(net.encode(x), params):
        torch.testing.assert_close(a, c)
        torch.testing.assert_close(b, d)


def test_fused_walk_has_the_gradient_of_the_plain_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    mu = torch.nn.functional.normalize(torch.randn(6, 3, 2, dtype=torch.float64, generator=gen), dim=-1)
    log_t = torch.randn(6, 3, 1, dtype=torch.float64, generator=gen) - 1
    noise = torch.randn(10, 6, 3, 2, dtype=torch.float64, generator=gen)
    weight = torch.randn(6, 3, 2, dtype=torch.float64, generator=gen)
    grads = []
    for walk in (random_walk_sample, random_walk_reference):
        m, lt = mu.clone().requires_grad_(), log_t.clone().requires_grad_()
        z = walk(m, lt, 10, noise)
        grads.append((z, *torch.autograd.grad((z * weight).sum(), (m, lt))))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # where the clamp |u|^2 >= 1e-12 is active (a zero location, a tiny step) the norm is a constant
    m0 = mu.clone()
    m0[0] = 0.0
    lt0 = log_t.clone()  # the first step of row 0 lands at |u_1| = 0.7e-6: clamped, z_1 of norm 0.7
    lt0[0] = 2 * torch.log(0.7e-6 * math.sqrt(10) / noise[0, 0].norm(dim=-1, keepdim=True))
    grads = []
    for walk in (random_walk_sample, random_walk_reference):
        m, lt = m0.clone().requires_grad_(), lt0.clone().requires_grad_()
        z = walk(m, lt, 10, noise)
        grads.append((z, *torch.autograd.grad((z * weight).sum(), (m, lt))))
    first = torch.exp(lt0[0] / 2) / math.sqrt(10) * noise[0, 0].norm(dim=-1, keepdim=True)
    torch.testing.assert_close(first, torch.full_like(first, 0.7e-6))  # |u_1| < 1e-6: inside the clamp
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # and it is a true gradient (finite differences), including a log_t broadcast over the circles
    lt1 = torch.randn(6, 1, 1, dtype=torch.float64, generator=gen).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda m, lt: random_walk_sample(m, lt, 10, noise), (mu.clone().requires_grad_(), lt1)
    )
    assert CircleLatent(4).sample((mu[:, 0], log_t[:, 0])).norm(dim=-1).sub(1).abs().max() < 1e-6


def test_stacked_reanchoring_in_half_precision_follows_float32() -> None:
    from ballroom.lsbd.nn import _reanchor_circles

    gen = torch.Generator().manual_seed(3)
    z = torch.nn.functional.normalize(torch.randn(4, 3, 2, 2, generator=gen), dim=-1)
    theta = torch.rand(4, 3, 2, generator=gen) * 2 * math.pi
    rot = torch.polar(torch.ones_like(theta), theta)
    full = _reanchor_circles(z, rot)
    half = _reanchor_circles(z.bfloat16(), rot)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), full, rtol=0, atol=2e-2)
    # and the float32 result is R(theta) applied to one anchor per set: un-rotating gives it back
    back = torch.view_as_real(torch.view_as_complex(full.contiguous()) * rot.conj())
    torch.testing.assert_close(back, back[:, :1].expand_as(back))
