"""Data: the spec's digits protocol (shipped with scikit-learn, no download), CIFAR through core,
and the NAS-Bench-201 table when a user has the file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Literal

import torch
from torch import Tensor

from ballroom.core.data import DigitsDataModule
from ballroom.core.validate import check_choice, check_int, check_tensor

__all__ = ["AgnasDigitsDataModule", "TensorBatches", "cifar_datamodule", "query_nb201"]

#: the spec's fixed three-way split of the 1797 digits: train / selection / test
DIGITS_SPLIT = (900, 450, 447)


class AgnasDigitsDataModule(DigitsDataModule):
    """Digits upsampled x2 to 16x16, standardised, 3 channels by repetition: ``x (B, 3, 16, 16)``, ``y (B,)``.

    Splits: ``train`` 900 (supernet weights), ``val`` = the 450-image *selection* split (importances,
    DARTS' alpha), ``test`` 447. ``seed`` fixes the split and the shuffling.

    Args:
        size: side of the upsampled images (16: the spec's x2).
        batch_size: images per batch.
        num_workers: DataLoader workers.
        seed: split and shuffling seed.
    """

    def __init__(self, size: int = 16, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__(
            size=size, split=DIGITS_SPLIT, batch_size=batch_size, num_workers=num_workers, seed=seed
        )

    def _transform(self, images: Tensor, split: str) -> Tensor:
        return images.expand(-1, 3, -1, -1).contiguous()

    def tensors(self, split: str) -> tuple[Tensor, Tensor]:
        """``(x, y)`` of ``split`` (``"train"``, ``"val"`` or ``"test"``)."""
        ds = self._dataset(check_choice(split, "split", ("train", "val", "test")))
        return ds.tensors[0], ds.tensors[1]


class TensorBatches:
    """Mini-batches of in-memory tensors, reshuffled every pass when ``shuffle`` (seeded): the fast
    loop of :mod:`ballroom.agnas.search` (a ``DataLoader`` costs more than the tiny models on CPU).

    Args:
        x: inputs ``(N, ...)``.
        y: integer labels ``(N,)``.
        batch_size: items per batch (the last one may be smaller).
        shuffle: draw a new order every pass.
        seed: seed of the shuffling generator.
        drop_last: leave out the last batch when it is smaller than ``batch_size`` (every batch full,
            as DARTS' architecture step, which draws a fresh full batch of the selection split).
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        check_tensor(x, "x", min_ndim=2)
        check_tensor(y, "y", ndim=1, dtype="integer")
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        self.x, self.y = x, y
        self.batch_size = check_int(batch_size, "batch_size", min=1)
        if not isinstance(drop_last, bool):
            raise TypeError(f"drop_last must be a bool, got {type(drop_last).__name__}")
        if drop_last and len(y) < self.batch_size:
            raise ValueError(f"drop_last: {len(y)} items make no full batch of batch_size={self.batch_size}")
        self.shuffle, self.drop_last = shuffle, drop_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.y) // self.batch_size
        return -(-len(self.y) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = (
            torch.randperm(len(self.y), generator=self.generator)
            if self.shuffle
            else torch.arange(len(self.y))
        )
        end = len(self) * self.batch_size if self.drop_last else len(order)
        for i in range(0, end, self.batch_size):
            idx = order[i : i + self.batch_size]
            yield self.x[idx], self.y[idx]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[sl], self.y[sl]


def cifar_datamodule(
    name: Literal["cifar10", "cifar100"] = "cifar10",
    data_dir: str = "data",
    download: bool = False,
    **kwargs: Any,
) -> Any:
    """The spec's CIFAR search split through core: train = one half, selection (``val``) = the other
    half of the official training set (``VisionDataModule(val_size=25000)``: a seeded random half,
    where the official code takes the first 25000 images); test = the test set. Core applies no
    random crop / flip, which the spec's search schedule uses.
    Downloads (with checksums) only when ``download=True``.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        data_dir: where the dataset lives (or is downloaded to).
        download: fetch the archive if missing.
        **kwargs: passed to ``VisionDataModule`` (``batch_size`` ...).

    Returns:
        a core ``VisionDataModule``.
    """
    from ballroom.core.data import VisionDataModule

    check_choice(name, "name", ("cifar10", "cifar100"))
    return VisionDataModule(name=name, data_dir=data_dir, download=download, val_size=25000, **kwargs)


def query_nb201(
    arch: str, path: str | os.PathLike[str], dataset: str = "cifar10", hp: str = "200"
) -> dict[str, Any]:
    """Look an arch string up in the NAS-Bench-201 table (``NAS-Bench-201-v1_1-096897.pth``) with the
    ``nas-bench-201`` API (``pip install nas-bench-201``; not a dependency: the file is 4.7 GB and
    needs no download here).

    Args:
        arch: a NB201 arch string (``|op~0|+|op~0|op~1|+|...|``).
        path: the table file.
        dataset: ``cifar10``, ``cifar10-valid``, ``cifar100`` or ``ImageNet16-120``.
        hp: training-epoch setting of the table (``"12"`` or ``"200"``).

    Returns:
        the API's ``get_more_info`` dict (``test-accuracy`` etc.).
    """
    check_choice(dataset, "dataset", ("cifar10", "cifar10-valid", "cifar100", "ImageNet16-120"))
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no NAS-Bench-201 table at {os.fspath(path)!r}")
    try:
        from nas_201_api import NASBench201API  # type: ignore[import-not-found]
    except ImportError as err:  # pragma: no cover - optional, not declared
        raise ImportError("query_nb201 needs the NAS-Bench-201 API: pip install nas-bench-201") from err
    api = NASBench201API(os.fspath(path), verbose=False)
    index = api.query_index_by_arch(arch)
    if index < 0:
        raise ValueError(f"arch {arch!r} is not in the table")
    return dict(api.get_more_info(index, dataset, hp=hp, is_random=False))
