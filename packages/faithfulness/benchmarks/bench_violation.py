"""ballroom-faithfulness against what users would otherwise write, side by side in one group each.

``nox -s "bench(faithfulness, cpu)"`` -> ``.benchmarks/faithfulness-cpu.json``. Report ratios, not CPU seconds.

1. ``violation-test``: :func:`run_violation_test` (batched removals shared by the explainers) vs a
   naive per-example loop (one forward per example, explainer and removed feature), batch 64; the
   two give the same violation ratios (checked).
2. ``ig``: our :class:`IntegratedGradients` (20 steps, scaled copies in one batch) vs Captum's
   ``IntegratedGradients(method="riemann_right")``; equal attributions (checked).
"""

from __future__ import annotations

import pytest
import torch

from ballroom.faithfulness import (
    REMOVALS,
    AttentionGradient,
    AttentionTextClassifier,
    InputGradient,
    IntegratedGradients,
    RawAttention,
    make_polarity_data,
    run_violation_test,
)

torch.manual_seed(0)
NET = AttentionTextClassifier(51, 32, hidden=32, bidirectional=False).eval()
TOKENS = make_polarity_data(64, seed=0)[0]
EXPLAINERS = {"RawAtt": RawAttention(), "AttGrad": AttentionGradient(), "InputGrad": InputGradient(),
              "IG": IntegratedGradients(steps=20)}  # fmt: skip
TOP_K = 5


def naive_violation_test(net: AttentionTextClassifier, tokens: torch.Tensor) -> dict[tuple[str, str], float]:
    """The reference: every example, explainer and top-k feature on its own (the official loop's shape)."""
    counts = {(e, r): 0 for e in EXPLAINERS for r in REMOVALS}
    for i in range(tokens.shape[0]):
        row = tokens[i : i + 1]
        row = row[:, : int((row != 0).sum())]
        with torch.no_grad():
            p0 = torch.softmax(net(row), -1)[0]
        cls = int(p0.argmax())
        for name, explainer in EXPLAINERS.items():
            w = explainer(net, row)[0].double()
            top = torch.sort(w.abs(), descending=True, stable=True).indices[:TOP_K]
            for how in REMOVALS:
                deltas = []
                for t in top.tolist():
                    with torch.no_grad():
                        pert = net.remove(row, torch.tensor([t]), how)
                        p = torch.softmax(
                            net.forward_from_embeddings(*pert[:2], attn_mask=pert.attn_mask), -1
                        )[0]
                    deltas.append(float(p0[cls] - p[cls]))
                counts[(name, how)] += int(float(w[top[0]]) * deltas[0] < 0)
    return {k: v / tokens.shape[0] for k, v in counts.items()}


def _ours() -> dict[tuple[str, str], float]:
    frame = run_violation_test(NET, [TOKENS], EXPLAINERS, top_k=TOP_K)
    return {(r.explainer, r.removal): r.violation for r in frame.itertuples() if r.removal != "mean"}


def test_same_violation_ratios() -> None:
    ours, ref = _ours(), naive_violation_test(NET, TOKENS)
    assert ours.keys() == ref.keys()
    assert all(abs(ours[k] - ref[k]) < 1e-12 for k in ours), (ours, ref)


def test_violation_ours(benchmark: pytest.FixtureRequest) -> None:
    benchmark.group = "violation-test (batch 64)"
    benchmark.pedantic(_ours, rounds=3, warmup_rounds=1)


def test_violation_naive_loop(benchmark: pytest.FixtureRequest) -> None:
    benchmark.group = "violation-test (batch 64)"
    benchmark.pedantic(naive_violation_test, args=(NET, TOKENS), rounds=1, warmup_rounds=0)


def _captum_ig() -> torch.Tensor:
    from captum.attr import IntegratedGradients as CaptumIG

    emb, mask = NET.embed(TOKENS).detach(), NET.padding_mask(TOKENS)
    cls = NET(TOKENS).argmax(-1)

    def prob(e: torch.Tensor) -> torch.Tensor:
        return torch.softmax(NET.forward_from_embeddings(e, mask.repeat(e.shape[0] // mask.shape[0], 1)), -1)

    return (
        CaptumIG(prob).attribute(emb, baselines=0.0, target=cls, n_steps=20, method="riemann_right").sum(-1)
    )


def test_ig_equals_captum() -> None:
    pytest.importorskip("captum")
    torch.testing.assert_close(IntegratedGradients(steps=20)(NET, TOKENS), _captum_ig() * (TOKENS != 0),
                               atol=1e-6, rtol=1e-4)  # fmt: skip


def test_ig_ours(benchmark: pytest.FixtureRequest) -> None:
    benchmark.group = "ig (batch 64, 20 steps)"
    benchmark(IntegratedGradients(steps=20), NET, TOKENS)


def test_ig_captum(benchmark: pytest.FixtureRequest) -> None:
    pytest.importorskip("captum")
    benchmark.group = "ig (batch 64, 20 steps)"
    benchmark(_captum_ig)
