"""IMD through piq: seeded, leaves the global RNG alone, separates a cloud from a very different one."""

from __future__ import annotations

import numpy as np
import pytest

from ballroom.rtd import clusters_experiment, imd, imd_available


def test_missing_piq_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from ballroom.rtd import baselines

    monkeypatch.setattr(baselines, "imd_available", lambda: False)
    with pytest.raises(ImportError, match=r"ballroom-rtd\[imd\]"):
        baselines.imd(np.zeros((10, 2)), np.zeros((10, 2)))


@pytest.mark.skipif(not imd_available(), reason="needs piq (ballroom-rtd[imd])")
def test_imd_is_seeded_and_separates_clouds() -> None:
    base, clouds = clusters_experiment()
    line = np.c_[np.linspace(0.0, 1.0, 300), np.zeros(300)]
    np.random.seed(123)
    expected_draw = np.random.rand()
    np.random.seed(123)
    first = imd(base, clouds[3], seed=4)
    assert np.random.rand() == expected_draw  # the caller's global RNG state is untouched
    assert imd(base, clouds[3], seed=4) == first
    assert imd(base, clouds[3], seed=5) != first  # the estimate is stochastic: the seed matters
    assert imd(base, base, seed=0) < imd(base, line, seed=0) / 3
    with pytest.raises(ValueError, match="more than 5 points"):
        imd(base[:5], base[:5])
