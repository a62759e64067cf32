"""Careless calls on rtd's public entry points raise a clear error naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballroom.rtd.functional import cross_barcode, rtd, rtd_1, rtd_sym
from ballroom.rtd.lit import RTDCallback

RNG = np.random.default_rng(0)
P, Q = RNG.normal(size=(12, 3)), RNG.normal(size=(12, 2))
PROBE = torch.randn(8, 64)

CASES = [
    (lambda: cross_barcode(P, Q, dim=1.5), TypeError, "dim must be an integer"),
    (lambda: cross_barcode(P, Q, dim=0), ValueError, "dim must be an integer in"),
    (lambda: cross_barcode(P, Q, threshold="max"), ValueError, "threshold must be one of"),
    (lambda: cross_barcode(P, Q[:10]), ValueError, "P and Pt must describe the same points"),
    (lambda: rtd_sym(P, np.full_like(Q, np.nan)), ValueError, "Pt"),
    (lambda: rtd_1(P[:1], Q[:1]), ValueError, "P"),
    (lambda: rtd_sym("points", Q), TypeError, "P"),  # type: ignore[arg-type]
    (lambda: rtd(P, Q, trials=0), ValueError, "trials must be an integer in"),
    (lambda: rtd(P, Q, trials=2.5), TypeError, "trials must be an integer"),  # type: ignore[arg-type]
    (lambda: rtd(P, Q, batch=1), ValueError, "batch must be an integer in"),
    (lambda: rtd(P, Q, sampler="numpy"), ValueError, "sampler must be one of"),  # type: ignore[arg-type]
    (lambda: RTDCallback(PROBE, batch=1), ValueError, "batch must be an integer in"),
    (lambda: RTDCallback(PROBE, trials=0), ValueError, "trials must be an integer in"),
    (lambda: RTDCallback(PROBE, every_n_epochs=0), ValueError, "every_n_epochs must be an integer in"),
    (lambda: RTDCallback(PROBE.numpy()), TypeError, "probe_x must be a torch.Tensor"),  # type: ignore[arg-type]
    (lambda: RTDCallback(PROBE[:2]), ValueError, "probe_x must be a batch"),
    (lambda: RTDCallback(torch.full((8, 64), float("nan"))), ValueError, "probe_x must be finite"),
    (lambda: RTDCallback(PROBE, reference_reps=np.zeros((5, 3))), ValueError, "reference_reps has 5 rows"),
]


@pytest.mark.parametrize(("call", "exc", "match"), CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_is_refused_by_name(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_threshold_reaches_every_entry_point_and_gives_the_same_value() -> None:
    base = rtd_sym(P, Q)
    for threshold in ("cross", "enclosing"):
        assert abs(rtd_sym(P, Q, threshold=threshold) - base) < 1e-12
        assert abs(rtd_1(P, Q, threshold=threshold) - rtd_1(P, Q)) < 1e-12
    assert (
        abs(rtd(P, Q, trials=2, batch=8, rng=0, threshold="cross") - rtd(P, Q, trials=2, batch=8, rng=0))
        < 1e-12
    )
    with pytest.warns(UserWarning, match="n_threads and collapse_edges do not apply"):
        rtd(P, Q, trials=2, batch=8, rng=0, n_jobs=2, n_threads=2)
