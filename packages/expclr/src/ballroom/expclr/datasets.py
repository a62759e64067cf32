"""The series themselves, without Lightning: the generated SineBands set and the UCI HAR reader.

:class:`~ballroom.expclr.data.ExpertDataModule` builds its splits from these; they are importable
on their own (``from ballroom.expclr import make_sine_bands`` loads torch and numpy, not Lightning).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["HAR_CHANNELS", "SINE_BANDS", "UCI_HAR_URLS", "load_uci_har", "make_sine_bands"]

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

    Args:
        n: the number of series (>= 4).
        length: steps per series (>= 8).
        noise: the standard deviation of the added Gaussian noise.
        seed: the seed of ``np.random.default_rng``.

    Raises:
        ValueError: ``n < 4`` or ``length < 8``.
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

    Args:
        root: the folder that holds (or will hold) ``UCI HAR Dataset``.
        split: ``"train"`` or ``"test"`` (the official split).
        download: fetch the archive when the split is missing.
        sha256: the archive's expected SHA-256 (required with ``download``).

    Raises:
        ValueError: an unknown ``split``, ``download`` without ``sha256``, or files that disagree.
        FileNotFoundError: the split is missing and ``download`` is False.
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
