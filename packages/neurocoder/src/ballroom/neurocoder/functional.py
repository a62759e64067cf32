"""Pure functions of Neurocoder (torch only, no Lightning, no state).

One function per equation of the spec's Method section. Shapes: ``B`` batch, ``R`` components,
``P`` program slots, ``k`` key size, ``n`` input and ``m`` output features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.core.validate import check_choice, check_int, check_positive, check_tensor

__all__ = [
    "SIGMA_ORDERS",
    "cumulative_sigma",
    "least_used_blend",
    "least_used_update",
    "low_rank_apply",
    "orthogonality_loss",
    "program_similarity",
    "read_weights",
    "sigma_min",
    "working_program",
]

#: ``"increasing"``: sigma_j = sum_{l<=j} softplus(a_l) (official direct mode);
#: ``"decreasing"``: sigma_j = sum_{l<=R-1-j} softplus(a_l) (official recurrent mode);
#: ``"paper"``: sigma_j = sum_{l>=j} softplus(a_l) (the paper's recursion, decreasing).
SIGMA_ORDERS = ("increasing", "decreasing", "paper")


def program_similarity(q: Tensor, keys: Tensor, eps: float = 1e-6, scale_by_key_dim: bool = True) -> Tensor:
    """The official similarity ``q.kappa / (k (|q| + eps)(|kappa| + eps) + eps)`` (cosine / k).

    Args:
        q: queries ``(B, R, k)``.
        keys: program keys ``(P, k)`` (shared) or ``(B, P, k)``.
        eps: the ``delta`` of the formula (>= 0), added to each norm and to the denominator.
        scale_by_key_dim: keep the official factor ``k`` in the denominator (``False``: plain cosine).

    Returns:
        ``(B, R, P)`` similarities in ``[-1/k, 1/k]`` (``[-1, 1]`` without the scale).
    """
    check_tensor(q, "q", ndim=3)
    check_tensor(keys, "keys", ndim=(2, 3))
    check_positive(eps, "eps", strict=False)
    k = q.shape[-1]
    if keys.shape[-1] != k:
        raise ValueError(f"keys must have key size {k} (the last dim of q), got shape {tuple(keys.shape)}")
    if keys.ndim == 3 and keys.shape[0] != q.shape[0]:
        raise ValueError(f"keys must have batch size {q.shape[0]} (as q), got shape {tuple(keys.shape)}")
    return _similarity(q, keys, eps, scale_by_key_dim)


def _similarity(q: Tensor, keys: Tensor, eps: float, scale_by_key_dim: bool) -> Tensor:
    """:func:`program_similarity` without the checks (the layers' hot path); any leading batch dims."""
    qn = q.norm(dim=-1, keepdim=True) + eps  # (..., R, 1)
    kn = (keys.norm(dim=-1) + eps).unsqueeze(-2)  # (..., 1, P)
    dots = q @ keys.transpose(-1, -2)  # (..., R, P)
    scale = float(q.shape[-1]) if scale_by_key_dim else 1.0
    return dots / (scale * qn * kn + eps)


def read_weights(similarity: Tensor, beta: float = 1.0) -> Tensor:
    """Read weights over slots ``softmax_P(beta * sim)``: ``(B, R, P) -> (B, R, P)``, rows sum to 1.

    Args:
        similarity: ``(..., P)`` similarities of each read to the ``P`` slots.
        beta: the inverse temperature (> 0).
    """
    check_tensor(similarity, "similarity", min_ndim=1)
    check_positive(beta, "beta")
    return torch.softmax(beta * similarity, dim=-1)


def cumulative_sigma(a: Tensor, order: str = "increasing") -> Tensor:
    """Singular values from raw reads ``a (B, R)`` by a cumulative softplus (positive, monotone).

    ``order`` is one of :data:`SIGMA_ORDERS`; returns ``(B, R)``.
    """
    check_tensor(a, "a", ndim=2)
    check_choice(order, "order", SIGMA_ORDERS)
    sp = F.softplus(a)
    if order == "increasing":
        return torch.cumsum(sp, dim=1)
    if order == "decreasing":
        return torch.flip(torch.cumsum(sp, dim=1), dims=[1])
    return torch.flip(torch.cumsum(torch.flip(sp, dims=[1]), dim=1), dims=[1])


def sigma_min(sigma: Tensor, order: str = "increasing") -> Tensor:
    """The smallest singular value of each sample: the first entry for ``"increasing"``, else the last. ``(B,)``."""
    check_tensor(sigma, "sigma", ndim=2)
    check_choice(order, "order", SIGMA_ORDERS)
    return sigma[:, 0] if order == "increasing" else sigma[:, -1]


def least_used_blend(w: Tensor, lu: Tensor, gate: Tensor) -> Tensor:
    """Least-used interpolation of one step's weights (official code, not renormalised).

    ``w (B, r, P)`` read weights are divided by their row max, then ``(1 - gate) * w + gate * lu``
    with ``lu (B, 1, P)`` the least-used weights and ``gate (B, 1, P)`` one value per slot in [0, 1].
    Returns ``(B, r, P)`` with row max <= 1.
    """
    check_tensor(w, "w", ndim=3)
    check_tensor(lu, "lu", ndim=3)
    check_tensor(gate, "gate", ndim=3)
    w = w / w.max(dim=-1, keepdim=True).values
    return w * (1 - gate) + lu * gate


def least_used_update(history: Tensor, top_lu: int) -> Tensor:
    """The next least-used weights from all weights read so far ``history (B, N, P)``.

    ``free = 1 - max over the N components of w``; ``lu_i = free_i`` where ``free_i`` is strictly
    larger than the ``(top_lu + 1)``-th largest free value, else 0. Returns ``(B, 1, P)``.
    """
    check_tensor(history, "history", ndim=3)
    top_lu = check_int(top_lu, "top_lu", min=1)
    if top_lu >= history.shape[-1]:
        raise ValueError(f"top_lu must be < the number of slots {history.shape[-1]}, got {top_lu}")
    free = 1 - history.max(dim=1).values  # (B, P)
    th = free.sort(dim=-1, descending=True).values[:, top_lu : top_lu + 1]
    return (free * (free > th).to(free.dtype)).unsqueeze(1)


def low_rank_apply(x: Tensor, U: Tensor, sigma: Tensor, V: Tensor) -> Tensor:
    """``x W_a`` with ``W_a = U^T diag(sigma) V`` without building ``W_a``: ``((x U^T) * sigma) V``.

    Args:
        x: inputs ``(B, n)`` or ``(B, L, n)`` (e.g. the patches of a convolution).
        U: left programs ``(B, R, n)``.
        sigma: singular values ``(B, R)``.
        V: right programs ``(B, R, m)``.

    Returns:
        ``(B, m)`` or ``(B, L, m)``.
    """
    _check_program(U, sigma, V)
    check_tensor(x, "x", ndim=(2, 3))
    if x.shape[0] != U.shape[0] or x.shape[-1] != U.shape[-1]:
        raise ValueError(
            f"x must have shape (B, [L,] n) = ({U.shape[0]}, ..., {U.shape[-1]}), got {tuple(x.shape)}"
        )
    return _low_rank_apply(x, U, sigma, V)


def _check_program(U: Tensor, sigma: Tensor, V: Tensor) -> None:
    check_tensor(U, "U", ndim=3)
    check_tensor(sigma, "sigma", shape=(U.shape[0], U.shape[1]))
    check_tensor(V, "V", shape=(U.shape[0], U.shape[1], None))


def _low_rank_apply(x: Tensor, U: Tensor, sigma: Tensor, V: Tensor) -> Tensor:
    squeeze = x.ndim == 2
    xs = x.unsqueeze(1) if squeeze else x  # (B, L, n)
    h = (xs @ U.transpose(1, 2)) * sigma.unsqueeze(1)  # (B, L, R)
    y = h @ V  # (B, L, m)
    return y.squeeze(1) if squeeze else y


def working_program(U: Tensor, sigma: Tensor, V: Tensor) -> Tensor:
    """The explicit active program ``U^T diag(sigma) V``: ``(B, n, m)`` (inspection and tests only)."""
    _check_program(U, sigma, V)
    return (U.transpose(1, 2) * sigma.unsqueeze(1)) @ V


def orthogonality_loss(memory: Tensor) -> Tensor:
    """``|M M^T - I_P|_F`` (Frobenius norm, not squared) of a slot matrix ``M (P, D)``; a scalar.

    Args:
        memory: the slot matrix ``M (P, D)``.
    """
    check_tensor(memory, "memory", ndim=2)
    gram = memory @ memory.t()
    eye = torch.eye(memory.shape[0], dtype=memory.dtype, device=memory.device)
    return torch.linalg.norm(gram - eye)
