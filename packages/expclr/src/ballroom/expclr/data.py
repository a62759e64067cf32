"""The ExpCLR DataModule: series with expert features, from SineBands or the UCR/UEA sets sktime ships.

Batches are ``(x (B, C, T) float32, f (B, d) float32, y (B,) int64, mask (B, T) bool)`` with
``y = -1`` for training samples whose label is hidden (semi-supervised protocol). The series
generators and readers live in :mod:`ballroom.expclr.datasets` (no Lightning).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from ballroom.core.data import SplitDataModule
from ballroom.expclr.datasets import HAR_CHANNELS, load_uci_har, make_sine_bands
from ballroom.expclr.features import StatisticalSpectralFeatures

__all__ = ["HAR_CHANNELS", "ExpertDataModule", "load_uci_har", "make_sine_bands"]


class ExpertDataModule(SplitDataModule):
    """``(x, f, y, mask)`` batches from SineBands or a bundled UCR/UEA set, with expert features.

    An in-memory split on :class:`ballroom.core.data.SplitDataModule` (seeded shuffling, the four
    loaders); :meth:`build` makes the splits once.

    Args:
        source: ``"sinebands"``, a name from ``ballroom.core.data.BUNDLED_UCR_UEA`` (train and
            test pooled, then re-split, as in the spec's protocol), or ``"uci_har"`` (read from
            ``data_dir``, its official split and its 561 shipped features, used as provided).
        label_fraction: share of training labels kept (stratified, seeded); the rest become -1.
        test_size: stratified test fraction (seeded by ``split_seed``).
        n, length: SineBands size; ``resample``: resample UCR/UEA series to this length.
        batch_size, seed, num_workers: loader settings (``seed`` also draws the kept labels and
            the SineBands series).
        n_bands: FFT bands of :class:`StatisticalSpectralFeatures` (fitted on the training split).
        split_seed: the seed of the stratified train/test split.
        data_dir: the folder of UCI HAR (``source="uci_har"``).
        download: fetch UCI HAR when it is missing (needs ``sha256``).
        sha256: the expected SHA-256 of the UCI HAR archive (none is pinned).

    ``val`` is the test split (the protocol has no tuning split; used for the validation loss only).
    After :meth:`setup`: ``num_channels``, ``num_classes``, ``feature_dim`` and
    ``true_train_labels`` (the training labels before hiding).
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
        if not 0.0 < label_fraction <= 1.0 or not 0.0 < test_size < 1.0:
            raise ValueError(
                f"need 0 < label_fraction <= 1 and 0 < test_size < 1, got {label_fraction}, {test_size}"
            )
        if batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (ExpCLR compares pairs), got {batch_size}")
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.source, self.label_fraction, self.test_size = source, label_fraction, test_size
        self.n, self.length, self.resample, self.split_seed = n, length, resample, split_seed
        self.features = StatisticalSpectralFeatures(n_bands)
        self.data_dir, self.download, self.sha256 = data_dir, download, sha256
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

    def _split(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """``(x, y, mask, train index, test index, shipped features or None)``."""
        if self.source == "uci_har":  # official split, shipped expert features
            parts = [load_uci_har(self.data_dir, s, self.download, self.sha256) for s in ("train", "test")]
            x, given_f, y = (torch.cat([p[i] for p in parts]) for i in range(3))
            mask = torch.ones(x.shape[0], x.shape[2], dtype=torch.bool)
            n_train = len(parts[0][2])
            return x, y, mask, torch.arange(n_train), torch.arange(n_train, len(y)), given_f
        from sklearn.model_selection import train_test_split

        x, y, mask = self._raw()
        tr, te = train_test_split(
            np.arange(len(y)), test_size=self.test_size, stratify=y.numpy(), random_state=self.split_seed
        )
        return x, y, mask, torch.as_tensor(np.sort(tr)), torch.as_tensor(np.sort(te)), None

    def _hide_labels(self, y_tr: Tensor) -> Tensor:
        """``y_tr`` with all but a stratified, seeded ``label_fraction`` set to -1."""
        from sklearn.model_selection import train_test_split

        y_tr = y_tr.clone()
        if self.label_fraction < 1.0:
            keep, _ = train_test_split(
                np.arange(len(y_tr)),
                train_size=self.label_fraction,
                stratify=y_tr.numpy(),
                random_state=self.seed,
            )
            hidden = torch.ones(len(y_tr), dtype=torch.bool)
            hidden[torch.as_tensor(keep)] = False
            y_tr[hidden] = -1
        return y_tr

    def build(self) -> dict[str, TensorDataset]:
        x, y, mask, tr, te, given_f = self._split()
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
        self.num_channels, self.num_classes = int(x.shape[1]), int(y.max()) + 1
        self.true_train_labels = y[tr]
        test = TensorDataset(x[te], f_te, y[te], mask[te])
        return {
            "train": TensorDataset(x[tr], f_tr, self._hide_labels(y[tr]), mask[tr]),
            "val": test,
            "test": test,
        }

    @property
    def feature_dim(self) -> int:
        """The number of expert features (sets the data up)."""
        return int(self.tensors("train")[1].shape[1])

    def tensors(self, split: str) -> tuple[Tensor, ...]:
        """``(x, f, y, mask)`` of ``split`` (``"train"``, ``"val"`` or ``"test"``), set up on first use."""
        return super().tensors(split)

    def train_dataloader(self) -> DataLoader:
        """Shuffled (seeded) training batches; a last batch of one sample is dropped (ExpCLR compares pairs)."""
        loader = super().train_dataloader()
        if len(self.tensors("train")[0]) % self.batch_size != 1:
            return loader
        return DataLoader(
            loader.dataset,
            batch_size=self.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(self.seed),
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
