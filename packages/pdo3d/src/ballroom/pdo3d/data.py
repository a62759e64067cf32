"""The DataModules: data the package generates or a dependency ships (never a download by default)."""

from __future__ import annotations

from ballroom.core.data import DigitsDataModule

__all__ = ["Pdo3dDataModule"]


class Pdo3dDataModule(DigitsDataModule):
    """scikit-learn's 8x8 digits (shipped, no download), seeded train/val/test split.

    Replace with the spec's data; keep core's ``SplitDataModule`` as the base for in-memory splits.
    """
