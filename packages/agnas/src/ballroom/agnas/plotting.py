"""Figures: the importance heat map and a derived cell drawn as a graph (matplotlib passed in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

__all__ = ["draw_cell", "importance_heatmap"]


def importance_heatmap(
    importance: Tensor, primitives: Sequence[str], plt: Any, title: str = "", ax: Any = None
) -> Any:
    """``importance (E, K)`` as an image: edges down, ops across, each row divided by its mean."""
    table = importance.detach().double().cpu()
    table = table / table.mean(1, keepdim=True).clamp_min(1e-12)
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    im = ax.imshow(table.numpy(), aspect="auto", cmap="viridis")
    ax.set_xticks(
        range(len(primitives)), [p.replace("_", " ") for p in primitives], rotation=60, ha="right", fontsize=7
    )
    ax.set_ylabel("edge index (node i, input j)")
    ax.set_title(title or "op importance / edge mean")
    ax.figure.colorbar(im, ax=ax, label="importance relative to edge mean")
    return fig if fig is not None else ax.figure


def draw_cell(gene: Sequence[tuple[str, int]], ax: Any, title: str = "") -> None:
    """Draw a DARTS cell: inputs c_{k-2}, c_{k-1}, nodes 0..n-1, labelled edges; ``ax`` is a matplotlib axes."""
    steps = len(gene) // 2
    pos = {0: (0.0, 0.8), 1: (0.0, 0.2)}
    for i in range(steps):
        pos[2 + i] = (0.3 + 0.65 * i / max(steps - 1, 1), 0.5 + (0.3 if i % 2 == 0 else -0.3))
    names = {0: "c_{k-2}", 1: "c_{k-1}", **{2 + i: str(i) for i in range(steps)}}
    for k, (op, j) in enumerate(gene):
        a, b = pos[j], pos[2 + k // 2]
        ax.annotate(
            "", xy=b, xytext=a, arrowprops={"arrowstyle": "->", "color": "gray", "shrinkA": 12, "shrinkB": 12}
        )
        f = 0.35 if k % 2 == 0 else 0.6  # the two inputs of a node get their labels at different places
        ax.text(
            a[0] + f * (b[0] - a[0]),
            a[1] + f * (b[1] - a[1]),
            op.replace("_", " "),
            fontsize=7,
            ha="center",
            color="darkblue",
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    for n, (x, y) in pos.items():
        ax.text(
            x,
            y,
            names[n],
            ha="center",
            va="center",
            bbox={"boxstyle": "round", "fc": "lightyellow"},
            fontsize=9,
        )
    ax.set_xlim(-0.1, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.axis("off")
    ax.set_title(title)
