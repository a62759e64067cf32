"""Removal functions, explainers and batched impacts, each against an independent computation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from ballroom.faithfulness import (
    AttentionGradient,
    AttentionInputNorm,
    AttentionRollout,
    BagOfWordsClassifier,
    GenericAttention,
    InputGradient,
    IntegratedGradients,
    RandomExplainer,
    RawAttention,
    erasure_probs,
    generic_attention_relevance,
    impact,
    remove_features,
    rollout,
    run_violation_test,
)

NAMES = ["lstm", "bilstm-dot", "cnn", "transformer"]


@pytest.mark.parametrize("name", NAMES)
def test_slice_out_equals_running_the_shortened_sequence(
    name: str, models64: dict[str, nn.Module], tokens_of: Callable[..., Tensor]
) -> None:
    net = models64[name]
    toks = tokens_of()
    pos = torch.tensor([0, 3, 5, 1, 2, 4])
    pert = net.remove(toks, pos, "slice_out")
    got = net.forward_from_embeddings(pert.emb, pert.mask, attn_mask=pert.attn_mask)
    for i in range(toks.shape[0]):
        row = toks[i][toks[i] != 0]
        short = torch.cat([row[: pos[i]], row[pos[i] + 1 :]])[None]
        torch.testing.assert_close(got[i], net(short)[0], atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("name", ["lstm", "bilstm-dot", "cnn"])
def test_att_mask_renormalises_the_attention_without_t(
    name: str, models64: dict[str, nn.Module], tokens_of: Callable[..., Tensor]
) -> None:
    net = models64[name]
    toks = tokens_of()
    emb, mask = net.embed(toks), net.padding_mask(toks)
    net.forward_from_embeddings(emb, mask)
    alpha = net.attention_maps[-1][:, 0, 0].detach().clone()
    pos = torch.tensor([1, 0, 2, 3, 4, 5])
    alpha[torch.arange(6), pos] = 0.0
    alpha = alpha / alpha.sum(1, keepdim=True)
    expected = net.forward_from_embeddings(emb, mask, alpha=alpha)
    pert = net.remove(toks, pos, "att_mask")
    got = net.forward_from_embeddings(pert.emb, pert.mask, attn_mask=pert.attn_mask)
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=1e-12)


def test_zeros_mask_zeroes_exactly_one_embedding(models: dict[str, nn.Module], toks: Tensor) -> None:
    net = models["lstm"]
    emb = net.embed(toks)
    pert = net.remove(toks, torch.tensor([2, 0, 1, 4, 3, 5]), "zeros_mask")
    changed = (pert.emb != emb).any(-1)
    assert changed.sum(1).tolist() == [1] * 6
    assert changed[torch.arange(6), torch.tensor([2, 0, 1, 4, 3, 5])].all()
    assert bool((pert.emb[changed] == 0).all()) and torch.equal(pert.mask, pert.attn_mask)


def test_remove_features_with_a_bool_mask_of_several_positions() -> None:
    emb = torch.arange(8.0).view(1, 4, 2)
    mask = torch.tensor([[True, True, True, False]])
    pert = remove_features(emb, mask, torch.tensor([[True, False, True, True]]), "slice_out")
    assert pert.emb.tolist() == [[[2.0, 3.0]]] and pert.mask.tolist() == [[True]]


def _y(net: nn.Module, emb: Tensor, mask: Tensor, cls: Tensor, **kw: Tensor) -> Tensor:
    return torch.softmax(net.forward_from_embeddings(emb, mask, **kw), -1).gather(1, cls[:, None])[:, 0]


def test_attgrad_matches_finite_differences_on_alpha(
    models64: dict[str, nn.Module], tokens_of: Callable[..., Tensor]
) -> None:
    net = models64["lstm"]
    toks = tokens_of(3, 8)
    emb, mask = net.embed(toks).detach(), net.padding_mask(toks)
    cls = net(toks).argmax(-1)
    grad = AttentionGradient(variant="grad_only")(net, toks, target=cls)
    net.forward_from_embeddings(emb, mask)
    alpha = net.attention_maps[-1][:, 0, 0].detach()
    eps = 1e-6
    for t in range(8):
        e = torch.zeros_like(alpha)
        e[:, t] = eps
        fd = (_y(net, emb, mask, cls, alpha=alpha + e) - _y(net, emb, mask, cls, alpha=alpha - e)) / (2 * eps)
        torch.testing.assert_close(grad[:, t], fd * mask[:, t], atol=1e-8, rtol=1e-6)
    signed = AttentionGradient()(net, toks, target=cls)
    torch.testing.assert_close(signed, alpha * grad)
    assert torch.equal(AttentionGradient(variant="sign")(net, toks, target=cls), alpha * grad.sign())
    assert torch.equal(AttentionGradient(variant="abs")(net, toks, target=cls), alpha * grad.abs())


@pytest.mark.parametrize(("name", "steps"), [("lstm", 256), ("cnn", 256), ("transformer", 2048)])
def test_ig_completeness_and_inputgrad_is_one_step_ig(
    name: str, steps: int, models64: dict[str, nn.Module], tokens_of: Callable[..., Tensor]
) -> None:
    net = models64[name]
    toks = tokens_of(4, 10)
    emb, mask = net.embed(toks).detach(), net.padding_mask(toks)
    cls = net(toks).argmax(-1)
    ig = IntegratedGradients(steps=steps)(net, toks, target=cls)
    gap = (_y(net, emb, mask, cls) - _y(net, torch.zeros_like(emb), mask, cls)).detach()
    assert float((ig.sum(1) - gap).abs().max()) < 1e-3
    coarse = IntegratedGradients(steps=2)(net, toks, target=cls)
    assert float((coarse.sum(1) - gap).abs().max()) > float((ig.sum(1) - gap).abs().max())
    torch.testing.assert_close(IntegratedGradients(steps=1)(net, toks, cls), InputGradient()(net, toks, cls))
    official = IntegratedGradients(steps=5, official_scale=True)(net, toks, cls)
    torch.testing.assert_close(official, 5 * IntegratedGradients(steps=5)(net, toks, cls))
    # chunked scaled copies give the same sums
    chunked = IntegratedGradients(steps=5, internal_batch_size=4)(net, toks, cls)
    torch.testing.assert_close(chunked, IntegratedGradients(steps=5)(net, toks, cls))


def test_rollout_of_one_layer_is_rownormalised_a_plus_i() -> None:
    a = torch.rand(2, 3, 5, 5, dtype=torch.float64).softmax(-1)
    expected = a.mean(1) + torch.eye(5, dtype=torch.float64)
    torch.testing.assert_close(rollout([a]), expected / expected.sum(-1, keepdim=True))
    torch.testing.assert_close(rollout([a], normalize=False), expected)
    b = torch.rand(2, 3, 5, 5, dtype=torch.float64).softmax(-1)
    eb = b.mean(1) + torch.eye(5, dtype=torch.float64)
    torch.testing.assert_close(
        rollout([a, b]), (eb / eb.sum(-1, keepdim=True)) @ (expected / expected.sum(-1, keepdim=True))
    )


def test_genatt_recursion_by_hand_and_with_negative_gradients() -> None:
    g = torch.Generator().manual_seed(3)
    maps = [torch.rand(2, 2, 4, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    grads = [torch.randn(2, 2, 4, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    r = generic_attention_relevance(maps, grads)
    for b in range(2):
        hand = [[1.0 if i == j else 0.0 for j in range(4)] for i in range(4)]
        for a, gr in zip(maps, grads, strict=True):
            cam = [[sum(max(float(gr[b, h, i, j] * a[b, h, i, j]), 0.0) for h in range(2)) / 2 for j in range(4)]
                   for i in range(4)]  # fmt: skip
            step = [[sum(cam[i][k] * hand[k][j] for k in range(4)) for j in range(4)] for i in range(4)]
            hand = [[hand[i][j] + step[i][j] for j in range(4)] for i in range(4)]
        torch.testing.assert_close(r[b], torch.tensor(hand, dtype=torch.float64))
    negative = generic_attention_relevance(maps, [-m.abs() - 1e-3 for m in grads])
    torch.testing.assert_close(negative, torch.eye(4, dtype=torch.float64).expand(2, 4, 4))


def test_genatt_rollout_rawatt_on_the_transformer(models: dict[str, nn.Module], toks: Tensor) -> None:
    net = models["transformer"]
    mask = toks != 0
    for explainer in (RawAttention(), AttentionRollout(), GenericAttention(), AttentionInputNorm()):
        w = explainer(net, toks)
        assert w.shape == toks.shape and bool((w >= 0).all()) and bool((w[~mask] == 0).all())
    # RawAtt: the CLS row of the last layer's mean map, features only
    net(toks)
    raw = net.attention_maps[-1].mean(1)[:, 0, 1:]
    torch.testing.assert_close(RawAttention()(net, toks), raw.masked_fill(~mask, 0.0))


def test_attin_on_a_text_model_is_alpha_times_the_output_norm(
    models: dict[str, nn.Module], toks: Tensor
) -> None:
    net = models["lstm"]
    emb, mask = net.embed(toks), net.padding_mask(toks)
    h = net.encode(emb, mask)
    alpha = RawAttention()(net, toks)
    expected = alpha * (h @ net.decoder.weight.T).norm(dim=-1)
    torch.testing.assert_close(AttentionInputNorm()(net, toks), expected.detach())


def test_bag_of_words_gradients_are_the_token_contributions(tokens_of: Callable[..., Tensor]) -> None:
    torch.manual_seed(0)
    net = BagOfWordsClassifier(51, emb=6).double().eval()
    toks = tokens_of(16, 10)
    cls = net(toks).argmax(-1)
    contrib = net.embed(toks) @ net.out.weight.T  # (B, n, C)
    per_token = contrib.gather(2, cls[:, None, None].expand(-1, 10, 1))[..., 0] * (toks != 0)
    torch.testing.assert_close(InputGradient(target="logit")(net, toks, cls), per_token.detach())
    torch.testing.assert_close(
        IntegratedGradients(steps=7, target="logit")(net, toks, cls), per_token.detach()
    )
    loader = [(toks[i : i + 8],) for i in range(0, 16, 8)]
    frame = run_violation_test(net, loader, [InputGradient(), IntegratedGradients(steps=5), RandomExplainer()],
                               removals=("zeros_mask",))  # fmt: skip
    by = frame.set_index(["explainer", "removal"])["violation"]
    assert by[("InputGrad", "zeros_mask")] == 0.0 and by[("IG", "zeros_mask")] == 0.0
    assert by[("Random", "zeros_mask")] > 0.0  # the test can fail: a random explainer does


@pytest.mark.parametrize("how", ["slice_out", "zeros_mask", "att_mask"])
def test_batched_impact_equals_a_per_example_loop(
    how: str, models: dict[str, nn.Module], toks: Tensor
) -> None:
    net = models["transformer"]
    pos = torch.tensor([[0, 1, 2]] * 6)
    batched = impact(net, toks, pos, how, chunk_size=5)
    for i in range(6):
        row = toks[i : i + 1]
        p0 = torch.softmax(net(row), -1)
        c = p0.argmax(-1)
        for j in range(3):
            pert = net.remove(row, pos[i : i + 1, j], how)
            p = torch.softmax(net.forward_from_embeddings(pert.emb, pert.mask, attn_mask=pert.attn_mask), -1)
            assert batched[i, j].item() == pytest.approx((p0[0, c] - p[0, c]).item(), abs=1e-6)


def test_run_violation_test_shares_removals_or_not_with_the_same_result(
    models: dict[str, nn.Module], tokens_of: Callable[..., Tensor]
) -> None:
    net = models["lstm"]
    loader = [(tokens_of(8, 12, seed=s),) for s in range(2)]
    explainers = {
        "RawAtt": RawAttention(),
        "AttGrad": AttentionGradient(),
        "IG": IntegratedGradients(steps=3),
    }
    shared = run_violation_test(net, loader, explainers, top_k=4)  # 12 <= 4 * 3: every position once
    apart = run_violation_test(net, loader, explainers, top_k=3)  # 12 > 3 * 3: per explainer top-3
    assert list(shared["violation"]) == list(apart["violation"])
    assert set(shared["removal"]) == {"slice_out", "zeros_mask", "att_mask", "mean"}


def test_padding_gets_zero_weight_and_random_is_seeded(models: dict[str, nn.Module], toks: Tensor) -> None:
    for net in models.values():
        for e in (RandomExplainer(), InputGradient(), IntegratedGradients(steps=2), AttentionGradient()):
            assert bool((e(net, toks)[toks == 0] == 0).all())
    assert torch.equal(
        RandomExplainer(seed=4)(models["lstm"], toks), RandomExplainer(seed=4)(models["lstm"], toks)
    )


def test_gradient_explainers_agree_with_captum(models: dict[str, nn.Module], toks: Tensor) -> None:
    captum = pytest.importorskip("captum.attr")
    for name in ("lstm", "transformer"):
        net = models[name]
        emb, mask = net.embed(toks).detach(), net.padding_mask(toks)
        cls = net(toks).argmax(-1)

        def prob(e: Tensor, net: nn.Module = net, mask: Tensor = mask) -> Tensor:
            return torch.softmax(
                net.forward_from_embeddings(e, mask.repeat(e.shape[0] // mask.shape[0], 1)), -1
            )

        ixg = captum.InputXGradient(prob).attribute(emb, target=cls).sum(-1)
        torch.testing.assert_close(InputGradient()(net, toks, cls), ixg * mask, atol=1e-6, rtol=1e-5)
        ig = captum.IntegratedGradients(prob).attribute(emb, baselines=0.0, target=cls, n_steps=20,
                                                         method="riemann_right").sum(-1)  # fmt: skip
        torch.testing.assert_close(
            IntegratedGradients(steps=20)(net, toks, cls), ig * mask, atol=1e-6, rtol=1e-4
        )


def test_erasure_removes_the_top_ratio_and_metrics_columns(
    models: dict[str, nn.Module], toks: Tensor
) -> None:
    net = models["cnn"]
    w = torch.arange(12.0).expand(6, 12).contiguous()  # higher weight further right
    valid = toks != 0
    _, everything = erasure_probs(net, toks, w, (1.0,), "zeros_mask")
    with torch.no_grad():
        zeros = torch.softmax(net.forward_from_embeddings(torch.zeros_like(net.embed(toks)), valid), -1)
    torch.testing.assert_close(everything[:, 0], zeros)
    # the top 50 % by w of a full-length row are its last 6 tokens: slice_out keeps the first 6
    _, half = erasure_probs(net, toks[:1], w[:1], (0.5,), "slice_out")
    with torch.no_grad():
        first = torch.softmax(net(toks[:1, :6]), -1)
    torch.testing.assert_close(half[:, 0], first)
    _, low = erasure_probs(net, toks[:1], w[:1], (0.5,), "slice_out", lowest=True)
    with torch.no_grad():
        last = torch.softmax(net(toks[:1, 6:]), -1)
    torch.testing.assert_close(low[:, 0], last)
    frame = run_violation_test(
        net, [(toks, torch.zeros(6, dtype=torch.long))], [RawAttention()], top_k=5, metrics=True
    )
    for col in ("comprehensiveness", "sufficiency", "auc_tp", "rank_correlation"):
        assert col in frame and bool(frame[col].between(-1, 1).all())
