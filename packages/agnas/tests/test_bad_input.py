"""Bad input is refused with a message naming the argument and what was expected."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from ballroom.agnas import (
    DARTS_PRIMITIVES,
    AttentionMixedOp,
    AttentionSupernet,
    ChannelAttention,
    EvalNetwork,
    ImportanceAccumulator,
    NB201SearchSpace,
    TensorBatches,
    attention_weighted_sum,
    derive_genotype,
    derive_macro,
    kendall_tau,
    op_importance,
    query_nb201,
)

_op = AttentionMixedOp(4, 1)
_net = AttentionSupernet(C=2, layers=3, reductions=[1])
_space = NB201SearchSpace()
_nan = torch.rand(14, 8)
_nan[0, 0] = float("nan")

CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    (
        "derive: wrong shape",
        lambda: derive_genotype(torch.rand(13, 8), DARTS_PRIMITIVES),
        ValueError,
        r"importance must have shape \(14, 8\)",
    ),
    (
        "derive: numpy",
        lambda: derive_genotype(np.zeros((14, 8)), DARTS_PRIMITIVES),
        TypeError,
        "importance must be a torch.Tensor",
    ),
    ("derive: NaN", lambda: derive_genotype(_nan, DARTS_PRIMITIVES), ValueError, "importance must be finite"),
    (
        "derive: bool",
        lambda: derive_genotype(torch.zeros(14, 8, dtype=torch.bool), DARTS_PRIMITIVES),
        TypeError,
        "importance must have a numeric",
    ),
    (
        "derive: only none",
        lambda: derive_genotype(torch.rand(14, 1), ["none"]),
        ValueError,
        "primitives must hold",
    ),
    (
        "derive: steps",
        lambda: derive_genotype(torch.rand(14, 8), DARTS_PRIMITIVES, steps=0),
        ValueError,
        "steps must be",
    ),
    ("mixed op: rank", lambda: _op(torch.randn(4, 8, 8)), ValueError, "x must have rank 4"),
    ("mixed op: channels", lambda: _op(torch.randn(2, 3, 8, 8)), ValueError, "x must have 4 channels"),
    (
        "mixed op: integer",
        lambda: _op(torch.zeros(2, 4, 8, 8, dtype=torch.long)),
        TypeError,
        "x must have a floating-point dtype",
    ),
    ("mixed op: empty batch", lambda: _op(torch.randn(0, 4, 8, 8)), ValueError, "x must not be empty"),
    ("mixed op: inf", lambda: _op(torch.full((1, 4, 4, 4), float("inf"))), ValueError, "x must be finite"),
    ("mixed op: stride", lambda: AttentionMixedOp(4, 3), ValueError, "stride must be"),
    (
        "mixed op: unknown primitive",
        lambda: AttentionMixedOp(4, 1, ["conv_9x9"]),
        ValueError,
        "primitives must be",
    ),
    ("mixed op: C", lambda: AttentionMixedOp(0, 1), ValueError, "C must be"),
    (
        "supernet: numpy",
        lambda: _net(np.zeros((1, 3, 8, 8), dtype=np.float32)),
        TypeError,
        "convert it with torch.as_tensor",
    ),
    (
        "supernet: reductions",
        lambda: AttentionSupernet(C=2, layers=3, reductions=[5]),
        ValueError,
        "reductions must lie",
    ),
    ("supernet: classes", lambda: AttentionSupernet(num_classes=1), ValueError, "num_classes must be"),
    ("attention: hidden", lambda: ChannelAttention(8, 0), ValueError, "hidden must be"),
    (
        "weighted sum: shape",
        lambda: attention_weighted_sum([torch.randn(2, 3, 4, 4)], torch.rand(2, 4)),
        ValueError,
        r"attention must have shape \(2, 3\)",
    ),
    (
        "weighted sum: all None",
        lambda: attention_weighted_sum([None], torch.rand(2, 3)),
        ValueError,
        "outputs must hold",
    ),
    (
        "importance: width",
        lambda: op_importance(torch.rand(2, 7), 2),
        ValueError,
        "not a multiple of num_ops",
    ),
    (
        "accumulator: shape",
        lambda: (lambda a: (a.update(torch.ones(2)), a.update(torch.ones(3))))(ImportanceAccumulator()),
        ValueError,
        r"importance must have shape \(2,\)",
    ),
    (
        "accumulator: empty",
        lambda: ImportanceAccumulator().collect(_net, []),
        ValueError,
        "batches must not be empty",
    ),
    (
        "eval net: genotype count",
        lambda: EvalNetwork([[("sep_conv_3x3", 0)] * 8], C=4, layers=3),
        ValueError,
        "genotypes_per_stage must hold 5",
    ),
    (
        "eval net: none in genotype",
        lambda: EvalNetwork([[("none", 0), ("sep_conv_3x3", 1)] * 4] * 3, C=4, layers=3, reductions=[1]),
        ValueError,
        "must not contain 'none'",
    ),
    (
        "eval net: bad input state",
        lambda: EvalNetwork(
            [[("sep_conv_3x3", 5), ("sep_conv_3x3", 1)] * 4] * 3, C=4, layers=3, reductions=[1]
        ),
        ValueError,
        "reads state 5",
    ),
    (
        "eval net: drop path",
        lambda: EvalNetwork(C=4, layers=3, drop_path_prob=1.5),
        ValueError,
        "drop_path_prob",
    ),
    (
        "nb201: arch string",
        lambda: _space.from_arch_str("|nor_conv_3x3~0|"),
        ValueError,
        "arch must have 3 nodes",
    ),
    ("nb201: op", lambda: _space.to_arch_str(["conv"] * 6), ValueError, "genotype op must be one of"),
    (
        "nb201: input index",
        lambda: _space.from_arch_str("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"),
        ValueError,
        "must read '~0'",
    ),
    ("nb201: not a str", lambda: _space.from_arch_str(3), TypeError, "arch must be a str"),
    ("macro: layers", lambda: derive_macro([torch.ones(2)], []), ValueError, "importance has 1 layers"),
    (
        "macro: shape",
        lambda: derive_macro([torch.ones(3)], [["a", "b"]]),
        ValueError,
        r"importance\[0\] must have shape \(2\)",
    ),
    ("kendall: lengths", lambda: kendall_tau([1, 2], [1]), ValueError, "same length"),
    (
        "batches: labels",
        lambda: TensorBatches(torch.randn(3, 2), torch.rand(3)),
        TypeError,
        "y must have an integer",
    ),
    (
        "batches: lengths",
        lambda: TensorBatches(torch.randn(3, 2), torch.zeros(2, dtype=torch.long)),
        ValueError,
        "same length",
    ),
    (
        "batches: drop_last type",
        lambda: TensorBatches(torch.randn(3, 2), torch.zeros(3, dtype=torch.long), drop_last=1),
        TypeError,
        "drop_last must be a bool",
    ),
    (
        "batches: drop_last leaves nothing",
        lambda: TensorBatches(torch.randn(3, 2), torch.zeros(3, dtype=torch.long), 4, drop_last=True),
        ValueError,
        "drop_last: 3 items make no full batch of batch_size=4",
    ),
    (
        "nb201 table: dataset",
        lambda: query_nb201("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", "x.pth", "svhn"),
        ValueError,
        "dataset must be one of",
    ),
    (
        "nb201 table: missing file",
        lambda: query_nb201("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", "/nonexistent/nb.pth"),
        FileNotFoundError,
        "path: no NAS-Bench-201 table at '/nonexistent/nb.pth'",
    ),
]


@pytest.mark.parametrize(("case", "call", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused(
    case: str, call: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()
