"""The Tetris DataModule (generated, no download): train on the 8 canonical polycubes, validate on
their 24 cube rotations, test on the cube rotations and on random SO(3) rotations."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from ballroom.core.data import SplitDataModule
from ballroom.core.validate import check_int
from ballroom.pdo3d.volumes import cube_rotations, random_rotations, rotate_volume, tetris_volumes

__all__ = ["TetrisDataModule", "rotated_tetris"]


def rotated_tetris(rotations: torch.Tensor, scale: int = 3, pad: int = 4, order: int = 3) -> TensorDataset:
    """Every Tetris shape under every rotation.

    Args:
        rotations: ``(n, 3, 3)`` rotation matrices.
        scale, pad: see :func:`~ballroom.pdo3d.volumes.tetris_volumes` (``S = 4 scale + 2 pad``).
        order: spline order for rotations other than the cube's.

    Returns:
        A ``TensorDataset`` of ``(x (8n, 1, S, S, S), y (8n,), x_canonical (8n, 1, S, S, S))``.
    """
    x, y = tetris_volumes(scale, pad)
    xs = [rotate_volume(x, g, order) for g in rotations]
    n = len(rotations)
    return TensorDataset(torch.cat(xs), y.repeat(n), x.repeat(n, 1, 1, 1, 1))


class TetrisDataModule(SplitDataModule):
    """Procedural 3D Tetris (spec's offline plan): ``train`` = the 8 canonical volumes (full batch
    by default), ``val`` = all 24 cube rotations (192 samples), ``test`` = two loaders: the cube
    rotations and ``n_random`` uniform SO(3) rotations of each shape (cubic-spline resampling).
    Batches are ``(x [B, 1, S, S, S], y [B], x_canonical)`` with ``S = 4 scale + 2 pad``.

    Args:
        scale, pad: cube edge in voxels and zero padding of the volumes.
        n_random: random SO(3) rotations per shape in the second test loader.
        batch_size: loader batch size (8: the whole training set in one batch).
        num_workers: DataLoader workers.
        seed: seed of the random rotations and of the loaders' shuffling.
    """

    def __init__(
        self, scale: int = 3, pad: int = 4, n_random: int = 10, batch_size: int = 8, num_workers: int = 0,
        seed: int = 0,
    ) -> None:  # fmt: skip
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.scale, self.pad = check_int(scale, "scale", min=1), check_int(pad, "pad", min=0)
        self.n_random = check_int(n_random, "n_random", min=1)

    def build(self) -> dict[str, TensorDataset]:
        x, y = tetris_volumes(self.scale, self.pad)
        cube = rotated_tetris(cube_rotations(), self.scale, self.pad)
        rand = rotated_tetris(random_rotations(self.n_random, seed=self.seed), self.scale, self.pad)
        return {"train": TensorDataset(x, y, x), "val": cube, "test": cube, "test_so3": rand}

    # Lightning takes a list of loaders (two test sets); core's base declares a single loader
    def test_dataloader(self) -> list[DataLoader[Any]]:  # type: ignore[override]
        """Two loaders: the 24 cube rotations and the random SO(3) rotations of every shape."""
        return [self._loader("test", shuffle=False), self._loader("test_so3", shuffle=False)]
