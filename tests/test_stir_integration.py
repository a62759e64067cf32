"""STIR with a measure from another package: ballroom.rtd.rtd_sym (RTD, a dissimilarity) as S.

Runs in the integration environment, where every package is installed. Any callable
``(X (n, d1), Y (n, d2)) -> float`` is a STIR measure; RTD is 0 for identical clouds.
"""

from __future__ import annotations

import torch

from ballroom.rtd import rtd_sym
from ballroom.stir import LinearFeatureModel, stir


def test_stir_accepts_rtd_sym_as_the_measure() -> None:
    gen = torch.Generator().manual_seed(0)
    W1 = torch.randn(12, 8, generator=gen, dtype=torch.float64)  # full column rank: IRIs equal X
    W2 = torch.zeros(4, 8, dtype=torch.float64)
    W2[:, :4] = torch.randn(4, 4, generator=gen, dtype=torch.float64)  # ignores half the input
    X = torch.rand(30, 8, generator=gen, dtype=torch.float64)
    kw = {"normalizer1": None, "normalizer2": None, "box": None, "step_size": 0.01, "iterations": 1500}
    seen: list[tuple[int, int]] = []

    def measure(a: torch.Tensor, b: torch.Tensor) -> float:
        seen.append((a.shape[0], b.shape[0]))
        return rtd_sym(a.float(), b.float())

    r = stir(LinearFeatureModel(W1), LinearFeatureModel(W2), X, measure=measure, generator=gen, **kw)
    assert seen and all(s == (30, 30) for s in seen)
    # m2 is blind to what m1's IRIs change: near-zero discrepancy; m2's IRIs differ where m1 looks
    assert r.m2m1 < 0.2 * r.m1m2 and r.m1m2 > 0
    assert abs(rtd_sym(X.float(), X.float())) < 1e-6
