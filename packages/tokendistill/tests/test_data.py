"""The DataModules: the spec's digits split and labelled subset, the shift augmentation, CIFAR offline, folders."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ballroom.tokendistill.data import (
    DigitsDistillDataModule,
    ImageFolderDataModule,
    STDVisionDataModule,
    random_shift,
    stratified_split,
)


def test_random_shift_equals_pad_and_crop_per_sample() -> None:
    torch.manual_seed(0)
    x = torch.randn(6, 2, 5, 5)
    gen = torch.Generator().manual_seed(3)
    got = random_shift(x, 1, generator=gen, fill=-0.5)
    off = torch.randint(0, 3, (2, 6), generator=torch.Generator().manual_seed(3))
    padded = F.pad(x, (1, 1, 1, 1), value=-0.5)
    for b in range(6):
        dy, dx = int(off[0, b]), int(off[1, b])
        assert torch.equal(got[b], padded[b, :, dy : dy + 5, dx : dx + 5])
    assert torch.equal(random_shift(x, 0), x)


def test_stratified_split_sizes_and_proportions() -> None:
    labels = torch.arange(100) % 4
    a, b = stratified_split(labels, [70, 30], seed=0)
    assert len(a) == 70 and len(b) == 30 and len(set(a.tolist()) | set(b.tolist())) == 100
    counts = torch.bincount(labels[b], minlength=4)
    assert int(counts.max() - counts.min()) <= 1
    assert torch.equal(stratified_split(labels, [70, 30], seed=0)[1], b)
    assert not torch.equal(stratified_split(labels, [70, 30], seed=1)[1], b)
    with pytest.raises(ValueError, match="sizes must be"):
        stratified_split(labels, [50, 40])


def test_digits_protocol_split_and_labelled_subset() -> None:
    dm = DigitsDistillDataModule(seed=0)
    dm.setup()
    train, test = dm.datasets["train"], dm.datasets["test"]  # type: ignore[index]
    x, y, mask = train.tensors
    assert len(y) == 1257 and len(test) == 540 and x.shape[1:] == (1, 8, 8)
    assert int(mask.sum()) == 300
    per_class = torch.bincount(y[mask], minlength=10)
    assert int(per_class.min()) >= 29 and int(per_class.max()) <= 31
    # standardised with the pool's statistics
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3
    base = DigitsDistillDataModule(train_on="labeled", seed=0)
    base.setup()
    xb, yb, mb = base.datasets["train"].tensors  # type: ignore[index]
    assert len(yb) == 300 and bool(mb.all())
    assert torch.equal(xb, x[mask]) and torch.equal(yb, y[mask])
    teacher = DigitsDistillDataModule(labeled=None, seed=0)
    teacher.setup()
    assert bool(teacher.datasets["train"].tensors[2].all())  # type: ignore[index]
    other = DigitsDistillDataModule(seed=1)
    other.setup()
    assert not torch.equal(other.datasets["test"].tensors[1], test.tensors[1])  # type: ignore[index]


def test_augmentation_only_while_training() -> None:
    class Trainer:
        training = True

    dm = DigitsDistillDataModule(seed=0)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    dm.trainer = Trainer()  # type: ignore[assignment]
    torch.manual_seed(0)
    shifted = dm.on_after_batch_transfer(batch, 0)
    assert not torch.equal(shifted[0], batch[0]) and torch.equal(shifted[2], batch[2])
    # the padding is the background value: a shifted digit never contains a value below it
    assert shifted[0].min().item() >= dm.fill - 1e-6
    dm.trainer.training = False  # type: ignore[union-attr]
    assert dm.on_after_batch_transfer(batch, 0) is batch


def _write_cifar10(root: Path, n: int = 12) -> None:
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, n)),
        }
        (folder / name).write_bytes(pickle.dumps(batch))


def test_cifar_through_core_offline_on_files_in_the_real_format(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    dm = STDVisionDataModule("cifar10", data_dir=str(tmp_path), val_size=10, labeled=20, batch_size=8)
    dm.setup()
    x, _y, mask = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 32, 32) and mask.dtype == torch.bool
    assert int(dm.datasets["train"].labeled.sum()) == 20 and len(dm.datasets["train"]) == 50  # type: ignore[index]
    assert len(dm.datasets["test"]) == 12  # type: ignore[index]
    with pytest.raises(FileNotFoundError, match="download=True"):
        STDVisionDataModule("cifar100", data_dir=str(tmp_path)).setup()


def test_image_folders(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("a", "b"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((40, 40, 3), 60 * i, dtype=np.uint8)).save(d / f"{i}.png")
    dm = ImageFolderDataModule(str(tmp_path), img_size=32, batch_size=4, num_workers=0)
    dm.setup()
    x, _y, mask = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 32, 32) and bool(mask.all())
    xv, yv = next(iter(dm.val_dataloader()))
    assert xv.shape == (4, 3, 32, 32) and sorted(yv.tolist()) == [0, 0, 1, 1]
