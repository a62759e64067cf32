"""Careless calls on sepgcnn's public entry points raise a clear error naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballroom.sepgcnn.groups import SE2, Sim2
from ballroom.sepgcnn.models import CKGCNN
from ballroom.sepgcnn.nn import GroupBatchNorm, GroupConv, GroupInvariantMax, GroupMaxPool2d, LiftingConv

LIFT = LiftingConv(SE2(4), 1, 2, 5, hidden=8)
CONV = GroupConv(SE2(4), 2, 2, 3, hidden=8)
SIM = GroupConv(Sim2(4, 2, 1.5), 2, 2, 3, hidden=8)
X = torch.randn(2, 1, 9, 9)
H = torch.randn(2, 2, 4, 9, 9)
EL = SE2(4).sample()

CASES = [
    # (call, exception, message)
    (lambda: SE2(2.5), TypeError, "n_rot must be an integer"),
    (lambda: CKGCNN("SE2", n_rot=4, widths=(4, 4, 4), input_size=16), ValueError, "leaves a 2x2 map"),
    (lambda: CKGCNN("SE2", n_rot=4, widths=()), ValueError, "widths must name at least one"),
    (lambda: SE2(0), ValueError, "n_rot must be an integer in"),
    (lambda: Sim2(4, 2, float("inf")), ValueError, "max_scale must be a finite number"),
    (lambda: Sim2(4, 2, 0.5), ValueError, r"max_scale must lie in \[1, inf\)"),
    (lambda: Sim2(4, 0, 1.5), ValueError, "n_scale must be an integer in"),
    (lambda: Sim2(4, 2, 1.0), ValueError, "max_scale must be > 1 with several scales"),
    (lambda: LiftingConv("SE2", 1, 2, 5), TypeError, "group must be an SE2 or Sim2 instance"),  # type: ignore[arg-type]
    (lambda: LiftingConv(SE2(4), 0, 2, 5), ValueError, "in_channels must be an integer in"),
    (lambda: LiftingConv(SE2(4), 1, 2, 5, stride=0), ValueError, "stride must be an integer in"),
    (lambda: LiftingConv(SE2(4), 1, 2, 5, sampling="random"), ValueError, "sampling must be one of"),  # type: ignore[arg-type]
    (lambda: LiftingConv(SE2(4), 1, 2, 5, omega0=0.0), ValueError, "omega0 must lie in"),
    (lambda: GroupConv(SE2(4), 2, 2, 3.0), TypeError, "kernel_size must be an integer"),  # type: ignore[arg-type]
    # the forward passes: dtype, numpy, rank, shape, elements
    (
        lambda: LIFT(torch.zeros(2, 1, 9, 9, dtype=torch.long)),
        TypeError,
        "x must have a floating-point dtype",
    ),
    (lambda: LIFT(np.zeros((2, 1, 9, 9), np.float32)), TypeError, "x must be a torch.Tensor, got ndarray"),
    (lambda: LIFT(torch.randn(1, 9, 9)), ValueError, "x must have rank 4"),
    (lambda: LIFT(torch.randn(2, 3, 9, 9)), ValueError, r"x must have shape \(B, 1, H, W\)"),
    (lambda: LIFT(torch.randn(0, 1, 9, 9)), ValueError, "x must not be empty"),
    (lambda: LIFT(X, torch.zeros(4, 2)), ValueError, r"elements must have shape \(\*, 1\)"),
    (lambda: LIFT(X, torch.zeros(4)), ValueError, r"elements must have shape \(\*, 1\)"),
    (lambda: LIFT(X, torch.tensor([[float("nan")]])), ValueError, "elements must be finite"),
    (lambda: CONV(H, torch.zeros(4, 2)), ValueError, r"in_elements must have shape \(\*, 1\)"),
    (lambda: CONV(H, EL[:3]), ValueError, r"x must have shape \(B, C_in=2, N_in=3"),
    (lambda: CONV(H, EL, torch.zeros(4, 2)), ValueError, r"out_elements must have shape \(\*, 1\)"),
    (lambda: CONV(H.long(), EL), TypeError, "x must have a floating-point dtype"),
    (
        lambda: SIM(torch.randn(2, 2, 8, 9, 9), torch.zeros(8, 2)),
        ValueError,
        "Sim.2. scales .column 1. must be > 0",
    ),
    (lambda: GroupBatchNorm(2)(torch.randn(2, 2, 9, 9)), ValueError, "x must have rank 5"),
    (lambda: GroupMaxPool2d()(torch.randn(2, 2, 9, 9)), ValueError, "x must have rank 5"),
    (lambda: GroupInvariantMax()(torch.randn(2, 2)), ValueError, "x must have rank 5"),
]


@pytest.mark.parametrize(("call", "exc", "match"), CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_is_refused_by_name(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_valid_elements_still_pass() -> None:
    y, el = LIFT(X, EL)
    assert y.shape == (2, 2, 4, 9, 9) and torch.equal(el, EL)
    z, _ = CONV(y, el)
    assert z.shape == (2, 2, 4, 9, 9)


def test_a_grid_one_ulp_off_gives_the_same_offsets() -> None:
    g = SE2(4)
    h = g.sample()
    below = torch.nextafter(h, torch.full_like(h, -1.0))  # every angle one float32 ulp lower
    below[0] = 0.0
    exact, off = g.log_offset(h, h), g.log_offset(h, below)
    torch.testing.assert_close(off, exact, atol=1e-5, rtol=0)
    assert float(exact.diagonal().min()) == -1.0
