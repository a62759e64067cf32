"""ballroom-mgk against the baseline users would otherwise pick, side by side in one group.

``nox -s "bench(mgk, cpu)"`` -> ``.benchmarks/mgk-cpu.json``. Report ratios, not CPU seconds.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ballroom.mgk import standardize


@pytest.mark.parametrize("dim", [64, 1024])
def test_standardize(benchmark: pytest.FixtureRequest, dim: int) -> None:
    benchmark.group = f"standardize-{dim}"
    x = torch.randn(256, dim)
    benchmark(standardize, x)


@pytest.mark.parametrize("dim", [64, 1024])
def test_layer_norm_baseline(benchmark: pytest.FixtureRequest, dim: int) -> None:
    benchmark.group = f"standardize-{dim}"
    x = torch.randn(256, dim)
    benchmark(F.layer_norm, x, (dim,))
