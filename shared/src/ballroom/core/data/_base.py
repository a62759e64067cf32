"""Seeded splits and the DataModule base class every core DataModule derives from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ballroom.core.validate import check_choice

__all__ = ["SplitDataModule", "split_indices"]

#: the dataset type a :class:`SplitDataModule` builds (``SplitDataModule[TensorDataset]``, ...)
D = TypeVar("D", bound="Dataset[Any]")
SPLITS = ("train", "val", "test")


def split_indices(n: int, sizes: Sequence[float | int], seed: int = 0) -> list[Tensor]:
    """Disjoint, seeded index sets covering ``range(n)``.

    ``sizes`` are either fractions summing to 1 (the last part takes the rounding remainder) or
    integer counts summing to ``n``. The permutation depends only on ``(n, seed)``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if len(sizes) == 0:
        raise ValueError("sizes must not be empty")
    if any(s < 0 for s in sizes):
        raise ValueError(f"sizes must be non-negative, got {list(sizes)}")
    if all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        counts = [int(s) for s in sizes]
        if sum(counts) != n:
            raise ValueError(f"integer split sizes must sum to n={n}, got {counts} (sum {sum(counts)})")
    else:
        if abs(sum(sizes) - 1.0) > 1e-6:
            raise ValueError(f"fractional split sizes must sum to 1, got {list(sizes)}")
        counts = [round(n * float(s)) for s in sizes[:-1]]
        counts.append(n - sum(counts))
        if counts[-1] < 0:
            raise ValueError(f"split sizes {list(sizes)} do not fit n={n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return list(torch.split(perm, counts))


class SplitDataModule(pl.LightningDataModule, ABC, Generic[D]):
    """A DataModule over three in-memory datasets built once from a seed.

    Subclasses implement :meth:`build` and return the ``train``, ``val`` and ``test`` datasets; the
    base class provides seeded shuffling, ``num_workers=0`` by default and the four dataloaders
    (``predict`` reads the test set). Under DDP Lightning swaps in a ``DistributedSampler``.
    The type parameter is the dataset type :meth:`build` returns (e.g. ``SplitDataModule[TensorDataset]``).

    Args:
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes (0: load in the main process).
        seed: the seed subclasses build their splits from; also seeds the training shuffle.

    Raises:
        ValueError: ``batch_size < 1`` or ``num_workers < 0``.
    """

    #: the DataLoaders' ``collate_fn`` (``None``: PyTorch's default); a subclass sets a plain function
    collate_fn: ClassVar[Callable[[list[Any]], Any] | None] = None

    def __init__(self, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.datasets: dict[str, D] | None = None

    @abstractmethod
    def build(self) -> dict[str, D]:
        """Return ``{"train": ..., "val": ..., "test": ...}``; called once, from :meth:`setup`."""

    def setup(self, stage: str | None = None) -> None:
        if self.datasets is None:
            datasets = self.build()
            missing = set(SPLITS) - set(datasets)
            if missing:
                raise KeyError(f"{type(self).__name__}.build() did not return the splits {sorted(missing)}")
            self.datasets = datasets

    def dataset(self, split: str) -> D:
        """The dataset of one split, built on first use (no ``setup()`` call needed).

        Args:
            split: ``"train"``, ``"val"``, ``"test"`` or any other split :meth:`build` returned.

        Returns:
            The dataset :meth:`build` returned for ``split``.

        Raises:
            ValueError: ``split`` is not a split of this module (the message lists them).
        """
        if self.datasets is None:
            self.setup()
        assert self.datasets is not None
        return self.datasets[check_choice(split, "split", tuple(self.datasets))]

    def tensors(self, split: str) -> tuple[Tensor, ...]:
        """The tensors of a split whose dataset is a ``TensorDataset`` (e.g. ``(x, y)``), unbatched.

        Args:
            split: a split name (see :meth:`dataset`).

        Returns:
            The dataset's tensors, in its order; each has the split's size as dimension 0.

        Raises:
            TypeError: the split's dataset is not a ``TensorDataset``.
        """
        ds = self.dataset(split)
        if not isinstance(ds, TensorDataset):
            raise TypeError(
                f"split {split!r} of {type(self).__name__} is a {type(ds).__name__}, not a TensorDataset; "
                "use dataset(split)"
            )
        return tuple(ds.tensors)

    def _dataset(self, split: str) -> D:  # the name packages used before ``dataset`` was public
        return self.dataset(split)

    def _loader(self, split: str, shuffle: bool) -> DataLoader[Any]:
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            self._dataset(split),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            generator=generator,
            persistent_workers=self.num_workers > 0,
            collate_fn=type(self).collate_fn,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader[Any]:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader[Any]:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader[Any]:
        return self._loader("test", shuffle=False)
