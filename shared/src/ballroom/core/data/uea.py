"""UCR/UEA time-series classification sets that sktime ships inside its wheel.

Needs the optional extra ``ballroom-core[timeseries]`` (sktime). Series are returned as float
tensors ``(B, C, T)``; sets of unequal length are zero-padded at the end to the longest series of
the train and test splits together, with a boolean mask ``(B, T)`` that is True on observed steps.
Class labels map to ``0..K-1`` in a fixed order (numeric when every label is a number) shared by
both splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ballroom.core.data._base import SplitDataModule, split_indices

__all__ = ["BUNDLED_UCR_UEA", "UCRUEADataset", "UEADataModule", "ucr_uea"]

#: Sets bundled in sktime's wheel (classification problems only): loading them needs no network.
BUNDLED_UCR_UEA = (
    "ACSF1",
    "ArrowHead",
    "BasicMotions",
    "GunPoint",
    "ItalyPowerDemand",
    "JapaneseVowels",
    "OSULeaf",
    "PLAID",
)


@dataclass
class UCRUEADataset(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """One split of a UCR/UEA set; items are ``(x (C, T) float32, y () int64, mask (T,) bool)``.

    Attributes: ``x (B, C, T)``, ``y (B,)``, ``mask (B, T)``, ``lengths (B,)``, ``classes`` (the
    original label of each class index) and ``name``.
    """

    x: Tensor
    y: Tensor
    mask: Tensor
    lengths: Tensor
    classes: tuple[str, ...]
    name: str

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.x[i], self.y[i], self.mask[i]

    @property
    def num_channels(self) -> int:
        return int(self.x.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@lru_cache(maxsize=16)
def _load_split(name: str, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Cached: callers must not modify the returned arrays in place."""
    try:
        from sktime.datasets import load_UCR_UEA_dataset
    except ImportError as err:
        raise ImportError("UCR/UEA data needs sktime: pip install 'ballroom-core[timeseries]'") from err
    X, y = load_UCR_UEA_dataset(name, split=split, return_X_y=True, return_type="df-list")
    # each element is a (T_i, C) DataFrame; keep (C, T_i) float arrays
    return [np.asarray(frame, dtype=np.float64).T for frame in X], np.asarray(y).astype(str)


def _class_order(labels: np.ndarray) -> tuple[str, ...]:
    uniq = sorted(set(labels.tolist()))
    try:
        return tuple(sorted(uniq, key=float))
    except ValueError:
        return tuple(uniq)


def _resample(series: np.ndarray, length: int) -> np.ndarray:
    t = torch.as_tensor(series, dtype=torch.float64).unsqueeze(0)
    return F.interpolate(t, size=length, mode="linear", align_corners=True).squeeze(0).numpy()


