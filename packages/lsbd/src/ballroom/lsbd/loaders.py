"""Loaders of external factor grids: npz and h5 arrays (the authors' Airplane / ModelNet40 renders)
and the COIL-100 archive (``obj<k>__<angle>.png``), each into a :class:`~ballroom.lsbd.grid.FactorGrid`.

Nothing downloads unless asked: :func:`load_coil100` fetches the archive only with
``download=True`` and checks its SHA-256 (``ballroom.core.data.download_url``).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ballroom.core.validate import check_int
from ballroom.lsbd.grid import FactorGrid

__all__ = [
    "COIL100_ARCHIVE",
    "COIL100_SHA256",
    "COIL100_URLS",
    "load_coil100",
    "load_h5_grid",
    "load_npz_grid",
]

#: the Columbia CAVE archive (the same bytes on both schemes; tensorflow-datasets records the http one)
COIL100_URLS: tuple[str, ...] = (
    "https://www.cs.columbia.edu/CAVE/databases/SLAM_coil-20_coil-100/coil-100/coil-100.zip",
    "http://www.cs.columbia.edu/CAVE/databases/SLAM_coil-20_coil-100/coil-100/coil-100.zip",
)
#: SHA-256 of ``coil-100.zip`` (130,688,843 bytes), as published in tensorflow-datasets' URL checksums
COIL100_SHA256 = "fcb4b8b01c0778f416d8d7a09f45082c4f7075cc74743dcddd5c44307bd4afe7"
#: the archive's file name under ``data_dir``
COIL100_ARCHIVE = "coil-100.zip"
# a view of the archive: coil-100/obj<object 1..100>__<turntable angle in degrees 0..355>.png
_COIL_VIEW = re.compile(r"(?:^|/)obj(\d+)__(\d+)\.png$")


def _to_unit(images: np.ndarray) -> np.ndarray:
    imgs = np.asarray(images)
    if imgs.ndim == 3:
        imgs = imgs[..., None]
    out = imgs.astype(np.float32)
    if imgs.dtype == np.uint8 or (out.size and out.max() > 1.0):
        out = out / 255.0
    return out


def _grid_from_array(
    images: np.ndarray, factor_shape: Sequence[int] | None, cyclic: Sequence[bool] | None
) -> FactorGrid:
    imgs = _to_unit(images)
    if factor_shape is not None:
        shape = [check_int(s, "factor_shape entries", min=1) for s in factor_shape]
        if int(np.prod(shape)) * int(np.prod(imgs.shape[-3:])) != imgs.size:
            raise ValueError(
                f"factor_shape {tuple(shape)} does not fit images of shape {imgs.shape} "
                f"(prod(factor_shape) must be the number of images)"
            )
        imgs = imgs.reshape(*shape, *imgs.shape[-3:])
    k = imgs.ndim - 3
    return FactorGrid(imgs, tuple(bool(c) for c in cyclic) if cyclic is not None else (True,) * k)


def _arrange(images: np.ndarray, labels: Sequence[np.ndarray], names: Sequence[str]) -> np.ndarray:
    """Place flat images ``(N, H, W, C)`` into the grid given by per-image factor labels (each
    ``(N,)``; factor value = rank among the label's sorted unique values)."""
    n = images.shape[0]
    ranks, shape = [], []
    for lab, name in zip(labels, names):
        lab = np.asarray(lab).reshape(-1)
        if lab.shape[0] != n:
            raise ValueError(f"factor {name!r} has {lab.shape[0]} labels for {n} images")
        values, rank = np.unique(lab, return_inverse=True)
        ranks.append(rank.reshape(-1))
        shape.append(len(values))
    flat = np.ravel_multi_index(tuple(ranks), tuple(shape)) if ranks else np.zeros(n, dtype=np.int64)
    counts = np.bincount(flat, minlength=int(np.prod(shape)))
    if np.any(counts != 1):
        raise ValueError(
            f"the factors {list(names)} do not form a complete grid {tuple(shape)}: "
            f"{int(np.sum(counts == 0))} combinations missing, {int(np.sum(counts > 1))} repeated"
        )
    out = np.empty((int(np.prod(shape)), *images.shape[1:]), dtype=images.dtype)
    out[flat] = images
    return out.reshape(*shape, *images.shape[1:])


def load_npz_grid(
    path: str | os.PathLike[str],
    key: str = "images",
    factor_shape: Sequence[int] | None = None,
    cyclic: Sequence[bool] | None = None,
) -> FactorGrid:
    """A grid from an ``.npz`` array ``key`` of shape ``(N_1, ..., N_K, H, W, C)`` (or flat
    ``(N, H, W[, C])`` with ``factor_shape``); uint8 images (or any whose maximum exceeds 1) are
    divided by 255.

    Args:
        path: the ``.npz`` file.
        key: the array's name in it.
        factor_shape: ``(N_1, ..., N_K)`` to reshape a flat array into (``None``: the array's own).
        cyclic: which factors are cyclic (``None``: all).

    Returns:
        The :class:`FactorGrid`, images ``(N_1, ..., N_K, H, W, C)`` float32 in ``[0, 1]``.

    Raises:
        KeyError: ``key`` is not in the file.
        ValueError: ``factor_shape`` does not fit the number of images.
    """
    with np.load(os.fspath(path)) as data:
        if key not in data:
            raise KeyError(f"key: {key!r} is not in {os.fspath(path)!r} (has {sorted(data.files)})")
        return _grid_from_array(data[key], factor_shape, cyclic)


def load_h5_grid(
    path: str | os.PathLike[str],
    key: str = "images",
    factor_shape: Sequence[int] | None = None,
    cyclic: Sequence[bool] | None = None,
    factors: Sequence[str] | None = None,
) -> FactorGrid:
    """A grid from an HDF5 file such as the authors' renders (datasets ``images``, ``colors``, ``views``).

    Two layouts: ``images`` already shaped ``(N_1, ..., N_K, H, W, C)`` (or flat ``(N, H, W[, C])``
    reshaped by ``factor_shape``, C order); or flat images with one label dataset per factor,
    ``factors=("colors", "views")`` (each ``(N,)``, any sortable values): image ``n`` goes to grid
    position ``(rank of colors[n], rank of views[n])`` among each label's sorted unique values, so
    the file's image order does not matter, but every combination must occur exactly once. E.g.
    Airplane: ``(64 colours, 64 views, 64, 64, 3)``; ModelNet40 airplanes: objects x 64 views with
    ``cyclic=(False, True)``. uint8 images are divided by 255. Needs ``h5py`` (extra ``data``).

    Args:
        path: the ``.h5`` file.
        key: the dataset holding the images.
        factor_shape: ``(N_1, ..., N_K)`` to reshape a flat array into (``None``: the array's own).
        cyclic: which factors are cyclic (``None``: all).
        factors: names of per-image label datasets that order a flat ``images`` (instead of
            ``factor_shape``).

    Returns:
        The :class:`FactorGrid`, images ``(N_1, ..., N_K, H, W, C)`` float32 in ``[0, 1]``.

    Raises:
        ImportError: h5py is not installed.
        KeyError: ``key`` or a ``factors`` entry is not in the file.
        ValueError: both ``factors`` and ``factor_shape``; labels that do not match the images or
            do not form a complete grid.
    """
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - optional
        raise ImportError("load_h5_grid needs h5py: pip install 'ballroom-lsbd[data]'") from err
    if factors is not None and factor_shape is not None:
        raise ValueError("give factors (label datasets) or factor_shape, not both")
    with h5py.File(os.fspath(path), "r") as fh:
        names = [key, *(factors or ())]
        for name in names:
            if name not in fh:
                raise KeyError(f"{name!r} is not a dataset of {os.fspath(path)!r} (has {sorted(fh.keys())})")
        images = np.asarray(fh[key][()])
        if factors is None:
            return _grid_from_array(images, factor_shape, cyclic)
        labels = [np.asarray(fh[f][()]) for f in factors]
    imgs = _to_unit(images)
    if imgs.ndim != 4:
        raise ValueError(f"with factors, {key!r} must be flat (N, H, W[, C]), got shape {images.shape}")
    grid = _arrange(imgs, labels, list(factors))
    flags = tuple(bool(c) for c in cyclic) if cyclic is not None else (True,) * len(factors)
    return FactorGrid(grid, flags)


def _coil_files(root: Path) -> Iterator[tuple[re.Match[str], bytes]]:
    """``(name match, bytes)`` of every view in ``root/coil-100.zip`` or, without it, in the extracted
    ``root/coil-100/`` folder."""
    archive = root / COIL100_ARCHIVE
    if archive.is_file():
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if m := _COIL_VIEW.search(name):
                    yield m, zf.read(name)
        return
    for p in sorted((root / "coil-100").iterdir()):
        if p.is_file() and (m := _COIL_VIEW.search(p.name)):
            yield m, p.read_bytes()


def load_coil100(
    data_dir: str | os.PathLike[str] | None = None, size: int = 64, download: bool = False
) -> FactorGrid:
    """COIL-100 (100 objects photographed on a turntable every 5 degrees, 72 views, 128 x 128 RGB)
    as a cylinder grid ``(objects, views, size, size, 3)``, ``cyclic=(False, True)``.

    Reads the Columbia archive ``data_dir/coil-100.zip`` as published (members
    ``coil-100/obj<k>__<angle>.png``, k = 1..100, angle = 0, 5, ..., 355 degrees; other members such
    as the archive's conversion script are ignored) or its extracted folder ``data_dir/coil-100/``.
    Objects are ordered by their number ``k``, views by angle; the angles must be the ``n`` evenly
    spaced multiples of ``360/n`` starting at 0, so factor value ``i`` is the turntable angle
    ``2 pi i / n``. Images are resized with Pillow's bilinear filter when ``size`` differs from theirs.
    Needs Pillow (extra ``data``).

    Args:
        data_dir: the folder holding (or receiving) ``coil-100.zip`` (``None``:
            ``~/.cache/ballroom/coil100``).
        size: the side the images are resized to.
        download: fetch the archive (about 131 MB) from :data:`COIL100_URLS` if it is missing and
            check its SHA-256 (:data:`COIL100_SHA256`; an existing archive is checked too).

    Returns:
        The :class:`FactorGrid`, images ``(n_obj, n_views, size, size, 3)`` float32 in ``[0, 1]``.

    Raises:
        FileNotFoundError: neither the archive nor the folder exists and ``download`` is False.
        ValueError: a bad ``size``, no views, a repeated view, views that do not form a complete
            objects x angles grid, or angles that are not evenly spaced from 0.
        ballroom.core.data.ChecksumError: the archive's SHA-256 is not :data:`COIL100_SHA256`
            (``download=True`` only).
    """
    size = check_int(size, "size", min=1)
    root = Path(data_dir) if data_dir is not None else Path.home() / ".cache" / "ballroom" / "coil100"
    archive = root / COIL100_ARCHIVE
    if download:
        from ballroom.core.data import download_url

        download_url(COIL100_URLS, archive, sha256=COIL100_SHA256)
    if not archive.is_file() and not (root / "coil-100").is_dir():
        raise FileNotFoundError(
            f"COIL-100 not found: expected {archive} (or the extracted {root / 'coil-100'}); "
            "pass download=True to fetch it"
        )
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - optional
        raise ImportError("load_coil100 needs Pillow: pip install 'ballroom-lsbd[data]'") from err

    images, objects, angles = [], [], []
    for m, data in _coil_files(root):
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            images.append(np.asarray(rgb, dtype=np.uint8))
        objects.append(int(m.group(1)))
        angles.append(int(m.group(2)))
    if not images:
        raise ValueError(
            f"no obj<k>__<angle>.png views in {archive if archive.is_file() else root / 'coil-100'}"
        )
    unique = np.unique(angles)
    n = len(unique)
    if not np.allclose(unique, 360 * np.arange(n) / n):
        raise ValueError(
            f"COIL-100 angles must be 0, 360/n, ..., 360 (n-1)/n degrees, got {n} angles {unique.tolist()[:8]}..."
        )
    grid = _arrange(np.stack(images), [np.array(objects), np.array(angles)], ["object", "angle"])
    return FactorGrid(grid.astype(np.float32) / 255.0, (False, True))
