"""The network the paper analyses: a ReLU MLP of plain ``nn.Linear`` layers (no Lightning)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["DualFormMLP"]


class DualFormMLP(nn.Module):
    """``in_features -> layer_sizes... -> num_classes`` with ReLU between layers, PyTorch default init.

    The official image experiments use ``784-800-800-10`` (MNIST); the offline reproduction uses
    ``64-128-128-10`` on 8x8 digits. Input ``(B, in_features)`` (any ``(B, ...)`` is flattened),
    output logits ``(B, num_classes)``. The linear layers are ``layers.0``, ``layers.2``, ... (every
    third module with dropout) and :attr:`linear_names` lists them (the recorder's layer names).

    Args:
        in_features: the input width.
        layer_sizes: the hidden widths.
        num_classes: the number of logits.
        dropout: dropout after each hidden ReLU, in ``[0, 1)`` (0: none).

    Raises:
        ValueError: a size below 1 or ``dropout`` outside ``[0, 1)``.
    """

    def __init__(
        self,
        in_features: int = 784,
        layer_sizes: Sequence[int] = (800, 800),
        num_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_features < 1 or num_classes < 1 or any(int(s) < 1 for s in layer_sizes):
            raise ValueError(
                f"sizes must be >= 1: in_features={in_features}, layer_sizes={list(layer_sizes)}, "
                f"num_classes={num_classes}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_features = in_features
        sizes = [in_features, *map(int, layer_sizes), num_classes]
        mods: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            mods.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                mods.append(nn.ReLU())
                if dropout:
                    mods.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*mods)

    @property
    def linear_names(self) -> list[str]:
        """Names of the ``nn.Linear`` modules relative to this module (input layer first)."""
        return [f"layers.{i}" for i, m in enumerate(self.layers) if isinstance(m, nn.Linear)]

    def forward(self, x: Tensor) -> Tensor:
        """``(B, *)`` with ``prod(*) == in_features`` -> logits ``(B, num_classes)``."""
        if x.ndim < 2 or x[0].numel() != self.in_features:
            raise ValueError(
                f"expected input (B, {self.in_features}) (or (B, ...) of that size), got {tuple(x.shape)}"
            )
        return self.layers(x.flatten(1))
