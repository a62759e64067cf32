"""Pure functions of Transformer-MGK / MLK (torch only, no Lightning, no state).

Notation (per head): queries ``q (..., N, d)``, the ``M`` keys of every position ``keys (..., M, K, d)``
(or a list of ``M`` tensors ``(..., K, d)``), values ``v (..., K, e)``, variances ``sigma2`` (``M``
absolute values ``sigma_r^2``; the modules give them in units of ``sqrt(d)``) and log mixing weights
``log_pi`` broadcastable to ``(..., M, K)``. The mixture score of the spec is::

    log a_ij = logsumexp_r( log pi_jr - ||q_i - k_jr||^2 / (2 sigma_r^2) )     A = softmax_j(log a)

**Fused formulation.** The ``M`` squared distances come from one matmul over augmented vectors
``[q, 1, ||q||^2] . [k_r / sigma_r^2, log pi_jr - ||k_r||^2 / (2 sigma_r^2), -1 / (2 sigma_r^2)]``
(all components stacked along the key axis, no loop over ``r``; the ``||q||^2`` column is dropped when
every ``sigma_r`` is equal, since it is common to a row and cancels). The mixture and the softmax over
``j`` are one max-shifted exponential: ``A_ij = sum_r exp(l_ijr - m_i) / sum_j' sum_r exp(l_ij'r - m_i)``
with ``m_i = max_{j,r} l_ijr``, which is ``softmax_j(logsumexp_r l_ijr)`` exactly; every exponent is
``<= 0`` and the largest is ``0``, so no precision overflows and no row underflows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.core.validate import check_choice, check_number, check_tensor

__all__ = [
    "attention_rank",
    "causal_mask",
    "elu1",
    "elu1_sumnorm",
    "linear_attention",
    "mgk_attention",
    "mgk_log_kernels",
    "mgk_log_scores",
    "mgk_responsibilities",
    "mgk_scores",
    "mlk_attention",
]

#: stands in for log(0) inside the fused matmul (a true -inf there would give 0 * inf = NaN gradients)
_LOG_ZERO = -1e4


def _stack_keys(keys: Tensor | Sequence[Tensor], q: Tensor) -> Tensor:
    if isinstance(keys, Tensor):
        stacked = keys
    elif isinstance(keys, (list, tuple)):
        if not keys:
            raise ValueError("keys must hold at least one key tensor, got an empty list")
        for r, k in enumerate(keys):
            check_tensor(k, f"keys[{r}]", min_ndim=2)
        try:
            stacked = torch.stack(list(keys), dim=-3)
        except RuntimeError as err:
            raise ValueError(f"keys: the M key tensors must share one shape ({err})") from None
    else:
        stacked = check_tensor(keys, "keys", min_ndim=3)  # raises the validator's TypeError
    check_tensor(stacked, "keys", min_ndim=3)
    if stacked.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"keys must have head dim {q.shape[-1]} (q.shape[-1]), got shape {tuple(stacked.shape)}"
        )
    if stacked.dtype != q.dtype:
        raise TypeError(f"keys must have q's dtype {q.dtype}, got {stacked.dtype}")
    return stacked


def _sigma2(sigma2: float | Sequence[float] | Tensor, m: int) -> list[float]:
    if isinstance(sigma2, Tensor):
        sigma2 = sigma2.tolist()
    if isinstance(sigma2, (int, float)):
        sigma2 = [float(sigma2)] * m
    values = [check_number(s, "sigma2", lo=0.0, lo_open=True) for s in sigma2]
    if len(values) != m:
        raise ValueError(f"sigma2 must have one variance per key (M = {m}), got {len(values)}")
    return values


def _augmented(
    q: Tensor,
    keys: Tensor | Sequence[Tensor],
    sigma2: float | Sequence[float] | Tensor,
    log_pi: Tensor | None,
    row_constant: bool,
) -> tuple[Tensor, Tensor, Tensor | None, int]:
    """The augmented operands: ``q_aug (..., N, c)``, ``k_flat (..., M*K, c)`` (batch dims broadcast),
    the bool ``pi == 0`` mask broadcastable to ``(..., M, K)`` (or ``None``) and ``M``."""
    check_tensor(q, "q", min_ndim=2)
    keys = _stack_keys(keys, q)
    m = keys.shape[-3]
    s2 = _sigma2(sigma2, m)
    zero_pi = None
    dtype = q.dtype
    inv = torch.tensor([1.0 / s for s in s2], dtype=dtype, device=q.device)[:, None, None]  # (M,1,1)
    ksq = keys.pow(2).sum(-1, keepdim=True)  # (..., M, K, 1)
    bias = -0.5 * ksq * inv
    if log_pi is not None:
        check_tensor(log_pi, "log_pi", finite=False)
        if torch.isnan(log_pi).any() or (log_pi == math.inf).any():
            raise ValueError("log_pi must be <= 0 or -inf (log of pi in [0, 1]), found NaN or +inf")
        bias = bias + log_pi.to(dtype).clamp_min(_LOG_ZERO).unsqueeze(-1)
        if bool((log_pi == -math.inf).any()):
            zero_pi = log_pi == -math.inf
    equal = all(s == s2[0] for s in s2)
    parts_k = [keys * inv, bias.expand(*keys.shape[:-1], 1)]
    parts_q = [q, torch.ones_like(q[..., :1])]
    if row_constant or not equal:
        parts_k.append((-0.5 * inv).expand(*keys.shape[:-1], 1))
        parts_q.append(q.pow(2).sum(-1, keepdim=True))
    k_aug = torch.cat(parts_k, dim=-1)  # (..., M, K, d + 2)
    q_aug = torch.cat(parts_q, dim=-1)  # (..., N, d + 2)
    k_flat = k_aug.flatten(-3, -2)  # (..., M*K, d + 2)
    batch = torch.broadcast_shapes(q_aug.shape[:-2], k_flat.shape[:-2])
    return q_aug.expand(*batch, *q_aug.shape[-2:]), k_flat.expand(*batch, *k_flat.shape[-2:]), zero_pi, m


def mgk_log_kernels(
    q: Tensor,
    keys: Tensor | Sequence[Tensor],
    *,
    sigma2: float | Sequence[float] | Tensor,
    log_pi: Tensor | None = None,
    row_constant: bool = True,
) -> Tensor:
    """Per-component log kernels ``l_ijr = log pi_jr - ||q_i - k_jr||^2 / (2 sigma_r^2)`` by one matmul.

    Args:
        q: ``(..., N, d)`` queries.
        keys: ``(..., M, K, d)`` keys (or a list of ``M`` tensors ``(..., K, d)``).
        sigma2: ``M`` absolute variances (or one for all).
        log_pi: log mixing weights broadcastable to ``(..., M, K)``; ``None`` = all ``pi = 1``.
            ``-inf`` (pi = 0) is allowed.
        row_constant: keep ``-||q_i||^2 / (2 sigma^2)`` even when it is common to the row (it is
            dropped when ``False`` and every ``sigma_r`` is equal; softmax over ``j`` is unchanged).

    Returns:
        ``(..., N, M, K)``.
    """
    q_aug, k_flat, zero_pi, m = _augmented(q, keys, sigma2, log_pi, row_constant)
    logits = (q_aug @ k_flat.transpose(-1, -2)).unflatten(-1, (m, -1))
    if zero_pi is not None:  # pi = 0 exactly: -inf after the matmul (finite inside it)
        logits = logits.masked_fill(zero_pi.unsqueeze(-3), -math.inf)
    return logits


class _MixtureSoftmax(torch.autograd.Function):
    """``A_ij = sum_r exp(l_ijr - m_i) / sum_j'r exp(l_ij'r - m_i)`` with ``l = q_aug k_flat^T`` (``(..., N, M, K)``).

    One function from the augmented operands to ``A`` so that the ``(N, M, K)`` logits are masked,
    shifted and exponentiated in place. Saves the operands, the exponentials ``E_ijr = exp(l_ijr -
    m_i)``, the row factors ``1 / Z_i`` and ``A`` (which the ``A v`` matmul keeps anyway): with
    ``P = E / Z`` the gradient is ``dl_ijr = P_ijr (g_ij - sum_j' A_ij' g_ij')``, applied as
    ``E_ijr * (centred_ij / Z_i)``, then the two matmuls of ``l``'s backward.
    """

    @staticmethod
    def forward(ctx: Any, q_aug: Tensor, k_flat: Tensor, fill: Tensor | None, m: int) -> Tensor:
        logits = (q_aug @ k_flat.transpose(-1, -2)).unflatten(-1, (m, -1))
        if fill is not None:  # masked keys and pi = 0
            logits.masked_fill_(fill, -math.inf)
        peak = logits.amax(dim=(-2, -1), keepdim=True)
        peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
        e = logits.sub_(peak).exp_()
        total = e.sum(dim=(-2, -1)).unsqueeze(-1)  # (..., N, 1)
        inv = 1.0 / torch.where(total > 0, total, torch.ones_like(total))
        a = e.sum(-2).mul_(inv)
        ctx.save_for_backward(q_aug, k_flat, e, inv, a)
        return a

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        q_aug, k_flat, e, inv, a = ctx.saved_tensors
        scaled = (grad - (a * grad).sum(-1, keepdim=True)).mul_(inv)
        dl = (e * scaled.unsqueeze(-2)).flatten(-2)  # (..., N, M*K)
        dq = dl @ k_flat if ctx.needs_input_grad[0] else None
        dk = dl.transpose(-1, -2) @ q_aug if ctx.needs_input_grad[1] else None
        return dq, dk, None, None


def _normalise(logits: Tensor, mask: Tensor | None) -> Tensor:
    """Max-shifted softmax of ``logits (..., N, K)`` over keys; rows with no allowed key become 0 (not NaN)."""
    if mask is not None:
        logits = logits.masked_fill(~mask, -math.inf)
    peak = logits.detach().amax(dim=-1, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    e = torch.exp(logits - peak)
    total = e.sum(-1, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))


def _check_mask(mask: Tensor | None, n: int, k: int) -> Tensor | None:
    if mask is None:
        return None
    check_tensor(mask, "mask", min_ndim=1, dtype="bool")
    if mask.shape[-1] != k or (mask.ndim >= 2 and mask.shape[-2] not in (1, n)):
        raise ValueError(
            f"mask must be broadcastable to (..., {n}, {k}) (True = attend), got {tuple(mask.shape)}"
        )
    return mask if mask.ndim >= 2 else mask[None, :]


def mgk_scores(
    q: Tensor,
    keys: Tensor | Sequence[Tensor],
    *,
    sigma2: float | Sequence[float] | Tensor,
    log_pi: Tensor | None = None,
    mode: str = "soft",
    mask: Tensor | None = None,
) -> Tensor:
    """Normalised MGK attention ``A (..., N, K)``: the posterior of key position ``j`` given ``q_i``.

    ``mode="soft"``: ``A_ij ∝ sum_r pi_jr exp(-||q_i - k_jr||^2 / (2 sigma_r^2))``; ``mode="hard"``
    (Hard-E): ``A_ij ∝ max_r exp(-||q_i - k_jr||^2 / (2 sigma_r^2))``. Computed by the fused
    augmented matmul in the log domain (finite in half precision, no underflowing rows).

    Args:
        q: ``(..., N, d)`` queries.
        keys: ``(..., M, K, d)`` the ``M`` keys of every key position (or a list of ``M`` tensors
            ``(..., K, d)``), same dtype as ``q``.
        sigma2: the ``M`` absolute variances ``sigma_r^2`` (or one for all), each > 0.
        log_pi: log mixing weights broadcastable to ``(..., M, K)`` (``-inf`` for pi = 0); ``None`` =
            every pi = 1. Must be ``None`` with ``mode="hard"``.
        mode: ``"soft"`` (the mixture) or ``"hard"`` (Hard-E, max over components).
        mask: bool broadcastable to ``(..., N, K)``, True where attending is allowed (padding and
            causal masks); a row with no allowed key is all zeros (the official code gives NaN).

    Returns:
        ``(..., N, K)``, rows summing to 1 over the allowed keys.
    """
    check_choice(mode, "mode", ("soft", "hard"))
    if mode == "hard" and log_pi is not None:
        raise ValueError("log_pi must be None with mode='hard' (Hard-E ignores the mixing weights)")
    check_tensor(q, "q", min_ndim=2)
    keys = _stack_keys(keys, q)
    mask = _check_mask(mask, q.shape[-2], keys.shape[-2])
    if mode == "hard":
        return _normalise(mgk_log_kernels(q, keys, sigma2=sigma2, row_constant=False).amax(-2), mask)
    q_aug, k_flat, zero_pi, m = _augmented(q, keys, sigma2, log_pi, False)
    fill = None if mask is None else ~mask.unsqueeze(-2)  # (..., N, 1, K)
    if zero_pi is not None:
        fill = zero_pi.unsqueeze(-3) if fill is None else fill | zero_pi.unsqueeze(-3)
    if fill is not None:  # the in-place fill needs the logits as large as the mask's batch
        batch = torch.broadcast_shapes(q_aug.shape[:-2], fill.shape[:-3])
        q_aug, k_flat = q_aug.expand(*batch, *q_aug.shape[-2:]), k_flat.expand(*batch, *k_flat.shape[-2:])
    out: Tensor = _MixtureSoftmax.apply(q_aug, k_flat, fill, m)
    return out


def mgk_log_scores(
    q: Tensor,
    keys: Tensor | Sequence[Tensor],
    *,
    sigma2: float | Sequence[float] | Tensor,
    log_pi: Tensor | None = None,
) -> Tensor:
    """Unnormalised ``log a_ij = logsumexp_r(log pi_jr - ||q_i - k_jr||^2 / (2 sigma_r^2))``.

    Args:
        q: ``(..., N, d)`` queries.
        keys: ``(..., M, K, d)`` keys (or a list of ``M`` tensors ``(..., K, d)``).
        sigma2: the ``M`` absolute variances (or one for all).
        log_pi: log mixing weights broadcastable to ``(..., M, K)``; ``None`` = all pi = 1.

    Returns:
        ``(..., N, K)``, the ``||q_i||^2`` term included (the true log kernel).
    """
    return torch.logsumexp(mgk_log_kernels(q, keys, sigma2=sigma2, log_pi=log_pi), dim=-2)


def mgk_attention(
    q: Tensor,
    keys: Tensor | Sequence[Tensor],
    v: Tensor,
    *,
    sigma2: float | Sequence[float] | Tensor,
    log_pi: Tensor | None = None,
    mode: str = "soft",
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, Tensor]:
    """``h = A v`` with the MGK attention ``A`` of :func:`mgk_scores`.

    Args:
        q: ``(..., N, d)`` queries.
        keys: ``(..., M, K, d)`` keys (or a list of ``M`` tensors ``(..., K, d)``).
        v: ``(..., K, e)`` values.
        sigma2: the ``M`` absolute variances (or one for all).
        log_pi: log mixing weights broadcastable to ``(..., M, K)``; ``None`` = all pi = 1.
        mode: ``"soft"`` or ``"hard"`` (see :func:`mgk_scores`).
        mask: bool broadcastable to ``(..., N, K)``, True where attending is allowed.
        dropout_p: dropout on the attention weights (as the official code does), when ``training``.
        training: apply ``dropout_p``.

    Returns:
        ``h (..., N, e)`` and ``A (..., N, K)`` (before dropout).
    """
    check_tensor(v, "v", min_ndim=2)
    a = mgk_scores(q, keys, sigma2=sigma2, log_pi=log_pi, mode=mode, mask=mask)
    if v.shape[-2] != a.shape[-1]:
        raise ValueError(f"v must have {a.shape[-1]} positions (keys.shape[-2]), got shape {tuple(v.shape)}")
    return F.dropout(a, dropout_p, training) @ v, a


@torch.no_grad()
def mgk_responsibilities(
    q: Tensor, keys: Tensor, *, sigma2: Sequence[float], pi1: Tensor, mask: Tensor | None = None
) -> Tensor:
    """E-step responsibilities of the first component, as the official code computes them.

    ``gamma_ij = pi_j1 e_ij1 / (pi_j1 e_ij1 + pi_j2 e_ij2 + 1e-6)`` with the direct exponentials
    ``e_ijr = exp(-||q_i - k_jr||^2 / (2 sigma_r^2))`` (``M = 2``); masked keys (``mask`` False) get 0.

    Args:
        q: ``(B, H, N, d)`` queries.
        keys: ``(B, H, 2, K, d)`` the two keys of every position.
        sigma2: the two absolute variances.
        pi1: ``(H, K)`` the first component's weights, clamped to ``[0, 1]``.
        mask: bool broadcastable to ``(B, H, N, K)``, False at padded keys; ``None`` = none.

    Returns:
        ``(B, H, N, K)``, no gradient.
    """
    if keys.shape[-3] != 2:
        raise ValueError(f"keys must hold M = 2 components for the EM update, got shape {tuple(keys.shape)}")
    e = torch.exp(mgk_log_kernels(q, keys, sigma2=sigma2))  # (B, H, N, 2, K)
    p1 = pi1.clamp(0, 1)[:, None, :]  # (H, 1, K)
    w1 = e[..., 0, :] * p1
    gamma = w1 / (w1 + e[..., 1, :] * (1 - p1) + 1e-6)
    if mask is not None:
        gamma = gamma.masked_fill(~mask, 0.0)
    return gamma


def causal_mask(n: int, device: torch.device | None = None) -> Tensor:
    """``(n, n)`` bool, True on and below the diagonal (query ``i`` may attend to keys ``j <= i``)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def elu1(x: Tensor) -> Tensor:
    """The linear-attention feature map ``phi(x) = elu(x) + 1`` (positive), elementwise."""
    return F.elu(x) + 1.0


def elu1_sumnorm(x: Tensor) -> Tensor:
    """``elu(x) + 1`` divided by its sum over the last (feature) dimension (the LM code's map)."""
    phi = F.elu(x) + 1.0
    return phi / phi.sum(-1, keepdim=True)


def linear_attention(
    phi_q: Tensor,
    phi_k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    normalize: bool = True,
    eps: float = 1e-6,
) -> Tensor:
    """Linear attention with features: ``h_i = phi_q_i . S / (phi_q_i . z + eps)``.

    ``S = sum_j phi_k_j v_j^T`` and ``z = sum_j phi_k_j`` (prefix sums over ``j <= i`` when ``causal``);
    without ``normalize`` the numerator alone. Shapes: ``phi_q (..., N, f)``, ``phi_k (..., N, f)``,
    ``v (..., N, e)`` -> ``(..., N, e)``. Cost linear in ``N``.
    """
    if causal:
        kv = torch.cumsum(phi_k.unsqueeze(-1) * v.unsqueeze(-2), dim=-3)  # (..., N, f, e)
        num = (phi_q.unsqueeze(-2) @ kv).squeeze(-2)
        if not normalize:
            return num
        z = torch.cumsum(phi_k, dim=-2)
        return num / ((phi_q * z).sum(-1, keepdim=True) + eps)
    kv = phi_k.transpose(-1, -2) @ v  # (..., f, e)
    num = phi_q @ kv
    if not normalize:
        return num
    z = phi_k.sum(-2, keepdim=True)  # (..., 1, f)
    return num / ((phi_q * z).sum(-1, keepdim=True) + eps)


def mlk_attention(
    q: Tensor,
    keys: Tensor,
    v: Tensor,
    pi: Tensor,
    *,
    feature_map: str = "elu1",
    mix: str = "features",
    causal: bool = False,
    normalize: bool = True,
    eps: float = 1e-6,
) -> Tensor:
    """Mixture of linear keys: linear attention with the mixed key feature ``k~_j``.

    ``h_i = phi(q_i) . sum_j k~_j v_j^T / (phi(q_i) . sum_j k~_j + eps)``.

    Args:
        q: ``(..., N, d)`` queries.
        keys: ``(..., M, N, d)`` the ``M`` keys of every position.
        v: ``(..., N, e)`` values.
        pi: mixing weights (already clamped), broadcastable to ``(..., M, N)``.
        feature_map: ``"elu1"`` (``elu + 1``, the paper) or ``"elu1_sumnorm"`` (the LM code's map).
        mix: ``"features"`` (paper, LM code): ``k~_j = sum_r pi_jr phi(k_jr)``; ``"keys"`` (LRA code):
            ``k~_j = phi(sum_r pi_jr k_jr)``.
        causal: prefix sums over ``j <= i`` instead of the full sum.
        normalize: divide by the denominator (``False``: the numerator alone).
        eps: added to the denominator.

    Returns:
        ``(..., N, e)``.
    """
    check_choice(feature_map, "feature_map", ("elu1", "elu1_sumnorm"))
    check_choice(mix, "mix", ("features", "keys"))
    phi = elu1 if feature_map == "elu1" else elu1_sumnorm
    w = pi.unsqueeze(-1)
    k_mix = (w * phi(keys)).sum(-3) if mix == "features" else phi((w * keys).sum(-3))
    return linear_attention(phi(q), k_mix, v, causal=causal, normalize=normalize, eps=eps)


def attention_rank(a: Tensor, tol: float = 1e-6) -> Tensor:
    """Numerical rank of attention matrices: singular values above ``tol`` (the paper's diagnostic).

    ``a (..., N, K)`` -> ``(...,)`` int64.
    """
    check_tensor(a, "a", min_ndim=2)
    check_number(tol, "tol", lo=0.0, lo_open=True)
    return (torch.linalg.svdvals(a.double()) > tol).sum(-1)
