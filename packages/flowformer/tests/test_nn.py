"""Stacks: shapes, causality of the LM, padding invariance of the classifier."""

from __future__ import annotations

import importlib.metadata

import pytest
import torch

from ballroom.flowformer.nn import (
    ATTENTIONS,
    FlowAttention,
    FlowformerClassifier,
    FlowformerLM,
    LinearAttention,
    SoftmaxAttention,
    attention_class,
    build_attention,
)
from ballroom.flowformer.reference import OfficialFlowAttention


@pytest.mark.parametrize("attention", list(ATTENTIONS))
def test_lm_is_causal(attention: str) -> None:
    torch.manual_seed(0)
    lm = (
        FlowformerLM(20, d_model=16, depth=2, n_heads=2, d_ff=32, max_len=32, attention=attention)
        .double()
        .eval()
    )
    tokens = torch.randint(0, 20, (2, 12))
    out = lm(tokens)
    assert out.shape == (2, 12, 20)
    changed = tokens.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 20
    out2 = lm(changed)
    torch.testing.assert_close(out[:, :7], out2[:, :7], rtol=1e-10, atol=1e-10)
    assert not torch.allclose(out[:, 7:], out2[:, 7:])


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_classifier_padding_invariance(pooling: str) -> None:
    torch.manual_seed(0)
    clf = (
        FlowformerClassifier(
            5, vocab_size=12, d_model=16, depth=1, n_heads=2, d_ff=32, max_len=20, pooling=pooling
        )
        .double()
        .eval()
    )
    x = torch.randint(1, 12, (1, 9))
    padded = torch.cat([x, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    mask = torch.zeros(1, 13, dtype=torch.bool)
    mask[:, 9:] = True
    torch.testing.assert_close(clf(padded, mask), clf(x), rtol=1e-10, atol=1e-10)
    cont = FlowformerClassifier(
        3,
        in_features=4,
        d_model=16,
        depth=1,
        n_heads=2,
        d_ff=32,
        max_len=30,
        pooling="mean",
        positions="sinusoidal",
    )
    assert cont(torch.randn(2, 30, 4)).shape == (2, 3)
    with pytest.raises(ValueError, match="exactly one"):
        FlowformerClassifier(3)


@pytest.mark.parametrize("causal", [False, True])
def test_official_layout_weights_give_identical_outputs(causal: bool, device: torch.device) -> None:
    torch.manual_seed(1)
    official = OfficialFlowAttention(12, 16, 10, 4, causal=causal).double().eval().to(device)
    ours = FlowAttention(12, 16, 10, 4, causal=causal, chunk_size=4).double().eval().to(device)
    missing = ours.load_state_dict(official.state_dict())
    assert not missing.missing_keys and not missing.unexpected_keys
    x = torch.randn(3, 11, 12, dtype=torch.float64, device=device)
    torch.testing.assert_close(ours(x, x, x), official(x, x, x), rtol=1e-12, atol=1e-12)
    if not causal:  # cross-attention, L != S
        y = torch.randn(3, 5, 12, dtype=torch.float64, device=device)
        torch.testing.assert_close(ours(x, y, y), official(x, y, y), rtol=1e-12, atol=1e-12)


def test_baselines_match_their_quadratic_forms() -> None:
    torch.manual_seed(2)
    x = torch.randn(2, 9, 8, dtype=torch.float64)
    lin = LinearAttention(8, 8, 8, 2, causal=True, chunk_size=4).double()
    q, k, v = (lin._heads(p(x)) for p in (lin.query_projection, lin.key_projection, lin.value_projection))
    fq, fk = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    scores = torch.tril(fq @ fk.transpose(-2, -1))
    ref = (scores @ v) / (scores.sum(-1, keepdim=True) + lin.eps)
    ref = lin.out_projection(ref.transpose(1, 2).reshape(2, 9, 8))
    torch.testing.assert_close(lin(x, x, x), ref, rtol=1e-12, atol=1e-12)
    soft = SoftmaxAttention(8, 8, 8, 2).double()
    q, k, v = (soft._heads(p(x)) for p in (soft.query_projection, soft.key_projection, soft.value_projection))
    att = torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1) @ v  # head dim 4: 1/sqrt(4)
    ref = soft.out_projection(att.transpose(1, 2).reshape(2, 9, 8))
    torch.testing.assert_close(soft(x, x, x), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_bfloat16_module_and_autocast(causal: bool, device: torch.device) -> None:
    torch.manual_seed(3)
    attn = FlowAttention(32, 32, 32, 4, causal=causal, dropout=0.0).to(device)
    x = torch.randn(2, 200, 32, device=device)
    with torch.no_grad():
        ref = attn.double()(x.double(), x.double(), x.double())
        attn.float()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            mixed = attn(x, x, x)
        low = attn.to(torch.bfloat16)(*(x.bfloat16(),) * 3)
        assert mixed.dtype == low.dtype == torch.bfloat16
        scale = ref.abs().mean()
        assert float((mixed.double() - ref).abs().mean() / scale) < 2e-2
        assert float((low.double() - ref).abs().mean() / scale) < 2e-2
        assert torch.isfinite(low).all()


def test_module_errors() -> None:
    with pytest.raises(ValueError, match="divisible"):
        FlowAttention(8, 10, 8, 4)
    with pytest.raises(ValueError, match=r"queries must have rank 3"):
        FlowAttention(8, 8, 8, 2)(torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8))
    with pytest.raises(ValueError, match="attention must be one of"):
        FlowformerLM(10, attention="performer")
    with pytest.raises(ValueError, match="max_len"):
        FlowformerLM(10, max_len=8)(torch.zeros(1, 9, dtype=torch.long))


def test_lazy_namespace_exports_everything() -> None:
    import ballroom.flowformer as pkg

    assert set(pkg.__all__) == {"__version__", *pkg._SOURCES}
    assert pkg.__version__ == importlib.metadata.version("ballroom-flowformer")
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Performer'"):
        pkg.Performer  # noqa: B018


def test_model_input_errors() -> None:
    clf = FlowformerClassifier(3, vocab_size=12, d_model=8, depth=1, n_heads=2, d_ff=16, max_len=20)
    with pytest.raises(ValueError, match=r"\[0, 12\)"):
        clf(torch.full((2, 5), 12))
    with pytest.raises(ValueError, match="key_padding_mask must be bool"):
        clf(torch.ones(2, 5, dtype=torch.long), torch.zeros(2, 5))
    cont = FlowformerClassifier(3, in_features=4, d_model=8, depth=1, n_heads=2, d_ff=16, max_len=20)
    with pytest.raises(ValueError, match="NaN or inf"):
        cont(torch.full((1, 5, 4), float("nan")))
    with pytest.raises(ValueError, match=r"\(B, L, 4\)"):
        cont(torch.randn(1, 5, 3))
    with pytest.raises(ValueError, match="empty"):
        FlowformerLM(10, d_model=8, depth=1, n_heads=2)(torch.zeros(0, 4, dtype=torch.long))


def test_attention_kinds_are_classes() -> None:
    assert dict(ATTENTIONS) == {"flow": FlowAttention, "linear": LinearAttention, "softmax": SoftmaxAttention}
    assert (
        attention_class("softmax") is SoftmaxAttention and attention_class(LinearAttention) is LinearAttention
    )
    kw = dict(d_model=16, depth=1, n_heads=2, d_ff=32, max_len=20)
    for name, cls in ATTENTIONS.items():
        torch.manual_seed(0)
        by_name = FlowformerLM(10, attention=name, **kw)
        torch.manual_seed(0)
        by_class = FlowformerLM(10, attention=cls, **kw)
        assert type(by_class.encoder.blocks[0].attn) is cls
        assert all(
            torch.equal(a, b) for a, b in zip(by_name.state_dict().values(), by_class.state_dict().values())
        )
    clf = FlowformerClassifier(3, vocab_size=12, source_clamp=5.0, competition=False, **kw)
    attn = clf.encoder.blocks[0].attn
    assert attn.source_clamp == 5.0 and not attn.competition and attn.dropout.p == 0.0
    with pytest.raises(TypeError, match="source_clamp"):  # Flow's options are not silently dropped
        FlowformerClassifier(3, vocab_size=12, attention="softmax", source_clamp=5.0, **kw)
    with pytest.raises(ValueError, match="attention must be one of"):
        attention_class("performer")


def test_build_attention_is_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match="build_attention is deprecated"):
        attn = build_attention("flow", 16, 2, causal=True, source_clamp=None)
    assert isinstance(attn, FlowAttention) and attn.causal and attn.source_clamp is None
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert isinstance(build_attention("linear", 16, 2, source_clamp=None), LinearAttention)


