"""The digits probe data and the dSprites loader (the synthetic clouds live in :mod:`ballroom.rtd.synthetic`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ballroom.core.data import DigitsDataModule, download_url
from ballroom.rtd.synthetic import CLUSTER_COUNTS, clusters_experiment, rings_experiment, rings_variant

__all__ = [
    "CLUSTER_COUNTS",
    "DSPRITES_FACTORS",
    "DSPRITES_FILE",
    "DSPRITES_MD5",
    "DSPRITES_URL",
    "DigitsProbeDataModule",
    "clusters_experiment",
    "load_dsprites",
    "rings_experiment",
    "rings_variant",
]


class DigitsProbeDataModule(DigitsDataModule):
    """The RTD spec's digits split: 8x8 digits as 64 features, 1400 training and 397 held-out images.

    Batches are ``(x (B, 1, 8, 8), y (B,))``; the 397 held-out images are the validation split (the
    spec's "test" images, from which the probe set is taken) and the test split is empty.

    Args:
        batch_size: the batch size of every dataloader.
        num_workers: dataloader worker processes (0: the main process).
        seed: fixes the 1400/397 split and the shuffling.
        normalize: standardise with the training split's pixel mean and std.
    """

    def __init__(
        self, batch_size: int = 64, num_workers: int = 0, seed: int = 0, normalize: bool = True
    ) -> None:
        super().__init__(
            size=None,
            pad=0,
            normalize=normalize,
            split=(1400, 397, 0),
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )


DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_URL = f"https://github.com/google-deepmind/dsprites-dataset/raw/master/{DSPRITES_FILE}"
#: MD5 of the published archive (the dataset's loaders pin an MD5; no SHA-256 is published).
DSPRITES_MD5 = "7da33b31b13a06f4b04a70402ce90c2e"
#: The latent factors, in the archive's column order (colour is constant).
DSPRITES_FACTORS = ("color", "shape", "scale", "orientation", "pos_x", "pos_y")


def load_dsprites(
    root: str | os.PathLike[str], download: bool = False, n: int | None = None, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """dSprites (Matthey et al. 2017; 737,280 binary 64x64 images of 2D shapes) from ``root``.

    Reads ``root/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``; ``download=True`` fetches it
    (MD5-checked) when missing. ``n`` keeps a seeded random subset (the paper compares representations
    of a few hundred images). Returns ``(images (N, 1, 64, 64) float32 in {0, 1}, latent classes
    (N, 6) int64, latent values (N, 6) float64)``, columns as :data:`DSPRITES_FACTORS`. The archive's
    pickled ``metadata`` entry is never loaded (``allow_pickle=False``).

    Args:
        root: the folder of the ``.npz`` archive.
        download: fetch the archive when it is missing.
        n: the size of the random subset (``None``: all 737,280 images).
        seed: the seed of the subset (``np.random.default_rng``); kept in index order.

    Raises:
        FileNotFoundError: the archive is missing and ``download`` is False.
        ValueError: the archive lacks the dSprites arrays or has other shapes, or ``n`` is out of range.
    """
    path = Path(root) / DSPRITES_FILE
    if not path.exists():
        if not download:
            raise FileNotFoundError(f"{path} not found; pass download=True to fetch dSprites")
        download_url(DSPRITES_URL, path, md5=DSPRITES_MD5)
    with np.load(path, allow_pickle=False) as archive:
        missing = {"imgs", "latents_classes", "latents_values"} - set(archive.files)
        if missing:
            raise ValueError(f"{path}: not a dSprites archive (missing {sorted(missing)})")
        imgs = archive["imgs"]
        classes, values = archive["latents_classes"], archive["latents_values"]
    total = imgs.shape[0]
    if (
        imgs.ndim != 3
        or imgs.shape[1:] != (64, 64)
        or classes.shape != (total, 6)
        or values.shape != (total, 6)
    ):
        raise ValueError(
            f"{path}: expected imgs (N, 64, 64) and latents (N, 6), got {imgs.shape}, {classes.shape}, {values.shape}"
        )
    index = np.arange(total)
    if n is not None:
        if not 1 <= n <= total:
            raise ValueError(f"n must be in [1, {total}], got {n}")
        index = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    images = torch.from_numpy(np.ascontiguousarray(imgs[index])).to(torch.float32).unsqueeze(1)
    return (
        images,
        torch.from_numpy(classes[index].astype(np.int64)),
        torch.from_numpy(values[index].astype(np.float64)),
    )
