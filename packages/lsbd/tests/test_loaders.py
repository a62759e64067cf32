"""External-array loaders on tiny files in the real formats, written by the tests: h5 renders
(shaped, flat + factor_shape, flat + per-image label datasets) and the COIL-100 zip layout
(``coil-100/obj<k>__<angle>.png``); the checksum is wired (a wrong archive is refused offline)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ballroom.core.data import ChecksumError
from ballroom.lsbd import load_coil100, load_h5_grid

h5py = pytest.importorskip("h5py")
Image = pytest.importorskip("PIL.Image")

ANGLES = list(range(0, 360, 5))  # the archive's 72 turntable angles


def _renders(n_col: int = 4, n_view: int = 6, side: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((n_col, n_view, side, side, 3)) * 255).astype(np.uint8)


def test_h5_shaped_grid_is_read_as_is(tmp_path: Path) -> None:
    imgs = _renders()
    path = tmp_path / "airplane.h5"
    with h5py.File(path, "w") as fh:
        fh["images"] = imgs
        fh["colors"] = np.repeat(np.arange(4), 6)
        fh["views"] = np.tile(np.arange(6), 4)
    grid = load_h5_grid(path)
    assert grid.images.shape == (4, 6, 8, 8, 3) and grid.images.dtype == np.float32
    assert grid.cyclic == (True, True)
    np.testing.assert_allclose(grid.images, imgs / 255.0, atol=1e-7)


def test_h5_flat_images_are_placed_by_their_factor_labels(tmp_path: Path) -> None:
    imgs = _renders()
    colors, views = np.meshgrid(np.arange(4) * 0.25, np.arange(6) * 60.0, indexing="ij")  # any values
    order = np.random.default_rng(1).permutation(24)  # the file stores the images shuffled
    path = tmp_path / "modelnet.h5"
    with h5py.File(path, "w") as fh:
        fh["images"] = imgs.reshape(24, 8, 8, 3)[order]
        fh["colors"] = colors.reshape(-1)[order]
        fh["views"] = views.reshape(-1)[order]
    grid = load_h5_grid(path, factors=("colors", "views"), cyclic=(False, True))
    assert grid.images.shape == (4, 6, 8, 8, 3) and grid.cyclic == (False, True)
    np.testing.assert_allclose(grid.images, imgs / 255.0, atol=1e-7)
    # the same file, read in its stored order and reshaped: not the grid unless unshuffled
    flat = load_h5_grid(path, factor_shape=(4, 6))
    np.testing.assert_allclose(flat.images.reshape(24, 8, 8, 3), imgs.reshape(24, 8, 8, 3)[order] / 255.0)


def _write_h5(tmp_path: Path, drop: int = 0, extra_label: int = 0) -> Path:
    imgs = _renders().reshape(24, 8, 8, 3)[drop:]
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as fh:
        fh["images"] = imgs
        fh["colors"] = np.repeat(np.arange(4), 6)[drop:]
        fh["views"] = np.concatenate([np.tile(np.arange(6), 4)[drop:], np.zeros(extra_label)])
    return path


def _write_coil(
    root: Path,
    objects: tuple[int, ...] = (1, 2, 10),
    angles: list[int] = ANGLES,
    side: int = 16,
    skip: tuple[int, int] | None = None,
) -> dict[tuple[int, int], np.ndarray]:
    """A zip in the Columbia layout: ``coil-100/obj<k>__<angle>.png`` plus the conversion script."""
    written = {}
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(root / "coil-100.zip", "w") as zf:
        zf.writestr("coil-100/convertGroupppm2png.pl", "# the archive's ppm -> png script\n")
        for k in objects:
            for a in angles:
                if (k, a) == skip:
                    continue
                img = np.empty((side, side, 3), dtype=np.uint8)
                img[...] = (20 * k, 3 * (a // 5), 7)  # colour encodes (object, view)
                img[0, 1] = 255  # a marker that pins the row/column order
                buf = io.BytesIO()
                Image.fromarray(img).save(buf, format="PNG")
                zf.writestr(f"coil-100/obj{k}__{a}.png", buf.getvalue())
                written[(k, a)] = img
    return written


def test_coil100_zip_is_read_into_objects_by_angles(tmp_path: Path) -> None:
    written = _write_coil(tmp_path)
    grid = load_coil100(tmp_path, size=16)
    assert grid.images.shape == (3, 72, 16, 16, 3) and grid.cyclic == (False, True)
    for i, k in enumerate((1, 2, 10)):  # numeric object order (not "obj10" < "obj2")
        for j in (0, 1, 37, 71):
            np.testing.assert_array_equal(grid.images[i, j], written[(k, ANGLES[j])] / np.float32(255.0))
    angles = grid.angles().reshape(3, 72, 2)
    np.testing.assert_allclose(angles[..., 1], np.broadcast_to(np.deg2rad(ANGLES), (3, 72)))
    assert np.all(angles[..., 0] == 0)


def test_coil100_resizes_and_reads_the_extracted_folder(tmp_path: Path) -> None:
    written = _write_coil(tmp_path)
    small = load_coil100(tmp_path, size=8)
    assert small.images.shape == (3, 72, 8, 8, 3)
    mean = small.images[2, 5].reshape(-1, 3).mean(0)
    np.testing.assert_allclose(mean, written[(10, 25)].reshape(-1, 3).mean(0) / 255.0, atol=0.01)
    with zipfile.ZipFile(tmp_path / "coil-100.zip") as zf:
        zf.extractall(tmp_path)
    (tmp_path / "coil-100.zip").unlink()
    np.testing.assert_array_equal(load_coil100(tmp_path, size=8).images, small.images)


def test_coil100_download_checks_the_published_checksum_offline(tmp_path: Path) -> None:
    _write_coil(tmp_path, objects=(1,), angles=[0, 180])
    assert load_coil100(tmp_path, size=16).images.shape == (1, 2, 16, 16, 3)
    with pytest.raises(ChecksumError, match="SHA-256"):  # an existing archive is checked before any network
        load_coil100(tmp_path, size=16, download=True)


BAD: list[tuple[Callable[[Path], object], type[Exception], str]] = [
    (lambda p: load_coil100(p, size=0), ValueError, "size must be an integer"),
    (lambda p: load_coil100(p / "nothing"), FileNotFoundError, "pass download=True"),
    (lambda p: (_write_coil(p, angles=[0, 5, 10]), load_coil100(p)), ValueError, "angles must be"),
    (lambda p: (_write_coil(p, objects=(1,), angles=[]), load_coil100(p)), ValueError, "no obj<k>__<angle>"),
    (
        lambda p: (_write_coil(p, objects=(1, 2), skip=(2, 355)), load_coil100(p)),
        ValueError,
        "complete grid",
    ),
    (lambda p: load_h5_grid(_write_h5(p), key="x"), KeyError, "'x' is not a dataset"),
    (lambda p: load_h5_grid(_write_h5(p), factors=("colors", "hue")), KeyError, "'hue' is not a dataset"),
    (
        lambda p: load_h5_grid(_write_h5(p), factors=("colors",), factor_shape=(4, 6)),
        ValueError,
        "not both",
    ),
    (lambda p: load_h5_grid(_write_h5(p, drop=1), factors=("colors", "views")), ValueError, "complete grid"),
    (lambda p: load_h5_grid(_write_h5(p, extra_label=2), factors=("views",)), ValueError, "26 labels for 24"),
    (lambda p: load_h5_grid(_write_h5(p), factor_shape=(5, 6)), ValueError, "does not fit"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD)
def test_loaders_refuse_bad_input_clearly(
    tmp_path: Path, call: Callable[[Path], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call(tmp_path)
