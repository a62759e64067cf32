"""Input validation shared by the building blocks (core has no validator module yet).

Every check raises with the argument's name and what was expected, so a user sees which input is
wrong without reading the code.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_choice", "check_in_range", "check_positive", "check_tensor"]


def check_tensor(
    x: object,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    min_ndim: int | None = None,
    last_dim: int | None = None,
    finite: bool = True,
) -> Tensor:
    """``x`` must be a non-empty floating-point tensor (of rank ``ndim``, trailing size ``last_dim``)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have rank {want}, got shape {tuple(x.shape)}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name} must have rank >= {min_ndim}, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if last_dim is not None and x.shape[-1] != last_dim:
        raise ValueError(
            f"{name} must have {last_dim} features in its last dimension, got shape {tuple(x.shape)}"
        )
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return x


def check_in_range(x: Tensor, name: str, lo: float, hi: float, activation: str) -> None:
    """Every entry of ``x`` must lie in the closed range ``[lo, hi]`` of ``activation``."""
    if not bool(((x >= lo) & (x <= hi)).all()):
        raise ValueError(
            f"{name} must lie in the range [{lo}, {hi}] of activation {activation!r} "
            f"(got values in [{float(x.min()):.4g}, {float(x.max()):.4g}]); rescale it with scale_to_range"
        )


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> None:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_positive(value: float, name: str, strict: bool = True) -> None:
    """``value`` must be a number > 0 (``>= 0`` when not strict)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if (value <= 0) if strict else (value < 0):
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {value}")
