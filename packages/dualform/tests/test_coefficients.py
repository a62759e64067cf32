"""The named step records and the coefficient recursion, on their own (no model, no hooks)."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.dualform import StepKind, StepRecord, sgd_coefficients
from ballroom.dualform.coefficients import gradient_scale


def test_step_record_fields_and_rows_round_trip() -> None:
    group = {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-2, "nesterov": True}
    first = StepRecord.sgd(group, has_buffer=False)
    later = StepRecord.sgd(group, has_buffer=True)._replace(kappa=0.5)
    assert first.kind is StepKind.SGD and first.first and not later.first
    assert first.lr == 0.05 and first.momentum == 0.9 and first.nesterov and math.isnan(first.kappa)
    assert not StepRecord.sgd({"lr": 0.1}, has_buffer=False).first  # no momentum: no buffer to create
    assert later.to_row() == (1.0, 0.05, 0.9, 0.3, 1e-2, 1.0, 0.0, 0.5)
    for rec in (later, StepRecord.skip(), StepRecord.direct(-0.25)):
        assert StepRecord.from_row(rec.to_row()) == rec
    with pytest.raises(ValueError, match="8 numbers"):
        StepRecord.from_row([1.0, 0.1])


def test_records_and_their_rows_give_the_same_coefficients() -> None:
    group = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-2}
    records = [StepRecord.sgd(group, has_buffer=t > 0, kappa=1.0 - 0.01 * t) for t in range(12)]
    records[5] = StepRecord.skip()
    a, c = sgd_coefficients(records)
    a2, c2 = sgd_coefficients(torch.tensor([r.to_row() for r in records], dtype=torch.float64))
    assert a == a2 and torch.equal(c, c2) and c[5] == 0.0
    with pytest.raises(ValueError, match=r"\(T, 8\)"):
        sgd_coefficients(torch.zeros(3, 7, dtype=torch.float64))


def test_gradient_scale_measures_snaps_and_refuses() -> None:
    snap = 64 * torch.finfo(torch.float64).eps
    # p = 0.5 G exactly: rho 0.5; p = G up to rounding: snapped to exactly 1
    assert gradient_scale(0.25, 0.5, 1.0, None, 1e-6, snap, "w") == 0.5
    assert gradient_scale(1.0, 1.0 + 1e-15, 1.0, None, 1e-6, snap, "w") == 1.0
    assert gradient_scale(0.0, 0.0, 0.0, None, 1e-6, snap, "w") == 1.0  # nothing recorded, no gradient
    with pytest.raises(RuntimeError, match="no recorded pattern"):
        gradient_scale(1.0, 0.0, 0.0, None, 1e-6, snap, "layer 'x' weight at step 3")
    with pytest.raises(RuntimeError, match="relative residual"):
        gradient_scale(1.0, 0.0, 1.0, None, 1e-6, snap, "w")  # p orthogonal to G
    with pytest.raises(RuntimeError, match="relative residual"):
        gradient_scale(0.25, 0.5, 1.0, 1.0, 1e-6, snap, "w")  # a wrong note_clip()
