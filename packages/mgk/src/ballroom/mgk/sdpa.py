"""MGK attention through ``F.scaled_dot_product_attention``: the mixture as one softmax over ``(j, r)`` pairs.

With soft mixing weights the MGK output is a single softmax over the ``M K`` pairs ``(j, r)``::

    h_i = sum_j softmax_j(logsumexp_r l_ijr) v_j
        = sum_j [sum_r exp(l_ijr)] / [sum_j'r' exp(l_ij'r')] v_j
        = sum_(j,r) softmax_(j,r)(l_i..) v_j

i.e. ordinary attention over ``M K`` keys whose value ``v_j`` is repeated ``M`` times, with the
logits ``l_ijr = log pi_jr - ||q_i - k_jr||^2 / (2 sigma_r^2)`` (up to the row constant) equal to
inner products of the augmented vectors of :mod:`ballroom.mgk.functional`
(``[q, 1, ||q||^2] . [k_r / sigma_r^2, log pi_jr - ||k_r||^2 / (2 sigma_r^2), -1 / (2 sigma_r^2)]``; the
``||q||^2`` column is dropped when every ``sigma_r`` is equal). So ``F.scaled_dot_product_attention``
with ``scale=1`` computes MGK exactly, and its fused kernels never store an ``N x N`` matrix.

Masks become masks over pairs: a key-padding or causal mask ``(..., N, K)`` is repeated over ``r``
(pair index ``r K + j``), and ``pi_jr = 0`` masks the pair ``(j, r)`` itself. Hard-E (a max over
``r``, not a sum) and the attention matrix ``A`` (``need_weights``, the EM responsibilities) are not
a softmax over pairs: they keep the materialising path of :func:`ballroom.mgk.functional.mgk_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.core.validate import check_number, check_tensor
from ballroom.mgk.functional import _augmented, _check_mask, _stack_keys

__all__ = ["mgk_attention_sdpa", "pair_mask"]


def pair_mask(mask: Tensor | None, zero_pi: Tensor | None, m: int, k: int) -> Tensor | None:
    """The bool mask over ``(j, r)`` pairs (True = attend) that SDPA takes.

    Args:
        mask: bool ``(..., N or 1, K)`` over key positions (True = attend), or ``None``.
        zero_pi: bool broadcastable to ``(..., M, K)``, True where ``pi_jr = 0``, or ``None``.
        m: components ``M``.
        k: key positions ``K``.

    Returns:
        ``(..., N or 1, M * K)`` with pair index ``r * K + j``, or ``None`` when nothing is masked.
    """
    out = None
    if mask is not None:
        out = mask.unsqueeze(-2).expand(*mask.shape[:-1], m, k).flatten(-2)
    if zero_pi is not None:
        zp = zero_pi if zero_pi.ndim >= 2 else zero_pi[None]
        keep = (~zp.expand(*zp.shape[:-2], m, k)).flatten(-2).unsqueeze(-2)  # (..., 1, M*K)
        out = keep if out is None else out & keep
    return out


def mgk_attention_sdpa(
    q: Tensor,
    keys: Tensor | Sequence[Tensor],
    v: Tensor,
    *,
    sigma2: float | Sequence[float] | Tensor,
    log_pi: Tensor | None = None,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
) -> Tensor:
    """Soft MGK attention ``h = A v`` by one ``F.scaled_dot_product_attention`` over the ``M K`` pairs.

    Equal to ``mgk_attention(q, keys, v, ...)[0]`` (``mode="soft"``) up to rounding; never forms the
    ``(N, K)`` attention matrix where SDPA has a fused kernel (CPU flash attention: same head size for
    queries and values, which the zero-padding below arranges; no dropout). Differentiable by autograd.

    Args:
        q: ``(..., N, d)`` queries.
        keys: ``(..., M, K, d)`` keys (or a list of ``M`` tensors ``(..., K, d)``), same dtype as ``q``.
        v: ``(..., K, e)`` values.
        sigma2: the ``M`` absolute variances ``sigma_r^2`` (or one for all), each > 0.
        log_pi: log mixing weights broadcastable to ``(..., M, K)`` (``-inf`` for pi = 0); ``None`` =
            every pi = 1.
        mask: bool broadcastable to ``(..., N, K)``, True where attending is allowed; a row with no
            allowed key gives a zero output (as the materialising path).
        dropout_p: SDPA's dropout when ``training``: it drops ``(j, r)`` pairs, not entries of ``A``
            (unbiased too, but not the fused path's regulariser; SDPA then runs unfused).
        training: apply ``dropout_p``.

    Returns:
        ``(..., N, e)``.
    """
    check_tensor(q, "q", min_ndim=2)
    keys = _stack_keys(keys, q)
    check_tensor(v, "v", min_ndim=2)
    check_number(dropout_p, "dropout_p", lo=0.0, hi=1.0, hi_open=True)
    n, k = q.shape[-2], keys.shape[-2]
    if v.shape[-2] != k:
        raise ValueError(f"v must have {k} positions (keys.shape[-2]), got shape {tuple(v.shape)}")
    if v.dtype != q.dtype:
        raise TypeError(f"v must have q's dtype {q.dtype}, got {v.dtype}")
    mask = _check_mask(mask, n, k)
    q_aug, k_flat, zero_pi, m = _augmented(q, keys, sigma2, log_pi, False)
    allowed = pair_mask(mask, zero_pi, m, k)
    empty_rows = None
    if allowed is not None:
        row_ok = allowed.any(-1, keepdim=True)
        if not bool(row_ok.all()):  # an all-False row: SDPA gives NaN; attend anywhere, then zero it
            empty_rows = ~row_ok
            allowed = allowed | empty_rows
    e, c = v.shape[-1], q_aug.shape[-1]
    width = max(e, c)  # one head size for q, k and v: what the fused CPU kernel needs
    v_rep = v.unsqueeze(-3).expand(*v.shape[:-2], m, k, e).flatten(-3, -2)  # (..., M*K, e)
    batch = torch.broadcast_shapes(q_aug.shape[:-2], v_rep.shape[:-2])
    q_aug = F.pad(q_aug, (0, width - c)).expand(*batch, n, width)
    k_flat = F.pad(k_flat, (0, width - c)).expand(*batch, m * k, width)
    v_rep = F.pad(v_rep, (0, width - e)).expand(*batch, m * k, width)
    p = dropout_p if training else 0.0
    h = F.scaled_dot_product_attention(q_aug, k_flat, v_rep, attn_mask=allowed, dropout_p=p, scale=1.0)
    h = h[..., :e]
    if empty_rows is not None:
        h = h.masked_fill(empty_rows, 0.0)
    return h
