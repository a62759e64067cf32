"""The method's ``nn.Module`` building blocks (no Lightning): usable in any PyTorch code."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ballroom.tmplname.functional import standardize

__all__ = ["Standardize", "TmplnameNet"]


class Standardize(nn.Module):
    """:func:`~ballroom.tmplname.functional.standardize` as a layer: ``(*, D) -> (*, D)``."""

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return standardize(x, dim=-1, eps=self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class TmplnameNet(nn.Module):
    """An MLP whose hidden layers are standardised: ``(B, in_features) -> (B, num_classes)`` logits.

    Images ``(B, C, H, W)`` are flattened first.
    """

    def __init__(self, in_features: int = 64, hidden: Sequence[int] = (32,), num_classes: int = 10) -> None:
        super().__init__()
        if in_features < 1 or num_classes < 2 or any(h < 1 for h in hidden):
            raise ValueError(
                f"need in_features >= 1, every hidden width >= 1 and num_classes >= 2; got "
                f"in_features={in_features}, hidden={list(hidden)}, num_classes={num_classes}"
            )
        self.in_features = in_features
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), Standardize(), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features per sample, got {x.shape[1]}")
        return self.head(self.body(x))
