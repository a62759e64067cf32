"""Pure functions of the method (torch only, no Lightning, no state).

Replace the example with the spec's equations; keep one function per equation, typed, with the
shapes in the docstring and a clear error for bad input (through ``ballroom.core.validate``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ballroom.core.validate import check_positive, check_tensor

__all__ = ["standardize"]


def standardize(x: Tensor, dim: int = -1, eps: float = 1e-5) -> Tensor:
    """Zero mean, unit (biased) variance along ``dim``: ``(x - mean) / sqrt(var + eps)``.

    Args:
        x: a floating-point tensor, e.g. ``(B, D)``; NaN or inf are refused.
        dim: the dimension to standardise.
        eps: added to the variance inside the square root (must be > 0).

    Returns:
        a tensor of ``x``'s shape and dtype.
    """
    check_tensor(x, "x", min_ndim=1)
    check_positive(eps, "eps")
    if x.shape[dim] == 0:
        raise ValueError(f"x must have a non-empty dimension {dim}, got shape {tuple(x.shape)}")
    mean = x.mean(dim, keepdim=True)
    var = x.var(dim, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)
