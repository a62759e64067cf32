"""Loader for the ISBI 2012 EM segmentation stacks (multi-page TIFF), for users with a network.

The stacks are ``train-volume.tif`` (30 x 512 x 512, 8-bit EM slices) and ``train-labels.tif``
(255 = cell, 0 = membrane). :func:`read_tiff_stack` reads uncompressed baseline TIFF pages (the
format of these files) with numpy only. Nothing is downloaded unless ``download=True``; the
challenge site requires registration, so the caller passes the URL and the SHA-256 of their copy
(the package ships no checksum it could not verify).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ballroom.core.data import download_url

__all__ = ["ISBI_FILES", "load_isbi2012", "read_tiff_stack"]

ISBI_FILES = {"volume": "train-volume.tif", "labels": "train-labels.tif"}
_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 16: 8}  # TIFF field type -> bytes


def read_tiff_stack(path: str | os.PathLike[str]) -> np.ndarray:
    """Every page of an uncompressed single-channel TIFF as ``(pages, height, width)`` (8/16/32-bit).

    Args:
        path: the ``.tif`` file (little- or big-endian, strips of any size).

    Returns:
        A numpy array ``(pages, height, width)`` of the file's unsigned integer dtype.
    """
    data = Path(path).read_bytes()
    if data[:2] not in (b"II", b"MM"):
        raise ValueError(f"path: {path} is not a TIFF file (no II/MM byte-order mark)")
    end = "<" if data[:2] == b"II" else ">"
    if struct.unpack(end + "H", data[2:4])[0] != 42:
        raise ValueError(f"path: {path} is not a classic TIFF (magic 42)")
    offset = struct.unpack(end + "I", data[4:8])[0]
    pages = []
    while offset:
        (n,) = struct.unpack(end + "H", data[offset : offset + 2])
        tags: dict[int, list[int]] = {}
        for k in range(n):
            e = offset + 2 + 12 * k
            tag, typ, count = struct.unpack(end + "HHI", data[e : e + 8])
            size = _TYPES.get(typ, 1) * count
            raw = (
                data[e + 8 : e + 12]
                if size <= 4
                else data[struct.unpack(end + "I", data[e + 8 : e + 12])[0] :][:size]
            )
            fmt = {1: "B", 3: "H", 4: "I", 16: "Q"}.get(typ)
            tags[tag] = (
                list(struct.unpack(end + fmt * count, raw[: struct.calcsize(fmt) * count])) if fmt else []
            )
        offset = struct.unpack(end + "I", data[offset + 2 + 12 * n : offset + 6 + 12 * n])[0]
        width, height = tags[256][0], tags[257][0]
        bits = tags.get(258, [8])[0]
        if tags.get(259, [1])[0] != 1 or tags.get(277, [1])[0] != 1:
            raise ValueError(f"path: {path}: only uncompressed single-channel TIFF pages are supported")
        dtype = np.dtype(end + {8: "u1", 16: "u2", 32: "u4"}[bits])
        buf = b"".join(data[o : o + c] for o, c in zip(tags[273], tags[279]))
        pages.append(np.frombuffer(buf, dtype=dtype, count=width * height).reshape(height, width))
    return np.stack(pages)


def load_isbi2012(
    root: str | os.PathLike[str], download: bool = False, urls: dict[str, str] | None = None,
    sha256: dict[str, str] | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The ISBI 2012 training stack: images ``(30, 1, 512, 512)`` float in [0, 1] and membrane
    labels ``(30, 512, 512)`` long (1 = membrane, 0 = cell). Files are read from ``root``; with
    ``download`` each missing file is fetched from ``urls[key]`` and checked against ``sha256[key]``."""
    root = Path(root)
    paths = {}
    for key, fname in ISBI_FILES.items():
        path = root / fname
        if not path.exists():
            if not download:
                raise FileNotFoundError(f"root: {path} is missing; pass download=True with urls= and sha256=")
            if not urls or not sha256 or key not in urls or key not in sha256:
                raise ValueError(f"download needs urls[{key!r}] and sha256[{key!r}]")
            download_url(urls[key], path, sha256=sha256[key])
        paths[key] = path
    vol = read_tiff_stack(paths["volume"]).astype(np.float32)
    lab = read_tiff_stack(paths["labels"])
    if vol.shape != lab.shape:
        raise ValueError(f"volume {vol.shape} and labels {lab.shape} differ in shape")
    return torch.from_numpy(vol / 255.0)[:, None], torch.from_numpy((lab == 0).astype(np.int64))
