"""Series with expert features: the generated SineBands set and the UCR/UEA sets sktime ships.

Batches are ``(x (B, C, T) float32, f (B, d) float32, y (B,) int64, mask (B, T) bool)`` with
``y = -1`` for training samples whose label is hidden (semi-supervised protocol).
"""

from __future__ import annotations

import math

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from ballroom.expclr.features import StatisticalSpectralFeatures

__all__ = ["HAR_CHANNELS", "ExpertDataModule", "load_uci_har", "make_sine_bands"]

#: The UCI HAR archive (Anguita et al. 2013). Its SHA-256 is not pinned: no session had network
#: access to compute it, so a download needs ``sha256=`` from the user (see :func:`load_uci_har`).
UCI_HAR_URLS = (
    "https://archive.ics.uci.edu/ml/machine-learning-databases/00240/UCI%20HAR%20Dataset.zip",
    "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip",
)
HAR_CHANNELS = tuple(f"{kind}_{axis}" for kind in ("body_acc", "body_gyro", "total_acc") for axis in "xyz")

SINE_BANDS = {"low": (0.02, 0.06), "high": (0.12, 0.2)}


def make_sine_bands(
    n: int = 1200, length: int = 128, noise: float = 0.4, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """The spec's SineBands: ``(x (n, 1, length) float32, y (n,) int64)``, 4 balanced classes.

    Class = {low band f in [0.02, 0.06], high band f in [0.12, 0.2]} x {constant envelope, linear
    ramp 0.2 -> 1.8} (``y = 2 * band + envelope``); amplitude U(0.5, 2), phase U(0, 2 pi), offset
    U(-1, 1), Gaussian noise ``noise``.
    """
    if n < 4 or length < 8:
        raise ValueError(f"need n >= 4 and length >= 8, got n={n}, length={length}")
    gen = np.random.default_rng(seed)
    y = np.arange(n) % 4
    gen.shuffle(y)
    band, ramp = y // 2, y % 2
    lo = np.where(band == 0, SINE_BANDS["low"][0], SINE_BANDS["high"][0])
    hi = np.where(band == 0, SINE_BANDS["low"][1], SINE_BANDS["high"][1])
    freq = gen.uniform(lo, hi)
    amp = gen.uniform(0.5, 2.0, n)
    phase = gen.uniform(0, 2 * math.pi, n)
    offset = gen.uniform(-1, 1, n)
    t = np.arange(length)
    env = np.where(ramp[:, None] == 1, np.linspace(0.2, 1.8, length)[None, :], 1.0)
    x = offset[:, None] + amp[:, None] * env * np.sin(
        2 * math.pi * freq[:, None] * t[None, :] + phase[:, None]
    )
    x = x + noise * gen.standard_normal((n, length))
    return torch.as_tensor(x, dtype=torch.float32).unsqueeze(1), torch.as_tensor(y, dtype=torch.int64)


def load_uci_har(
    root: str, split: str = "train", download: bool = False, sha256: str | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """UCI HAR from ``root/UCI HAR Dataset``: ``(x (N, 9, 128), f (N, 561), y (N,) in 0..5)``.

    ``x`` stacks the nine raw inertial signals (:data:`HAR_CHANNELS`), ``f`` are the 561 features
    shipped with the dataset (the paper's expert features, already scaled to [-1, 1]), ``y`` the
    activity minus 1. With ``download=True`` a missing folder is fetched from UCI and extracted;
    pass the archive's ``sha256`` (no checksum is pinned in this package, see README).
    """
    from pathlib import Path

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(root) / "UCI HAR Dataset"
    if not (folder / split).is_dir():
        if not download:
            raise FileNotFoundError(
                f"{folder / split} not found; pass download=True (and sha256=...) to fetch UCI HAR"
            )
        if sha256 is None:
            raise ValueError(
                "no SHA-256 is pinned for the UCI HAR archive; pass sha256=<hex digest> of the zip you trust "
                "(ballroom.core.data.sha256sum computes it)"
            )
        from ballroom.core.data import download_url, extract_archive

        archive = download_url(list(UCI_HAR_URLS), Path(root) / "UCI_HAR_Dataset.zip", sha256)
        extract_archive(archive, root)
        inner = Path(root) / "UCI HAR Dataset.zip"  # the newer UCI archive nests the original zip
        if not folder.is_dir() and inner.exists():
            extract_archive(inner, root)
    base = folder / split
    signals = [np.loadtxt(base / "Inertial Signals" / f"{ch}_{split}.txt", ndmin=2) for ch in HAR_CHANNELS]
    x = np.stack(signals, axis=1)
    f = np.loadtxt(base / f"X_{split}.txt", ndmin=2)
    y = np.loadtxt(base / f"y_{split}.txt", dtype=np.int64, ndmin=1) - 1
    if not (x.shape[0] == f.shape[0] == y.shape[0]):
        raise ValueError(
            f"UCI HAR {split}: {x.shape[0]} series, {f.shape[0]} feature rows, {y.shape[0]} labels"
        )
    if y.min() < 0 or y.max() > 5:
        raise ValueError(f"UCI HAR labels must be 1..6, got {y.min() + 1}..{y.max() + 1}")
    return (
        torch.as_tensor(x, dtype=torch.float32),
        torch.as_tensor(f, dtype=torch.float32),
        torch.as_tensor(y),
    )


class ExpertDataModule(pl.LightningDataModule):
    """``(x, f, y, mask)`` batches from SineBands or a bundled UCR/UEA set, with expert features.

    Args:
        source: ``"sinebands"``, a name from ``ballroom.core.data.BUNDLED_UCR_UEA`` (train and
            test pooled, then re-split, as in the spec's protocol), or ``"uci_har"`` (read from
            ``data_dir``, its official split and its 561 shipped features, used as provided).
        label_fraction: share of training labels kept (stratified, seeded); the rest become -1.
        test_size: stratified test fraction (seeded by ``split_seed``).
        n, length: SineBands size; ``resample``: resample UCR/UEA series to this length.
        batch_size, seed, num_workers: loader settings (``seed`` also draws the kept labels).
        n_bands: FFT bands of :class:`StatisticalSpectralFeatures` (fitted on the training split).

    ``val`` is the test split (the protocol has no tuning split; used for the validation loss only).
    """

    def __init__(
        self,
        source: str = "sinebands",
        label_fraction: float = 0.1,
        test_size: float = 0.3,
        n: int = 1200,
        length: int = 128,
        resample: int | None = None,
        batch_size: int = 64,
        seed: int = 0,
        split_seed: int = 0,
        n_bands: int = 7,
        num_workers: int = 0,
        data_dir: str = "data",
        download: bool = False,
        sha256: str | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < label_fraction <= 1.0 or not 0.0 < test_size < 1.0:
            raise ValueError(
                f"need 0 < label_fraction <= 1 and 0 < test_size < 1, got {label_fraction}, {test_size}"
            )
        if batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (ExpCLR compares pairs), got {batch_size}")
        self.source, self.label_fraction, self.test_size = source, label_fraction, test_size
        self.n, self.length, self.resample = n, length, resample
        self.batch_size, self.seed, self.split_seed, self.num_workers = (
            batch_size,
            seed,
            split_seed,
            num_workers,
        )
        self.features = StatisticalSpectralFeatures(n_bands)
        self.data_dir, self.download, self.sha256 = data_dir, download, sha256
        self.datasets: dict[str, TensorDataset] | None = None
        self.num_channels = 1
        self.num_classes = 4

    def _raw(self) -> tuple[Tensor, Tensor, Tensor]:
        if self.source == "sinebands":
            x, y = make_sine_bands(self.n, self.length, seed=self.seed)
            return x, y, torch.ones(x.shape[0], x.shape[2], dtype=torch.bool)
        from ballroom.core.data import ucr_uea

        parts = [ucr_uea(self.source, s, resample=self.resample) for s in ("train", "test")]
        t = max(p.x.shape[2] for p in parts)
        xs = [torch.nn.functional.pad(p.x, (0, t - p.x.shape[2])) for p in parts]
        ms = [torch.nn.functional.pad(p.mask, (0, t - p.mask.shape[1])) for p in parts]
        return torch.cat(xs).float(), torch.cat([p.y for p in parts]), torch.cat(ms)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets is not None:
            return
        from sklearn.model_selection import train_test_split

        given_f = None
        if self.source == "uci_har":  # official split, shipped expert features
            parts = [load_uci_har(self.data_dir, s, self.download, self.sha256) for s in ("train", "test")]
            x, given_f, y = (torch.cat([p[i] for p in parts]) for i in range(3))
            mask = torch.ones(x.shape[0], x.shape[2], dtype=torch.bool)
            tr, te = torch.arange(len(parts[0][2])), torch.arange(len(parts[0][2]), len(y))
        else:
            x, y, mask = self._raw()
            idx = np.arange(len(y))
            tr, te = train_test_split(
                idx, test_size=self.test_size, stratify=y.numpy(), random_state=self.split_seed
            )
            tr, te = torch.as_tensor(np.sort(tr)), torch.as_tensor(np.sort(te))
        # standardise each channel with the training split's observed steps
        m = mask[tr].unsqueeze(1).float()
        mean = (x[tr] * m).sum((0, 2)) / m.sum((0, 2))
        std = (((x[tr] - mean[None, :, None]) ** 2 * m).sum((0, 2)) / m.sum((0, 2))).sqrt().clamp_min(1e-8)
        x = (x - mean[None, :, None]) / std[None, :, None] * mask.unsqueeze(1)
        if given_f is not None:
            f_tr, f_te = given_f[tr], given_f[te]
        else:
            f_tr = self.features.fit_transform(x[tr], mask[tr])
            f_te = self.features.transform(x[te], mask[te])
        y_tr = y[tr].clone()
        if self.label_fraction < 1.0:
            keep, _ = train_test_split(
                np.arange(len(tr)),
                train_size=self.label_fraction,
                stratify=y_tr.numpy(),
                random_state=self.seed,
            )
            hidden = torch.ones(len(tr), dtype=torch.bool)
            hidden[torch.as_tensor(keep)] = False
            y_tr[hidden] = -1
        self.num_channels, self.num_classes = int(x.shape[1]), int(y.max()) + 1
        self.true_train_labels = y[tr]
        self.datasets = {
            "train": TensorDataset(x[tr], f_tr, y_tr, mask[tr]),
            "test": TensorDataset(x[te], f_te, y[te], mask[te]),
        }
        self.datasets["val"] = self.datasets["test"]

    @property
    def feature_dim(self) -> int:
        self.setup()
        assert self.datasets is not None
        return int(self.datasets["train"].tensors[1].shape[1])

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        assert self.datasets is not None
        gen = torch.Generator().manual_seed(self.seed) if shuffle else None
        ds = self.datasets[split]
        # ExpCLR needs >= 2 samples per batch: drop a last batch of 1
        drop_last = shuffle and len(ds) % self.batch_size == 1
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=gen,
            drop_last=drop_last,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
