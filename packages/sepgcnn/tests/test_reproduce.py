"""``reproduce.main(["--smoke"])`` runs end to end and writes its outputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ballroom.core.report import read_claims
from ballroom.sepgcnn import reproduce


def test_reproduce_smoke(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = read_claims(tmp_path / "claims.json")
    names = " ".join(c.claim for c in claims)
    assert len(claims) == 7 and "(B90)" in names and "(A)" in names and "separable" in names
    b90 = next(c for c in claims if "identical accuracy" in c.claim)
    assert b90.holds  # exact invariance does not need training
    upright = (tmp_path / "upright.csv").read_text().splitlines()
    protocol_a = (tmp_path / "protocol_a.csv").read_text().splitlines()
    assert upright[0] == protocol_a[0] == "model,protocol,metric,value"
    assert len(upright) + len(protocol_a) > 30
    assert not (tmp_path / "extras.csv").exists()  # --full only
    free = (tmp_path / "free_kernels.csv").read_text()
    for stage in ("init", "trained", "random"):
        assert f"se2-free,A,kernel_separability_{stage}," in free
    assert any("free per-element kernels" in c.claim for c in claims)
    assert (tmp_path / "sepgcnn.png").stat().st_size > 10_000


def test_full_mode_extras_run_at_smoke_sizes(tmp_path: Path) -> None:
    """The ``--full`` code path (the upright full-kernel model, Sim(2), the 300-image probe), shrunk."""
    smoke = replace(reproduce.SETTINGS["smoke"], full_extras=True)
    repro = replace(reproduce.REPRODUCTION, settings={**reproduce.SETTINGS, "smoke": smoke})
    assert repro.main(["--smoke", "--out", str(tmp_path), "--only", "upright,extras"]) == 0
    extras = (tmp_path / "extras.csv").read_text()
    assert all(name in extras for name in ("sim2-separable", "cnn-300", "se2-separable-300"))
    assert "se2-full,upright,acc_rot90" in (tmp_path / "upright.csv").read_text()
    b90 = next(c for c in read_claims(tmp_path / "claims.json") if "identical accuracy" in c.claim)
    assert "se2-full" in b90.ours and b90.holds
