"""The UCR/UEA sets bundled with sktime, as padded tensors with masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("sktime", reason="needs the timeseries extra (sktime)")

from ballroom.core.data import BUNDLED_UCR_UEA, UEADataModule, ucr_uea
from ballroom.core.data.uea import _load_split

# (name, channels, train size, test size, classes, equal length)
KNOWN = [
    ("JapaneseVowels", 12, 270, 370, 9, False),
    ("BasicMotions", 6, 40, 40, 4, True),
    ("GunPoint", 1, 50, 150, 2, True),
    ("ArrowHead", 1, 36, 175, 3, True),
    ("ItalyPowerDemand", 1, 67, 1029, 2, True),
    ("OSULeaf", 1, 200, 242, 6, True),
]


@pytest.mark.parametrize(("name", "channels", "n_train", "n_test", "n_classes", "equal"), KNOWN)
def test_bundled_sets_load_as_padded_tensors(
    name: str, channels: int, n_train: int, n_test: int, n_classes: int, equal: bool
) -> None:
    assert name in BUNDLED_UCR_UEA
    train, test = ucr_uea(name, "train"), ucr_uea(name, "test")
    assert (len(train), len(test)) == (n_train, n_test)
    assert train.x.shape[:2] == (n_train, channels) and train.x.dtype == torch.float32
    assert train.x.shape[2] == test.x.shape[2] == train.mask.shape[1]
    assert train.num_classes == test.num_classes == n_classes and train.classes == test.classes
    assert set(train.y.unique().tolist()) == set(range(n_classes))
    assert bool(train.mask.all()) == equal
    # the mask marks exactly the observed prefix and padding is zero
    steps = torch.arange(train.x.shape[2])
    assert torch.equal(train.mask, steps[None, :] < train.lengths[:, None])
    assert float((train.x * ~train.mask[:, None, :]).abs().max()) == 0.0
    # values agree with sktime's own frames
    series, labels = _load_split(name, "train")
    assert np.allclose(train.x[0, :, : series[0].shape[1]].numpy(), series[0], atol=1e-6)
    assert train.classes[int(train.y[0])] == labels[0]


def test_japanese_vowels_has_unequal_lengths_and_resample() -> None:
    ds = ucr_uea("JapaneseVowels", "test")
    assert int(ds.lengths.min()) < int(ds.lengths.max()) == ds.x.shape[2]
    assert ds.classes == tuple(str(i) for i in range(1, 10))  # numeric labels sort numerically
    rs = ucr_uea("JapaneseVowels", "test", resample=29)
    assert rs.x.shape == (370, 12, 29) and bool(rs.mask.all())
    i = int(ds.lengths.argmin())
    assert torch.allclose(rs.x[i, :, 0], ds.x[i, :, 0]) and torch.allclose(
        rs.x[i, :, -1], ds.x[i, :, ds.lengths[i] - 1]
    )


def test_uea_datamodule_split_normalisation_and_batches() -> None:
    dm = UEADataModule("JapaneseVowels", val_fraction=0.2, batch_size=16, seed=0)
    dm.setup()
    assert dm.datasets is not None and dm.num_channels == 12 and dm.num_classes == 9
    assert [len(dm.datasets[s]) for s in ("train", "val", "test")] == [216, 54, 370]
    tr = dm.datasets["train"]
    m = tr.mask[:, None, :].expand_as(tr.x)
    per_channel = torch.stack([tr.x[:, c][m[:, c]] for c in range(12)])
    assert torch.allclose(per_channel.mean(1), torch.zeros(12), atol=1e-5)
    assert torch.allclose(per_channel.std(1, unbiased=False), torch.ones(12), atol=1e-4)
    assert float((tr.x * ~tr.mask[:, None, :]).abs().max()) == 0.0
    x, y, mask = next(iter(dm.train_dataloader()))
    assert (
        x.shape == (16, 12, 29) and y.shape == (16,) and mask.shape == (16, 29) and mask.dtype == torch.bool
    )


def test_unknown_or_unbundled_set_is_refused_without_download() -> None:
    with pytest.raises(ValueError, match="does not ship with sktime"):
        ucr_uea("FordA")
    with pytest.raises(ValueError, match="split"):
        ucr_uea("GunPoint", "validation")  # type: ignore[arg-type]
