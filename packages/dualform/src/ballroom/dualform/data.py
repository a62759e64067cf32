"""Data for the dual-form experiments: one task, two tasks mixed, or two tasks in sequence.

Every batch is ``(x (B, D) float32, y (B,) int64, index (B,) int64, dataset (B,) int64)``:
``index`` numbers the training examples of all tasks (so the recorder can sum scores per
example), ``dataset`` is the task id (0 = the original data, 1 = the second task).

- :class:`TaskDigitsDataModule` (offline, the default): scikit-learn's 8x8 digits, ``x/16``
  standardised as ``(x - 0.5) / 0.5``, stratified 70/30 split (``random_state=0``); the second
  task is the same digits under a fixed pixel permutation (the stand-in for MNIST + FashionMNIST).
- :class:`ImageDataModule`: MNIST / FashionMNIST / CIFAR-10 flattened, for users with a network
  (downloads with pinned SHA-256 through ballroom-core); ``multi``/``continual`` pair MNIST with
  FashionMNIST as the paper does.

Modes: ``single`` (task 0), ``multi`` (both tasks shuffled together), ``continual`` (the training
loader yields ``steps_per_task`` batches of task 0, then ``steps_per_task`` of task 1).

Both are in-memory splits on ballroom-core's :class:`~ballroom.core.data.SplitDataModule` (seeded
shuffling, ``datasets`` built once); the validation split is the test split, as in the spec's
protocol and the official runs. ``DigitsDataModule`` is a deprecated alias of
:class:`TaskDigitsDataModule` (the name shadowed :class:`ballroom.core.data.DigitsDataModule`, a
different protocol of the same digits).
"""

from __future__ import annotations

import functools
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, Literal

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler, TensorDataset

from ballroom.core.data import SplitDataModule

__all__ = [
    "DigitsDataModule",
    "ImageDataModule",
    "Mode",
    "TaskDigitsDataModule",
    "TaskSequenceSampler",
    "permute_pixels",
]

Mode = Literal["single", "multi", "continual"]
_MODES = ("single", "multi", "continual")


def permute_pixels(x: Tensor, seed: int = 1234) -> Tensor:
    """Apply one fixed (seeded) permutation to the features of ``x (N, D)``.

    Args:
        x: the examples ``(N, D)``.
        seed: the seed of the permutation (the same seed gives the same permutation for every ``x``
            with ``D`` features).

    Returns:
        ``(N, D)``: the columns of ``x`` permuted.
    """
    perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(seed))
    return x[:, perm]


class TaskSequenceSampler(Sampler[list[int]]):
    """Batches of task 0 for ``steps_per_task`` steps, then of task 1, ... (continual learning).

    ``tasks``: for each task the dataset positions of its examples. Within a task examples are
    reshuffled (seeded) each time they are exhausted; the last partial batch of a pass is dropped.

    Args:
        tasks: one 1-D tensor of dataset positions per task, in task order.
        steps_per_task: batches drawn from each task before the next one.
        batch_size: examples per batch (every task must have at least this many).
        seed: the base seed; iteration ``e`` (each ``iter()``) shuffles with ``seed + 7919 e``.

    Raises:
        ValueError: ``steps_per_task < 1``, ``batch_size < 1`` or a task smaller than a batch.
    """

    def __init__(self, tasks: list[Tensor], steps_per_task: int, batch_size: int, seed: int = 0) -> None:
        if steps_per_task < 1 or batch_size < 1:
            raise ValueError(
                f"steps_per_task and batch_size must be >= 1, got {steps_per_task}, {batch_size}"
            )
        for i, t in enumerate(tasks):
            if len(t) < batch_size:
                raise ValueError(f"task {i} has {len(t)} examples, fewer than batch_size={batch_size}")
        self.tasks, self.steps_per_task, self.batch_size, self.seed = tasks, steps_per_task, batch_size, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps_per_task * len(self.tasks)

    def __iter__(self) -> Iterator[list[int]]:
        gen = torch.Generator().manual_seed(self.seed + 7919 * self.epoch)
        self.epoch += 1
        for members in self.tasks:
            done = 0
            while done < self.steps_per_task:
                order = members[torch.randperm(len(members), generator=gen)]
                for lo in range(0, len(order) - self.batch_size + 1, self.batch_size):
                    if done == self.steps_per_task:
                        break
                    yield order[lo : lo + self.batch_size].tolist()
                    done += 1


