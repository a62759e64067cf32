"""Data: the MNIST-rot amat reader and data module (offline, on files in the real format), the
rotated-digits protocols and rotation about the background value."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.core.data import ChecksumError, load_digits_images, render_digits
from ballroom.sepgcnn.data import (
    MNIST_ROT_FILES,
    MNISTRotDataModule,
    digits_protocol,
    download_mnist_rot,
    read_amat,
    rotate_about_background,
)


def _write_amat(path: Path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.random((n, 784)).astype(np.float32)
    labels = rng.integers(0, 10, n)
    with open(path, "w") as fh:
        for img, lab in zip(images, labels):
            fh.write(" ".join(f"{v:.8e}" for v in img) + f" {float(lab):.8e}\n")
    return images, labels


def test_read_amat_and_errors(tmp_path: Path) -> None:
    images, labels = _write_amat(tmp_path / "a.amat", 5, 0)
    x, y = read_amat(tmp_path / "a.amat")
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_allclose(x.view(5, -1).numpy(), images, rtol=1e-6)
    assert y.tolist() == labels.tolist()
    (tmp_path / "bad.amat").write_text("0.5 0.5 3\n")
    with pytest.raises(ValueError, match="785 columns"):
        read_amat(tmp_path / "bad.amat")
    (tmp_path / "label.amat").write_text(" ".join(["0"] * 784) + " 11\n")
    with pytest.raises(ValueError, match="labels 0..9"):
        read_amat(tmp_path / "label.amat")


def test_mnist_rot_datamodule_from_zip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _write_amat(src / MNIST_ROT_FILES["train"], 12, 1)
    _write_amat(src / MNIST_ROT_FILES["test"], 7, 2)
    root = tmp_path / "root"
    root.mkdir()
    with zipfile.ZipFile(root / "mnist_rotation_new.zip", "w") as zf:
        for name in MNIST_ROT_FILES.values():
            zf.write(src / name, f"mnist_rotation_new/{name}")
    with pytest.raises(ChecksumError, match="MD5"):  # a zip that is not the published archive is refused
        MNISTRotDataModule(root, val_size=2).setup()
    dm = MNISTRotDataModule(root, val_size=2, batch_size=4)
    (root / "mnist_rotation_new.zip").unlink()
    with pytest.raises(FileNotFoundError, match="download=True"):
        dm.setup()
    for name in MNIST_ROT_FILES.values():
        (root / name).write_bytes((src / name).read_bytes())
    dm.setup()
    sizes = {s: len(dm.datasets[s]) for s in ("train", "val", "test")}  # type: ignore[index]
    assert sizes == {"train": 10, "val": 2, "test": 7}
    x, _y = next(iter(dm.train_dataloader()))
    raw, _ = read_amat(root / MNIST_ROT_FILES["train"])
    assert x.shape == (4, 1, 28, 28) and float(x.min()) >= (0 - 0.13) / 0.297 - 1e-6
    assert float(x.max()) <= (1 - 0.13) / 0.297 + 1e-6 and float(raw.min()) >= 0


def test_download_refuses_a_bad_archive(tmp_path: Path) -> None:
    (tmp_path / "mnist_rotation_new.zip").write_bytes(b"not the archive")
    with pytest.raises(ChecksumError, match="MD5"):
        download_mnist_rot(tmp_path)


def test_digits_protocols() -> None:
    dm, evals = digits_protocol("A", seed=0)
    x_rot, y = evals["rotated"]
    x_up, y_up = evals["upright"]
    assert x_rot.shape == x_up.shape == (597, 1, 28, 28) and torch.equal(y, y_up)
    assert len(dm.datasets["train"]) == 1200 and dm.datasets["val"] is dm.datasets["test"]  # type: ignore[index]
    # rotated and upright test images: the same digits rendered in one resampling at the recorded
    # angles and at 0, standardised alike; a right angle gives exactly the rotated upright image
    small, _ = load_digits_images()
    idx = dm.indices["test"]
    again = (render_digits(small[idx], dm.angles["test"], 28, 2) - dm.mean) / dm.std
    torch.testing.assert_close(again, x_rot)
    quarter = (render_digits(small[idx], math.pi / 2, 28, 2) - dm.mean) / dm.std
    torch.testing.assert_close(quarter, torch.rot90(x_up, 1, (-2, -1)), rtol=0, atol=1e-4)
    blurred = rotate_about_background(x_up, dm.angles["test"])
    assert float((blurred - x_rot).abs().mean()) < 0.1  # a second bilinear pass only blurs
    dm_b, _evals_b = digits_protocol("upright", seed=0, train_size=300)
    x_train = dm_b.datasets["train"].tensors[0]  # type: ignore[index, union-attr]
    assert len(x_train) == 300 and torch.equal(dm_b.indices["test"], dm.indices["test"])
    assert float(dm_b.angles["train"].abs().max()) == 0.0
    with pytest.raises(ValueError, match="protocol must be"):
        digits_protocol("C")


def test_rotate_about_background_keeps_the_background() -> None:
    x = torch.full((2, 1, 12, 12), -0.5)
    x[:, :, 4:8, 5:7] = 2.0
    y = rotate_about_background(x, math.pi / 5)
    assert float(y[:, :, 0, 0].max()) == pytest.approx(-0.5)  # corners stay background (not 0)
    torch.testing.assert_close(rotate_about_background(x, math.pi / 2), torch.rot90(x, 1, (-2, -1)))
