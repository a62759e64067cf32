"""The DataModules: scikit-learn's digits as the spec prepares them (shipped, no download), and the
paper-scale MNIST / FashionMNIST through core's checksummed loaders (download only when asked)."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from ballroom.core.data import SplitDataModule
from ballroom.core.validate import check_number

__all__ = ["PCNDigitsDataModule", "PCNVisionDataModule", "load_digits_flat"]


def load_digits_flat(
    test_fraction: float = 0.3, seed: int = 0
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Digits as ``x / 16`` in ``[0, 1]`` ``(N, 64)`` float32 and labels ``(N,)`` int64, split
    stratified into ``train`` / ``test`` (sklearn ``train_test_split``, ``random_state=seed``)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_fraction = check_number(test_fraction, "test_fraction", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    tr, te = train_test_split(
        torch.arange(len(y)).numpy(), test_size=test_fraction, random_state=seed, stratify=y.numpy()
    )
    tr_t, te_t = torch.as_tensor(tr), torch.as_tensor(te)
    return {"train": (x[tr_t], y[tr_t]), "test": (x[te_t], y[te_t])}


class PCNDigitsDataModule(SplitDataModule[TensorDataset]):
    """Digits ``(x (B, 64) in [0, 1], y (B,))``, stratified 70/30 train/test (the spec's split).

    The validation loader reads the test split (the spec has no third split); ``test_fraction``
    and ``seed`` fix the split, ``seed`` also the shuffling.

    Args:
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes.
        seed: the split's ``random_state`` and the shuffling seed.
        test_fraction: the stratified test fraction, in ``(0, 1)``.
    """

    num_classes = 10

    def __init__(
        self, batch_size: int = 32, num_workers: int = 0, seed: int = 0, test_fraction: float = 0.3
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.test_fraction = check_number(
            test_fraction, "test_fraction", lo=0.0, hi=1.0, lo_open=True, hi_open=True
        )

    def build(self) -> dict[str, TensorDataset]:
        parts = load_digits_flat(self.test_fraction, self.seed)
        train, test = TensorDataset(*parts["train"]), TensorDataset(*parts["test"])
        return {"train": train, "val": test, "test": test}


class PCNVisionDataModule(SplitDataModule[TensorDataset]):
    """MNIST or FashionMNIST flattened to ``(B, 784)`` in ``[0, 1]`` (core's loaders: download with
    checksums into ``data_dir`` only when ``download=True``); ``val`` is the test split.

    Args:
        name: ``"mnist"`` or ``"fashion_mnist"``.
        data_dir: the data folder (see :func:`ballroom.core.data.load_mnist`).
        download: fetch missing files.
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes.
        seed: the shuffling seed.

    Raises:
        ValueError: an unknown ``name``.
    """

    num_classes = 10

    def __init__(
        self,
        name: str = "mnist",
        data_dir: str = "data",
        download: bool = False,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if name not in ("mnist", "fashion_mnist"):
            raise ValueError(f"name must be one of ['mnist', 'fashion_mnist'], got {name!r}")
        self.name, self.data_dir, self.download = name, data_dir, download

    def _load(self, split: str) -> TensorDataset:
        from ballroom.core.data import load_mnist

        images, labels = load_mnist(self.data_dir, split, self.name, download=self.download)  # type: ignore[arg-type]
        x = images.to(torch.float32).reshape(len(images), -1) / 255.0
        return TensorDataset(x, labels)

    def build(self) -> dict[str, TensorDataset]:
        train, test = self._load("train"), self._load("test")
        return {"train": train, "val": test, "test": test}
