"""Barcode plots (matplotlib is optional: ``pip install 'ballroom-rtd[plot]'``)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_barcode"]


def plot_barcode(bars: dict[int, np.ndarray] | np.ndarray, ax: Any = None, title: str | None = None) -> Any:
    """Draw bars ``[birth, death)`` as horizontal segments, one colour per homology dimension.

    ``bars`` is a ``{dim: (m, 2)}`` dict (as :func:`ballroom.rtd.cross_barcode` returns) or one
    ``(m, 2)`` array (drawn as H1).

    Args:
        bars: the barcode (above).
        ax: the matplotlib ``Axes`` to draw on (``None``: a new 5x3 figure).
        title: the axes title (default ``"barcode"``).

    Returns:
        The matplotlib ``Axes``.

    Raises:
        ImportError: matplotlib is not installed.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plot_barcode needs matplotlib: pip install 'ballroom-rtd[plot]'") from err
    table = bars if isinstance(bars, dict) else {1: np.asarray(bars)}
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    row = 0
    for dim in sorted(table):
        b = np.asarray(table[dim], dtype=np.float64).reshape(-1, 2)
        order = np.argsort(b[:, 0], kind="stable")
        for birth, death in b[order]:
            ax.plot([birth, death], [row, row], color=f"C{dim}", lw=1.5)
            row += 1
        ax.plot([], [], color=f"C{dim}", label=f"H{dim} ({len(b)} bars)")
    ax.set(xlabel="filtration value", ylabel="bar", title=title or "barcode")
    ax.set_yticks([])
    ax.legend(loc="lower right")
    return ax
