"""Forward+backward timing of one attention call, for the reproduction's scaling claim.

Imports only torch and :mod:`ballroom.flowformer.functional`, so the CPU measurement can run in a
fresh child process cheaply (see :func:`measure_scaling`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ballroom.flowformer.functional import flow_attention

__all__ = ["GLIBC_TUNABLES", "attention_call", "measure_scaling", "time_fwd_bwd"]


def time_fwd_bwd(fn: Callable[[], torch.Tensor], repeats: int = 3) -> float:
    """Median seconds of ``fn().backward(...)`` over ``repeats`` runs after one warm-up (synchronised on CUDA)."""
    times = []
    for i in range(repeats + 1):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        out.backward(torch.ones_like(out))
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def attention_call(
    kind: str, length: int, heads: int = 8, dim: int = 64, batch: int = 1
) -> Callable[[], torch.Tensor]:
    """A closure running one non-causal ``kind`` attention (``flow`` or ``softmax``) on fresh leaf tensors."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=device).manual_seed(0)
    q, k, v = (
        torch.randn(batch, heads, length, dim, device=device, generator=g).requires_grad_() for _ in range(3)
    )
    if kind == "flow":
        return lambda: flow_attention(q, k, v)
    if kind == "softmax":
        return lambda: F.scaled_dot_product_attention(q, k, v)
    raise ValueError(f"kind must be 'flow' or 'softmax', got {kind!r}")


#: glibc returns allocations >= 32 MiB to the OS after each use, so every step pays page faults for
#: its large temporaries on CPU; raising the thresholds keeps them (as CUDA's caching allocator does)
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295"


def measure_scaling(plan: Sequence[tuple[str, int]], isolate: bool = True) -> list[float]:
    """Forward+backward seconds of each ``(kind, length)`` (B=1, H=8, D=64).

    On a Linux CPU with ``isolate`` the timings run in a child process with :data:`GLIBC_TUNABLES`
    set (see there); elsewhere, or when the variable is already set, in this process.
    """
    native = torch.cuda.is_available() or not sys.platform.startswith("linux")
    if not isolate or native or "GLIBC_TUNABLES" in os.environ:
        return [time_fwd_bwd(attention_call(kind, length)) for kind, length in plan]
    code = (
        "import json, sys, torch; from ballroom.flowformer.timing import measure_scaling; "
        f"torch.set_num_threads({torch.get_num_threads()}); "
        "print(json.dumps(measure_scaling(json.loads(sys.argv[1]))))"
    )
    env = dict(os.environ, GLIBC_TUNABLES=GLIBC_TUNABLES)
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(plan)], env=env, capture_output=True, text=True, check=True
    )
    return [float(t) for t in json.loads(done.stdout.strip().splitlines()[-1])]
