"""Pure functions of the faithfulness violation test (torch only, no Lightning, no state).

Notation (spec, Method): ``w (B, n)`` explanation weights, ``delta (B, n)`` impacts
``Δ_t = p(ŷ|x) − p(ŷ|x with feature t removed)``, ``valid (B, n)`` True on real features (False on
padding). The most important feature is ``t* = argmax_t |w_t|`` (first on ties, padding excluded) and
an example violates when ``w_t* · Δ_t* < 0`` (strict: a zero weight or a zero impact never violates).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ballroom.core.validate import check_same_size, check_tensor

__all__ = [
    "auc_trapezoid",
    "masked_softmax",
    "rank",
    "removal_counts",
    "spearman",
    "top_abs_index",
    "topk_abs",
    "violation_flags",
    "violation_ratio",
]


def _check_valid(valid: Tensor | None, like: Tensor, name: str = "valid") -> Tensor:
    if valid is None:
        return torch.ones_like(like, dtype=torch.bool)
    check_tensor(valid, name, ndim=2, dtype="bool")
    if valid.shape != like.shape:
        raise ValueError(
            f"{name} must have shape {tuple(like.shape)} (like weights), got {tuple(valid.shape)}"
        )
    return valid


def _abs_for_ranking(weights: Tensor, valid: Tensor) -> Tensor:
    """``|w|`` with padding pushed below every real feature (so it is never selected)."""
    return weights.abs().masked_fill(~valid, -1.0)


def top_abs_index(weights: Tensor, valid: Tensor | None = None) -> Tensor:
    """``t* = argmax_t |w_t|`` over the valid features, first on ties: ``(B, n) -> (B,)`` long.

    Args:
        weights: ``(B, n)`` floating explanation weights.
        valid: ``(B, n)`` bool, True on real features (default: all).
    """
    check_tensor(weights, "weights", ndim=2)
    valid = _check_valid(valid, weights)
    if not bool(valid.any(1).all()):
        raise ValueError("valid must mark at least one feature in every row")
    score = _abs_for_ranking(weights, valid)
    # torch.argmax returns the first maximal index
    return score.argmax(dim=1)


def topk_abs(weights: Tensor, k: int, valid: Tensor | None = None) -> Tensor:
    """Indices of the ``k`` largest ``|w|`` per row (descending, stable on ties): ``(B, n) -> (B, k)``.

    With padding, a row with fewer than ``k`` valid features lists padding positions last; check
    them against ``valid`` (see :func:`ballroom.faithfulness.evaluate.impact`).

    Args:
        weights: ``(B, n)`` floating explanation weights.
        k: how many indices per row, in ``[1, n]``.
        valid: ``(B, n)`` bool, True on real features (default: all).

    Raises:
        ValueError: bad shapes or ``k`` out of range.
    """
    check_tensor(weights, "weights", ndim=2)
    valid = _check_valid(valid, weights)
    if not 1 <= k <= weights.shape[1]:
        raise ValueError(f"k must lie in [1, {weights.shape[1]}] (the number of features), got {k}")
    score = _abs_for_ranking(weights, valid)
    return torch.sort(score, dim=1, descending=True, stable=True).indices[:, :k]


def violation_flags(weights: Tensor, deltas: Tensor, valid: Tensor | None = None) -> Tensor:
    """Per-example violation ``[w_t* · Δ_t* < 0]`` with ``t* = argmax_t |w_t|``: ``(B, n), (B, n) -> (B,)`` bool.

    Args:
        weights: ``(B, n)`` explanation weights (signed or non-negative), finite.
        deltas: ``(B, n)`` impacts ``p(ŷ|x) − p(ŷ|x_{−t})`` of removing each feature, finite. Only
            the entry at ``t*`` is read, so the other entries may hold anything finite.
        valid: ``(B, n)`` bool, True on real features (default: all).

    Returns:
        ``(B,)`` bool: True where the sign of the top explanation contradicts the impact.
    """
    check_tensor(weights, "weights", ndim=2)
    check_tensor(deltas, "deltas", ndim=2)
    if deltas.shape != weights.shape:
        raise ValueError(
            f"deltas must have the shape of weights {tuple(weights.shape)}, got {tuple(deltas.shape)}"
        )
    top = top_abs_index(weights, valid)
    w = weights.gather(1, top[:, None])[:, 0]
    d = deltas.gather(1, top[:, None])[:, 0].to(w.dtype)
    return (w * d) < 0


def violation_ratio(weights: Tensor, deltas: Tensor, valid: Tensor | None = None) -> Tensor:
    """Mean of :func:`violation_flags` over the batch: a 0-d float tensor in ``[0, 1]`` (lower is better).

    Args:
        weights: ``(B, n)`` explanation weights, finite.
        deltas: ``(B, n)`` impacts of removing each feature, finite.
        valid: ``(B, n)`` bool, True on real features (default: all).
    """
    return violation_flags(weights, deltas, valid).float().mean()


def masked_softmax(scores: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax of ``scores`` over the entries where ``mask`` is True; a row without any is all zeros.

    Args:
        scores: the logits, any shape.
        mask: bool, broadcastable against ``scores`` (True = attend).
        dim: the dimension normalised over.

    Returns:
        Probabilities of ``scores``' shape (0 where ``mask`` is False).
    """
    filled = scores.masked_fill(~mask, float("-inf"))
    out = torch.softmax(filled, dim=dim)
    return torch.nan_to_num(out, nan=0.0)


