"""The ExpCLR loss and its parts against the spec's identities; the baselines' losses."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.expclr import (
    expclr_loss,
    expert_similarity,
    normalized_distances,
    nt_xent_loss,
    optimal_delta,
    pairwise_distances,
    pairwise_lipschitz_stats,
    ts2vec_hierarchical_loss,
)


def _zf(n: int = 12, e: int = 5, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, e, generator=g, dtype=torch.float64), torch.randn(
        n, d, generator=g, dtype=torch.float64
    )


def test_similarity_properties() -> None:
    _, f = _zf()
    s = expert_similarity(f)
    assert torch.equal(s, s.T) and torch.equal(s.diagonal(), torch.ones(12, dtype=torch.float64))
    assert float(s.min()) == 0.0 and float(s.max()) == 1.0
    torch.testing.assert_close(s, expert_similarity(f, squared=False) ** 2)
    d = torch.cdist(f, f)
    torch.testing.assert_close(expert_similarity(f, squared=False), 1 - d / d.max())
    # a dataset-wide m smaller than a batch distance clips at 0 before squaring
    small = expert_similarity(f, max_distance=float(d.max()) / 2)
    assert float(small.min()) == 0.0 and bool((small >= 0).all())
    with pytest.raises(ValueError, match="max_distance"):
        expert_similarity(f, max_distance=0.0)


def test_label_override() -> None:
    _, f = _zf(6)
    labels = torch.tensor([0, 0, 1, -1, 1, -1])
    s0, s = expert_similarity(f), expert_similarity(f, labels=labels)
    known = labels >= 0
    both = known[:, None] & known[None, :]
    assert torch.equal(s[both], (labels[:, None] == labels[None, :])[both].double())
    assert torch.equal(s[~both], s0[~both])
    with pytest.raises(ValueError, match="integer tensor"):
        expert_similarity(f, labels=torch.zeros(6))


def test_normalized_distances_rows_invariance_and_safe_gradient() -> None:
    z, _ = _zf()
    D = normalized_distances(z)
    torch.testing.assert_close(D.mean(1), torch.ones(12, dtype=torch.float64), rtol=0, atol=1e-14)
    torch.testing.assert_close(normalized_distances(3.7 * z + torch.randn(5, dtype=torch.float64)), D)
    assert torch.equal(D.diagonal(), torch.zeros(12, dtype=torch.float64))
    zc = z.clone()
    zc[1] = zc[0]  # coincident points
    zc.requires_grad_(True)
    normalized_distances(zc).sum().backward()
    assert zc.grad is not None and bool(torch.isfinite(zc.grad).all())
    assert float(pairwise_distances(zc.detach())[0, 1]) == 0.0


def test_identical_features_give_squared_distances() -> None:
    z, _ = _zf()
    f = torch.ones(12, 3, dtype=torch.float64)
    assert torch.equal(expert_similarity(f), torch.ones(12, 12, dtype=torch.float64))
    D = normalized_distances(z)
    torch.testing.assert_close(expclr_loss(z, f, temperature=None), (D**2).mean())


def test_temperature_limits_and_jensen() -> None:
    z, f = _zf()
    quad = expclr_loss(z, f, temperature=None)
    torch.testing.assert_close(expclr_loss(z, f, temperature=1e6), quad, rtol=1e-6, atol=0)
    pair = ((1 - expert_similarity(f)) - normalized_distances(z)) ** 2
    tau = 1e-3
    low = expclr_loss(z, f, temperature=tau)
    assert float(pair.max()) - tau * math.log(144) - 1e-12 <= float(low) <= float(pair.max()) + 1e-12
    for tau in (0.1, 1.0, 10.0):
        assert float(expclr_loss(z, f, temperature=tau)) >= float(quad) - 1e-15
    # closed form of the default
    torch.testing.assert_close(expclr_loss(z, f), torch.logsumexp(pair.flatten(), 0) - math.log(144))


def test_gradcheck_and_permutation_equivariance() -> None:
    z, f = _zf(7, 3, 2)
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: expclr_loss(t, f, delta=1.3, temperature=0.7), (z,))
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(expclr_loss(z[perm], f[perm]), expclr_loss(z, f))


def test_optimal_delta_zeroes_the_row_means() -> None:
    _, f = _zf(20)
    delta = optimal_delta(f)
    s = expert_similarity(f)
    assert float(((1 - s) * delta).mean()) == pytest.approx(1.0, rel=1e-12)


def test_lipschitz_stats() -> None:
    z, f = _zf()
    stats = pairwise_lipschitz_stats(2.0 * f, f)  # an isometry up to scale
    assert stats["min"] == pytest.approx(2.0) and stats["ratio"] == pytest.approx(1.0)
    other = pairwise_lipschitz_stats(z, f)
    assert other["min"] <= other["q50"] <= other["max"] and other["ratio"] > 1


def test_nt_xent_against_a_direct_formula() -> None:
    z1, z2 = _zf(5, 4, 4)
    loss = nt_xent_loss(z1, z2, temperature=0.5)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = torch.exp(z @ z.T / 0.5)
    terms = []
    for i in range(10):
        pos = (i + 5) % 10
        terms.append(-torch.log(sim[i, pos] / (sim[i].sum() - sim[i, i])))
    torch.testing.assert_close(loss, torch.stack(terms).mean())
    assert float(nt_xent_loss(z1, z1 * 1.0, 0.1)) < float(nt_xent_loss(z1, z2, 0.1))


def test_ts2vec_loss_prefers_aligned_views() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 8, 6, generator=g, dtype=torch.float64)
    aligned = ts2vec_hierarchical_loss(a, a + 0.01 * torch.randn(a.shape, generator=g, dtype=torch.float64))
    random = ts2vec_hierarchical_loss(a, torch.randn(a.shape, generator=g, dtype=torch.float64))
    assert float(aligned) < float(random)
    a.requires_grad_(True)
    ts2vec_hierarchical_loss(a, a.detach().flip(0)).backward()
    assert a.grad is not None and bool(torch.isfinite(a.grad).all())
    with pytest.raises(ValueError, match=r"\(B, T, C\)"):
        ts2vec_hierarchical_loss(a[0], a[0])


def test_bad_inputs() -> None:
    z, f = _zf()
    with pytest.raises(ValueError, match="at least 2 samples"):
        expclr_loss(z[:1], f[:1])
    with pytest.raises(ValueError, match="N=12 rows"):
        expclr_loss(z, f[:5])
    with pytest.raises(ValueError, match="NaN or inf"):
        expclr_loss(z, torch.full_like(f, float("nan")))
    with pytest.raises(ValueError, match=r"\(N, dim\)"):
        expclr_loss(z[0], f)
    with pytest.raises(ValueError, match="delta"):
        expclr_loss(z, f, delta=0.0)
    with pytest.raises(ValueError, match="temperature"):
        expclr_loss(z, f, temperature=-1.0)
