"""The digits tasks (single, multi, continual) and the real-dataset module on locally written files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.dualform import ImageDataModule, TaskDigitsDataModule, TaskSequenceSampler, permute_pixels


def test_single_split_is_the_spec_protocol() -> None:
    dm = TaskDigitsDataModule()
    dm.setup()
    assert dm.datasets is not None
    x, y, idx, d = dm.datasets["train"].tensors
    assert x.shape == (1257, 64) and len(dm.datasets["test"]) == 540
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0  # (x/16 - 0.5) / 0.5
    assert torch.equal(idx, torch.arange(1257)) and (d == 0).all()
    counts = torch.bincount(dm.datasets["test"].tensors[1])
    total = counts + torch.bincount(y)
    assert ((counts - 0.3 * total).abs() <= 1).all()  # stratified


def test_multi_mode_mixes_both_tasks() -> None:
    dm = TaskDigitsDataModule(mode="multi", batch_size=64)
    _x, _y, idx, d = next(iter(dm.train_dataloader()))
    assert set(d.tolist()) == {0, 1} and len(set(idx.tolist())) == 64
    train = dm.datasets["train"].tensors  # type: ignore[index]
    assert dm.num_train == 2 * 1257 and torch.equal(train[1][:1257], train[1][1257:])
    torch.testing.assert_close(train[0][1257:], permute_pixels(train[0][:1257]))
    assert not torch.equal(train[0][1257:], train[0][:1257])


def test_continual_loader_switches_tasks_once() -> None:
    dm = TaskDigitsDataModule(mode="continual", batch_size=16, steps_per_task=30)
    batches = list(dm.train_dataloader())
    assert len(batches) == 60
    tasks = [set(b[3].tolist()) for b in batches]
    assert all(t == {0} for t in tasks[:30]) and all(t == {1} for t in tasks[30:])
    assert all(len(b[0]) == 16 for b in batches)


def test_task_sequence_sampler_validates() -> None:
    with pytest.raises(ValueError, match="fewer than batch_size"):
        TaskSequenceSampler([torch.arange(3)], 2, 4)
    with pytest.raises(ValueError, match="mode must be"):
        TaskDigitsDataModule(mode="both")  # type: ignore[arg-type]


def _idx(array: np.ndarray) -> bytes:
    dims = b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return bytes([0, 0, 8, array.ndim]) + dims + array.astype(np.uint8).tobytes()


def _write(folder: Path, n: int, prefix: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(_idx(rng.integers(0, 256, (n, 28, 28))))
    )
    (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(rng.integers(0, 10, (n,)))))


def test_image_datamodule_reads_mnist_format_files(tmp_path: Path) -> None:
    for i, variant in enumerate(("mnist", "fashion_mnist")):
        _write(tmp_path / variant, 40, "train", seed=i)
        _write(tmp_path / variant, 10, "t10k", seed=10 + i)
    dm = ImageDataModule(mode="continual", data_dir=str(tmp_path), val_size=8, batch_size=4, steps_per_task=3)
    dm.setup()
    assert dm.datasets is not None and dm.in_features == 784
    x, _y, idx, d = dm.datasets["train"].tensors
    assert x.shape == (64, 784) and d.tolist() == [0] * 32 + [1] * 32 and idx.tolist() == list(range(64))
    assert abs(float(x[:32].mean())) < 1e-4  # standardised by the training mean/std
    assert [set(b[3].tolist()) for b in dm.train_dataloader()] == [{0}] * 3 + [{1}] * 3
    with pytest.raises(FileNotFoundError, match="download=True"):
        ImageDataModule(data_dir=str(tmp_path / "empty")).setup()
    with pytest.raises(ValueError, match="single"):
        ImageDataModule(name="cifar10", mode="multi")