def rank(x: Tensor) -> Tensor:
    """Ranks ``0..n-1`` along the last dimension (ties broken by position, i.e. no tie correction).

    Args:
        x: any tensor; ranked along its last dimension.

    Returns:
        float64 ranks of ``x``'s shape.
    """
    return torch.argsort(torch.argsort(x, dim=-1, stable=True), dim=-1, stable=True).to(torch.float64)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman's rank correlation per row: ``(B, k), (B, k) -> (B,)`` (float64).

    Pearson correlation of the ranks; ties are ranked by position (the official code does not
    correct for ties). A row whose ranks are constant (``k == 1``) gives NaN.

    Args:
        a: ``(B, k)`` floating values.
        b: ``(B, k)`` floating values.

    Raises:
        ValueError: shapes that differ or are not 2-D, or NaN or inf.
    """
    check_tensor(a, "a", ndim=2)
    check_tensor(b, "b", ndim=2)
    if a.shape != b.shape:
        raise ValueError(f"b must have the shape of a {tuple(a.shape)}, got {tuple(b.shape)}")
    ra, rb = rank(a), rank(b)
    ra = ra - ra.mean(-1, keepdim=True)
    rb = rb - rb.mean(-1, keepdim=True)
    return (ra * rb).sum(-1) / torch.sqrt((ra * ra).sum(-1) * (rb * rb).sum(-1))


def removal_counts(lengths: Tensor, ratio: float, mode: str = "example") -> Tensor:
    """How many features a removal ratio takes: ``k = ⌊ratio · length⌋``, at least 1 for ``ratio > 0``.

    ``mode="example"`` uses each example's length; ``"batch_min"`` the shortest length in the batch
    (the official text code). ``lengths (B,)`` long -> ``(B,)`` long (never above the length).
    """
    if mode not in ("example", "batch_min"):
        raise ValueError(f"mode must be one of ['example', 'batch_min'], got {mode!r}")
    base = lengths if mode == "example" else lengths.min().expand_as(lengths)
    k = torch.floor(base.to(torch.float64) * ratio).long()
    if ratio > 0:
        k = k.clamp_min(1)
    return torch.minimum(k, lengths)


def auc_trapezoid(ratios: Sequence[float], values: Tensor) -> Tensor:
    """Trapezoid area under ``values`` (last dimension, one per ratio) over the sorted ``ratios``."""
    x = torch.as_tensor(list(ratios), dtype=torch.float64, device=values.device)
    check_same_size(("ratios", x, 0), ("values", values, -1))
    return torch.trapezoid(values.to(torch.float64), x, dim=-1)
