"""The mathematics of MGK / MLK: the spec's correctness tests on the pure functions."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.mgk.functional import (
    attention_rank,
    causal_mask,
    elu1,
    elu1_sumnorm,
    linear_attention,
    mgk_attention,
    mgk_log_kernels,
    mgk_log_scores,
    mgk_scores,
    mlk_attention,
)
from ballroom.mgk.reference import mgk_scores_naive

D64 = torch.float64


def _qk(
    b: int = 2, h: int = 3, n: int = 7, k: int = 7, m: int = 2, d: int = 8, scale: float = 1.0, seed: int = 0
):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, n, d, generator=g, dtype=D64) * scale
    keys = torch.randn(b, h, m, k, d, generator=g, dtype=D64) * scale
    return q, keys


@pytest.mark.parametrize("sigma2", [(1.0, 1.0), (math.sqrt(8), math.sqrt(8) / 3), (0.7, 2.0)])
@pytest.mark.parametrize("pi_shape", ["none", "layer", "head_position"])
def test_fused_matches_the_naive_transcription_in_float64(
    sigma2: tuple[float, float], pi_shape: str, device: torch.device
) -> None:
    q, keys = (t.to(device) for t in _qk())
    pi = {"none": None, "layer": torch.tensor([0.3, 0.9], dtype=D64)[:, None],
          "head_position": torch.rand(3, 2, 7, dtype=D64, generator=torch.Generator().manual_seed(1))}[pi_shape]  # fmt: skip
    pi = None if pi is None else pi.to(device)
    mask = torch.rand(2, 1, 7, 7, generator=torch.Generator().manual_seed(2)) > 0.3
    mask[..., 0] = True  # every row keeps a key
    mask = mask.to(device)
    for m in (None, mask):
        fused = mgk_scores(q, keys, sigma2=sigma2, log_pi=None if pi is None else pi.log(), mask=m)
        naive = mgk_scores_naive(q, keys, sigma2, pi, mask=m)
        torch.testing.assert_close(fused, naive, atol=1e-10, rtol=0)
    hard = mgk_scores(q, keys, sigma2=sigma2, mode="hard", mask=mask)
    torch.testing.assert_close(
        hard, mgk_scores_naive(q, keys, sigma2, mode="hard", mask=mask), atol=1e-10, rtol=0
    )


def test_one_key_unit_norms_equal_softmax_attention() -> None:
    q, keys = _qk(m=1, d=16)
    q, keys = q / q.norm(dim=-1, keepdim=True), keys / keys.norm(dim=-1, keepdim=True)
    a = mgk_scores(q, keys, sigma2=[math.sqrt(16)], log_pi=torch.zeros(1, 1, dtype=D64))
    ref = torch.softmax(q @ keys[:, :, 0].transpose(-1, -2) / 4.0, -1)
    torch.testing.assert_close(a, ref, atol=1e-12, rtol=0)


def test_equal_variances_drop_the_query_norm() -> None:
    q, keys = _qk(scale=1.5)
    s2 = 2.5
    logits = torch.stack([q @ keys[:, :, r].transpose(-1, -2) / s2 - keys[:, :, r].pow(2).sum(-1)[:, :, None] / (2 * s2)
                          for r in range(2)])  # fmt: skip
    a = logits.exp().sum(0)
    torch.testing.assert_close(
        mgk_scores(q, keys, sigma2=s2), a / a.sum(-1, keepdim=True), atol=1e-12, rtol=0
    )


def test_log_kernels_are_the_true_log_kernels_and_log_scores_their_logsumexp() -> None:
    q, keys = _qk()
    pi = torch.tensor([[0.2], [0.7]], dtype=D64)
    lk = mgk_log_kernels(q, keys, sigma2=[1.0, 3.0], log_pi=pi.log())
    d2 = torch.stack([torch.cdist(q, keys[:, :, r]) ** 2 for r in range(2)], dim=-2)
    ref = pi.log() - d2 / (2 * torch.tensor([1.0, 3.0], dtype=D64))[:, None]
    torch.testing.assert_close(lk, ref, atol=1e-10, rtol=0)
    torch.testing.assert_close(
        mgk_log_scores(q, keys, sigma2=[1.0, 3.0], log_pi=pi.log()), torch.logsumexp(ref, -2)
    )


def test_no_nan_where_direct_exponentiation_underflows(device: torch.device) -> None:
    q, keys = (t.to(device) for t in _qk(scale=1.0))
    far = keys + 200.0  # every distance is huge: exp(-d^2 / 2 sigma^2) == 0 in float64
    naive = mgk_scores_naive(q, far, (1.0, 1.0))
    assert torch.isnan(naive).all()
    a = mgk_scores(q, far, sigma2=(1.0, 1.0))
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a.sum(-1), torch.ones_like(a[..., 0]))
    # the same scores as the log-space formula, computed with logsumexp directly
    ref = torch.softmax(
        torch.logsumexp(-torch.stack([torch.cdist(q, far[:, :, r]) ** 2 for r in range(2)]) / 2, 0), -1
    )
    torch.testing.assert_close(a, ref, atol=1e-9, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_neither_overflows_nor_underflows(dtype: torch.dtype, device: torch.device) -> None:
    q, keys = (t.to(device) for t in _qk(scale=6.0))
    a = mgk_scores(q.to(dtype), keys.to(dtype), sigma2=(1.0, 0.5))
    assert torch.isfinite(a).all() and a.dtype == dtype
    ref = mgk_scores(q.to(dtype).double(), keys.to(dtype).double(), sigma2=(1.0, 0.5))
    assert (a.double() - ref).abs().max() < 0.1


def test_pi_one_zero_is_single_gaussian_attention_on_the_first_key() -> None:
    q, keys = _qk()
    pi = torch.tensor([[1.0], [0.0]], dtype=D64)
    a = mgk_scores(q, keys, sigma2=(2.0, 2.0), log_pi=pi.log())
    single = mgk_scores(q, keys[:, :, :1], sigma2=(2.0,))
    torch.testing.assert_close(a, single, atol=1e-12, rtol=0)


def test_gradients_are_finite_with_a_zero_weight_and_pass_gradcheck(device: torch.device) -> None:
    q, keys = (t.to(device) for t in _qk(n=4, k=4, d=3))
    q.requires_grad_(True)
    keys.requires_grad_(True)
    pi = torch.tensor([[1.0], [0.0]], dtype=D64, device=device)
    mask = causal_mask(4, device)
    mgk_scores(q, keys, sigma2=(1.0, 2.0), log_pi=pi.log(), mask=mask).square().sum().backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(keys.grad).all()
    lp = torch.tensor([[0.3], [0.6]], dtype=D64, device=device).log().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b, c: mgk_scores(a, b, sigma2=(1.0, 2.0), log_pi=c, mask=mask),
                                    (q.detach().requires_grad_(), keys.detach().requires_grad_(), lp))  # fmt: skip


def test_hard_e_is_softmax_of_the_max_component() -> None:
    q, keys = _qk()
    s2 = (1.0, 1.0 / 3)
    logk = torch.stack([-(torch.cdist(q, keys[:, :, r]) ** 2) / (2 * s2[r]) for r in range(2)])
    torch.testing.assert_close(mgk_scores(q, keys, sigma2=s2, mode="hard"), torch.softmax(logk.amax(0), -1))


def test_fully_masked_rows_are_zero_and_attention_applies_values() -> None:
    q, keys = _qk()
    v = torch.randn(2, 3, 7, 5, dtype=D64)
    mask = torch.ones(7, 7, dtype=torch.bool)
    mask[2] = False
    h, a = mgk_attention(q, keys, v, sigma2=1.0, mask=mask)
    assert torch.equal(a[..., 2, :], torch.zeros_like(a[..., 2, :]))
    torch.testing.assert_close(h, a @ v)


def _quadratic(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    s = phi_q @ phi_k.transpose(-1, -2)
    if causal:
        s = s * causal_mask(s.shape[-1])
    return (s @ v) / s.sum(-1, keepdim=True)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("feature_map", ["elu1", "elu1_sumnorm"])
def test_mlk_equals_the_quadratic_form_of_the_mixed_keys(causal: bool, feature_map: str) -> None:
    q, keys = _qk()
    v = torch.randn(2, 3, 7, 5, dtype=D64)
    pi = torch.rand(3, 2, 7, dtype=D64)
    phi = elu1 if feature_map == "elu1" else elu1_sumnorm
    k_mix = (pi[..., None] * phi(keys)).sum(-3)
    out = mlk_attention(q, keys, v, pi, feature_map=feature_map, causal=causal, eps=0.0)
    torch.testing.assert_close(out, _quadratic(phi(q), k_mix, v, causal), atol=1e-12, rtol=0)
    # prefix sums == the masked quadratic form, numerator only as well
    num = linear_attention(phi(q), k_mix, v, causal=causal, normalize=False)
    s = phi(q) @ k_mix.transpose(-1, -2)
    s = s * causal_mask(7) if causal else s
    torch.testing.assert_close(num, s @ v, atol=1e-12, rtol=0)
    # the LRA variant mixes the raw keys before the feature map
    raw = mlk_attention(q, keys, v, pi, mix="keys", eps=0.0)
    torch.testing.assert_close(raw, _quadratic(elu1(q), elu1((pi[..., None] * keys).sum(-3)), v, False))


def test_attention_rank_counts_singular_values_above_the_threshold() -> None:
    u = torch.linalg.qr(torch.randn(6, 6, dtype=D64))[0]
    s = torch.tensor([3.0, 1.0, 0.5, 1e-3, 1e-8, 0.0], dtype=D64)
    a = u @ torch.diag(s) @ u.T
    assert int(attention_rank(a)) == 4
    assert int(attention_rank(a, tol=1e-2)) == 3
    assert attention_rank(torch.stack([a, torch.eye(6, dtype=D64)])).tolist() == [4, 6]
