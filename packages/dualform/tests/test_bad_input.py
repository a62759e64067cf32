"""Careless calls on dualform's public entry points raise a clear error naming the argument."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ballroom.dualform.functional import same_dataset_share, spotlight_concentration, vote_agreement
from ballroom.dualform.lit import DualFormCallback
from ballroom.dualform.metrics import dual_primal_gap
from ballroom.dualform.recorder import DualFormRecorder


def _recorded() -> tuple[nn.Module, DualFormRecorder]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = DualFormRecorder(model, opt)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(5, 4)).pow(2).sum().backward()
        opt.step()
    return model, rec


MODEL, REC = _recorded()
OPT = torch.optim.SGD(MODEL.parameters(), lr=0.1)
IDS = torch.tensor([0, 1, 2])

CASES = [
    (
        lambda: DualFormRecorder(MODEL, OPT, check_tol="bogus"),
        ValueError,
        "check_tol must be 'auto', None or a number > 0",
    ),
    (lambda: DualFormRecorder(MODEL, OPT, check_tol=-1.0), ValueError, r"check_tol must lie in \(0, inf\)"),
    (
        lambda: DualFormRecorder(MODEL, OPT, check_tol=float("nan")),
        ValueError,
        "check_tol must be a finite number",
    ),
    (
        lambda: DualFormRecorder(MODEL, OPT, store_dtype=torch.int64),
        TypeError,
        "store_dtype must be a floating torch.dtype",
    ),
    (lambda: DualFormRecorder(MODEL, OPT, chunk_size=0), ValueError, "chunk_size must be an integer in"),
    (lambda: DualFormRecorder(MODEL, "sgd"), TypeError, "optimizer must be a torch.optim.Optimizer"),  # type: ignore[arg-type]
    (lambda: DualFormRecorder("net", OPT), TypeError, "model must be an nn.Module"),  # type: ignore[arg-type]
    (lambda: DualFormCallback(check_tol="bogus"), ValueError, "check_tol must be 'auto', None"),
    (lambda: DualFormCallback(store_dtype="float8"), ValueError, "store_dtype must be one of"),
    (lambda: DualFormCallback(analysis_size=0), ValueError, "analysis_size must be an integer in"),
    (lambda: DualFormCallback(max_gap=0.0), ValueError, "max_gap must lie in"),
    (
        lambda: dual_primal_gap(MODEL, REC, torch.randint(0, 3, (4, 4))),
        TypeError,
        "x must have a floating-point dtype",
    ),
    (lambda: dual_primal_gap(MODEL, REC, torch.zeros(0, 4)), ValueError, "x must not be empty"),
    (lambda: dual_primal_gap(MODEL, REC, torch.full((2, 4), float("nan"))), ValueError, "x must be finite"),
    (lambda: dual_primal_gap(MODEL, REC, torch.randn(2, 4).numpy()), TypeError, "x must be a torch.Tensor"),  # type: ignore[arg-type]
    (lambda: REC.dual("0")(torch.randn(2, 5)), ValueError, r"q must have shape \(\.\.\., d_in=4\)"),
    (lambda: vote_agreement(IDS.float(), IDS, IDS), ValueError, "votes must be a 1-D integer tensor"),
    (lambda: vote_agreement(IDS, IDS[:2], IDS), ValueError, "must share one non-empty shape"),
    (lambda: same_dataset_share(torch.randn(2, 0), IDS[:2], IDS[:0]), ValueError, "scores has no slots"),
    (
        lambda: spotlight_concentration(torch.randn(3)),
        ValueError,
        r"scores must be a floating \(M, N\) tensor",
    ),
]


@pytest.mark.parametrize(("call", "exc", "match"), CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_is_refused_by_name(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_store_dtype_follows_the_model() -> None:
    model = nn.Linear(3, 2).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert DualFormRecorder(model, opt).store_dtype == torch.float64
    assert DualFormRecorder(MODEL, OPT).store_dtype == torch.float32
    gaps = dual_primal_gap(MODEL, REC, torch.randn(3, 4))
    assert set(gaps) == {"0", "2"} and max(gaps.values()) < 1e-4
