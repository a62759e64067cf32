"""ballroom-pdo3d against the baseline users would otherwise pick, side by side in one group.

``nox -s "bench(pdo3d, cpu)"`` -> ``.benchmarks/pdo3d-cpu.json``. Report ratios, not CPU seconds.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ballroom.pdo3d import standardize


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
