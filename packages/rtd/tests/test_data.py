"""The dSprites loader, offline, on a small archive written in the published format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.rtd.data import DSPRITES_FACTORS, DSPRITES_FILE, load_dsprites


def _write_dsprites(root: Path, n: int = 40) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "imgs": (rng.random((n, 64, 64)) > 0.9).astype(np.uint8),
        "latents_classes": rng.integers(0, 3, (n, 6)).astype(np.int64),
        "latents_values": rng.random((n, 6)),
    }
    # the published archive also holds a pickled metadata dict: the loader must not need it
    metadata = np.array([{"description": "dSprites"}], dtype=object)
    np.savez_compressed(root / DSPRITES_FILE, metadata=metadata, **arrays)  # type: ignore[arg-type]
    return arrays


def test_load_dsprites_offline(tmp_path: Path) -> None:
    arrays = _write_dsprites(tmp_path)
    images, classes, values = load_dsprites(tmp_path)
    assert images.shape == (40, 1, 64, 64) and images.dtype == torch.float32
    assert torch.equal(images[:, 0].to(torch.uint8), torch.from_numpy(arrays["imgs"]))
    assert classes.dtype == torch.int64 and torch.equal(classes, torch.from_numpy(arrays["latents_classes"]))
    np.testing.assert_array_equal(values.numpy(), arrays["latents_values"])
    sub, sub_classes, _ = load_dsprites(tmp_path, n=10, seed=3)
    again, _, _ = load_dsprites(tmp_path, n=10, seed=3)
    assert sub.shape == (10, 1, 64, 64) and torch.equal(sub, again)  # seeded subset
    rows = [int(np.flatnonzero((arrays["latents_classes"] == r.numpy()).all(1))[0]) for r in sub_classes]
    assert len(set(rows)) == 10 and len(DSPRITES_FACTORS) == 6
    with pytest.raises(ValueError, match="n must be in"):
        load_dsprites(tmp_path, n=41)


def test_load_dsprites_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dsprites(tmp_path)
    np.savez(tmp_path / DSPRITES_FILE, imgs=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="not a dSprites archive"):
        load_dsprites(tmp_path)
    np.savez(
        tmp_path / DSPRITES_FILE,
        imgs=np.zeros((2, 32, 32), np.uint8),
        latents_classes=np.zeros((2, 6), np.int64),
        latents_values=np.zeros((2, 6)),
    )
    with pytest.raises(ValueError, match=r"imgs \(N, 64, 64\)"):
        load_dsprites(tmp_path)


def test_load_dsprites_downloads_with_the_pinned_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ballroom.rtd.data as data

    calls: list[tuple[str, Path, str | None]] = []

    def fake_download(url: str, dest: Path, sha256: str | None = None, *, md5: str | None = None) -> Path:
        calls.append((url, Path(dest), md5))
        _write_dsprites(Path(dest).parent, n=5)
        return Path(dest)

    monkeypatch.setattr(data, "download_url", fake_download)
    images, _, _ = load_dsprites(tmp_path, download=True)
    assert images.shape == (5, 1, 64, 64)
    assert calls == [(data.DSPRITES_URL, tmp_path / DSPRITES_FILE, data.DSPRITES_MD5)]
    load_dsprites(tmp_path, download=True)  # present: no second download
    assert len(calls) == 1
