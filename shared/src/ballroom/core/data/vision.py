"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 from their standard files, with checksummed download.

For users who have a network: nothing here downloads unless ``download=True``. The readers take the
original formats (gzipped or raw IDX files; the CIFAR-10 "python version" pickled batches), so files
fetched by other tools (torchvision's ``raw/`` folders, say) are read as they are.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from ballroom.core.data._base import SplitDataModule, split_indices
from ballroom.core.data.download import download_url, extract_archive, load_pickle

__all__ = ["VISION_FILES", "VisionDataModule", "load_cifar10", "load_cifar100", "load_mnist", "read_idx"]

Variant = Literal["mnist", "fashion_mnist"]

# file name -> SHA-256 of the published archive (the same bytes on every mirror).
VISION_FILES: dict[str, dict[str, object]] = {
    "mnist": {
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        "files": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion_mnist": {
        "mirrors": [
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ],
        "files": {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    },
    "cifar10": {
        "mirrors": ["https://www.cs.toronto.edu/~kriz/"],
        "files": {
            "cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
        },
    },
    "cifar100": {
        "mirrors": ["https://www.cs.toronto.edu/~kriz/"],
        "files": {
            "cifar-100-python.tar.gz": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
        },
    },
}

_IDX_DTYPES: dict[int, type[np.generic] | np.dtype[Any]] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzipped when the name ends in ``.gz``) into an array of its stored shape.

    Args:
        path: the IDX file.

    Returns:
        A numpy array of the header's shape and dtype, in native byte order.

    Raises:
        ValueError: bad magic number, unknown data type, or a body whose size disagrees with the header.
    """
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path.name} is not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path.name}: unknown IDX data type 0x{code:02x}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    body = raw[4 + 4 * ndim :]
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(body) != expected:
        raise ValueError(
            f"{path.name}: header says {dims} ({expected} bytes of data) but {len(body)} bytes follow"
        )
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _fetch_all(name: str, folder: Path, wanted: list[str]) -> None:
    spec = VISION_FILES[name]
    mirrors: list[str] = spec["mirrors"]  # type: ignore[assignment]
    files: dict[str, str] = spec["files"]  # type: ignore[assignment]
    for fname in wanted:
        download_url([m + fname for m in mirrors], folder / fname, files[fname])


def _find(folder: Path, fname: str) -> Path | None:
    for candidate in (folder / fname, folder / fname.removesuffix(".gz")):
        if candidate.exists():
            return candidate
    return None


def load_mnist(
    root: str | os.PathLike[str],
    split: Literal["train", "test"] = "train",
    variant: Variant = "mnist",
    download: bool = False,
) -> tuple[Tensor, Tensor]:
    """MNIST or Fashion-MNIST from ``root/<variant>/``: ``(images (N, 1, 28, 28) uint8, labels (N,) int64)``.

    Reads the four standard IDX files, gzipped or not. With ``download=True`` missing files are
    fetched and checked against their SHA-256.

    Args:
        root: the data folder; the files live in ``root/<variant>/``.
        split: ``"train"`` (60000 images) or ``"test"`` (10000).
        variant: ``"mnist"`` or ``"fashion_mnist"``.
        download: fetch missing files.

    Raises:
        ValueError: an unknown ``variant`` or ``split``, or files whose images and labels do not pair up.
        FileNotFoundError: files are missing and ``download`` is False.
    """
    if variant not in ("mnist", "fashion_mnist"):
        raise ValueError(f"variant must be 'mnist' or 'fashion_mnist', got {variant!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(root) / variant
    prefix = "train" if split == "train" else "t10k"
    names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    paths = [_find(folder, n) for n in names]
    if any(p is None for p in paths):
        if not download:
            raise FileNotFoundError(
                f"{variant} {split} files not found in {folder} (expected {names}); pass download=True to fetch them"
            )
        _fetch_all(variant, folder, [n for n, p in zip(names, paths) if p is None])
        paths = [_find(folder, n) for n in names]
    images, labels = read_idx(paths[0]), read_idx(paths[1])  # type: ignore[arg-type]
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{variant} {split}: images {images.shape} and labels {labels.shape} do not pair up")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _load_cifar(
    root: str | os.PathLike[str], name: str, split: str, download: bool, names: list[str], label_key: bytes
) -> tuple[Tensor, Tensor]:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(root) / name
    archive_name = next(iter(VISION_FILES[name]["files"]))  # type: ignore[call-overload]
    batches = folder / archive_name.removesuffix(".tar.gz").replace("cifar-10-python", "cifar-10-batches-py")
    archive = folder / archive_name
    if not batches.is_dir():
        if not archive.exists():
            if not download:
                raise FileNotFoundError(f"{name} not found in {folder}; pass download=True to fetch it")
            _fetch_all(name, folder, [archive_name])
        extract_archive(archive, folder)
    xs, ys = [], []
    for part in names:
        batch = load_pickle(batches / part)  # restricted: numpy arrays and builtin containers only
        if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
            raise ValueError(f"{batches / part} is not a CIFAR batch (a dict with b'data' and {label_key!r})")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def load_cifar10(
    root: str | os.PathLike[str], split: Literal["train", "test"] = "train", download: bool = False
) -> tuple[Tensor, Tensor]:
    """CIFAR-10 from ``root/cifar10/``: ``(images (N, 3, 32, 32) uint8, labels (N,) int64)``.

    Reads the "python version" batches in ``cifar-10-batches-py/`` (extracting
    ``cifar-10-python.tar.gz`` when only the archive is there; ``download=True`` fetches it).
    The batches are pickles, read with a restricted unpickler (numpy arrays only: a file that asks
    for any other global is refused with ``UnsafePickleError``).

    Args:
        root: the data folder; the files live in ``root/cifar10/``.
        split: ``"train"`` (50000 images) or ``"test"`` (10000).
        download: fetch the archive when neither it nor the batches are there.

    Raises:
        ValueError: an unknown ``split``.
        FileNotFoundError: the data is missing and ``download`` is False.
    """
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    return _load_cifar(root, "cifar10", split, download, names, b"labels")


def load_cifar100(
    root: str | os.PathLike[str],
    split: Literal["train", "test"] = "train",
    download: bool = False,
    labels: Literal["fine", "coarse"] = "fine",
) -> tuple[Tensor, Tensor]:
    """CIFAR-100 from ``root/cifar100/``: ``(images (N, 3, 32, 32) uint8, labels (N,) int64)``.

    ``labels="fine"`` gives the 100 classes, ``"coarse"`` the 20 superclasses. Reads
    ``cifar-100-python/{train,test}`` (pickles; extracted from ``cifar-100-python.tar.gz`` when needed).

    Args:
        root: the data folder; the files live in ``root/cifar100/``.
        split: ``"train"`` (50000 images) or ``"test"`` (10000).
        download: fetch the archive when neither it nor the extracted files are there.
        labels: ``"fine"`` or ``"coarse"``.

    Raises:
        ValueError: an unknown ``split`` or ``labels``.
        FileNotFoundError: the data is missing and ``download`` is False.
    """
    if labels not in ("fine", "coarse"):
        raise ValueError(f"labels must be 'fine' or 'coarse', got {labels!r}")
    return _load_cifar(root, "cifar100", split, download, [split], f"{labels}_labels".encode())


class VisionDataModule(SplitDataModule[TensorDataset]):
    """MNIST, Fashion-MNIST, CIFAR-10 or CIFAR-100 as ``(x (B, C, H, W) float32, y (B,) int64)`` batches.

    The official test set is the test split; ``val_size`` images of the official training set, chosen
    by ``seed``, are the validation split. Pixels are scaled to ``[0, 1]`` and (``normalize=True``)
    standardised per channel with the training split's statistics. ``prepare_data`` downloads only
    when ``download=True``; otherwise missing files raise ``FileNotFoundError`` naming the folder.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"cifar100"`` (fine labels).
        data_dir: the data folder (files under ``data_dir/<name>/``).
        download: let ``prepare_data`` fetch missing files.
        val_size: training images held out for validation, in ``[0, N_train)``.
        normalize: standardise per channel with the training split's statistics.
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes (0: load in the main process).
        seed: chooses the validation images and seeds the shuffling.

    Raises:
        ValueError: an unknown ``name`` (``val_size`` out of range raises when the data is built).
    """

    def __init__(
        self,
        name: Literal["mnist", "fashion_mnist", "cifar10", "cifar100"] = "mnist",
        data_dir: str = "data",
        download: bool = False,
        val_size: int = 5000,
        normalize: bool = True,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if name not in VISION_FILES:
            raise ValueError(f"name must be one of {sorted(VISION_FILES)}, got {name!r}")
        self.name = name
        self.data_dir = data_dir
        self.download = download
        self.val_size = val_size
        self.normalize = normalize

    def _load(self, split: Literal["train", "test"]) -> tuple[Tensor, Tensor]:
        if self.name == "cifar10":
            return load_cifar10(self.data_dir, split, download=self.download)
        if self.name == "cifar100":
            return load_cifar100(self.data_dir, split, download=self.download)
        return load_mnist(self.data_dir, split, variant=self.name, download=self.download)  # type: ignore[arg-type]

    def prepare_data(self) -> None:
        for split in ("train", "test"):
            self._load(split)

    def build(self) -> dict[str, TensorDataset]:
        x_train, y_train = self._load("train")
        x_test, y_test = self._load("test")
        if not 0 <= self.val_size < len(y_train):
            raise ValueError(f"val_size must lie in [0, {len(y_train)}), got {self.val_size}")
        tr, va = split_indices(len(y_train), [len(y_train) - self.val_size, self.val_size], seed=self.seed)
        xs = {
            "train": x_train[tr].float() / 255,
            "val": x_train[va].float() / 255,
            "test": x_test.float() / 255,
        }
        ys = {"train": y_train[tr], "val": y_train[va], "test": y_test}
        if self.normalize:
            dims = (0, 2, 3)
            mean = xs["train"].mean(dims, keepdim=True)
            std = xs["train"].std(dims, keepdim=True).clamp_min(1e-8)
            xs = {s: (x - mean) / std for s, x in xs.items()}
        return {s: TensorDataset(xs[s], ys[s]) for s in xs}
