"""Datasets: the procedural recipes, supervision, the npz loader on a file in the real format, the DataModule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.lsbd import (
    FactorGrid,
    arrow_dataset,
    labelled_pairs,
    load_npz_grid,
    random_paths,
    square_dataset,
)
from ballroom.lsbd.data import LSBDDataModule, SequentialLoader
from ballroom.lsbd.datasets import _hsv_to_rgb, _rgb_to_hsv


def test_square_block_positions_and_constant_mass() -> None:
    grid = square_dataset(16, 4)
    assert grid.images.shape == (16, 16, 16, 16, 1) and grid.factor_shape == (16, 16)
    for i, j in [(0, 0), (3, 7), (14, 15)]:
        rows = np.flatnonzero(grid.images[i, j, :, :, 0].any(1))
        cols = np.flatnonzero(grid.images[i, j, :, :, 0].any(0))
        assert set(rows) == {(i + d) % 16 for d in range(4)} and set(cols) == {(j + d) % 16 for d in range(4)}
    assert np.all(grid.images.sum(axis=(2, 3, 4)) == 16)
    np.testing.assert_allclose(grid.angles()[17], [2 * math.pi / 16, 2 * math.pi / 16])


def test_arrow_hue_is_replaced_and_rotation_turns_it_counter_clockwise() -> None:
    grid = arrow_dataset(32, 4, 8)  # (hue, rotation, H, W, 3)
    imgs = grid.images
    assert imgs.shape == (8, 4, 32, 32, 3) and imgs.min() >= 0 and imgs.max() == pytest.approx(1.0)
    for j in range(8):
        hsv = _rgb_to_hsv(imgs[j, 1].astype(np.float64))
        sat = hsv[..., 1] > 0.5
        assert sat.sum() > 20
        np.testing.assert_allclose(hsv[sat, 0], j / 8, atol=1e-6)
    # rotation index 1 = 90 degrees: the right-pointing arrow points up (np.rot90 is counter-clockwise)
    np.testing.assert_allclose(imgs[0, 1], np.rot90(imgs[0, 0], 1, axes=(0, 1)), atol=2e-3)
    mass = imgs[0, 0].sum(-1)
    cols = (mass * np.arange(32)[None, :]).sum() / mass.sum()
    head = mass[:, 20:].sum() > mass[:, :12].sum()  # more of the arrow (its head) on the right
    assert head and cols > 15.5
    rgb = np.random.default_rng(0).random((50, 3))
    np.testing.assert_allclose(_hsv_to_rgb(_rgb_to_hsv(rgb)), rgb, atol=1e-12)


def test_labelled_pairs_are_disjoint_with_relative_angles() -> None:
    grid = square_dataset(16, 4)
    index, angles, unlabelled = labelled_pairs(grid, 64, 0)
    assert index.shape == (64, 2) and angles.shape == (64, 2, 2) and unlabelled.shape == (128,)
    perm = np.random.RandomState(0).permutation(256)
    np.testing.assert_array_equal(index[:, 0], perm[:64])
    np.testing.assert_array_equal(index[:, 1], perm[64:128])
    assert len(set(index.ravel()) | set(unlabelled)) == 256
    assert np.all(angles[:, 0] == 0) and np.all((angles >= 0) & (angles < 2 * math.pi))
    vals = grid.factor_values()
    np.testing.assert_allclose(
        angles[:, 1], 2 * np.pi * np.mod(vals[index[:, 1]] - vals[index[:, 0]], 16) / 16
    )
    full = labelled_pairs(grid, 128, 1)
    assert full[2].size == 0
    with pytest.raises(ValueError, match="n_pairs must be an integer in"):
        labelled_pairs(grid, 129)


def test_random_paths_move_one_factor_by_the_step() -> None:
    grid = square_dataset(16, 4)
    index, angles = random_paths(grid, n_paths=5, length=20, step=3, rng=1)
    vals = grid.factor_values()[index]  # (5, 20, 2)
    diff = np.mod(np.diff(vals, axis=1), 16)
    moved = (diff != 0).sum(-1)
    assert np.all(moved == 1) and set(np.unique(diff)) <= {0, 3, 13}
    np.testing.assert_allclose(angles, 2 * np.pi * np.mod(vals - vals[:, :1], 16) / 16)
    assert np.all(angles[:, 0] == 0)


def test_npz_loader_reads_a_flat_uint8_file(tmp_path: Path) -> None:
    imgs = (np.random.default_rng(0).random((3 * 5, 8, 8, 3)) * 255).astype(np.uint8)
    path = tmp_path / "objects.npz"
    np.savez(path, images=imgs, views=np.tile(np.arange(5), 3))
    grid = load_npz_grid(path, factor_shape=(3, 5), cyclic=(False, True))
    assert grid.images.shape == (3, 5, 8, 8, 3) and grid.images.dtype == np.float32
    np.testing.assert_allclose(grid.images[1, 2], imgs[7] / 255.0, atol=1e-7)
    assert np.all(grid.angles()[:, 0] == 0)  # the object factor is not cyclic
    with pytest.raises(KeyError, match="key"):
        load_npz_grid(path, key="x")
    with pytest.raises(ValueError, match="cyclic must have one flag per factor"):
        FactorGrid(grid.images, (True,))


def test_alternate_epoch_is_labelled_pass_then_unlabelled_pass() -> None:
    dm = LSBDDataModule("square16", pairs=64, seed=0)
    loader = dm.train_dataloader()
    assert isinstance(loader, SequentialLoader)
    kinds = ["angles" in b for b in loader]
    assert kinds == [True, True, False, False] and len(loader) == 4  # 64 pairs / 50, 128 images / 100
    first = next(iter(loader))
    assert first["images"].shape == (50, 2, 1, 16, 16) and first["angles"].shape == (50, 2, 2)
    joint = LSBDDataModule("square16", pairs=64, schedule="joint", labelled_batch=32, unlabelled_batch=64)
    batch = next(iter(joint.train_dataloader()))
    assert set(batch[0]) == {"labelled", "unlabelled"}
    assert batch[0]["unlabelled"]["images"].shape == (64, 1, 1, 16, 16)
    val = next(iter(dm.val_dataloader()))
    assert torch.equal(val["images"][:, 0], dm.images[:256])
    with pytest.raises(ValueError, match="dataset must be one of"):
        LSBDDataModule("mnist")


def test_paths_regime_has_no_unlabelled_set() -> None:
    dm = LSBDDataModule("square16", paths=3, path_length=10, path_step=3, seed=0)
    batches = list(dm.train_dataloader())
    assert dm.unlabelled is None and len(batches) == 1  # floor(100 / 10) = 10 sets per batch
    assert batches[0]["images"].shape == (3, 10, 1, 16, 16) and batches[0]["angles"].shape == (3, 10, 2)
    assert torch.all(batches[0]["angles"][:, 0] == 0)
