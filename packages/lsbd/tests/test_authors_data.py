"""The authors' ModelNet40 renders in the layouts the released loader reads, on tiny files the tests
write: Airplane (nested ``/<object>/<identity>/{images, colors, views}``, images shaped colours x
views) and ModelNet40 (flat ``images (objects, views, H, W, C)``, ``views``, ``ids``, ``class_int``),
both divided by their maximum; the archive download is wired to a user-supplied checksum (offline)."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ballroom.core.data import ChecksumError
from ballroom.lsbd import load_airplane_h5, load_modelnet40_h5
from ballroom.lsbd.authors_data import AIRPLANE_FILE, MODELNET40_FILE, fetch_authors_data

h5py = pytest.importorskip("h5py")


def _imgs(lead: tuple[int, int], side: int = 8, peak: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.integers(0, peak, (*lead, side, side, 3)).astype(np.uint8)
    out.flat[0] = peak  # the maximum the released code divides by (not 255)
    return out


def _write_airplane(
    path: Path, objects: dict[str, dict[str, np.ndarray]], n_col: int = 4, n_view: int = 6
) -> None:
    with h5py.File(path, "w") as fh:
        for obj, ids in objects.items():
            for ident, imgs in ids.items():
                g = fh.create_group(f"{obj}/{ident}")
                g["images"] = imgs
                g["colors"] = np.repeat(np.arange(n_col), n_view)  # per image, like the renders' labels
                g["views"] = np.tile(np.arange(n_view), n_col)


def _write_modelnet(path: Path, imgs: np.ndarray, views: np.ndarray | None = None) -> None:
    with h5py.File(path, "w") as fh:
        fh["images"] = imgs
        fh["views"] = views if views is not None else np.tile(np.arange(imgs.shape[1]), (imgs.shape[0], 1))
        fh["ids"] = np.arange(imgs.shape[0])
        fh["class_int"] = np.zeros(imgs.shape[0], dtype=np.int64)


def test_airplane_nested_layout_and_the_released_defaults(tmp_path: Path) -> None:
    a, b, c = _imgs((4, 6)), _imgs((4, 6), seed=1), _imgs((4, 6), peak=120, seed=2)
    path = tmp_path / "modelnet_color_single_64_64.h5"
    _write_airplane(path, {"airplane": {"0001": a, "0002": b}, "bed": {"0007": c}})
    last = load_airplane_h5(path)  # the released loop keeps the last object / identity read
    np.testing.assert_allclose(last.images, c / 120.0, rtol=1e-6)
    chosen = load_airplane_h5(path, object_type="airplane", identity="0001")
    assert chosen.images.shape == (4, 6, 8, 8, 3) and chosen.cyclic == (True, True)
    np.testing.assert_allclose(chosen.images, a / 200.0, rtol=1e-6)  # divided by the maximum, not 255
    np.testing.assert_allclose(load_airplane_h5(path, object_type="airplane").images, b / 200.0, rtol=1e-6)
    assert chosen.image_shape == (3, 8, 8)
    np.testing.assert_allclose(chosen.angles()[7], [2 * np.pi * 1 / 4, 2 * np.pi * 1 / 6])


def test_airplane_flat_images_placed_by_their_labels(tmp_path: Path) -> None:
    grid = _imgs((3, 5))
    perm = np.random.default_rng(0).permutation(15)
    with h5py.File(tmp_path / "a.h5", "w") as fh:
        g = fh.create_group("airplane/0001")
        g["images"] = grid.reshape(15, 8, 8, 3)[perm]
        g["colors"] = np.repeat(np.arange(3), 5)[perm]
        g["views"] = np.tile(np.arange(5), 3)[perm]
    np.testing.assert_allclose(load_airplane_h5(tmp_path / "a.h5").images, grid / 200.0, rtol=1e-6)


def test_modelnet40_collections_are_concatenated_each_by_its_maximum(tmp_path: Path) -> None:
    plane, car = _imgs((3, 6), peak=250), _imgs((2, 6), peak=100, seed=5)
    _write_modelnet(tmp_path / "airplane_train.h5", plane)
    _write_modelnet(tmp_path / "car_train.h5", car, views=np.arange(6) * 60.0)  # degrees, one row
    one = load_modelnet40_h5(tmp_path / "airplane_train.h5")
    assert one.images.shape == (3, 6, 8, 8, 3) and one.cyclic == (False, True)
    both = load_modelnet40_h5([tmp_path / "airplane_train.h5", tmp_path / "car_train.h5"])
    assert both.images.shape == (5, 6, 8, 8, 3)
    np.testing.assert_allclose(both.images[:3], plane / 250.0, rtol=1e-6)
    np.testing.assert_allclose(both.images[3:], car / 100.0, rtol=1e-6)
    np.testing.assert_allclose(both.angles()[:, 0], 0.0)  # the object factor is not rotated


def test_the_archive_is_checked_against_the_given_sha256_offline(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="64-digit hex"):
        fetch_authors_data(tmp_path, sha256="")
    archive = tmp_path / "lsbd-vae-data.zip"
    src = tmp_path / "src.h5"
    _write_modelnet(src, _imgs((2, 4)))
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(src, MODELNET40_FILE)
    with pytest.raises(ChecksumError, match="SHA-256"):  # an existing archive is checked before any network
        fetch_authors_data(tmp_path, sha256="0" * 64)
    root = fetch_authors_data(tmp_path, sha256=hashlib.sha256(archive.read_bytes()).hexdigest())
    assert load_modelnet40_h5(root / MODELNET40_FILE).images.shape == (2, 4, 8, 8, 3)
    assert AIRPLANE_FILE.endswith("modelnet_color_single_64_64.h5")


def _bad_views(p: Path) -> Path:
    _write_modelnet(p / "m.h5", _imgs((2, 4)), views=np.array([0, 1, 2, 5]))
    return p / "m.h5"


BAD: list[tuple[Callable[[Path], object], type[Exception], str]] = [
    (
        lambda p: (
            _write_airplane(p / "a.h5", {"airplane": {"1": _imgs((4, 6))}}),
            load_airplane_h5(p / "a.h5", "car"),
        ),
        KeyError,
        "object_type: 'car' is not a group",
    ),
    (
        lambda p: (
            _write_airplane(p / "a.h5", {"airplane": {"1": _imgs((4, 6))}}),
            load_airplane_h5(p / "a.h5", identity="2"),
        ),
        KeyError,
        "identity: '2' is not a group",
    ),
    (
        lambda p: (
            _write_airplane(p / "a.h5", {"airplane": {"1": _imgs((4, 6))}}, n_col=5),
            load_airplane_h5(p / "a.h5"),
        ),
        ValueError,
        "'colors' has 5 distinct values",
    ),
    (lambda p: load_modelnet40_h5(_bad_views(p)), ValueError, "not evenly spaced"),
    (lambda p: load_modelnet40_h5([]), ValueError, "at least one"),
    (
        lambda p: (_write_modelnet(p / "m.h5", _imgs((2, 4))[0]), load_modelnet40_h5(p / "m.h5")),
        ValueError,
        "must be \\(n_objects, n_views",
    ),
    (
        lambda p: (
            _write_modelnet(p / "a.h5", _imgs((2, 4))),
            _write_modelnet(p / "b.h5", _imgs((2, 5))),
            load_modelnet40_h5([p / "a.h5", p / "b.h5"]),
        ),
        ValueError,
        "do not agree",
    ),
    (
        lambda p: (_write_modelnet(p / "z.h5", np.zeros((2, 4, 8, 8, 3))), load_modelnet40_h5(p / "z.h5")),
        ValueError,
        "positive finite maximum",
    ),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD)
def test_authors_loaders_refuse_bad_input_clearly(
    tmp_path: Path, call: Callable[[Path], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call(tmp_path)
