"""Real-dataset streams offline: tiny MNIST files in the real (gzipped IDX) format, and the DataModule."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from ballroom.neurocoder import NeurocoderDataModule, load_stream
from ballroom.neurocoder.data import MNIST_MEAN, MNIST_STD


def _write_idx(path: Path, array: np.ndarray) -> None:
    code = 0x08  # uint8
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def _fake_mnist(root: Path, n: int = 40) -> None:
    rng = np.random.default_rng(0)
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)


def test_mnist_split_stream_from_idx_files(tmp_path: Path) -> None:
    _fake_mnist(tmp_path)
    tasks = load_stream("mnist", "split", root=tmp_path)
    assert len(tasks) == 5 and [t.classes for t in tasks][1] == (2, 3)
    x, y = tasks[0].train.tensors
    assert x.shape == (8, 1024) and set(y.tolist()) == {0, 1}
    # padded to 32x32 with zeros, normalised with the released mean/std: the border is -mean/std
    img = x[0].view(32, 32)
    torch.testing.assert_close(img[0], torch.full((32,), -MNIST_MEAN / MNIST_STD))
    perm = load_stream("mnist", "permuted", num_tasks=2, root=tmp_path)
    assert len(perm) == 2 and perm[1].train.tensors[0].shape == (40, 1024)


def test_datamodule_task_and_all_classes() -> None:
    dm = NeurocoderDataModule(task=2)
    dm.setup()
    x, y = dm.datasets["train"].tensors  # type: ignore[index,union-attr]
    assert x.shape[1] == 64 and set(y.tolist()) == {0, 1} and dm.num_classes == 2
    full = NeurocoderDataModule()
    full.setup()
    assert set(full.datasets["test"].tensors[1].tolist()) == set(range(10))  # type: ignore[index,union-attr]


def _fake_cifar10(root: Path, n: int = 20) -> None:
    import pickle

    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    # channel c of every image holds the value 50 * (c + 1): the normalisation is checkable per channel
    img = np.concatenate([np.full(1024, 50 * (c + 1), dtype=np.uint8) for c in range(3)])
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": np.tile(img, (n, 1)), b"labels": list(np.arange(n) % 10)}
        (folder / name).write_bytes(pickle.dumps(batch))


def test_cifar_stream_uses_the_released_per_channel_normalisation(tmp_path: Path) -> None:
    from ballroom.neurocoder.data import CIFAR_STATS

    _fake_cifar10(tmp_path)
    tasks = load_stream("cifar10", "split", root=tmp_path)
    x, y = tasks[0].train.tensors
    assert x.shape == (5 * 2 * 2, 3072) and set(y.tolist()) == {0, 1}
    mean, std = CIFAR_STATS["cifar10"]
    for c in range(3):  # flattened channel-first: channel c is features [1024 c, 1024 (c + 1))
        want = (50 * (c + 1) / 255.0 - mean[c]) / std[c]
        torch.testing.assert_close(x[:, 1024 * c : 1024 * (c + 1)], torch.full((len(x), 1024), want))
