"""The reproduction's data recipes and its --smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ballroom.rtd import clusters_experiment, imd_available, reproduce, rings_experiment, rings_variant


def test_clusters_recipe() -> None:
    before = np.random.get_state()[1].copy()
    base, clouds = clusters_experiment()
    assert np.array_equal(np.random.get_state()[1], before)  # the global RNG is left as it was
    np.random.seed(7)
    first = np.random.multivariate_normal(np.zeros(2), np.eye(2), 5)
    assert np.array_equal(base[:5], first)
    assert base.shape == (300, 2) and sorted(clouds) == [2, 3, 4, 5, 6, 10, 12]
    shift = clouds[4] - base
    np.testing.assert_allclose(
        shift[5:10], np.tile([0.0, 10.0], (5, 1)), atol=1e-12
    )  # group 1 of 4 -> angle pi/2
    np.testing.assert_allclose(shift[20:25], shift[:5], atol=1e-12)  # group 4 shares group 0's cluster


def test_rings_recipe() -> None:
    base, variants = rings_experiment()
    radii = sorted({round(float(r), 6) for r in np.linalg.norm(base, axis=1)})
    assert radii == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert np.array_equal(variants[1], base) and len(variants) == 5
    assert np.allclose(np.linalg.norm(rings_variant(5), axis=1), 1.0)  # five coincident rings
    assert sorted({round(float(r), 6) for r in np.linalg.norm(rings_variant(3), axis=1)}) == [0.75, 1.0, 1.25]
    with pytest.raises(ValueError, match="k must lie"):
        rings_variant(0)


def test_smoke_run(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    imd = imd_available()  # the optional IMD baseline adds one report line per synthetic experiment
    assert len(claims) == 10 + 2 * imd and all({"claim", "paper", "ours", "holds"} <= set(c) for c in claims)
    assert (tmp_path / "rtd.png").stat().st_size > 10_000
    header = (tmp_path / "synthetic.csv").read_text().splitlines()[0]
    assert header == "experiment,k,rtd,cka,svcca" + (",imd" if imd else "")
    assert "rtd_to_final" in (tmp_path / "digits.csv").read_text()
    timings = (tmp_path / "timings.csv").read_text().splitlines()
    assert timings[0] == "experiment,seconds" and [t.split(",")[0] for t in timings[1:]] == [
        "synthetic",
        "digits",
    ]
