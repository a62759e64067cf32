"""Device-independent memory accounting for benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["saved_tensor_bytes"]


def saved_tensor_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of the distinct storages autograd saves for the backward pass while running ``fn()``.

    Works on any device (a CPU stand-in for peak activation memory); views of one storage count once.
    """
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())
