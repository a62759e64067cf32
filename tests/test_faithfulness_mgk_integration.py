"""The faithfulness violation test on an ``MGKEncoderClassifier``, through the ExplainableModel recipe.

``ballroom.faithfulness`` and ``ballroom.mgk`` stay independent; this file joins them the way a user
would (the recipe of ballroom-mgk's README): ``embed`` is the classifier's token embedding,
``forward_from_embeddings`` is :meth:`MGKEncoderClassifier.forward_embeddings` with the padding mask,
and a forward hook on each MGK layer records its attention map (``MGKAttention.attention_weights``).
The classifier mean-pools (no CLS token), so the attention explainers are left out: the gradient
explainers and the removal protocol are what this checks.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

faith = pytest.importorskip("ballroom.faithfulness")
mgk = pytest.importorskip("ballroom.mgk")


class MGKAdapter(faith.ExplainableMixin, nn.Module):
    """ExplainableModel around an ``MGKEncoderClassifier`` over token ids (0 = padding)."""

    query_index, feature_offset = 0, 0

    def __init__(self, clf: nn.Module) -> None:
        super().__init__()
        self.clf = clf
        self._reset_records()
        for block in clf.blocks:
            block.attn.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> None:
        x, key_padding_mask = args
        self._record(module.attention_weights(x, key_padding_mask).detach(), None)

    def embed(self, batch: Tensor) -> Tensor:
        return self.clf.embed(faith.batch_tokens(batch))

    def padding_mask(self, batch: Tensor) -> Tensor:
        return faith.batch_tokens(batch) != 0

    def forward_from_embeddings(
        self, emb: Tensor, mask: Tensor, alpha: Tensor | None = None, attn_mask: Tensor | None = None
    ) -> Tensor:
        self._reset_records()
        attn_mask = mask if attn_mask is None else attn_mask
        return self.clf.forward_embeddings(emb, key_padding_mask=~attn_mask)


@pytest.fixture(scope="module")
def trained() -> tuple[MGKAdapter, Tensor, Tensor, Tensor]:
    torch.manual_seed(0)
    tokens, labels, polarity = faith.make_polarity_data(768, seed=0)
    clf = mgk.MGKEncoderClassifier(51, 2, d_model=16, n_layers=1, n_heads=1, head_dim=16, d_ff=32,
                                   max_len=32, attention="mgk", dropout=0.0)  # fmt: skip
    opt = torch.optim.Adam(clf.parameters(), lr=1e-2)
    for _ in range(4):
        for i in range(0, 640, 64):
            x = tokens[i : i + 64]
            loss = nn.functional.cross_entropy(clf(x, key_padding_mask=x == 0), labels[i : i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return MGKAdapter(clf.eval()), tokens[640:], labels[640:], polarity[640:]


def test_the_adapter_reproduces_the_classifier_and_its_removals(trained: tuple) -> None:
    adapter, tokens, _, _ = trained
    x = tokens[:6]
    with torch.no_grad():
        own = adapter.clf(x, key_padding_mask=x == 0)
        torch.testing.assert_close(adapter.forward_from_embeddings(adapter.embed(x), x != 0), own)
        assert len(adapter.attention_maps) == 1 and adapter.attention_maps[0].shape[-2:] == x.shape[-1:] * 2
        pos = torch.tensor([0, 2, 4, 1, 3, 5])
        pert = adapter.remove(x, pos, "slice_out")
        got = adapter.forward_from_embeddings(pert.emb, pert.mask, attn_mask=pert.attn_mask)
        for i in range(6):
            row = x[i][x[i] != 0]
            short = torch.cat([row[: pos[i]], row[pos[i] + 1 :]])[None]
            torch.testing.assert_close(got[i], adapter.clf(short)[0], atol=1e-5, rtol=1e-5)


def test_violation_test_runs_on_an_mgk_classifier(trained: tuple) -> None:
    adapter, tokens, labels, polarity = trained
    with torch.no_grad():
        acc = (adapter.clf(tokens, key_padding_mask=tokens == 0).argmax(-1) == labels).float().mean()
    assert acc > 0.7  # it learned the task (chance: 0.5)
    explainers = {"Random": faith.RandomExplainer(), "InputGrad": faith.InputGradient(),
                  "IG": faith.IntegratedGradients(steps=10)}  # fmt: skip
    loader = [(tokens[i : i + 64], labels[i : i + 64], polarity[i : i + 64]) for i in range(0, 128, 64)]
    frame = faith.run_violation_test(adapter, loader, explainers, top_k=1, polarity=True)
    mean = frame[frame["removal"] == "mean"].set_index("explainer")["violation"]
    assert set(mean.index) == set(explainers) and bool(((mean >= 0) & (mean <= 1)).all())
    assert mean["IG"] < mean["Random"]
