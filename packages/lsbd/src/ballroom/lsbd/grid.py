"""The factor grid: the images of every combination of the generating factors.

A :class:`FactorGrid` holds ``images (N_1, ..., N_K, H, W, C)`` in ``[0, 1]``, with factor values
``0..N_k-1`` and their periods: a cyclic factor with period ``N_k`` has angle ``2 pi i / N_k``; a
non-cyclic factor (the object of a cylinder dataset) has angle 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FactorGrid"]


@dataclass(frozen=True)
class FactorGrid:
    """Images of a full factor grid.

    Attributes:
        images: ``(N_1, ..., N_K, H, W, C)`` float32 in ``[0, 1]``.
        cyclic: per factor, whether ``SO(2)`` acts on it (False: an object index, angle 0).
    """

    images: np.ndarray
    cyclic: tuple[bool, ...]

    def __post_init__(self) -> None:
        if self.images.ndim < 4:
            raise ValueError(f"images must be (N_1, ..., N_K, H, W, C), got shape {self.images.shape}")
        if len(self.cyclic) != self.images.ndim - 3:
            raise ValueError(
                f"cyclic must have one flag per factor ({self.images.ndim - 3}), got {self.cyclic}"
            )

    @property
    def factor_shape(self) -> tuple[int, ...]:
        """``(N_1, ..., N_K)``."""
        return tuple(self.images.shape[:-3])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``: the torch layout the models take."""
        h, w, c = self.images.shape[-3:]
        return (c, h, w)

    @property
    def max_values(self) -> tuple[int, ...]:
        """The period of each factor (its number of values)."""
        return self.factor_shape

    def factor_values(self) -> np.ndarray:
        """``(N, K)`` integer factor values of every image in grid (C) order."""
        grids = np.meshgrid(*[np.arange(n) for n in self.factor_shape], indexing="ij")
        return np.stack([g.reshape(-1) for g in grids], axis=1)

    def angles(self) -> np.ndarray:
        """``(N, K)`` angles ``2 pi value / max_value`` (0 for non-cyclic factors)."""
        vals = self.factor_values().astype(np.float64)
        per = np.array(self.max_values, dtype=np.float64)
        return np.where(np.array(self.cyclic), 2 * np.pi * vals / per, 0.0)

    def flat_images(self) -> np.ndarray:
        """``(N, C, H, W)`` float32, grid order."""
        h, w, c = self.images.shape[-3:]
        return np.ascontiguousarray(self.images.reshape(-1, h, w, c).transpose(0, 3, 1, 2), dtype=np.float32)

    def relative_angles(self, first: np.ndarray, others: np.ndarray) -> np.ndarray:
        """Labels of images ``others`` relative to ``first`` (flat indices, broadcastable):
        ``2 pi ((value_o - value_f) mod max) / max`` per cyclic factor, 0 otherwise: ``(..., K)``."""
        vals = self.factor_values()
        per = np.array(self.max_values)
        diff = np.mod(vals[others] - vals[first], per)
        return np.where(np.array(self.cyclic), 2 * np.pi * diff / per, 0.0)
