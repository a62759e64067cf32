"""The ISBI 2012 loader on a tiny multi-page TIFF written here in the real (uncompressed) format."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.pdo3d.loaders import load_isbi2012, read_tiff_stack


def _write_tiff(path: Path, pages: np.ndarray) -> None:
    """A little-endian baseline TIFF, one strip per page (the layout of the ISBI stacks)."""
    n, h, w = pages.shape
    out = bytearray(b"II" + struct.pack("<HI", 42, 8))
    for k in range(n):
        ifd = len(out)
        data_at = ifd + 2 + 12 * 8 + 4
        entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
                   (273, 4, 1, data_at), (277, 3, 1, 1), (279, 4, 1, h * w)]  # fmt: skip
        out += struct.pack("<H", len(entries))
        for tag, typ, count, value in entries:
            out += struct.pack("<HHI", tag, typ, count) + struct.pack(
                "<I" if typ == 4 else "<HH", value, *([0] if typ == 3 else [])
            )
        nxt = data_at + h * w if k < n - 1 else 0
        out += struct.pack("<I", nxt)
        out += pages[k].astype(np.uint8).tobytes()
    path.write_bytes(bytes(out))


def test_reads_a_multipage_tiff_and_the_isbi_stack(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 256, size=(3, 5, 7), dtype=np.uint8)
    lab = (rng.random((3, 5, 7)) > 0.3).astype(np.uint8) * 255
    _write_tiff(tmp_path / "train-volume.tif", vol)
    _write_tiff(tmp_path / "train-labels.tif", lab)
    assert np.array_equal(read_tiff_stack(tmp_path / "train-volume.tif"), vol)
    x, y = load_isbi2012(tmp_path)
    assert x.shape == (3, 1, 5, 7) and torch.allclose(x[:, 0], torch.from_numpy(vol / 255.0).float())
    assert torch.equal(y, torch.from_numpy((lab == 0).astype(np.int64)))


def test_missing_files_and_download_without_checksum_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_isbi2012(tmp_path)
    with pytest.raises(ValueError, match="sha256"):
        load_isbi2012(tmp_path, download=True, urls={"volume": "https://example.invalid/v.tif"})
    (tmp_path / "bad.tif").write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not a TIFF"):
        read_tiff_stack(tmp_path / "bad.tif")