class _TaskDataModule(SplitDataModule[TensorDataset], ABC):
    """Shared logic: build ``(train, test)`` pairs for each task, then combine them by mode.

    Every split is a ``TensorDataset`` of ``(x, y, index, dataset)``; ``val`` is the test split.
    Training batches are shuffled with a generator seeded by ``seed`` (ballroom-core's
    :class:`~ballroom.core.data.SplitDataModule`), or come from a :class:`TaskSequenceSampler` in
    ``continual`` mode; evaluation batches hold :attr:`eval_batch_size` examples.
    """

    #: batch size of the validation, test and predict loaders
    eval_batch_size = 256

    def __init__(self, mode: Mode, batch_size: int, steps_per_task: int, seed: int, num_workers: int) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.mode: Mode = mode
        self.steps_per_task = steps_per_task
        self.task_members: list[Tensor] = []

    @abstractmethod
    def _tasks(self) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
        """``[(x_train, y_train, x_test, y_test), ...]``, one tuple per task (task 0 first)."""

    @property
    def num_train(self) -> int:
        """Number of training examples over all tasks (the ``n_examples`` of per-example scores)."""
        return len(self._split("train"))

    def build(self) -> dict[str, TensorDataset]:
        tasks = self._tasks()
        if self.mode == "single":
            tasks = tasks[:1]
        parts: dict[str, list[tuple[Tensor, Tensor, Tensor]]] = {"train": [], "test": []}
        self.task_members = []
        offset = 0
        for tid, (xtr, ytr, xte, yte) in enumerate(tasks):
            parts["train"].append((xtr, ytr, torch.full_like(ytr, tid)))
            parts["test"].append((xte, yte, torch.full_like(yte, tid)))
            self.task_members.append(torch.arange(offset, offset + len(ytr)))
            offset += len(ytr)
        ds = {}
        for split, items in parts.items():
            x = torch.cat([i[0] for i in items]).float()
            y = torch.cat([i[1] for i in items]).long()
            d = torch.cat([i[2] for i in items]).long()
            ds[split] = TensorDataset(x, y, torch.arange(len(y)), d)
        ds["val"] = ds["test"]
        return ds

    def _split(self, split: str) -> TensorDataset:
        self.setup()
        assert self.datasets is not None
        ds = self.datasets[split]
        assert isinstance(ds, TensorDataset)
        return ds

    def train_dataloader(self) -> DataLoader:
        if self.mode != "continual":
            return super().train_dataloader()
        train = self._split("train")  # builds the datasets, and with them task_members
        sampler = TaskSequenceSampler(self.task_members, self.steps_per_task, self.batch_size, self.seed)
        return DataLoader(train, batch_sampler=sampler, num_workers=self.num_workers)

    def _eval_loader(self, split: str) -> DataLoader:
        return DataLoader(self._split(split), batch_size=self.eval_batch_size, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader("test")


class TaskDigitsDataModule(_TaskDataModule):
    """scikit-learn's digits as ``(x (B, 64), y, index, dataset)``; the spec's offline protocol.

    Args:
        mode: ``single`` | ``multi`` | ``continual`` (see the module docstring).
        batch_size: training batch size (32 in the spec's protocol).
        steps_per_task: length of each task's phase in ``continual`` mode (1000 in the spec).
        test_size: stratified test fraction (0.3, ``random_state=split_seed``). There is no separate
            validation split in the spec's protocol: ``val`` is the test split.
        seed: shuffling seed (and of the continual sampler).
        split_seed: the ``random_state`` of the stratified split.
        permutation_seed: the seed of task 1's pixel permutation (:func:`permute_pixels`).
        num_workers: dataloader worker processes.

    Raises:
        ValueError: an unknown ``mode``, a ``test_size`` outside ``(0, 1)`` or ``batch_size < 1``.
    """

    in_features = 64
    num_classes = 10

    def __init__(
        self,
        mode: Mode = "single",
        batch_size: int = 32,
        steps_per_task: int = 1000,
        test_size: float = 0.3,
        seed: int = 0,
        split_seed: int = 0,
        permutation_seed: int = 1234,
        num_workers: int = 0,
    ) -> None:
        super().__init__(mode, batch_size, steps_per_task, seed, num_workers)
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size must be in (0, 1), got {test_size}")
        self.test_size, self.split_seed, self.permutation_seed = test_size, split_seed, permutation_seed

    def _tasks(self) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        x = (torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0 - 0.5) / 0.5
        y = torch.as_tensor(bunch.target, dtype=torch.int64)
        itr, ite = train_test_split(
            torch.arange(len(y)).numpy(),
            test_size=self.test_size,
            stratify=y.numpy(),
            random_state=self.split_seed,
        )
        itr, ite = torch.as_tensor(itr), torch.as_tensor(ite)
        xp = permute_pixels(x, self.permutation_seed)
        return [(x[itr], y[itr], x[ite], y[ite]), (xp[itr], y[itr], xp[ite], y[ite])]


class ImageDataModule(_TaskDataModule):
    """MNIST / FashionMNIST / CIFAR-10, flattened and standardised by the training set's mean/std.

    ``name`` is task 0; in ``multi``/``continual`` mode task 1 is ``second`` (default
    FashionMNIST, as in the paper). Files are read from ``data_dir`` and downloaded (with pinned
    SHA-256) only when ``download=True``. The official test split is the test set; as in the
    official runs, ``val_size`` training images are held out (and not used).

    Args:
        name: task 0: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"`` (``single`` mode only).
        mode: ``single`` | ``multi`` | ``continual`` (see the module docstring).
        second: task 1 in ``multi``/``continual`` mode: ``"mnist"`` or ``"fashion_mnist"``.
        data_dir: the data folder (see :func:`ballroom.core.data.load_mnist`).
        download: fetch missing files.
        batch_size: training batch size.
        steps_per_task: length of each task's phase in ``continual`` mode.
        val_size: training images held out of each task, chosen by ``seed`` (a value outside
            ``(0, N_train)`` holds out none).
        seed: the hold-out choice and the shuffling seed.
        num_workers: dataloader worker processes.

    Raises:
        ValueError: an unknown ``name`` or ``mode``, or ``cifar10`` outside ``single`` mode.
    """

    name: str  # task 0, always set (LightningDataModule declares name: str | None)

    def __init__(
        self,
        name: Literal["mnist", "fashion_mnist", "cifar10"] = "mnist",
        mode: Mode = "single",
        second: Literal["mnist", "fashion_mnist"] = "fashion_mnist",
        data_dir: str = "data",
        download: bool = False,
        batch_size: int = 128,
        steps_per_task: int = 3000,
        val_size: int = 10000,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(mode, batch_size, steps_per_task, seed, num_workers)
        if name not in ("mnist", "fashion_mnist", "cifar10"):
            raise ValueError(f"name must be 'mnist', 'fashion_mnist' or 'cifar10', got {name!r}")
        if mode != "single" and name == "cifar10":
            raise ValueError("multi/continual pair 28x28 datasets; cifar10 supports mode='single' only")
        self.name, self.second, self.data_dir, self.download, self.val_size = (
            name,
            second,
            data_dir,
            download,
            val_size,
        )

    def _load(self, name: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        from ballroom.core.data import load_cifar10, load_mnist

        if name == "cifar10":
            xtr, ytr = load_cifar10(self.data_dir, "train", download=self.download)
            xte, yte = load_cifar10(self.data_dir, "test", download=self.download)
        else:
            xtr, ytr = load_mnist(self.data_dir, "train", variant=name, download=self.download)  # type: ignore[arg-type]
            xte, yte = load_mnist(self.data_dir, "test", variant=name, download=self.download)  # type: ignore[arg-type]
        keep = len(ytr) - self.val_size if 0 < self.val_size < len(ytr) else len(ytr)
        perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(self.seed))[:keep]
        xtr, ytr = xtr[perm].flatten(1).float() / 255.0, ytr[perm]
        xte = xte.flatten(1).float() / 255.0
        mean, std = xtr.mean(), xtr.std()
        return (xtr - mean) / std, ytr, (xte - mean) / std, yte

    @property
    def in_features(self) -> int:
        return 3072 if self.name == "cifar10" else 784

    def _tasks(self) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
        tasks = [self._load(self.name)]
        if self.mode != "single":
            tasks.append(self._load(self.second))
        return tasks


class DigitsDataModule(TaskDigitsDataModule):
    """Deprecated alias of :class:`TaskDigitsDataModule`: same arguments as it, same batches.

    The name shadowed :class:`ballroom.core.data.DigitsDataModule` (image batches ``(x, y)`` with a
    70/10/20 split), a different protocol; constructing it warns with ``DeprecationWarning``.
    """

    @functools.wraps(TaskDigitsDataModule.__init__)  # type: ignore[misc]  # the signature for introspection (jsonargparse)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "ballroom.dualform.DigitsDataModule is renamed TaskDigitsDataModule (the old name shadows "
            "ballroom.core.data.DigitsDataModule, a different protocol); the alias will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)
