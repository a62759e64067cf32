"""Bad input to the public entry points raises a clear TypeError/ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from ballroom.faithfulness import (
    AUCTP,
    AttentionGradient,
    AttentionTextClassifier,
    Comprehensiveness,
    IntegratedGradients,
    RawAttention,
    TextDataModule,
    TinyTransformerClassifier,
    build_vocab,
    encode,
    impact,
    load_text_dataset,
    load_transparency_state_dict,
    make_explainer,
    make_polarity_data,
    remove_features,
    run_violation_test,
    spearman,
    violation_flags,
)

W = torch.rand(3, 5)
NET = AttentionTextClassifier(51, 4, hidden=4, bidirectional=False).eval()
TOK = make_polarity_data(3, seed=0)[0]

CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    (
        "numpy weights",
        lambda: violation_flags(W.numpy(), W),
        TypeError,
        r"weights must be a torch.Tensor, got ndarray",
    ),  # type: ignore[arg-type]
    ("list deltas", lambda: violation_flags(W, [[1.0]]), TypeError, "deltas must be a torch.Tensor"),  # type: ignore[arg-type]
    ("rank-1 weights", lambda: violation_flags(W[0], W[0]), ValueError, "weights must have rank 2"),
    (
        "mismatched shapes",
        lambda: violation_flags(W, W[:, :4]),
        ValueError,
        "deltas must have the shape of weights",
    ),
    (
        "integer weights",
        lambda: violation_flags(W.long(), W),
        TypeError,
        "weights must have a floating-point dtype",
    ),
    ("NaN deltas", lambda: violation_flags(W, W * float("nan")), ValueError, "deltas must be finite"),
    ("inf weights", lambda: violation_flags(W / 0, W), ValueError, "weights must be finite"),
    ("empty batch", lambda: violation_flags(W[:0], W[:0]), ValueError, "weights must not be empty"),
    ("float valid", lambda: violation_flags(W, W, W), TypeError, "valid must have torch.bool"),
    (
        "valid shape",
        lambda: violation_flags(W, W, torch.ones(3, 4, dtype=torch.bool)),
        ValueError,
        "valid must have shape",
    ),
    (
        "no valid feature",
        lambda: violation_flags(W, W, torch.zeros(3, 5, dtype=torch.bool)),
        ValueError,
        "at least one feature",
    ),
    ("spearman shapes", lambda: spearman(W, W[:2]), ValueError, "b must have the shape of a"),
    (
        "unknown removal",
        lambda: impact(NET, TOK, torch.zeros(3, 1, dtype=torch.long), "drop"),
        ValueError,
        "how must be one of",
    ),
    (
        "float positions",
        lambda: impact(NET, TOK, torch.zeros(3, 1), "att_mask"),
        TypeError,
        "positions must have an integer dtype",
    ),
    (
        "positions out of range",
        lambda: NET.remove(TOK, torch.full((3,), 30), "slice_out"),
        ValueError,
        r"positions must lie in \[0, 30\)",
    ),
    (
        "positions rows",
        lambda: impact(NET, TOK, torch.zeros(2, 1, dtype=torch.long), "att_mask"),
        ValueError,
        "positions must have 3 rows",
    ),
    (
        "emb rank",
        lambda: remove_features(W, W > 0, torch.zeros(3, dtype=torch.long), "att_mask"),
        ValueError,
        "emb must have rank 3",
    ),
    ("float tokens", lambda: NET(TOK.float()), TypeError, "tokens must have an integer dtype"),
    ("tokens out of vocab", lambda: NET(TOK + 100), ValueError, r"tokens must lie in \[0, 51\)"),
    ("tokens rank", lambda: NET(TOK[0]), ValueError, "tokens must have rank 2"),
    (
        "unknown encoder",
        lambda: AttentionTextClassifier(51, encoder="gru"),
        ValueError,
        "encoder must be one of",
    ),
    (
        "even kernel",
        lambda: AttentionTextClassifier(51, encoder="cnn", kernel_sizes=(2,)),
        ValueError,
        "kernel_sizes must be",
    ),
    (
        "heads divide",
        lambda: TinyTransformerClassifier(51, d_model=10, n_heads=3),
        ValueError,
        "d_model must be divisible",
    ),
    ("vocab", lambda: AttentionTextClassifier(1), ValueError, r"vocab must be an integer in \[2"),
    ("IG steps", lambda: IntegratedGradients(steps=0), ValueError, r"steps must be an integer in \[1"),
    ("IG baseline", lambda: IntegratedGradients(baseline="blur"), ValueError, "baseline must be one of"),
    ("AttGrad variant", lambda: AttentionGradient(variant="relu"), ValueError, "variant must be one of"),
    ("target kind", lambda: RawAttention(target="loss"), ValueError, "target must be one of"),
    (
        "target class",
        lambda: RawAttention()(NET, TOK, torch.tensor([0, 1, 5])),
        ValueError,
        r"target must lie in \[0, 2\)",
    ),
    (
        "target length",
        lambda: RawAttention()(NET, TOK, torch.tensor([0, 1])),
        ValueError,
        "target must have 3 entries",
    ),
    ("explainer name", lambda: make_explainer("LIME"), ValueError, "name must be one of"),
    ("no explainers", lambda: run_violation_test(NET, [TOK], {}), ValueError, "explainers must not be empty"),
    (
        "top_k",
        lambda: run_violation_test(NET, [TOK], [RawAttention()], top_k=0),
        ValueError,
        r"top_k must be an integer",
    ),
    (
        "empty loader",
        lambda: run_violation_test(NET, [], [RawAttention()]),
        ValueError,
        "dataloader yielded no batches",
    ),
    ("rollout on one attention", lambda: make_explainer("Rollout")(NET, TOK), ValueError, "square"),
    ("metric ratios", lambda: Comprehensiveness(ratios=(1.5,)), ValueError, "ratios must be"),
    (
        "AUCTP columns",
        lambda: AUCTP().update(torch.ones(2, 3, dtype=torch.bool)),
        ValueError,
        "correct must have 11 columns",
    ),
    ("make data n", lambda: make_polarity_data(0), ValueError, r"n must be an integer in \[1"),
    ("text dataset name", lambda: TextDataModule("imdb"), ValueError, "name must be one of"),
    ("text max_len", lambda: TextDataModule("sst", max_len=0), ValueError, "max_len must be an integer"),
    ("text val_fraction", lambda: TextDataModule("yelp", val_fraction=1.0), ValueError, "val_fraction"),
    ("text sha256 form", lambda: TextDataModule("sst", sha256="abc"), ValueError, "sha256 must be 64"),
    (
        "agnews sha256",
        lambda: load_text_dataset("agnews", ".", sha256="0" * 64),
        ValueError,
        "single-archive",
    ),
    (
        "agnews has no val",
        lambda: load_text_dataset("agnews", ".", "val"),
        ValueError,
        "split must be one of",
    ),
    ("vocab min_freq", lambda: build_vocab([["a"]], min_freq=0), ValueError, "min_freq must be"),
    (
        "official keys",
        lambda: load_transparency_state_dict({"w": torch.ones(1)}, {}),
        ValueError,
        "not a Transparency text model",
    ),
    ("encode empty", lambda: encode([], {}, 4), ValueError, "docs must not be empty"),
]


@pytest.mark.parametrize(("case", "call", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(
    case: str, call: Callable[[], object], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


def test_numpy_is_not_silently_accepted_by_violation_flags() -> None:
    assert violation_flags(
        torch.as_tensor(np.ones((1, 2))), torch.ones(1, 2, dtype=torch.float64)
    ).tolist() == [False]
