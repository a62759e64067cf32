"""DataModules with inputs scaled into the activation's range (digits ship with scikit-learn; no download by default).

- :class:`BregmanDigitsDataModule`: the spec's offline data, 8x8 digits ``/16`` -> ``scale_to_range``,
  stratified 70/30 train/test split (``random_state=0``).
- :class:`BregmanVisionDataModule`: MNIST (flattened, scaled into the range, 50k/10k split) and
  CIFAR-10/100 (random crop with 4-pixel padding + horizontal flip on train, normalised with mean
  ``(0.485, 0.456, 0.406)`` and std ``(0.229, 0.224, 0.225)``, 45k/5k split) through core's checksummed loaders.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset, get_worker_info

from ballroom.bregman.activations import get_activation
from ballroom.bregman.functional import scale_to_range
from ballroom.core.data import SplitDataModule, load_cifar10, load_cifar100, load_mnist
from ballroom.core.validate import check_int

__all__ = ["CIFAR_MEAN", "CIFAR_STD", "BregmanDigitsDataModule", "BregmanVisionDataModule", "CifarTrainSet"]

CIFAR_MEAN = (0.485, 0.456, 0.406)
CIFAR_STD = (0.229, 0.224, 0.225)


def load_digits_split(test_size: float = 0.3, random_state: int = 0) -> dict[str, tuple[Tensor, Tensor]]:
    """scikit-learn digits ``/16`` as ``{"train": (x (N, 64), y), "test": ...}``, stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    idx = torch.arange(len(y)).numpy()
    tr, te = train_test_split(idx, test_size=test_size, random_state=random_state, stratify=y.numpy())
    return {"train": (x[tr], y[tr]), "test": (x[te], y[te])}


class BregmanDigitsDataModule(SplitDataModule):
    """Digits as ``(x (B, 64) float32 in the activation's range, y (B,) int64)`` batches.

    Args:
        activation: the network's activation; pixels ``p in [0, 1]`` become ``(lo + eps) + (hi - lo - 2 eps) p``.
        eps: the margin of :func:`~ballroom.bregman.functional.scale_to_range`.
        test_size: fraction of the 1797 digits in the test split (stratified, ``split_seed``).
        val_size: fraction of the *training* split held out for validation; ``0`` (the spec's
            protocol) validates on the test split, for monitoring only.
        split_seed: ``random_state`` of the stratified splits (the spec uses 0).
        batch_size, num_workers, seed: loader settings (``seed`` fixes the shuffling).
    """

    num_classes = 10

    def __init__(
        self,
        activation: str = "sigmoid",
        eps: float = 1e-5,
        test_size: float = 0.3,
        val_size: float = 0.0,
        split_seed: int = 0,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        get_activation(activation)  # fail early on an unknown name
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must lie in (0, 1), got {test_size}")
        if not 0 <= val_size < 1:
            raise ValueError(f"val_size must lie in [0, 1), got {val_size}")
        self.activation, self.eps = activation, eps
        self.test_size, self.val_size, self.split_seed = test_size, val_size, split_seed

    def build(self) -> dict[str, Dataset]:
        from sklearn.model_selection import train_test_split

        parts = load_digits_split(self.test_size, self.split_seed)
        scaled = {k: (scale_to_range(x, self.activation, self.eps), y) for k, (x, y) in parts.items()}
        x_tr, y_tr = scaled["train"]
        if self.val_size > 0:
            idx = torch.arange(len(y_tr)).numpy()
            tr, va = train_test_split(
                idx, test_size=self.val_size, random_state=self.split_seed, stratify=y_tr.numpy()
            )
            train, val = TensorDataset(x_tr[tr], y_tr[tr]), TensorDataset(x_tr[va], y_tr[va])
        else:
            train, val = TensorDataset(x_tr, y_tr), TensorDataset(*scaled["test"])
        return {"train": train, "val": val, "test": TensorDataset(*scaled["test"])}


class CifarTrainSet(Dataset):
    """CIFAR training images with the spec's augmentation: ``(3, 32, 32)`` float in ``[0, 1]`` ->
    zero-pad 4, random 32x32 crop, horizontal flip with probability 1/2, normalise.

    The crops and flips draw from the dataset's own ``torch.Generator`` (torch's global RNG is never
    used or advanced): in the main process it is seeded from ``(seed, DDP rank)``; in a DataLoader
    worker it is re-seeded from ``(seed, DDP rank, the worker's seed)``, and a worker's seed is
    ``base_seed + worker_id`` with ``base_seed`` drawn from the DataLoader's generator (the
    DataModule's seeded one), so every worker has its own stream and a run is reproducible. The
    generator advances from epoch to epoch (persistent workers keep theirs), so crops do not repeat.

    Args:
        images: ``(N, 3, H, W)`` float images in ``[0, 1]``.
        labels: ``(N,)`` int64 labels.
        mean: ``(3, 1, 1)`` normalisation mean.
        std: ``(3, 1, 1)`` normalisation std.
        pad: the zero padding before the random crop.
        seed: the augmentation seed.
    """

    def __init__(
        self, images: Tensor, labels: Tensor, mean: Tensor, std: Tensor, pad: int = 4, seed: int = 0
    ) -> None:
        self.images, self.labels, self.mean, self.std, self.pad = images, labels, mean, std, pad
        self.seed = check_int(seed, "seed", min=0)
        self._generator: torch.Generator | None = None
        self._generator_key: tuple[int, int | None] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self) -> dict[str, object]:  # spawned workers and pickles start a fresh stream
        return {**self.__dict__, "_generator": None, "_generator_key": None}

    def generator(self) -> torch.Generator:
        """The augmentation generator of this process (created, or re-seeded in a new worker, on first use).

        Returns:
            a CPU ``torch.Generator`` seeded from ``(seed, DDP rank, worker seed or None)``.
        """
        info = get_worker_info()
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        key = (rank, None if info is None else int(info.seed))
        if self._generator is None or self._generator_key != key:
            mixed = [self.seed, rank] + ([] if key[1] is None else [key[1]])
            seed = int(np.random.SeedSequence(mixed).generate_state(1, dtype=np.uint64)[0]) >> 1
            self._generator, self._generator_key = torch.Generator().manual_seed(seed), key
        return self._generator

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        gen = self.generator()
        img = torch.nn.functional.pad(self.images[i], (self.pad,) * 4)
        size = self.images.shape[-1]
        top, left = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,), generator=gen))
        img = img[:, top : top + size, left : left + size]
        if bool(torch.rand((), generator=gen) < 0.5):
            img = img.flip(-1)
        return (img - self.mean) / self.std, self.labels[i]


