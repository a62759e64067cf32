"""The SDPA path (one softmax over (key, component) pairs) against the naive transcription and the fused path."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.core.profiling import saved_tensor_bytes
from ballroom.mgk.functional import causal_mask, mgk_attention
from ballroom.mgk.nn import MGKAttention
from ballroom.mgk.reference import mgk_scores_naive
from ballroom.mgk.sdpa import mgk_attention_sdpa, pair_mask

D64 = torch.float64


def _inputs(b: int = 2, h: int = 3, n: int = 7, d: int = 5, e: int = 4, m: int = 2, dtype=D64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, n, d, generator=g, dtype=dtype, requires_grad=True)
    k = torch.randn(b, h, m, n, d, generator=g, dtype=dtype, requires_grad=True)
    v = torch.randn(b, h, n, e, generator=g, dtype=dtype, requires_grad=True)
    return q, k, v


def _pi(h: int = 3, m: int = 2, n: int = 7, zeros: bool = True) -> torch.Tensor:
    pi = torch.rand(h, m, n, generator=torch.Generator().manual_seed(5), dtype=D64)
    if zeros:
        pi[0, 1, 3] = 0.0  # one component of one key off
        pi[1, :, 2] = 0.0  # a whole key off in one head
    return pi


def _masks(b: int = 2, n: int = 7) -> dict[str, torch.Tensor | None]:
    pad = torch.zeros(b, n, dtype=torch.bool)
    pad[1, :3] = True  # left padding: with the causal mask rows 0-2 of batch 1 have no key at all
    pad[0, 5:] = True
    keys = (~pad)[:, None, None, :]
    return {"none": None, "padding": keys, "causal": causal_mask(n), "both": keys & causal_mask(n)}


@pytest.mark.parametrize("sigma2", [(2.0, 2.0), (2.0, 0.7)])
@pytest.mark.parametrize("mask_kind", ["none", "padding", "causal", "both"])
@pytest.mark.parametrize("with_pi", [False, True])
def test_sdpa_equals_naive_and_fused_in_float64_gradients_too(sigma2, mask_kind, with_pi) -> None:
    q, k, v = _inputs()
    pi = _pi() if with_pi else None
    log_pi = None if pi is None else pi.log().requires_grad_(True)
    mask = _masks()[mask_kind]
    h = mgk_attention_sdpa(q, k, v, sigma2=sigma2, log_pi=log_pi, mask=mask)
    naive = mgk_scores_naive(q, k, sigma2, pi, mask=mask).nan_to_num(0.0) @ v  # official: NaN on empty rows
    fused, _ = mgk_attention(q, k, v, sigma2=sigma2, log_pi=log_pi, mask=mask)
    torch.testing.assert_close(h, naive, atol=1e-10, rtol=0)
    torch.testing.assert_close(h, fused, atol=1e-10, rtol=0)
    if mask_kind == "both":
        assert bool((h[1, :, :3] == 0).all())  # rows without any key: zero, not NaN
    w = torch.randn_like(h)
    inputs = (q, k, v) if log_pi is None else (q, k, v, log_pi)
    g_sdpa = torch.autograd.grad((h * w).sum(), inputs)
    g_fused = torch.autograd.grad((fused * w).sum(), inputs)
    for a, b in zip(g_sdpa, g_fused, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_sdpa_gradcheck_with_masks_and_per_position_pi() -> None:
    q, k, v = _inputs(b=2, h=2, n=5, d=3, e=2)
    log_pi = _pi(h=2, n=5, zeros=False).log().requires_grad_(True)
    mask = _masks(2, 5)["both"]
    assert torch.autograd.gradcheck(
        lambda q, k, v, lp: mgk_attention_sdpa(q, k, v, sigma2=(1.5, 0.5), log_pi=lp, mask=mask),
        (q, k, v, log_pi),
    )


def test_pair_mask_repeats_key_masks_over_components_and_masks_zero_pi_pairs() -> None:
    mask = torch.tensor([[True, False, True], [True, True, False]])  # (N=2, K=3)
    zero_pi = torch.tensor([[False, False, True], [True, False, False]])  # (M=2, K=3)
    pairs = pair_mask(mask, zero_pi, 2, 3)
    assert pairs is not None and pairs.shape == (2, 6)
    for i in range(2):
        for r in range(2):
            for j in range(3):
                assert bool(pairs[i, r * 3 + j]) == (bool(mask[i, j]) and not bool(zero_pi[r, j]))
    assert pair_mask(None, None, 2, 3) is None


def test_value_width_other_than_the_augmented_width() -> None:
    for e in (1, 6, 11):  # narrower than, equal to and wider than d + 1 (the padded head size)
        q, k, v = _inputs(e=e)
        h = mgk_attention_sdpa(q, k, v, sigma2=1.3)
        torch.testing.assert_close(h, mgk_attention(q, k, v, sigma2=1.3)[0], atol=1e-10, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_reduced_precision_is_finite_and_no_less_accurate_than_the_fused_path(dtype: torch.dtype) -> None:
    q, k, v = _inputs(n=64, d=16, e=16, dtype=dtype)
    q, k, v = (q * 4).detach(), (k * 4).detach(), v.detach()  # large distances: direct exp underflows
    s2 = (math.sqrt(16), math.sqrt(16) / 3)
    mask = causal_mask(64)
    h = mgk_attention_sdpa(q, k, v, sigma2=s2, mask=mask)
    fused = mgk_attention(q, k, v, sigma2=s2, mask=mask)[0]
    ref = mgk_attention(q.double(), k.double(), v.double(), sigma2=s2, mask=mask)[0]  # same rounded inputs
    assert torch.isfinite(h).all()
    err, err_fused = (h.double() - ref).abs(), (fused.double() - ref).abs()
    assert float(err.max()) <= 1.5 * float(err_fused.max())
    assert float(err.mean()) <= 1.5 * float(err_fused.mean())
    assert float(err.max()) < {torch.float32: 1e-4, torch.bfloat16: 0.5, torch.float16: 0.05}[dtype]


@pytest.mark.parametrize("pi_mode", ["layer", "head", "head_position", "fixed", "em"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("key_mode", ["separate", "shifted"])
def test_layer_auto_equals_fused_outputs_and_gradients(pi_mode: str, causal: bool, key_mode: str) -> None:
    torch.manual_seed(0)
    kw = {"pi_mode": pi_mode, "max_len": 9, "causal": causal, "key_mode": key_mode, "sigma2": (1.0, 1 / 3)}
    auto = MGKAttention(16, 2, 8, **kw).double()
    fused = MGKAttention(16, 2, 8, impl="fused", **kw).double()
    fused.load_state_dict(auto.state_dict())
    x = torch.randn(3, 9, 16, dtype=D64, generator=torch.Generator().manual_seed(1))
    pad = torch.zeros(3, 9, dtype=torch.bool)
    pad[1, 6:] = True
    for train in (False, True):  # training: the EM step runs on both; the outputs stay equal
        auto.train(train), fused.train(train)
        xa, xf = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        oa, of = auto(xa, pad), fused(xf, pad)
        torch.testing.assert_close(oa, of, atol=1e-10, rtol=0)
        (oa.square().sum()).backward(), (of.square().sum()).backward()
        torch.testing.assert_close(xa.grad, xf.grad, atol=1e-10, rtol=0)
        for (name, pa), pf in zip(auto.named_parameters(), fused.parameters(), strict=True):
            torch.testing.assert_close(pa.grad, pf.grad, atol=1e-10, rtol=0, msg=name)
        auto.zero_grad(), fused.zero_grad()
        torch.testing.assert_close(auto.pi, fused.pi, atol=1e-12, rtol=0)


def test_auto_never_saves_the_n_by_n_logits_and_falls_back_where_it_must() -> None:
    n = 1024
    x = torch.randn(1, n, 32, requires_grad=True)
    torch.manual_seed(0)
    auto = MGKAttention(32, 2, 16)
    fused = MGKAttention(32, 2, 16, impl="fused")
    fused.load_state_dict(auto.state_dict())
    logits = 2 * 2 * n * n * 4  # (H, M, N, N) float32: what the fused path keeps for its backward
    assert saved_tensor_bytes(lambda: fused(x)) >= logits
    assert saved_tensor_bytes(lambda: auto(x)) < logits / 4
    # need_weights and Hard-E go through the fused path and still give A
    out, a = auto(x, need_weights=True)
    torch.testing.assert_close(out, fused(x), atol=1e-5, rtol=0)
    assert a.shape == (1, 2, n, n)
    # active dropout in training: "auto" uses the fused path (dropout on A), same RNG stream as fused
    drop_auto = MGKAttention(32, 2, 16, dropout=0.5).train()
    drop_fused = MGKAttention(32, 2, 16, dropout=0.5, impl="fused").train()
    drop_fused.load_state_dict(drop_auto.state_dict())
    torch.manual_seed(3)
    ya = drop_auto(x)
    torch.manual_seed(3)
    torch.testing.assert_close(ya, drop_fused(x), atol=0, rtol=0)
