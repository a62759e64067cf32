"""Expert features computed from raw series: per-channel statistics and spectral band powers."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import kurtosis, skew
from torch import Tensor

from ballroom.core.validate import check_int

__all__ = ["StatisticalSpectralFeatures"]

_STATS = (
    "mean",
    "std",
    "skewness",
    "kurtosis",
    "min",
    "max",
    "mean_abs_diff",
    "std_diff",
    "zero_crossing_rate",
    "log_std_ratio",
)


def _series_features(x: np.ndarray, n_bands: int) -> np.ndarray:
    """Features of series ``x (n, T)`` of one length: ``(n, 10 + n_bands + 1)``, NaN where undefined."""
    n, t = x.shape
    out = np.full((n, len(_STATS) + n_bands + 1), np.nan)
    if t == 0:
        return out
    d = np.diff(x, axis=1) if t > 1 else np.zeros((n, 1))
    centred = x - x.mean(axis=1, keepdims=True)
    half = t // 2
    with np.errstate(all="ignore"):
        out[:, 0], out[:, 1] = x.mean(axis=1), x.std(axis=1)
        if t > 2:
            out[:, 2] = skew(x, axis=1)
        if t > 3:
            out[:, 3] = kurtosis(x, axis=1)
        out[:, 4], out[:, 5] = x.min(axis=1), x.max(axis=1)
        out[:, 6], out[:, 7] = np.abs(d).mean(axis=1), d.std(axis=1)
        if t > 1:
            out[:, 8] = np.mean(np.signbit(centred[:, 1:]) != np.signbit(centred[:, :-1]), axis=1)
        if t >= 4:
            s1, s2 = x[:, :half].std(axis=1), x[:, half:].std(axis=1)
            ok = (s1 > 0) & (s2 > 0)
            out[ok, 9] = np.log(s2[ok] / s1[ok])
        power = (np.abs(np.fft.rfft(centred, axis=1)) ** 2)[:, 1:]  # drop DC
        freqs = np.fft.rfftfreq(t)[1:]
        total = power.sum(axis=1)
        if freqs.size:
            edges = np.logspace(np.log10(freqs[0]), np.log10(0.5), n_bands + 1)
            edges[-1] = 0.5 + 1e-9
            band = np.digitize(freqs, edges) - 1
            ok = total > 0
            for k in range(n_bands):
                out[ok, 10 + k] = power[ok][:, band == k].sum(axis=1) / total[ok]
            out[ok, 10 + n_bands] = (power[ok] * freqs).sum(axis=1) / total[ok]
    for k in range(out.shape[1]):  # scipy returns finite garbage for constant series: keep NaN semantics
        out[~np.isfinite(out[:, k]), k] = np.nan
    return out


class StatisticalSpectralFeatures:
    """Expert features per channel: mean, std, skewness, kurtosis, min, max, mean ``|dx|``, std ``dx``,
    zero-crossing rate, log(std second half / std first half), relative power in ``n_bands``
    log-spaced FFT bands (DC excluded) and the spectral centroid (cycles/sample).

    ``fit(X)`` on the training split learns the NaN-imputation medians, drops constant columns and
    the z-score statistics; ``transform(X)`` applies them (no test leakage). ``X (N, C, T)`` with
    an optional ``mask (N, T)`` (features use each series' observed steps only). Output
    ``(N, n_features)`` float32; ``n_bands=7`` gives 18 features per channel.
    """

    def __init__(self, n_bands: int = 7) -> None:
        self.n_bands = check_int(n_bands, "n_bands", min=1)
        self.n_channels_: int | None = None
        self.median_: np.ndarray | None = None
        self.keep_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    @property
    def names(self) -> list[str]:
        """Names of the raw per-channel features."""
        return [*_STATS, *(f"band_power_{k}" for k in range(self.n_bands)), "spectral_centroid"]

    def compute(self, X: Tensor | np.ndarray, mask: Tensor | np.ndarray | None = None) -> np.ndarray:
        """Raw (unscaled) features ``(N, C * n_raw)`` float64, NaN where undefined."""
        x = np.asarray(X.detach().cpu() if isinstance(X, Tensor) else X, dtype=np.float64)
        if x.ndim != 3 or x.size == 0:
            raise ValueError(f"X must have shape (N, C, T) and not be empty, got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("X contains NaN or inf")
        m = None if mask is None else np.asarray(mask.cpu() if isinstance(mask, Tensor) else mask, dtype=bool)
        if m is not None and m.shape != (x.shape[0], x.shape[2]):
            raise ValueError(f"mask must have shape {(x.shape[0], x.shape[2])}, got {m.shape}")
        n, c, t = x.shape
        width = len(_STATS) + self.n_bands + 1
        out = np.empty((n, c, width))
        lengths = np.full(n, t) if m is None else m.sum(axis=1)
        for length in np.unique(lengths):  # series of one observed length are computed together
            rows = np.flatnonzero(lengths == length)
            if m is None:
                block = x[rows]
            else:
                block = np.stack([x[i][:, m[i]] for i in rows]) if length else np.zeros((len(rows), c, 0))
            out[rows] = _series_features(block.reshape(-1, int(length)), self.n_bands).reshape(
                len(rows), c, width
            )
        return out.reshape(n, c * width)

    def fit(
        self, X: Tensor | np.ndarray, mask: Tensor | np.ndarray | None = None
    ) -> StatisticalSpectralFeatures:
        raw = self.compute(X, mask)
        self.n_channels_ = int(np.shape(X)[1])
        med = np.nanmedian(np.where(np.isfinite(raw), raw, np.nan), axis=0)
        self.median_ = np.where(np.isfinite(med), med, 0.0)
        filled = np.where(np.isnan(raw), self.median_, raw)
        std = filled.std(axis=0)
        self.keep_ = std > 1e-12
        if not self.keep_.any():
            raise ValueError("every expert feature is constant on the training data")
        self.mean_, self.std_ = filled.mean(axis=0)[self.keep_], std[self.keep_]
        return self

    def transform(self, X: Tensor | np.ndarray, mask: Tensor | np.ndarray | None = None) -> Tensor:
        if self.median_ is None or self.keep_ is None or self.mean_ is None or self.std_ is None:
            raise RuntimeError("call fit() on the training split first")
        if np.ndim(X) == 3 and self.n_channels_ is not None and np.shape(X)[1] != self.n_channels_:
            raise ValueError(
                f"X must have the {self.n_channels_} channels seen by fit(), got shape {tuple(np.shape(X))}"
            )
        raw = self.compute(X, mask)
        filled = np.where(np.isnan(raw), self.median_, raw)[:, self.keep_]
        return torch.as_tensor((filled - self.mean_) / self.std_, dtype=torch.float32)

    def fit_transform(self, X: Tensor | np.ndarray, mask: Tensor | np.ndarray | None = None) -> Tensor:
        return self.fit(X, mask).transform(X, mask)