class BregmanVisionDataModule(SplitDataModule):
    """MNIST or CIFAR-10/100 from ``data_dir`` through core's checksummed loaders (``download=False`` by default).

    MNIST batches are ``(B, 784)`` scaled into ``activation``'s range (for the MLPs); CIFAR batches
    ``(B, 3, 32, 32)`` normalised with :data:`CIFAR_MEAN`/:data:`CIFAR_STD`, augmented on train.
    ``val_size`` images of the official training set (seeded) form the validation split
    (default 10000 for MNIST, 5000 for CIFAR).

    Args:
        name: ``"mnist"``, ``"cifar10"`` or ``"cifar100"``.
        data_dir: the data folder (see :func:`ballroom.core.data.load_mnist`).
        download: fetch missing files.
        activation: the activation whose range MNIST pixels are scaled into.
        eps: the margin of that scaling (see :func:`~ballroom.bregman.functional.scale_to_range`).
        val_size: validation images, in ``(0, N_train)`` (``None``: the default above).
        augment: random crop (4-pixel padding) and horizontal flip of CIFAR training images, drawn
            from the training set's own generator seeded from ``seed`` (see :class:`CifarTrainSet`;
            torch's global RNG is not used).
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes.
        seed: chooses the validation images and seeds the shuffling and the augmentation.

    Raises:
        ValueError: an unknown ``name`` or ``activation``.
    """

    def __init__(
        self,
        name: Literal["mnist", "cifar10", "cifar100"] = "mnist",
        data_dir: str = "data",
        download: bool = False,
        activation: str = "sigmoid",
        eps: float = 1e-5,
        val_size: int | None = None,
        augment: bool = True,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if name not in ("mnist", "cifar10", "cifar100"):
            raise ValueError(f"name must be 'mnist', 'cifar10' or 'cifar100', got {name!r}")
        get_activation(activation)
        self.name, self.data_dir, self.download = name, data_dir, download
        self.activation, self.eps, self.augment = activation, eps, augment
        self.val_size = (10000 if name == "mnist" else 5000) if val_size is None else val_size

    def _load(self, split: Literal["train", "test"]) -> tuple[Tensor, Tensor]:
        if self.name == "mnist":
            return load_mnist(self.data_dir, split, download=self.download)
        loader = load_cifar10 if self.name == "cifar10" else load_cifar100
        return loader(self.data_dir, split, download=self.download)

    def prepare_data(self) -> None:
        self._load("train")
        self._load("test")

    def build(self) -> dict[str, Dataset]:
        from ballroom.core.data import split_indices

        x_train, y_train = self._load("train")
        x_test, y_test = self._load("test")
        n = len(y_train)
        if not 0 < self.val_size < n:
            raise ValueError(f"val_size must lie in (0, {n}), got {self.val_size}")
        tr, va = split_indices(n, [n - self.val_size, self.val_size], seed=self.seed)
        xs = {
            "train": x_train[tr].float() / 255,
            "val": x_train[va].float() / 255,
            "test": x_test.float() / 255,
        }
        ys = {"train": y_train[tr], "val": y_train[va], "test": y_test}
        if self.name == "mnist":
            return {
                s: TensorDataset(scale_to_range(x.flatten(1), self.activation, self.eps), ys[s])
                for s, x in xs.items()
            }
        mean = torch.tensor(CIFAR_MEAN).view(3, 1, 1)
        std = torch.tensor(CIFAR_STD).view(3, 1, 1)
        out: dict[str, Dataset] = {s: TensorDataset((xs[s] - mean) / std, ys[s]) for s in ("val", "test")}
        out["train"] = (
            CifarTrainSet(xs["train"], ys["train"], mean, std, seed=self.seed)
            if self.augment
            else TensorDataset((xs["train"] - mean) / std, ys["train"])
        )
        return out
