"""DataModules: digits scaled into the range; MNIST/CIFAR from small files in the real formats, offline."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.bregman import BregmanDigitsDataModule, BregmanVisionDataModule, two_spirals
from ballroom.bregman.data import CIFAR_MEAN, CIFAR_STD, CifarTrainSet


@pytest.mark.parametrize(("act", "lo", "hi"), [("sigmoid", 0.0, 1.0), ("tanh", -1.0, 1.0)])
def test_digits_are_scaled_into_the_range_with_a_stratified_split(act: str, lo: float, hi: float) -> None:
    dm = BregmanDigitsDataModule(activation=act)
    dm.setup()
    x, y = dm.datasets["train"].tensors
    assert x.shape == (1257, 64) and len(dm.datasets["test"]) == 540
    assert float(x.min()) == pytest.approx(lo + 1e-5, abs=1e-6) and float(x.max()) == pytest.approx(
        hi - 1e-5, abs=1e-6
    )
    counts = torch.bincount(y, minlength=10).float() / len(y)
    assert float((counts - 0.1).abs().max()) < 0.015  # stratified
    held = BregmanDigitsDataModule(val_size=0.1)
    held.setup()
    assert len(held.datasets["val"]) + len(held.datasets["train"]) == 1257
    with pytest.raises(ValueError, match="activation must be one of"):
        BregmanDigitsDataModule(activation="swish")
    with pytest.raises(ValueError, match="test_size"):
        BregmanDigitsDataModule(test_size=1.5)


def _idx(path: Path, arr: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_files_in_the_real_format_load_flattened_and_scaled(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        _idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)))
    dm = BregmanVisionDataModule("mnist", str(tmp_path), activation="tanh", val_size=5)
    dm.setup()
    x, _ = dm.datasets["train"].tensors
    assert x.shape == (25, 784) and float(x.min()) >= -1 + 1e-5 - 1e-7 and float(x.max()) <= 1 - 1e-5 + 1e-7
    assert len(dm.datasets["val"]) == 5 and len(dm.datasets["test"]) == 10
    with pytest.raises(FileNotFoundError, match="download=True"):
        BregmanVisionDataModule("mnist", str(tmp_path / "nothing")).setup()


def test_cifar_batches_in_the_real_format_with_augmentation(tmp_path: Path) -> None:
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, 4)),
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)
    dm = BregmanVisionDataModule("cifar10", str(tmp_path), val_size=4)
    dm.setup()
    torch.manual_seed(0)
    x, y = dm.datasets["train"][0]
    assert x.shape == (3, 32, 32) and y.dtype == torch.int64 and len(dm.datasets["train"]) == 16
    xv, _ = dm.datasets["val"].tensors
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    raw = xv * torch.tensor(CIFAR_STD).view(1, 3, 1, 1) + mean
    assert float(raw.min()) >= -1e-6 and float(raw.max()) <= 1 + 1e-6
    crops = {tuple(dm.datasets["train"][0][0][0, :2, :2].flatten().tolist()) for _ in range(20)}
    assert len(crops) > 1  # random crop / flip


def test_two_spirals_is_seeded_and_inside_atan_range() -> None:
    x, y = two_spirals(200, seed=3)
    x2, _ = two_spirals(200, seed=3)
    assert torch.equal(x, x2) and x.shape == (200, 2) and int(y.sum()) == 100
    assert float(x.abs().max()) == pytest.approx(1.57, abs=1e-6)
    with pytest.raises(ValueError, match="even"):
        two_spirals(3)


def _cifar_folder(tmp_path: Path, n: int = 4, same_image: bool = False) -> str:
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (1, 3072), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = np.repeat(image, n, 0) if same_image else rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": list(rng.integers(0, 10, n))}, fh)
    return str(tmp_path)


def _epochs(dm: BregmanVisionDataModule, n: int = 2) -> list[torch.Tensor]:
    loader = dm.train_dataloader()
    return [torch.cat([x for x, _ in loader]) for _ in range(n)]


def test_cifar_augmentation_is_seeded_by_the_datamodule_and_leaves_the_global_rng_alone(
    tmp_path: Path,
) -> None:
    root = _cifar_folder(tmp_path)
    runs = {}
    for key, seed, global_seed in (("a", 0, 1), ("b", 0, 2), ("c", 1, 1)):
        torch.manual_seed(global_seed)  # the global RNG must not matter
        dm = BregmanVisionDataModule("cifar10", root, val_size=4, batch_size=4, seed=seed)
        dm.setup()
        state = torch.get_rng_state()
        runs[key] = _epochs(dm)
        assert torch.equal(torch.get_rng_state(), state)  # augmentation did not draw from it
    assert all(torch.equal(a, b) for a, b in zip(runs["a"], runs["b"]))  # same seed: same batches
    assert not torch.equal(runs["a"][0], runs["a"][1])  # the crops move on from epoch to epoch
    # a different seed gives different crops of the same images (not only another split / order)
    same = [BregmanVisionDataModule("cifar10", root, val_size=4, seed=s) for s in (0, 1)]
    for dm in same:
        dm.setup()
    train0, train1 = (dm.datasets["train"] for dm in same)
    train1.images, train1.labels = train0.images, train0.labels
    crops0 = torch.stack([train0[i][0] for i in range(len(train0))])
    crops1 = torch.stack([train1[i][0] for i in range(len(train1))])
    assert not torch.equal(crops0, crops1)
    with pytest.raises(ValueError, match="seed"):
        CifarTrainSet(train0.images, train0.labels, train0.mean, train0.std, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        CifarTrainSet(train0.images, train0.labels, train0.mean, train0.std, seed=0.5)


def test_cifar_augmentation_gives_each_worker_its_own_reproducible_stream(tmp_path: Path) -> None:
    root = _cifar_folder(tmp_path, n=8, same_image=True)  # every image the same: only the crop differs
    batches = []
    for _ in range(2):
        dm = BregmanVisionDataModule("cifar10", root, val_size=4, batch_size=1, num_workers=2, seed=0)
        dm.setup()
        batches.append([x for x, _ in dm.train_dataloader()][:6])  # workers 0, 1, 0, 1, 0, 1
    assert all(torch.equal(a, b) for a, b in zip(*batches))  # reproducible with workers
    first = batches[0]
    # a generator copied into both workers would give batch 2k == batch 2k + 1 for every k
    assert not all(torch.equal(first[2 * k], first[2 * k + 1]) for k in range(3))
