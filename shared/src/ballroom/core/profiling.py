"""Device-independent benchmark helpers: saved-activation accounting and round-robin timing.

Benchmarks in this project report *ratios* of variants measured side by side. On a shared machine the
load changes while a benchmark runs; :func:`round_robin` times the variants in turns (one call of each
per round) so a load change hits every variant alike, and reports robust statistics per variant.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ballroom.core.validate import check_int

__all__ = ["Timing", "round_robin", "saved_tensor_bytes"]


def saved_tensor_bytes(fn: Callable[[], Any], *, exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the distinct storages autograd saves for the backward pass while running ``fn()``.

    Works on any device (a CPU stand-in for peak activation memory); views of one storage count once.

    Args:
        fn: the forward pass to account, called once with autograd recording.
        exclude: tensors whose storages are not counted, say ``model.parameters()`` (resident anyway:
            what is left is the activation memory a batch adds). Saved views of them (a transposed
            weight) are excluded too.

    Returns:
        The number of bytes (0 under ``torch.no_grad()``).
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one variant over the timed rounds of :func:`round_robin`.

    Attributes:
        samples: seconds of each timed call, in round order.
    """

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median seconds per call (the statistic the READMEs report)."""
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        """Fastest call (the least loaded one)."""
        return min(self.samples)

    @property
    def mean(self) -> float:
        """Mean seconds per call."""
        return statistics.fmean(self.samples)

    def fastest_mean(self, fraction: float = 0.5) -> float:
        """Mean of the fastest ``fraction`` of the calls (drops calls slowed by other jobs).

        Args:
            fraction: the share of calls kept, in (0, 1].

        Returns:
            Seconds per call.
        """
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        kept = sorted(self.samples)[: max(1, round(fraction * len(self.samples)))]
        return statistics.fmean(kept)


def round_robin(
    fns: Mapping[str, Callable[[], Any]],
    rounds: int,
    *,
    warmup: int = 2,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Timing]:
    """Time several variants in turns: each round calls every function once, in the given order.

    Args:
        fns: variant name -> a zero-argument callable doing one unit of work (say one training step).
        rounds: timed rounds (each function is timed ``rounds`` times), at least 1.
        warmup: untimed calls of each function first (kernel selection, allocator warm-up), at least 0.
        sync: called after each timed call, before the clock stops (``torch.cuda.synchronize`` on a
            GPU, where kernels run asynchronously); ``None`` on the CPU.
        clock: the timer (seconds, monotonic).

    Returns:
        Variant name -> :class:`Timing`, in the order of ``fns``.

    Example:
        >>> t = round_robin({"a": lambda: sum(range(100)), "b": lambda: sum(range(200))}, rounds=5)
        >>> sorted(t)
        ['a', 'b']
    """
    if not isinstance(fns, Mapping):
        raise TypeError(f"fns must be a mapping of name -> callable, got {type(fns).__name__}")
    if not fns:
        raise ValueError("fns must not be empty")
    for name, fn in fns.items():
        if not callable(fn):
            raise TypeError(f"fns[{name!r}] must be a zero-argument callable, got {type(fn).__name__}")
    rounds = check_int(rounds, "rounds", min=1)
    warmup = check_int(warmup, "warmup", min=0)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
            if sync is not None:
                sync()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = clock()
            fn()
            if sync is not None:
                sync()
            samples[name].append(clock() - start)
    return {name: Timing(tuple(s)) for name, s in samples.items()}
