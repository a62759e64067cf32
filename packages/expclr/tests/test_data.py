"""ExpertDataModule on SineBands and on a bundled UCR/UEA set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.expclr import ExpertDataModule
from ballroom.expclr.datasets import HAR_CHANNELS, load_uci_har


def test_sinebands_protocol() -> None:
    dm = ExpertDataModule(n=400, label_fraction=0.1, seed=0)
    dm.setup()
    assert dm.datasets is not None
    x, f, y, mask = dm.datasets["train"].tensors
    assert x.shape == (280, 1, 128) and f.shape == (280, 18) and bool(mask.all())
    known = y >= 0
    assert int(known.sum()) == 28 and torch.bincount(y[known]).tolist() == [7] * 4  # stratified 10 %
    assert torch.equal(dm.true_train_labels[known], y[known])
    assert bool((dm.datasets["test"].tensors[2] >= 0).all())
    torch.testing.assert_close(f.mean(0), torch.zeros(18), atol=1e-5, rtol=0)
    assert abs(float(x.mean())) < 1e-5  # standardised with the training split
    xb, fb, yb, mb = next(iter(dm.train_dataloader()))
    assert (
        xb.shape == (64, 1, 128)
        and fb.shape == (64, 18)
        and yb.dtype == torch.int64
        and mb.dtype == torch.bool
    )


def test_ucr_set_with_padding_mask() -> None:
    dm = ExpertDataModule("JapaneseVowels", label_fraction=0.2, batch_size=32)
    dm.setup()
    assert dm.datasets is not None
    x, f, _y, mask = dm.datasets["train"].tensors
    assert dm.num_channels == 12 and dm.num_classes == 9 and x.shape[0] == 448
    assert not bool(mask.all()) and bool((x * ~mask.unsqueeze(1) == 0).all())  # padded steps stay 0
    assert f.shape[0] == 448 and bool(torch.isfinite(f).all())


def test_validation() -> None:
    with pytest.raises(ValueError, match="label_fraction"):
        ExpertDataModule(label_fraction=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        ExpertDataModule(batch_size=1)


def _write_har(root: Path, split: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = root / "UCI HAR Dataset" / split
    (base / "Inertial Signals").mkdir(parents=True)
    for ch in HAR_CHANNELS:
        np.savetxt(base / "Inertial Signals" / f"{ch}_{split}.txt", rng.normal(size=(n, 128)), fmt="%.7e")
    np.savetxt(base / f"X_{split}.txt", rng.uniform(-1, 1, size=(n, 561)), fmt="%.7e")
    np.savetxt(base / f"y_{split}.txt", np.arange(n) % 6 + 1, fmt="%d")


def test_uci_har_reader_on_files_in_the_real_format(tmp_path: Path) -> None:
    _write_har(tmp_path, "train", 24, 0)
    _write_har(tmp_path, "test", 12, 1)
    x, f, y = load_uci_har(str(tmp_path), "test")
    assert x.shape == (12, 9, 128) and f.shape == (12, 561) and y.tolist() == [i % 6 for i in range(12)]
    dm = ExpertDataModule("uci_har", data_dir=str(tmp_path), label_fraction=0.5, batch_size=8)
    dm.setup()
    assert dm.datasets is not None and dm.num_channels == 9 and dm.feature_dim == 561
    assert len(dm.datasets["train"]) == 24 and len(dm.datasets["test"]) == 12
    torch.testing.assert_close(dm.datasets["test"].tensors[1], f)  # shipped features used as provided
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_uci_har(str(tmp_path / "none"))
    with pytest.raises(ValueError, match="sha256"):
        load_uci_har(str(tmp_path / "none"), download=True)
