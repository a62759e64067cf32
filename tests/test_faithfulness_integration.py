"""The faithfulness violation test on another package's model, through the ExplainableModel recipe.

``ballroom.faithfulness`` and ``ballroom.flowformer`` stay independent; this file joins them the way a
user would: a small adapter that implements the protocol around a ``FlowformerClassifier``
(``embed``, ``padding_mask``, ``forward_from_embeddings`` with recorded attention maps, and the
default ``remove`` of ``ExplainableMixin``). ``ballroom.mgk`` does not exist yet; its adapter joins
here once it lands.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

faith = pytest.importorskip("ballroom.faithfulness")
flow = pytest.importorskip("ballroom.flowformer")


class FlowformerAdapter(faith.ExplainableMixin, nn.Module):
    """The README recipe for a CLS-pooled ``FlowformerClassifier`` over token ids (0 = padding).

    With ``attention="softmax"`` the maps are recomputed from the layer's projections in a forward
    hook (the layer itself runs fused SDPA): RawAtt / Rollout work, gradient-of-attention methods do not.
    """

    query_index, feature_offset = 0, 1

    def __init__(self, clf: nn.Module) -> None:
        super().__init__()
        self.clf = clf
        self._reset_records()
        for block in clf.encoder.blocks:
            block.attn.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> None:
        queries, keys, _, key_padding_mask = args
        q = module._heads(module.query_projection(queries))
        k = module._heads(module.key_projection(keys))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        keep = (
            torch.ones_like(scores, dtype=torch.bool)
            if key_padding_mask is None
            else ~key_padding_mask[:, None, None]
        )
        self._record(faith.masked_softmax(scores, keep).detach(), None)

    def embed(self, batch: Tensor) -> Tensor:
        return self.clf.embed(faith.batch_tokens(batch))

    def padding_mask(self, batch: Tensor) -> Tensor:
        return faith.batch_tokens(batch) != 0

    def forward_from_embeddings(
        self, emb: Tensor, mask: Tensor, alpha: Tensor | None = None, attn_mask: Tensor | None = None
    ) -> Tensor:
        self._reset_records()
        attn_mask = mask if attn_mask is None else attn_mask
        b = emb.shape[0]
        h = torch.cat([self.clf.cls.expand(b, -1, -1), emb], dim=1)
        padding = torch.cat([attn_mask.new_zeros(b, 1), ~attn_mask], dim=1)  # flowformer: True = padding
        h = self.clf.encoder(h + self.clf.pos[: h.shape[1]], padding)
        return self.clf.head(h[:, 0])


def _trained(attention: str) -> tuple[FlowformerAdapter, Tensor, Tensor, Tensor]:
    torch.manual_seed(0)
    tokens, labels, polarity = faith.make_polarity_data(768, seed=0)
    clf = flow.FlowformerClassifier(num_classes=2, vocab_size=51, d_model=16, depth=1, n_heads=2, d_ff=32,
                                    max_len=32, attention=attention)  # fmt: skip
    opt = torch.optim.Adam(clf.parameters(), lr=1e-2)
    for _ in range(4):
        for i in range(0, 640, 64):
            x = tokens[i : i + 64]
            loss = nn.functional.cross_entropy(clf(x, key_padding_mask=x == 0), labels[i : i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return FlowformerAdapter(clf.eval()), tokens[640:], labels[640:], polarity[640:]


@pytest.fixture(scope="module")
def softmax_model() -> tuple[FlowformerAdapter, Tensor, Tensor, Tensor]:
    return _trained("softmax")


def test_the_adapter_reproduces_the_classifier_and_its_removals(softmax_model: tuple) -> None:
    adapter, tokens, _, _ = softmax_model
    x = tokens[:6]
    with torch.no_grad():
        own = adapter.clf(x, key_padding_mask=x == 0)
        torch.testing.assert_close(adapter.forward_from_embeddings(adapter.embed(x), x != 0), own)
        pos = torch.tensor([0, 2, 4, 1, 3, 5])
        pert = adapter.remove(x, pos, "slice_out")
        got = adapter.forward_from_embeddings(pert.emb, pert.mask, attn_mask=pert.attn_mask)
        for i in range(6):
            row = x[i][x[i] != 0]
            short = torch.cat([row[: pos[i]], row[pos[i] + 1 :]])[None]
            torch.testing.assert_close(got[i], adapter.clf(short)[0], atol=1e-5, rtol=1e-5)
        pert = adapter.remove(x, pos, "att_mask")
        masked = (x == 0).clone()
        masked[torch.arange(6), pos] = True
        torch.testing.assert_close(
            adapter.forward_from_embeddings(pert.emb, pert.mask, attn_mask=pert.attn_mask),
            adapter.clf(x, key_padding_mask=masked), atol=1e-5, rtol=1e-5,
        )  # fmt: skip
        adapter.forward_from_embeddings(adapter.embed(x), x != 0)
    assert len(adapter.attention_maps) == 1 and adapter.attention_maps[0].shape[-2:] == (31, 31)


@pytest.mark.parametrize("attention", ["softmax", "flow"])
def test_violation_test_runs_on_a_flowformer_classifier(attention: str, softmax_model: tuple) -> None:
    adapter, tokens, labels, polarity = softmax_model if attention == "softmax" else _trained(attention)
    with torch.no_grad():
        acc = (adapter.clf(tokens, key_padding_mask=tokens == 0).argmax(-1) == labels).float().mean()
    assert acc > 0.7  # it learned the task (chance: 0.5)
    explainers = {"Random": faith.RandomExplainer(), "InputGrad": faith.InputGradient(),
                  "IG": faith.IntegratedGradients(steps=10)}  # fmt: skip
    if attention == "softmax":
        explainers |= {"RawAtt": faith.RawAttention(), "Rollout": faith.AttentionRollout()}
    loader = [(tokens[i : i + 64], labels[i : i + 64], polarity[i : i + 64]) for i in range(0, 128, 64)]
    frame = faith.run_violation_test(adapter, loader, explainers, top_k=1, polarity=True)
    mean = frame[frame["removal"] == "mean"].set_index("explainer")["violation"]
    assert set(mean.index) == set(explainers) and bool(((mean >= 0) & (mean <= 1)).all())
    # the paper's finding holds here too: IG tracks polarity better than a random explainer
    assert mean["IG"] < mean["Random"]
