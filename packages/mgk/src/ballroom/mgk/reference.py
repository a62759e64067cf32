"""Naive transcriptions of the spec's equations, as the official code computes them (tests, benchmarks).

A loop over the ``M`` components, ``torch.cdist(...) ** 2`` distances, direct ``exp`` and a sum over
``j``: exactly the official formulation (it underflows to NaN rows where every distance is huge;
:func:`ballroom.mgk.functional.mgk_scores` does not). Not meant for training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["mgk_scores_naive"]


def mgk_scores_naive(
    q: Tensor,
    keys: Tensor,
    sigma2: Sequence[float],
    pi: Tensor | None = None,
    mode: str = "soft",
    mask: Tensor | None = None,
) -> Tensor:
    """``A_ij = a_ij / sum_j' a_ij'`` with ``a_ij = sum_r pi_jr exp(-||q_i - k_jr||^2 / (2 sigma_r^2))``
    (``mode="hard"``: ``max_r`` of the exponentials, pi ignored); masked keys get ``-1e6`` in the exponent
    like the official LRA code. ``q (..., N, d)``, ``keys (..., M, K, d)``, ``pi`` broadcastable to
    ``(..., M, K)`` (clamped to [0, 1]) -> ``(..., N, K)``."""
    terms = []
    for r, s2 in enumerate(sigma2):
        d2 = torch.cdist(q, keys[..., r, :, :]) ** 2
        expo = -d2 / (2 * s2)
        if mask is not None:
            expo = expo - 1e6 * (~mask).to(q.dtype)
        e = torch.exp(expo)
        if mode == "soft":
            w = torch.ones((), dtype=q.dtype) if pi is None else pi.clamp(0, 1)[..., r, :].unsqueeze(-2)
            e = w * e
        terms.append(e)
    a = torch.stack(terms).amax(0) if mode == "hard" else sum(terms)
    assert isinstance(a, Tensor)
    return a / a.sum(-1, keepdim=True)
