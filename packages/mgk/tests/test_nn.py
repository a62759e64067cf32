"""The attention layers and models: pi semantics, EM, causality, official weights, counting."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.mgk.functional import elu1
from ballroom.mgk.models import (
    ATTENTIONS,
    MGKEncoderClassifier,
    MGKLanguageModel,
    attention_flops,
    attention_params,
    count_params_flops,
    make_attention,
)
from ballroom.mgk.nn import MGKAttention, MLKAttention, SoftmaxAttention, em_update_, load_official_state_dict
from ballroom.mgk.reference import mgk_scores_naive

D64 = torch.float64


def _x(b: int = 3, n: int = 9, d: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed), dtype=D64)


def _layer(**kw: object) -> MGKAttention:
    torch.manual_seed(0)
    return MGKAttention(16, 2, 8, **kw).double().eval()  # type: ignore[arg-type]


def test_pi_is_clamped_not_renormalised_and_only_its_ratio_matters() -> None:
    layer, x = _layer(), _x()
    with torch.no_grad():
        layer.pi.copy_(torch.tensor([1.4, -0.2]))
        clamped = layer(x)
        layer.pi.copy_(torch.tensor([1.0, 0.0]))
        torch.testing.assert_close(clamped, layer(x), atol=0, rtol=0)
        layer.pi.copy_(torch.tensor([0.2, 0.3]))
        a = layer(x)
        layer.pi.copy_(torch.tensor([0.4, 0.6]))
        torch.testing.assert_close(a, layer(x), atol=1e-12, rtol=0)
        layer.pi.copy_(torch.tensor([0.6, 0.4]))
        assert not torch.allclose(a, layer(x))


def test_layer_output_matches_the_official_formulation_and_loads_official_weights() -> None:
    torch.manual_seed(0)
    pad = torch.zeros(3, 9, dtype=torch.bool)
    pad[1, 6:] = True
    x = _x()
    for key_mode, official in (("separate", "mgk"), ("shifted", "smgk")):
        ours = MGKAttention(16, 2, 8, key_mode=key_mode).double().eval()
        src = {k: torch.randn_like(v) for k, v in ours.state_dict().items()}
        src["pi"] = torch.tensor([0.8, 0.3], dtype=D64)
        # the official LRA module's names: pi and mu live under attn (sMGK: attn.multi_gauss_kernel)
        prefix = "attn." if official == "mgk" else "attn.multi_gauss_kernel."
        official_sd = {(prefix + k if k in ("pi", "mu") else k): v for k, v in src.items()}
        load_official_state_dict(ours, official_sd)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(3, 9, 2, 8).transpose(1, 2)

        q, v = (
            split(x @ src["W_q.weight"].T + src["W_q.bias"]),
            split(x @ src["W_v.weight"].T + src["W_v.bias"]),
        )
        if official == "mgk":
            keys = torch.stack(
                [split(x @ src[f"{n}.weight"].T + src[f"{n}.bias"]) for n in ("W_k", "W_k2")], 2
            )
        else:
            k = split(x @ src["W_k.weight"].T + src["W_k.bias"])
            keys = torch.stack([k - src["mu"][r][None, :, None, :] for r in range(2)], 2)
        a = mgk_scores_naive(
            q, keys, (math.sqrt(8), math.sqrt(8)), src["pi"][:, None], mask=~pad[:, None, None]
        )
        h = (a @ v).transpose(1, 2).reshape(3, 9, 16)
        ref = h @ src["ff.weight"].T + src["ff.bias"]
        with torch.no_grad():
            torch.testing.assert_close(ours(x, key_padding_mask=pad), ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("key_mode", ["separate", "shifted"])
def test_official_lra_mlk_weights_load_by_name_and_give_the_official_outputs(key_mode: str) -> None:
    torch.manual_seed(0)
    ours = MLKAttention(16, 2, 8, key_mode=key_mode, recipe="lra").double().eval()
    src = {k: torch.randn_like(v) for k, v in ours.state_dict().items()}
    src["pi"] = torch.tensor([0.8, 1.3], dtype=D64)  # 1.3 is clamped to 1 at use
    load_official_state_dict(ours, {("attn." + k if k in ("pi", "mu") else k): v for k, v in src.items()})
    x = _x()
    pad = torch.zeros(3, 9, dtype=torch.bool)
    pad[1, 6:] = True

    def proj(name: str) -> torch.Tensor:
        return (x @ src[f"{name}.weight"].T + src[f"{name}.bias"]).view(3, 9, 2, 8).transpose(1, 2)

    # the official LRA linear attention, written out: raw keys mixed by clamp(pi), elu + 1, N^(-1/4)
    # on both sides, padded keys and values zeroed, no denominator
    q, v, k = proj("W_q"), proj("W_v"), proj("W_k")
    k1, k2 = (
        (k, proj("W_k2"))
        if key_mode == "separate"
        else (k - src["mu"][0][None, :, None], k - src["mu"][1][None, :, None])
    )
    pi = src["pi"].clamp(0, 1)
    keep = (~pad).double()[:, None, :, None]
    phi_q = (torch.nn.functional.elu(q) + 1) / 9**0.25
    phi_k = (torch.nn.functional.elu(pi[0] * k1 + pi[1] * k2) + 1) * keep / 9**0.25
    h = phi_q @ (phi_k.transpose(-1, -2) @ (v * keep))
    ref = h.transpose(1, 2).reshape(3, 9, 16) @ src["ff.weight"].T + src["ff.bias"]
    with torch.no_grad():
        torch.testing.assert_close(ours(x, key_padding_mask=pad), ref, atol=1e-10, rtol=0)


def test_shifted_keys_follow_the_official_initialisation() -> None:
    torch.manual_seed(0)
    layer = MGKAttention(64, 4, 32, key_mode="shifted")
    assert torch.equal(layer.mu[0], torch.zeros(4, 32)) and layer.mu.requires_grad
    assert 0.4 < float(layer.mu[1].detach().std()) < 0.6
    assert not hasattr(layer, "W_k2")


def test_em_pi_is_the_masked_mean_responsibility_after_one_training_forward() -> None:
    layer = _layer(pi_mode="em", max_len=12)
    x = _x()
    pad = torch.zeros(3, 9, dtype=torch.bool)
    pad[0, 5:] = True
    pad[2, 7:] = True
    before = layer.pi.clone()
    with torch.no_grad():
        q = layer._split(layer.W_q(x))
        keys = layer.keys(x)
    layer.train()
    out = layer(x, key_padding_mask=pad)
    # the official formula, written out: exponentials with -1e6 at padded keys
    s2 = math.sqrt(8)
    e = [torch.exp(-(torch.cdist(q, keys[:, :, r]) ** 2) / (2 * s2) - 1e6 * pad[:, None, None].double())
         for r in range(2)]  # fmt: skip
    p1 = before[:, None, :9]
    gamma = e[0] * p1 / (e[0] * p1 + e[1] * (1 - p1) + 1e-6)
    m = (~pad).double()
    want = torch.einsum("bi,bhij->hj", m, gamma) / (torch.einsum("bi,bj->j", m, m) + 1e-6)
    torch.testing.assert_close(layer.pi[:, :9], want, atol=1e-10, rtol=0)
    assert torch.equal(layer.pi[:, 9:], before[:, 9:])  # positions absent from the batch keep their pi
    # no gradient reaches pi; eval leaves it unchanged
    out.sum().backward()
    assert not layer.pi.requires_grad and layer.W_q.weight.grad is not None
    frozen = layer.pi.clone()
    layer.eval()
    layer(x, key_padding_mask=pad)
    assert torch.equal(layer.pi, frozen)


def test_em_lm_variant_averages_over_every_query() -> None:
    layer = _layer(pi_mode="em", max_len=12, causal=True)
    gamma = torch.rand(2, 2, 5, 5, dtype=D64)
    em_update_(layer, gamma)
    torch.testing.assert_close(layer.pi[:, :5], gamma.mean((0, 2)))
    with pytest.raises(TypeError, match="pi_mode='em'"):
        em_update_(_layer(), gamma)


def test_hard_e_layer_ignores_pi_and_head_position_needs_max_len() -> None:
    layer = _layer(pi_mode="hard")
    assert not hasattr(layer, "pi") or layer.pi is None
    with pytest.raises(ValueError, match="max_len"):
        MGKAttention(16, 2, 8, pi_mode="head_position")
    long = MGKAttention(16, 2, 8, pi_mode="head_position", max_len=4)
    with pytest.raises(ValueError, match="max_len = 4"):
        long(torch.randn(1, 5, 16))


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_language_model_is_causal(attention: str, device: torch.device) -> None:
    torch.manual_seed(0)
    lm = (
        MGKLanguageModel(11, d_model=16, n_heads=2, head_dim=8, d_ff=32, max_len=16, attention=attention)
        .double()
        .to(device)
    )
    x = torch.randint(0, 11, (2, 12), device=device)
    y = x.clone()
    y[:, 7:] = torch.randint(0, 11, (2, 5), device=device)
    with torch.no_grad():
        a, b = lm(x), lm(y)
    torch.testing.assert_close(a[:, :7], b[:, :7], atol=1e-12, rtol=0)
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_mlk_layer_matches_its_quadratic_form_and_padding_is_ignored() -> None:
    torch.manual_seed(0)
    layer = MLKAttention(16, 2, 8, pi_mode="head").double().eval()
    x = _x()
    with torch.no_grad():
        q, keys, v = layer._split(layer.W_q(x)), layer.keys(x), layer._split(layer.W_v(x))
        k_mix = (layer.pi.clamp(0, 1)[:, :, None, None] * elu1(keys)).sum(2)
        s = elu1(q) @ k_mix.transpose(-1, -2)
        ref = layer.ff(layer._merge((s @ v) / (s.sum(-1, keepdim=True) + 1e-6)))
        torch.testing.assert_close(layer(x), ref, atol=1e-12, rtol=0)
        pad = torch.zeros(3, 9, dtype=torch.bool)
        pad[:, 6:] = True
        torch.testing.assert_close(layer(x, pad)[:, :6], layer(x[:, :6]), atol=1e-12, rtol=0)


@pytest.mark.parametrize("attention", ["softmax", "mgk", "smgk"])
def test_padding_does_not_change_the_classifier(attention: str) -> None:
    torch.manual_seed(0)
    clf = MGKEncoderClassifier(
        16, 10, d_model=16, n_heads=2, head_dim=8, d_ff=32, max_len=20, attention=attention
    ).eval()
    x = torch.randint(1, 16, (2, 10))
    padded = torch.cat([x, torch.zeros(2, 5, dtype=torch.int64)], 1)
    with torch.no_grad():
        torch.testing.assert_close(clf(padded, padded == 0), clf(x), atol=1e-5, rtol=1e-5)


def test_softmax_sdpa_and_explicit_paths_agree() -> None:
    torch.manual_seed(0)
    fused = SoftmaxAttention(16, 2, 8, causal=True).double()
    plain = SoftmaxAttention(16, 2, 8, causal=True, fused=False).double()
    plain.load_state_dict(fused.state_dict())
    x = _x()
    torch.testing.assert_close(fused(x), plain(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("pi_mode", ["layer", "head", "head_position"])
def test_analytic_parameter_count_equals_numel(attention: str, pi_mode: str) -> None:
    kw = {} if attention in ("softmax", "linear") else {"pi_mode": pi_mode}
    layer = make_attention(attention, 24, 3, 8, max_len=10, **kw)
    pi_numel = 0 if attention in ("softmax", "linear") else layer.pi.numel()
    assert attention_params(attention, 24, 3, 8, pi_numel=pi_numel) == sum(
        p.numel() for p in layer.parameters()
    )


@pytest.mark.parametrize(("attention", "sigma2", "columns"), [("softmax", None, 0), ("mgk", (1.0, 1.0), 1),
                                                              ("smgk", (1.0, 1 / 3), 2), ("mlk", None, 0)])  # fmt: skip
@pytest.mark.parametrize("impl", ["fused", "sdpa"])
def test_flop_formula_agrees_with_the_counter(
    attention: str, sigma2: tuple | None, columns: int, impl: str
) -> None:
    d_model, h, d, n = 32, 2, 16, 40
    kw: dict = {} if sigma2 is None else {"sigma2": sigma2, "impl": impl}
    layer = make_attention(attention, d_model, h, d, max_len=n, **kw)
    n_proj = 4 if attention in ("softmax", "smgk") else 5
    proj = n_proj * n * d_model * h * d
    measured = count_params_flops(layer, n)["flops"]
    core = attention_flops(attention, h, n, d, fused_columns=columns, impl=impl)
    assert measured == 2 * (proj + core)  # the counter counts 2 FLOPs per multiply-add
    # MGK with half the heads: a cheaper core than softmax with all of them (75 % + the fused columns)
    assert attention_flops("mgk", h // 2, n, d) / attention_flops("softmax", h, n, d) == 0.75
