"""Data: rotated digits (offline, from ballroom-core) and the MNIST-rot loader for users with a network.

Offline default: :class:`ballroom.core.data.RotatedDigitsDataModule` (scikit-learn's 1797 digits,
upsampled to 24x24 on a 28x28 canvas, rotated). :class:`MNISTRotDataModule` reads the real MNIST-rot
(Larochelle et al. 2007; 12k train / 50k test, 28x28 amat text files) from ``mnist_rotation_new.zip``,
downloading it only when asked (``download=True``) and verifying its MD5.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from ballroom.core.data import (
    RotatedDigitsDataModule,
    SplitDataModule,
    download_url,
    load_digits_images,
    render_digits,
    rotate_images,
    split_indices,
)

__all__ = [
    "MNIST_ROT_MD5",
    "MNIST_ROT_URL",
    "MNISTRotDataModule",
    "RotatedDigitsDataModule",
    "digits_protocol",
    "download_mnist_rot",
    "read_amat",
    "rotate_about_background",
]

MNIST_ROT_URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_new.zip"
#: MD5 of ``mnist_rotation_new.zip`` as published with the dataset's mirrors.
MNIST_ROT_MD5 = "0f9a947ff3d30e95cd685462cbf3b847"
MNIST_ROT_FILES = {
    "train": "mnist_all_rotation_normalized_float_train_valid.amat",
    "test": "mnist_all_rotation_normalized_float_test.amat",
}
#: The official code's MNIST-rot normalisation.
MNIST_ROT_MEAN, MNIST_ROT_STD = 0.13, 0.297


def rotate_about_background(x: Tensor, angles: Tensor | float) -> Tensor:
    """Rotate standardised images whose background is their minimum value (``(B, C, S, S)``).

    :func:`ballroom.core.data.rotate_images` fills with zeros; standardised digits have background
    ``-mean/std``, so the image is shifted to a zero background, rotated and shifted back.

    Args:
        x: standardised images ``(B, C, S, S)``, float; each image's minimum is taken as its background.
        angles: counter-clockwise angles in radians, a scalar or ``(B,)``.

    Returns:
        The rotated images ``(B, C, S, S)``, corners filled with each image's background value.
    """
    background = x.amin(dim=(-2, -1), keepdim=True)
    return rotate_images(x - background, angles) + background


def read_amat(path: str | os.PathLike[str], side: int = 28) -> tuple[Tensor, Tensor]:
    """Parse a Larochelle ``.amat`` file: one image per line, ``side**2`` floats then the label.

    Args:
        path: the ``.amat`` file.
        side: image side length; default 28 (each row holds ``side**2 + 1`` numbers).

    Returns:
        ``(images (N, 1, side, side) float32, labels (N,) int64)``.

    Raises:
        ValueError: if a row does not hold ``side**2 + 1`` numbers, or a label is not an integer in 0..9.
    """
    data = np.loadtxt(path, dtype=np.float32, ndmin=2)
    if data.shape[1] != side * side + 1:
        raise ValueError(
            f"{path}: expected {side * side + 1} columns per row (pixels + label), got {data.shape[1]}"
        )
    labels = data[:, -1]
    if not np.all((labels == np.round(labels)) & (labels >= 0) & (labels <= 9)):
        raise ValueError(f"{path}: the last column must hold integer labels 0..9")
    images = torch.from_numpy(np.ascontiguousarray(data[:, :-1])).view(-1, 1, side, side)
    return images, torch.from_numpy(labels.astype(np.int64))


def download_mnist_rot(
    root: str | os.PathLike[str], url: str = MNIST_ROT_URL, md5: str = MNIST_ROT_MD5
) -> Path:
    """Download ``mnist_rotation_new.zip`` into ``root`` (kept if present with the right MD5) and unpack
    its two amat files into ``root``."""
    root = Path(root)
    archive = download_url(url, root / "mnist_rotation_new.zip", md5=md5)
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            target = root / Path(name).name
            if Path(name).name in MNIST_ROT_FILES.values() and not target.exists():
                target.write_bytes(zf.read(name))
    return root


class MNISTRotDataModule(SplitDataModule):
    """MNIST-rot: 12,000 training images (``val_size`` of them held out) and 50,000 test images.

    ``root`` holds the two ``.amat`` files (or the zip, which is unpacked). ``download=True`` fetches
    the archive (MD5-checked) when the files are missing; nothing is downloaded otherwise.
    Images are normalised with the official code's mean 0.13 and std 0.297.

    Args:
        root: the folder with the ``.amat`` files (or the zip, or where to download them).
        download: fetch the archive when the files are missing; default False.
        val_size: training images held out for validation (``0 <= val_size < 12000``); default 2000.
        batch_size: batch size of every loader; default 64.
        num_workers: ``DataLoader`` workers; default 0.
        seed: seed of the train/validation split; default 0.

    Raises:
        FileNotFoundError: at setup, if the files are missing and neither the zip nor ``download`` is there.
        ValueError: at setup, if ``val_size`` is out of range.
    """

    num_classes = 10

    def __init__(
        self,
        root: str | os.PathLike[str],
        download: bool = False,
        val_size: int = 2000,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.root, self.download, self.val_size = Path(root), download, val_size

    def _files(self) -> dict[str, Path]:
        files = {split: self.root / name for split, name in MNIST_ROT_FILES.items()}
        if all(f.exists() for f in files.values()):
            return files
        if (self.root / "mnist_rotation_new.zip").exists() or self.download:
            download_mnist_rot(self.root)
            return files
        raise FileNotFoundError(
            f"MNIST-rot not found in {self.root} (need {', '.join(MNIST_ROT_FILES.values())}); "
            "pass download=True to fetch it"
        )

    def build(self) -> dict[str, TensorDataset]:
        files = self._files()
        x_train, y_train = read_amat(files["train"])
        x_test, y_test = read_amat(files["test"])
        if not 0 <= self.val_size < len(y_train):
            raise ValueError(f"val_size must be in [0, {len(y_train)}), got {self.val_size}")
        train_idx, val_idx = split_indices(
            len(y_train), [len(y_train) - self.val_size, self.val_size], self.seed
        )
        norm = lambda x: (x - MNIST_ROT_MEAN) / MNIST_ROT_STD  # noqa: E731
        val = val_idx if self.val_size else train_idx[:0]
        return {
            "train": TensorDataset(norm(x_train[train_idx]), y_train[train_idx]),
            "val": TensorDataset(norm(x_train[val]), y_train[val]),
            "test": TensorDataset(norm(x_test), y_test),
        }


def digits_protocol(
    protocol: str, train_size: int = 1200, seed: int = 0, batch_size: int = 64
) -> tuple[RotatedDigitsDataModule, dict[str, tuple[Tensor, Tensor]]]:
    """The spec's offline rotated-digits protocols on scikit-learn's digits (1200 train / 597 test).

    ``protocol``: ``"A"`` (train and test at uniformly random angles) or ``"upright"`` (train upright;
    the test images are rotated at random angles: protocol B; B90 rotates the upright test set by
    right angles). Returns the data module (its ``val`` split is the test split: no model selection)
    and evaluation sets ``{"rotated": ..., "upright": ...}`` of ``(x (597, 1, 28, 28), y)``, both
    standardised with the training split's statistics. ``train_size < 1200`` keeps a seeded subset
    of the training split (the sample-efficiency probe). Every image is rendered from the 8x8 digit
    in one bilinear resampling (resize x3, pad, rotate: ``render_digits``), so rotated test images
    are as sharp as upright ones and ``upright - rotated`` measures orientation alone.

    Args:
        protocol: ``"A"`` or ``"upright"`` (see above).
        train_size: training images kept, in ``[1, 1200]``; default 1200 (all).
        seed: seed of the split, the rotation angles and the training subset; default 0.
        batch_size: the data module's batch size; default 64.

    Returns:
        ``(data_module, eval_sets)``: the set-up data module and ``{"rotated": (x, y), "upright": (x, y)}``
        with ``x (597, 1, 28, 28)`` float and ``y (597,)`` int64.

    Raises:
        ValueError: if ``protocol`` or ``train_size`` is out of range.
    """
    if protocol not in ("A", "upright"):
        raise ValueError(f"protocol must be 'A' or 'upright', got {protocol!r}")
    if not 1 <= train_size <= 1200:
        raise ValueError(f"train_size must be in [1, 1200], got {train_size}")
    dm = _ProtocolDigits(
        train_size=train_size,
        rotate="all" if protocol == "A" else "test",
        split=(1200, 0, 597),
        batch_size=batch_size,
        seed=seed,
        single_resample=True,
    )
    dm.setup()
    small, labels = load_digits_images()
    test_idx = dm.indices["test"]
    upright = (render_digits(small[test_idx], 0.0, 28, 2) - dm.mean) / dm.std
    rotated = dm.datasets["test"].tensors[0]  # type: ignore[index]  # datasets is set: dm.setup() ran above
    return dm, {"rotated": (rotated, labels[test_idx]), "upright": (upright, labels[test_idx])}


class _ProtocolDigits(RotatedDigitsDataModule):
    """Rotated digits whose validation split is the test split (the spec's 1200/597 split)."""

    def __init__(self, train_size: int = 1200, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.train_size = train_size

    def build(self) -> dict[str, TensorDataset]:
        datasets = super().build()
        if self.train_size < len(datasets["train"]):
            gen = torch.Generator().manual_seed(self.seed + 7)
            keep = torch.randperm(len(datasets["train"]), generator=gen)[: self.train_size]
            x, y = datasets["train"].tensors
            datasets["train"] = TensorDataset(x[keep], y[keep])
        datasets["val"] = datasets["test"]
        return datasets


def random_angles(n: int, seed: int) -> Tensor:
    """``n`` seeded angles uniform in ``[0, 2 pi)`` (float64)."""
    return torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * (2 * math.pi)