def ucr_uea(
    name: str,
    split: Literal["train", "test"] = "train",
    *,
    resample: int | None = None,
    allow_download: bool = False,
) -> UCRUEADataset:
    """Load one split of a UCR/UEA set as tensors (see :class:`UCRUEADataset`).

    Args:
        name: a set name, one of :data:`BUNDLED_UCR_UEA` unless ``allow_download=True``.
        split: ``"train"`` or ``"test"`` (the official split).
        resample: linearly resample every series to this many steps (mask then all True).
        allow_download: permit sktime to fetch a set that is not bundled (needs a network).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name not in BUNDLED_UCR_UEA and not allow_download:
        raise ValueError(
            f"{name!r} does not ship with sktime (bundled: {', '.join(BUNDLED_UCR_UEA)}); "
            "pass allow_download=True to let sktime fetch it"
        )
    if resample is not None and resample < 2:
        raise ValueError(f"resample must be >= 2 steps, got {resample}")
    both = {s: _load_split(name, s) for s in ("train", "test")}
    classes = _class_order(np.concatenate([both["train"][1], both["test"][1]]))
    index = {c: i for i, c in enumerate(classes)}
    series, labels = both[split]
    if resample is not None:
        series = [_resample(s, resample) for s in series]
        t_max = resample
    else:
        t_max = max(s.shape[1] for part in both.values() for s in part[0])
    channels = {s.shape[0] for s in series}
    if len(channels) != 1:
        raise ValueError(f"{name}: series have different channel counts {sorted(channels)}")
    x = torch.zeros(len(series), channels.pop(), t_max, dtype=torch.float32)
    mask = torch.zeros(len(series), t_max, dtype=torch.bool)
    lengths = torch.tensor([s.shape[1] for s in series], dtype=torch.int64)
    for i, s in enumerate(series):
        if not np.isfinite(s).all():
            raise ValueError(
                f"{name} {split} series {i} contains missing values (NaN), which are not supported"
            )
        x[i, :, : s.shape[1]] = torch.tensor(s, dtype=torch.float32)
        mask[i, : s.shape[1]] = True
    y = torch.tensor([index[v] for v in labels.tolist()], dtype=torch.int64)
    return UCRUEADataset(x=x, y=y, mask=mask, lengths=lengths, classes=classes, name=name)


class UEADataModule(SplitDataModule[UCRUEADataset]):
    """A bundled UCR/UEA set as ``(x (B, C, T), y (B,), mask (B, T))`` batches.

    The official test split is the test set; ``val_fraction`` of the official training split (chosen
    by ``seed``) is held out for validation. ``normalize="channel"`` standardises each channel with
    the mean and std of the observed steps of the training part; padded steps stay 0.

    Args:
        name: a set in :data:`BUNDLED_UCR_UEA`.
        val_fraction: the fraction of the official training split held out, in ``[0, 1)``.
        normalize: ``"channel"`` or ``"none"``.
        resample: linearly resample every series to this many steps (``None``: pad to the longest).
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes (0: load in the main process).
        seed: chooses the validation series and seeds the shuffling.

    Raises:
        ValueError: ``val_fraction`` outside ``[0, 1)`` or an unknown ``normalize``.
    """

    def __init__(
        self,
        name: str = "JapaneseVowels",
        val_fraction: float = 0.2,
        normalize: Literal["channel", "none"] = "channel",
        resample: int | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        if normalize not in ("channel", "none"):
            raise ValueError(f"normalize must be 'channel' or 'none', got {normalize!r}")
        self.name: str = name  # LightningDataModule declares name: str | None; ours is always set
        self.val_fraction = val_fraction
        self.normalize = normalize
        self.resample = resample
        self.num_channels: int | None = None
        self.num_classes: int | None = None

    def prepare_data(self) -> None:
        ucr_uea(self.name, "train", resample=self.resample)  # fails early and clearly when sktime is missing

    def build(self) -> dict[str, UCRUEADataset]:
        train = ucr_uea(self.name, "train", resample=self.resample)
        test = ucr_uea(self.name, "test", resample=self.resample)
        n_val = round(len(train) * self.val_fraction)
        tr, va = split_indices(len(train), [len(train) - n_val, n_val], seed=self.seed)
        parts = {"train": _subset(train, tr), "val": _subset(train, va), "test": test}
        if self.normalize == "channel":
            m = parts["train"].mask[:, None, :].float()
            count = m.sum((0, 2)).clamp_min(1.0)
            mean = (parts["train"].x * m).sum((0, 2)) / count
            var = (((parts["train"].x - mean[None, :, None]) * m) ** 2).sum((0, 2)) / count
            std = var.sqrt().clamp_min(1e-8)
            for p in parts.values():
                p.x = (p.x - mean[None, :, None]) / std[None, :, None] * p.mask[:, None, :]
        self.num_channels, self.num_classes = train.num_channels, train.num_classes
        return parts


def _subset(ds: UCRUEADataset, idx: Tensor) -> UCRUEADataset:
    return UCRUEADataset(ds.x[idx], ds.y[idx], ds.mask[idx], ds.lengths[idx], ds.classes, ds.name)