def test_causal_softmax_attention_stays_causal_with_a_padding_mask() -> None:
    """The causal mask and a key padding mask combine (a padding mask used to switch causality off)."""
    torch.manual_seed(5)
    soft = SoftmaxAttention(8, 8, 8, 2, causal=True).double()
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 5:] = True  # the second sequence has 5 tokens
    out = soft(x, x, x, key_padding_mask=pad)
    torch.testing.assert_close(
        out[0], soft(x[:1], x[:1], x[:1])[0], rtol=1e-12, atol=1e-12
    )  # no padding: as unmasked
    later = x.clone()
    later[:, 3:] += torch.randn(2, 4, 8, dtype=torch.float64)  # change only positions 3..6
    moved = soft(later, later, later, key_padding_mask=pad)
    torch.testing.assert_close(
        moved[:, :3], out[:, :3], rtol=1e-12, atol=1e-12
    )  # positions 0..2 cannot see them
    q, k, v = (soft._heads(p(x)) for p in (soft.query_projection, soft.key_projection, soft.value_projection))
    logits = (q @ k.transpose(-2, -1) / 2.0).masked_fill(
        ~torch.ones(7, 7, dtype=torch.bool).tril(), float("-inf")
    )
    logits = logits.masked_fill(pad[:, None, None, :], float("-inf"))
    ref = soft.out_projection((torch.softmax(logits, -1) @ v).transpose(1, 2).reshape(2, 7, 8))
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)  # the hand-built masked softmax
