"""Flow-Attention against an independent quadratic transcription, its identities and invariances."""

from __future__ import annotations

import pytest
import torch

from ballroom.flowformer.functional import (
    _causal_terms,
    causal_flow_attention_naive,
    causal_linear_product,
    flow_attention,
    flow_attention_quadratic,
)


def _qkv(b=2, h=2, n=7, m=7, d=4, dv=3, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return tuple(
        scale * torch.randn(b, h, x, y, generator=g, dtype=torch.float64)
        for x, y in ((n, d), (m, d), (m, dv))
    )


@pytest.mark.parametrize("competition", [True, False])
@pytest.mark.parametrize("allocation", [True, False])
@pytest.mark.parametrize("clamp", [1.0, None])
@pytest.mark.parametrize("eps", [1e-6, 0.1])
def test_noncausal_matches_quadratic(competition, allocation, clamp, eps) -> None:
    q, k, v = _qkv(n=5, m=8)
    kw = dict(eps=eps, source_clamp=clamp, competition=competition, allocation=allocation)
    torch.testing.assert_close(
        flow_attention(q, k, v, **kw), flow_attention_quadratic(q, k, v, **kw), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("clamp", [1.0, None])
@pytest.mark.parametrize("eps", [1e-6, 0.1])
@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_causal_matches_quadratic_and_naive(clamp, eps, chunk) -> None:
    q, k, v = _qkv(n=9, m=9, scale=2.0)
    kw = dict(eps=eps, source_clamp=clamp)
    ours = flow_attention(q, k, v, causal=True, chunk_size=chunk, **kw)
    torch.testing.assert_close(
        ours, flow_attention_quadratic(q, k, v, causal=True, **kw), rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(ours, causal_flow_attention_naive(q, k, v, **kw), rtol=1e-12, atol=1e-12)


def test_conservation_identities() -> None:
    q, k, v = _qkv(b=1, h=1, n=6, m=10)
    fq, fk = torch.sigmoid(q[0, 0]), torch.sigmoid(k[0, 0])
    n, m = 6, 10
    inc = fq @ fk.sum(0)
    outg = fk @ fq.sum(0)
    cons_in = fq @ (fk / outg[:, None]).sum(0)
    cons_out = fk @ (fq / inc[:, None]).sum(0)
    assert float(cons_in.sum()) == pytest.approx(m) and float(cons_out.sum()) == pytest.approx(n)
    comp = m * torch.softmax(cons_out, 0)
    assert float(comp.sum()) == pytest.approx(m) and float(comp.mean()) == pytest.approx(1.0)
    # with eps = 0 each sink's weights phiQ_i.phiK_j / I_i sum to 1 over j: constant values pass through
    out = flow_attention(q, k, torch.ones_like(v), eps=0.0, competition=False, allocation=False)
    torch.testing.assert_close(out, torch.ones_like(out), rtol=1e-12, atol=1e-12)


def test_ablation_is_normalised_linear_attention() -> None:
    q, k, v = _qkv(n=5, m=6)
    fq, fk = torch.sigmoid(q), torch.sigmoid(k)
    ref = (fq @ fk.transpose(-2, -1) @ v) / ((fq + 1e-6) * (fk.sum(-2, keepdim=True) + 1e-6)).sum(
        -1, keepdim=True
    )
    out = flow_attention(q, k, v, competition=False, allocation=False)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_clamp_with_more_sinks_than_sources_gives_uniform_competition() -> None:
    q, k, v = _qkv(n=40, m=4)
    clamped = flow_attention(q, k, v, allocation=False)
    uniform = flow_attention(q, k, v, allocation=False, competition=False)
    torch.testing.assert_close(clamped, uniform, rtol=1e-12, atol=1e-12)


def test_permutation_and_causality() -> None:
    q, k, v = _qkv(n=6, m=6)
    pq = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    pk = torch.randperm(6, generator=torch.Generator().manual_seed(2))
    out = flow_attention(q, k, v)
    torch.testing.assert_close(flow_attention(q[:, :, pq], k, v), out[:, :, pq])
    torch.testing.assert_close(flow_attention(q, k[:, :, pk], v[:, :, pk]), out)
    x = torch.randn(1, 2, 8, 4, dtype=torch.float64, requires_grad=True)
    y = flow_attention(x, x, x[..., :3], causal=True, chunk_size=3)
    y[:, :, 4].sum().backward()
    assert torch.equal(x.grad[:, :, 5:], torch.zeros_like(x.grad[:, :, 5:]))
    assert bool((x.grad[:, :, :5] != 0).any())


def test_padding_equals_unpadded() -> None:
    q, k, v = _qkv(b=2, n=7, m=7)
    mask = torch.zeros(2, 7, dtype=torch.bool)
    mask[1, 4:] = True
    for causal in (False, True):
        out = flow_attention(q, k, v, causal=causal, key_padding_mask=mask, chunk_size=3)
        short = flow_attention(q[1:, :, :4], k[1:, :, :4], v[1:, :, :4], causal=causal)
        torch.testing.assert_close(out[1, :, :4], short[0], rtol=1e-12, atol=1e-12)
        assert torch.equal(out[1, :, 4:], torch.zeros_like(out[1, :, 4:]))
        torch.testing.assert_close(
            out[0], flow_attention(q[:1], k[:1], v[:1], causal=causal)[0], rtol=1e-12, atol=1e-12
        )


def test_gradcheck() -> None:
    q, k, v = (t.requires_grad_(True) for t in _qkv(b=1, h=1, n=4, m=4, d=3, dv=2))
    assert torch.autograd.gradcheck(lambda a, b, c: flow_attention(a, b, c), (q, k, v))
    assert torch.autograd.gradcheck(
        lambda a, b, c: flow_attention(a, b, c, causal=True, chunk_size=2), (q, k, v)
    )


def test_bad_inputs() -> None:
    q, k, v = _qkv()
    with pytest.raises(ValueError, match=r"\(B, H, L, D\)"):
        flow_attention(q[0], k, v)
    with pytest.raises(ValueError, match="pair up"):
        flow_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="L == S"):
        flow_attention(q[:, :, :3], k, v, causal=True)
    with pytest.raises(ValueError, match="True = padding"):
        flow_attention(q, k, v, key_padding_mask=torch.zeros(2, 7))
    with pytest.raises(ValueError, match="no valid position"):
        flow_attention(q, k, v, key_padding_mask=torch.ones(2, 7, dtype=torch.bool))
    with pytest.raises(ValueError, match="feature_map"):
        flow_attention(q, k, v, feature_map="tanh")


def test_flow_attention_module_layout_and_equivalence() -> None:
    from ballroom.flowformer.nn import FlowAttention, LinearAttention, SoftmaxAttention

    torch.manual_seed(0)
    attn = FlowAttention(6, 8, 5, 2, dropout=0.0).double()
    assert set(attn.state_dict()) == {
        f"{p}_projection.{w}" for p in ("query", "key", "value", "out") for w in ("weight", "bias")
    }
    x = torch.randn(2, 7, 6, dtype=torch.float64)
    out = attn(x, x, x)
    q, k, v = (attn._heads(getattr(attn, f"{n}_projection")(x)) for n in ("query", "key", "value"))
    ref = attn.out_projection(flow_attention(q, k, v).transpose(1, 2).reshape(2, 7, 8))
    torch.testing.assert_close(out, ref)
    for cls in (LinearAttention, SoftmaxAttention):
        assert cls(6, 8, 5, 2).double()(x, x, x).shape == (2, 7, 5)
    with pytest.raises(ValueError, match="divisible"):
        FlowAttention(6, 9, 5, 2)


@pytest.mark.parametrize("chunk", [1, 4, 5, 16])
def test_causal_linear_product_matches_masked_quadratic(chunk: int) -> None:
    q, k, v = _qkv(n=13, m=13, d=3, dv=2, seed=4)
    ref = torch.tril(q @ k.transpose(-2, -1)) @ v
    torch.testing.assert_close(causal_linear_product(q, k, v, chunk), ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="chunk_size"):
        causal_linear_product(q, k, v, 0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_close_to_float64(causal: bool, dtype: torch.dtype, device: torch.device) -> None:
    q, k, v = (t.to(device) for t in _qkv(b=2, h=2, n=300, m=300, d=16, dv=16, seed=5))
    ref = flow_attention(q, k, v, causal=causal)
    low = flow_attention(q.to(dtype), k.to(dtype), v.to(dtype), causal=causal)
    assert low.dtype == dtype and torch.isfinite(low).all()
    rel = float((low.double() - ref).abs().mean() / ref.abs().mean())
    assert rel < (2e-2 if dtype == torch.bfloat16 else 3e-3)


def test_long_causal_sequence_in_bfloat16_keeps_prefix_sums_exact() -> None:
    # 4096 positions: a bf16 prefix sum would lose the increments (spacing 32 at 8192); float32 keeps them
    q, k, v = _qkv(b=1, h=1, n=4096, m=4096, d=8, dv=4, seed=6)
    ref = flow_attention(q, k, v, causal=True)
    low = flow_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), causal=True)
    assert float((low.double() - ref)[..., -512:, :].abs().mean() / ref.abs().mean()) < 2e-2


def test_causal_competition_identities() -> None:
    q, k, v = _qkv(b=2, h=2, n=12, m=12, scale=3.0, seed=7)
    fq, fk = torch.sigmoid(q), torch.sigmoid(k)
    ones = torch.ones(2, 1, 12, dtype=torch.float64)
    _, comp, _ = _causal_terms(fq, fk, ones, ones, 1e-6, None, True, False)
    assert comp is not None
    torch.testing.assert_close(comp[..., 0], torch.ones_like(comp[..., 0]), rtol=0, atol=1e-15)  # comp_1 = 1
    # a clamp of ~0 makes every Ô equal: the prefix softmax times j is then exactly 1 everywhere, and
    # causal Flow-Attention without allocation is normalised causal linear attention with sigmoid features
    out = flow_attention(q, k, v, causal=True, source_clamp=1e-300, allocation=False)
    scores = torch.tril(fq @ fk.transpose(-2, -1))
    inc = ((fq + 1e-6) * (fk.cumsum(-2) + 1e-6)).sum(-1, keepdim=True)
    torch.testing.assert_close(out, scores @ v / inc, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_recompute_gives_the_same_values_and_gradients_with_less_saved(causal: bool) -> None:
    grads = []
    saved = []
    for recompute in (False, True):
        q, k, v = (t.requires_grad_() for t in _qkv(b=2, h=2, n=70, m=70, d=8, dv=8, seed=8))
        sizes: list[int] = []

        def pack(t: torch.Tensor, sizes: list[int] = sizes) -> torch.Tensor:
            sizes.append(t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = flow_attention(q, k, v, causal=causal, chunk_size=16, recompute=recompute)
        out.pow(2).sum().backward()
        grads.append((out.detach(), q.grad, k.grad, v.grad))
        saved.append(sum(sizes))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert saved[1] <= 3 * 2 * 2 * 70 * 8 < saved[0]  # only q, k, v are kept
