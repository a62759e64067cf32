"""The authors' rendered datasets (ModelNet40 airplanes) in the layouts the released loader reads
(``lsbd_vae/data_utils/data_loader.py`` of ``luis-armando-perez-rey/lsbd-vae``), as
:class:`~ballroom.lsbd.grid.FactorGrid` objects.

- **Airplane** (one airplane, 64 cyclic colours x 64 orientations): ``modelnet_color_single_64_64.h5``,
  nested ``/<object_type>/<identity>/{images, colors, views}``; ``images`` already shaped
  ``(n_colors, n_views, H, W, C)``. The released reader loops over the objects and identities and
  keeps the last one read (or the one of a given ``object_type``).
- **ModelNet40 airplanes** (objects x 64 orientations): ``<collection>_<split>.h5`` (e.g.
  ``airplane_train.h5``), flat datasets ``images (n_objects, n_views, H, W, C)``, ``views``, ``ids``
  and, optionally, ``class_int``; several collections are concatenated along the objects.

Both divide the images by their maximum (the released ``images / np.amax(images)``). The files come
in the authors' data archive (a zip on Google Drive, :data:`AUTHORS_ARCHIVE_PAGE`; unzipped they are
``data/modelnet40/...``); no checksum is published, so :func:`fetch_authors_data` downloads only
against a SHA-256 the user supplies.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ballroom.lsbd.grid import FactorGrid
from ballroom.lsbd.loaders import _arrange

__all__ = [
    "AIRPLANE_FILE",
    "AUTHORS_ARCHIVE_PAGE",
    "AUTHORS_ARCHIVE_URLS",
    "MODELNET40_FILE",
    "fetch_authors_data",
    "load_airplane_h5",
    "load_modelnet40_h5",
]

_DRIVE_ID = "19JTHk5I5yDnaSq_lX7DKTIvgg6J5Sz3-"
#: the link in the released README ("The data used in this paper can be downloaded from ...")
AUTHORS_ARCHIVE_PAGE = f"https://drive.google.com/file/d/{_DRIVE_ID}/view?usp=sharing"
#: direct-download forms of that Google Drive file (the first skips Drive's large-file confirmation page)
AUTHORS_ARCHIVE_URLS: tuple[str, ...] = (
    f"https://drive.usercontent.google.com/download?id={_DRIVE_ID}&export=download&confirm=t",
    f"https://drive.google.com/uc?export=download&id={_DRIVE_ID}",
)
#: Airplane inside the unzipped archive (the released README's folder structure)
AIRPLANE_FILE = "data/modelnet40/modelnet_color_single_64_64.h5"
#: ModelNet40 airplanes inside the unzipped archive
MODELNET40_FILE = "data/modelnet40/airplane_train.h5"


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - optional
        raise ImportError("the authors' h5 files need h5py: pip install 'ballroom-lsbd[data]'") from err
    return h5py


def _unit_by_max(images: np.ndarray, what: str) -> np.ndarray:
    """The released normalisation ``images / amax(images)`` (float32)."""
    out = np.asarray(images).astype(np.float32)
    peak = float(out.max()) if out.size else 0.0
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"{what}: images must have a positive finite maximum, got {peak}")
    return out / peak


def _check_axis(values: np.ndarray | None, n: int, name: str, what: str) -> None:
    """A label dataset must take ``n`` evenly spaced values (our grid's angle of value i is
    ``2 pi i / n``; the released code uses ``2 pi v / max(v)``)."""
    if values is None:
        return
    uniq = np.unique(np.asarray(values).reshape(-1))
    if len(uniq) != n:
        raise ValueError(
            f"{what}: {name!r} has {len(uniq)} distinct values, the images have {n} along that axis"
        )
    if n > 2 and not np.allclose(np.diff(uniq), uniq[1] - uniq[0]):
        raise ValueError(f"{what}: {name!r} values are not evenly spaced: {uniq[:6].tolist()}...")


def load_airplane_h5(
    path: str | os.PathLike[str], object_type: str | None = None, identity: str | None = None
) -> FactorGrid:
    """Airplane (``modelnet_color_single_64_64.h5``): colours x orientations, both cyclic.

    Reads ``/<object_type>/<identity>/images`` (``(n_colors, n_views, H, W, C)``, or flat
    ``(N, H, W, C)`` placed by the per-image ``colors`` / ``views`` labels); without
    ``object_type`` / ``identity`` the last group in the file's order, as the released reader
    (which overwrites its result in a loop over every object and identity). A file with the
    datasets at its root is read as is. ``colors`` and ``views``, when present, must take as many
    evenly spaced values as the image axes.

    Args:
        path: the ``.h5`` file.
        object_type: the top-level group (e.g. ``"airplane"``); ``None``: the last one.
        identity: the group inside it; ``None``: the last one.

    Returns:
        The :class:`FactorGrid`, images ``(n_colors, n_views, H, W, C)`` float32 divided by their
        maximum, ``cyclic=(True, True)``.

    Raises:
        ImportError: h5py is not installed.
        KeyError: ``object_type`` / ``identity`` is not in the file, or no ``images`` dataset.
        ValueError: images of another rank, or labels that do not match the image axes.
    """
    h5py = _h5py()
    what = f"Airplane {os.fspath(path)!r}"
    with h5py.File(os.fspath(path), "r") as fh:
        node = fh
        if "images" not in fh:
            for arg, label in ((object_type, "object_type"), (identity, "identity")):
                groups = [k for k in node if isinstance(node[k], h5py.Group)]
                if not groups:
                    raise KeyError(f"{what}: no 'images' dataset and no {label} group under {node.name!r}")
                pick = groups[-1] if arg is None else arg
                if pick not in groups:
                    raise KeyError(
                        f"{label}: {pick!r} is not a group of {what} under {node.name!r} (has {groups})"
                    )
                node = node[pick]
        if "images" not in node:
            raise KeyError(f"{what}: no 'images' dataset in {node.name!r} (has {sorted(node.keys())})")
        images = np.asarray(node["images"][()])
        colors = np.asarray(node["colors"][()]) if "colors" in node else None
        views = np.asarray(node["views"][()]) if "views" in node else None
    if images.ndim == 4 and colors is not None and views is not None:
        images = _arrange(images, [colors, views], ["colors", "views"])
    if images.ndim != 5:
        raise ValueError(f"{what}: images must be (n_colors, n_views, H, W, C), got shape {images.shape}")
    _check_axis(colors, images.shape[0], "colors", what)
    _check_axis(views, images.shape[1], "views", what)
    return FactorGrid(_unit_by_max(images, what), (True, True))


def load_modelnet40_h5(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> FactorGrid:
    """ModelNet40 renders (``<collection>_<split>.h5``, e.g. ``airplane_train.h5``): objects x
    orientations, a cylinder grid.

    Each file holds ``images (n_objects, n_views, H, W, C)`` and ``views`` (any shape; as many
    evenly spaced values as views), plus ``ids`` and ``class_int``, which are not needed. Each
    file's images are divided by their own maximum (as the released reader), then several files
    (collections) are concatenated along the objects; their view counts and image shapes must agree.

    Args:
        paths: one ``.h5`` file or several.

    Returns:
        The :class:`FactorGrid`, images ``(n_objects, n_views, H, W, C)`` float32,
        ``cyclic=(False, True)``.

    Raises:
        ImportError: h5py is not installed.
        KeyError: a file has no ``images`` or ``views`` dataset.
        ValueError: no files, images of another rank, views that do not match, or files that do not agree.
    """
    h5py = _h5py()
    files = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not files:
        raise ValueError("paths must name at least one .h5 file")
    parts = []
    for path in files:
        what = f"ModelNet40 {os.fspath(path)!r}"
        with h5py.File(os.fspath(path), "r") as fh:
            for name in ("images", "views"):
                if name not in fh:
                    raise KeyError(f"{what}: no {name!r} dataset (has {sorted(fh.keys())})")
            images, views = np.asarray(fh["images"][()]), np.asarray(fh["views"][()])
        if images.ndim != 5:
            raise ValueError(
                f"{what}: images must be (n_objects, n_views, H, W, C), got shape {images.shape}"
            )
        _check_axis(views, images.shape[1], "views", what)
        parts.append(_unit_by_max(images, what))
    if len({p.shape[1:] for p in parts}) != 1:
        raise ValueError(
            f"the files' images do not agree in views and image shape: {[p.shape for p in parts]}"
        )
    return FactorGrid(np.concatenate(parts, axis=0), (False, True))


def fetch_authors_data(data_dir: str | os.PathLike[str], sha256: str) -> Path:
    """Download the authors' data archive (:data:`AUTHORS_ARCHIVE_URLS`) into ``data_dir`` and unzip it.

    No checksum is published, so the SHA-256 of the zip must be given (compute it once from a copy
    you trust); an existing ``data_dir/lsbd-vae-data.zip`` is checked against it without any network
    access. Afterwards :data:`AIRPLANE_FILE` and :data:`MODELNET40_FILE` lie under ``data_dir``.

    Args:
        data_dir: where the zip is stored and extracted.
        sha256: the expected hex SHA-256 of the zip.

    Returns:
        ``data_dir`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``sha256`` is not a 64-digit hex string.
        ballroom.core.data.ChecksumError: the zip has another SHA-256.
        OSError: the download failed.
    """
    from ballroom.core.data import download_url, extract_archive

    digest = str(sha256).lower()
    if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
        raise ValueError(
            f"sha256 must be a 64-digit hex string (none is published: supply your own), got {sha256!r}"
        )
    root = Path(data_dir)
    archive = download_url(AUTHORS_ARCHIVE_URLS, root / "lsbd-vae-data.zip", sha256=digest)
    extract_archive(archive, root)
    return root
