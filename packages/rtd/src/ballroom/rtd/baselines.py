"""IMD, the fourth measure of the paper's synthetic tables, through a maintained implementation.

IMD (Tsitsulin et al., ICLR 2020; "MSID" in its code) compares the heat-kernel traces of the k-NN graphs
of two clouds over a range of diffusion times; the traces are estimated by stochastic Lanczos
quadrature, so the value depends on random probe vectors. We call ``piq``'s ``MSID`` (the official
algorithm and defaults: k = 5, 10 Lanczos steps, 100 probe vectors, 256 times in [0.1, 10]) with a
seeded numpy RNG and leave the caller's global RNG state as it was. Optional: ``pip install
'ballroom-rtd[imd]'``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch

__all__ = ["imd", "imd_available"]


def imd_available() -> bool:
    """Whether the optional ``piq`` dependency (``ballroom-rtd[imd]``) is installed."""
    return importlib.util.find_spec("piq") is not None


def imd(P: np.ndarray | torch.Tensor, Pt: np.ndarray | torch.Tensor, seed: int = 0, **msid: Any) -> float:
    """IMD between two clouds ``P (n1, d)`` and ``Pt (n2, d')`` (rows need not correspond): larger is more
    different. ``seed`` fixes the stochastic trace estimate; ``msid`` overrides piq's ``MSID`` options
    (``k``, ``m``, ``niters``, ``ts``, ...)."""
    from ballroom.rtd.cross import _as_cloud

    if not imd_available():
        raise ImportError("IMD needs piq: pip install 'ballroom-rtd[imd]'")
    import piq

    A, B = _as_cloud("P", P), _as_cloud("Pt", Pt)
    k = int(msid.get("k", 5))
    if min(len(A), len(B)) <= k:
        raise ValueError(
            f"IMD builds a {k}-NN graph: each cloud needs more than {k} points, got {len(A)} and {len(B)}"
        )
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        value = piq.MSID(**msid)(torch.from_numpy(A), torch.from_numpy(B))
    finally:
        np.random.set_state(state)
    return float(value)
