"""Data: the offline split-digits stream (scikit-learn ships it) and the paper's real datasets.

``load_digits_flat`` gives the spec's digits (pixels in [-1, 1], stratified 70/30 split);
:class:`NeurocoderDataModule` serves one task of a stream (or all digits) to Lightning;
:func:`load_stream` builds split / permuted streams on digits, MNIST (padded 32x32, the released
setting) or CIFAR-10/100 (core's checksummed loaders; download only when asked).
"""

from __future__ import annotations

import os

import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from ballroom.core.data import SplitDataModule, split_indices
from ballroom.core.validate import check_choice, check_int
from ballroom.neurocoder.continual import Task, permuted_tasks, split_tasks

__all__ = [
    "CIFAR_STATS",
    "MNIST_MEAN",
    "MNIST_STD",
    "NeurocoderDataModule",
    "load_digits_flat",
    "load_stream",
    "stratified_split",
]

#: the released MNIST normalisation (padded to 32 x 32)
MNIST_MEAN, MNIST_STD = 0.1000, 0.2752
#: the released per-channel CIFAR normalisation ``(mean, std)`` (the official continual-learning loaders)
CIFAR_STATS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "cifar10": ((0.491, 0.482, 0.447), (0.247, 0.243, 0.262)),
    "cifar100": ((0.507, 0.487, 0.441), (0.267, 0.256, 0.276)),
}


def stratified_split(y: Tensor, test_fraction: float = 0.3, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Seeded stratified split: ``(train_indices, test_indices)``, ``test_fraction`` of every class in test."""
    gen = torch.Generator().manual_seed(seed)
    tr, te = [], []
    for c in torch.unique(y):
        idx = (y == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=gen)]
        k = round(len(idx) * test_fraction)
        te.append(idx[:k])
        tr.append(idx[k:])
    return torch.cat(tr).sort().values, torch.cat(te).sort().values


def load_digits_flat(test_fraction: float = 0.3, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn digits as ``(x_train (N, 64), y_train, x_test, y_test)``, pixels ``/8 - 1`` in [-1, 1].

    Args:
        test_fraction: the test fraction of every class (stratified).
        seed: the seed of the split.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float32) / 8.0 - 1.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    tr, te = stratified_split(y, test_fraction, seed)
    return x[tr], y[tr], x[te], y[te]


def _real(name: str, root: str | os.PathLike[str], download: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from ballroom.core.data import load_cifar10, load_cifar100, load_mnist

    if name == "mnist":
        xtr, ytr = load_mnist(root, "train", download=download)
        xte, yte = load_mnist(root, "test", download=download)
        pad = lambda x: torch.nn.functional.pad(x.float().reshape(len(x), 1, 28, 28) / 255.0, (2, 2, 2, 2))  # noqa: E731
        xtr, xte = ((pad(x) - MNIST_MEAN) / MNIST_STD for x in (xtr, xte))
        return xtr.flatten(1), torch.as_tensor(ytr).long(), xte.flatten(1), torch.as_tensor(yte).long()
    loader = load_cifar10 if name == "cifar10" else load_cifar100
    xtr, ytr = loader(root, "train", download=download)
    xte, yte = loader(root, "test", download=download)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in CIFAR_STATS[name])
    norm = lambda x: (torch.as_tensor(x).float() / 255.0 - mean) / std  # noqa: E731
    return (
        norm(xtr).flatten(1),
        torch.as_tensor(ytr).long(),
        norm(xte).flatten(1),
        torch.as_tensor(yte).long(),
    )


def load_stream(
    dataset: str = "digits",
    kind: str = "split",
    num_tasks: int = 5,
    seed: int = 0,
    root: str | os.PathLike[str] = "data",
    download: bool = False,
) -> list[Task]:
    """A task stream: ``dataset`` in digits | mnist | cifar10 | cifar100, ``kind`` split (2 classes per
    task for 10-class sets, labels remapped: incremental domain) or permuted (``num_tasks`` tasks).

    Args:
        dataset: ``"digits"`` (offline), ``"mnist"``, ``"cifar10"`` or ``"cifar100"``.
        kind: ``"split"`` (``n_classes // num_tasks`` classes per task) or ``"permuted"``.
        num_tasks: the number of tasks.
        seed: the digits split's seed and the permutations' seed.
        root: the data folder of the real datasets.
        download: fetch missing files of the real datasets.

    Raises:
        ValueError: an unknown ``dataset`` or ``kind``, or a ``num_tasks`` that does not split the
            classes.
    """
    check_choice(dataset, "dataset", ("digits", "mnist", "cifar10", "cifar100"))
    check_choice(kind, "kind", ("split", "permuted"))
    check_int(num_tasks, "num_tasks", min=1)
    data = load_digits_flat(seed=seed) if dataset == "digits" else _real(dataset, root, download)
    if kind == "split":
        n_classes = int(data[1].max()) + 1
        return split_tasks(*data, classes_per_task=n_classes // num_tasks)
    return permuted_tasks(*data, num_tasks=num_tasks, seed=seed)


class NeurocoderDataModule(SplitDataModule):
    """Flat digits ``(x (B, 64) in [-1, 1], y (B,))`` for Lightning: all ten classes, or one task.

    ``task`` (0-4) keeps only classes ``{2 task, 2 task + 1}`` remapped to {0, 1} (the split-digits
    stream); ``None`` keeps every class. The 70/30 stratified split's training part is split again
    into train/val (``val_fraction``); test is the 30 %.

    Args:
        task: ``0..4`` or ``None`` (above).
        val_fraction: the share of the training part held out for validation.
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes.
        seed: the seed of both splits and of the shuffling.
    """

    def __init__(
        self,
        task: int | None = None,
        val_fraction: float = 0.15,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.task = None if task is None else check_int(task, "task", min=0, max=4)
        self.val_fraction = float(val_fraction)
        self.num_classes = 10 if task is None else 2

    def build(self) -> dict[str, Dataset]:
        xtr, ytr, xte, yte = load_digits_flat(seed=self.seed)
        if self.task is not None:
            t = split_tasks(xtr, ytr, xte, yte)[self.task]
            (xtr, ytr), (xte, yte) = t.train.tensors, t.test.tensors
        tr, va = split_indices(len(ytr), (1 - self.val_fraction, self.val_fraction), seed=self.seed)
        return {
            "train": TensorDataset(xtr[tr], ytr[tr]),
            "val": TensorDataset(xtr[va], ytr[va]),
            "test": TensorDataset(xte, yte),
        }
