"""Small reference models (plain ``nn.Module``s) used by ballroom-core's reproduction and tests."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """Flatten, then ``Linear -> ReLU`` per hidden width, then a linear head.

    ``(B, *)`` with ``prod(*) == in_features`` -> logits ``(B, num_classes)``.
    :meth:`representations` returns each hidden layer's activations ``(B, h_i)``.
    """

    def __init__(
        self,
        in_features: int = 64,
        hidden: Sequence[int] = (32,),
        num_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_features < 1 or num_classes < 1 or any(h < 1 for h in hidden):
            raise ValueError(
                f"widths must be >= 1, got in={in_features}, hidden={list(hidden)}, out={num_classes}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.in_features = in_features
        widths = [in_features, *hidden]
        self.hidden = nn.ModuleList(
            nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)) for a, b in pairwise(widths)
        )
        self.head = nn.Linear(widths[-1], num_classes)

    def _flat(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x[0].numel() != self.in_features:
            raise ValueError(
                f"expected (B, *) inputs with {self.in_features} features each, got shape {tuple(x.shape)}"
            )
        return x.flatten(1)

    def representations(self, x: Tensor) -> list[Tensor]:
        """Hidden activations ``[(B, h_1), ..., (B, h_k)]`` (after ReLU)."""
        h, reps = self._flat(x), []
        for layer in self.hidden:
            h = layer(h)
            reps.append(h)
        return reps

    def forward(self, x: Tensor) -> Tensor:
        h = self._flat(x)
        for layer in self.hidden:
            h = layer(h)
        out: Tensor = self.head(h)
        return out
