"""The DataModule: scikit-learn's 8x8 digits (shipped, no download) split as the spec's reproduction.

For the paper's CIFAR-10/100 use core's checksummed loaders (``ballroom.core.data.load_cifar10`` /
``load_cifar100``, images ``uint8`` -> divide by 255 for STIR's ``[0, 1]`` inputs).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from ballroom.core.data import SplitDataModule, load_digits_images

__all__ = ["StirDataModule", "digits_split"]


def digits_split(seed: int = 0, n_train: int = 1400) -> dict[str, tuple[Tensor, Tensor]]:
    """The spec's split: digits ``/16`` as ``(N, 1, 8, 8)`` in ``[0, 1]`` (unnormalised), permuted with
    ``torch.randperm(1797, generator=seed)``; the first ``n_train`` train, the rest test."""
    images, labels = load_digits_images()
    perm = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    tr, te = perm[:n_train], perm[n_train:]
    return {"train": (images[tr], labels[tr]), "test": (images[te], labels[te])}


class StirDataModule(SplitDataModule):
    """Digits in ``[0, 1]`` as ``(x (B, 1, 8, 8), y (B,))``; 1400 train, 397 test (validation = test,
    as the spec's protocol has no separate validation split).

    Args:
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes.
        seed: the shuffling seed.
        split_seed: the seed of the 1400/397 split (see :func:`digits_split`).
    """

    def __init__(
        self, batch_size: int = 64, num_workers: int = 0, seed: int = 0, split_seed: int = 0
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.split_seed = split_seed

    def build(self) -> dict[str, Dataset]:
        parts = digits_split(self.split_seed)
        test = TensorDataset(*parts["test"])
        return {"train": TensorDataset(*parts["train"]), "val": test, "test": test}
