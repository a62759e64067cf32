"""Batched removals and the violation test over a dataloader.

- :func:`impact`: ``Δ = p(ŷ|x) − p(ŷ|x_{−t})`` for many single-feature removals in one batched pass.
- :func:`erasure_probs`: ``p(·|x)`` after removing the top (or lowest) fraction of features by ``w``.
- :func:`run_violation_test`: every explainer × removal function -> a ``pandas.DataFrame``.
- :func:`plot_violations`: grouped bars of that frame.

Cost (spec, Performance): the single removals do not depend on the explainer, so when the sequence
is short (``n <= top_k · #explainers``) every position is removed once per batch and shared by all
explainers; otherwise each explainer's top-k positions are removed. Copies are stacked into batches
of at most ``chunk_size`` sequences.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ballroom.core.validate import check_choice, check_int, check_tensor
from ballroom.faithfulness.explain import Explainer
from ballroom.faithfulness.functional import removal_counts, topk_abs, violation_flags
from ballroom.faithfulness.metrics import (
    AUCTP,
    AUCTP_RATIOS,
    COMPREHENSIVENESS_RATIOS,
    SUFFICIENCY_RATIOS,
    Comprehensiveness,
    FaithfulnessViolation,
    RankCorrelation,
    Sufficiency,
)
from ballroom.faithfulness.protocol import REMOVALS, index_batch

__all__ = [
    "erasure_probs",
    "impact",
    "plot_violations",
    "polarity_disagreement",
    "removal_probs",
    "run_violation_test",
]


def _probs(model: Any, emb: Tensor, mask: Tensor, attn_mask: Tensor | None = None) -> Tensor:
    return torch.softmax(model.forward_from_embeddings(emb, mask, attn_mask=attn_mask), -1)


@torch.no_grad()
def removal_probs(
    model: Any, batch: Any, positions: Tensor, how: str, chunk_size: int = 4096
) -> tuple[Tensor, Tensor]:
    """Class probabilities before and after each single removal.

    Args:
        model: an :class:`~ballroom.faithfulness.protocol.ExplainableModel`.
        batch: ``B`` examples.
        positions: ``(B, k)`` long (or ``(B, k, n)`` bool: several features per removal).
        how: the removal function.
        chunk_size: at most this many perturbed copies per forward pass.

    Returns:
        ``p (B, C)`` of the unperturbed inputs and ``p_removed (B, k, C)``.
    """
    check_choice(how, "how", REMOVALS)
    check_int(chunk_size, "chunk_size", min=1)
    emb, mask = model.embed(batch), model.padding_mask(batch)
    p0 = _probs(model, emb, mask)
    b = emb.shape[0]
    if positions.dtype == torch.bool:
        check_tensor(positions, "positions", ndim=3, dtype="bool")
    else:
        check_tensor(positions, "positions", ndim=2, dtype="integer")
    if positions.shape[0] != b:
        raise ValueError(f"positions must have {b} rows (the batch), got {positions.shape[0]}")
    k = positions.shape[1]
    rows = torch.arange(b, device=positions.device).repeat_interleave(k)
    flat = positions.reshape(b * k, *positions.shape[2:])
    out = []
    for start in range(0, b * k, chunk_size):
        idx = rows[start : start + chunk_size]
        sub = index_batch(batch, idx)
        pert = model.remove(sub, flat[start : start + chunk_size], how)
        out.append(_probs(model, pert.emb, pert.mask, pert.attn_mask))
    return p0, torch.cat(out).view(b, k, -1)


def impact(
    model: Any,
    batch: Any,
    positions: Tensor,
    how: str,
    target: Tensor | None = None,
    chunk_size: int = 4096,
) -> Tensor:
    """``Δ_t = p(ŷ|x) − p(ŷ|x with feature t removed)`` for ``positions (B, k)``: ``-> (B, k)``.

    ``ŷ`` is the original prediction (``target`` overrides it); it is never recomputed after removal.

    Args:
        model: an :class:`~ballroom.faithfulness.protocol.ExplainableModel`.
        batch: ``B`` examples.
        positions: ``(B, k)`` long feature positions (or ``(B, k, n)`` bool: several per removal).
        how: the removal function, one of :data:`~ballroom.faithfulness.protocol.REMOVALS`
            (``"slice_out"``, ``"zeros_mask"``, ``"att_mask"``).
        target: ``(B,)`` classes to measure instead of the prediction.
        chunk_size: at most this many perturbed copies per forward pass.

    Returns:
        ``(B, k)`` impacts.
    """
    p0, pk = removal_probs(model, batch, positions, how, chunk_size)
    cls = p0.argmax(-1) if target is None else target.to(p0.device)
    y0 = p0.gather(1, cls[:, None])
    yk = pk.gather(2, cls[:, None, None].expand(-1, pk.shape[1], 1))[..., 0]
    return y0 - yk


def _order_masks(weights: Tensor, valid: Tensor, counts: Tensor, lowest: bool) -> Tensor:
    """``(B, n)`` bool: the ``counts`` highest (or lowest) ``weights`` per row among ``valid``."""
    fill = float("inf") if lowest else float("-inf")
    order = torch.sort(weights.masked_fill(~valid, fill), dim=1, descending=not lowest, stable=True).indices
    ranks = torch.empty_like(order).scatter_(
        1, order, torch.arange(order.shape[1], device=order.device).expand_as(order)
    )
    return (ranks < counts[:, None]) & valid


def erasure_probs(
    model: Any,
    batch: Any,
    weights: Tensor,
    ratios: Sequence[float],
    how: str,
    lowest: bool = False,
    length_mode: str = "example",
    chunk_size: int = 4096,
) -> tuple[Tensor, Tensor]:
    """``p (B, C)`` and ``p_removed (B, R, C)`` after removing the top (``lowest``: bottom) ``ratio`` by ``w``.

    ``k = ⌊ratio · length⌋`` (at least 1), per example (``length_mode="example"``) or from the shortest
    example of the batch (``"batch_min"``, the official text code).

    Args:
        model: an :class:`~ballroom.faithfulness.protocol.ExplainableModel`.
        batch: ``B`` examples.
        weights: ``(B, n)`` explanation weights that order the features (by value, not ``|w|``).
        ratios: the removal ratios, each giving one removal.
        how: the removal function, one of :data:`~ballroom.faithfulness.protocol.REMOVALS`
            (``"slice_out"``, ``"zeros_mask"``, ``"att_mask"``).
        lowest: remove the lowest-weighted features instead of the highest.
        length_mode: ``"example"`` or ``"batch_min"`` (above).
        chunk_size: at most this many perturbed copies per forward pass.

    Returns:
        ``(p (B, C), p_removed (B, len(ratios), C))``.
    """
    valid = model.padding_mask(batch)
    lengths = valid.sum(1)
    drops = torch.stack(
        [_order_masks(weights, valid, removal_counts(lengths, r, length_mode), lowest) for r in ratios], 1
    )
    return removal_probs(model, batch, drops, how, chunk_size)


def polarity_disagreement(weights: Tensor, polarity: Tensor, pred: Tensor, valid: Tensor) -> Tensor:
    """Ground-truth check (no removal): ``sign(w_t*) · polarity(t*)`` oriented to ``ŷ`` is negative: ``(B,)`` bool.

    ``polarity (B, n)`` is the token's polarity towards class 1 (``> 0``) or 0 (``< 0``); it is
    flipped for ``ŷ = 0``. A neutral token (polarity 0) is never a disagreement.

    Args:
        weights: ``(B, n)`` explanation weights.
        polarity: ``(B, n)`` token polarities (above).
        pred: ``(B,)`` predicted classes (0 or 1).
        valid: ``(B, n)`` bool, True on real tokens.

    Returns:
        ``(B,)`` bool.
    """
    oriented = polarity.to(weights.dtype) * torch.where(pred == 1, 1.0, -1.0).to(weights.dtype)[:, None]
    return violation_flags(weights, oriented, valid)


def _named(explainers: Mapping[str, Explainer] | Iterable[Explainer]) -> dict[str, Explainer]:
    if isinstance(explainers, Mapping):
        return dict(explainers)
    named: dict[str, Explainer] = {}
    for e in explainers:
        name = getattr(e, "name", type(e).__name__)
        if name in named:
            name = f"{name}-{getattr(e, 'variant', len(named))}"
        named[name] = e
    return named


def run_violation_test(
    model: Any,
    dataloader: Iterable[Any],
    explainers: Mapping[str, Explainer] | Iterable[Explainer],
    removals: Sequence[str] = REMOVALS,
    top_k: int = 20,
    *,
    metrics: bool = False,
    polarity: bool = False,
    max_batches: int | None = None,
    chunk_size: int = 4096,
) -> Any:
    """The faithfulness violation test of every explainer under every removal function.

    Args:
        model: an :class:`~ballroom.faithfulness.protocol.ExplainableModel` (put in eval mode here).
        dataloader: batches the model's ``embed`` accepts (e.g. ``(tokens, labels, polarity)``).
        explainers: ``{name: explainer}`` or explainers (named by their ``name``).
        removals: a subset of ``("slice_out", "zeros_mask", "att_mask")``.
        top_k: single removals per example (the first is the violation test; all ``k`` feed the
            rank correlation).
        metrics: also compute Comprehensiveness, Sufficiency, AUC-TP and the rank correlation.
        polarity: batches carry ground-truth token polarities as ``batch[2]``; adds ``gt_disagreement``.
        max_batches: stop after this many batches.
        chunk_size: perturbed copies per forward pass.

    Returns:
        ``pandas.DataFrame`` with one row per explainer × removal plus a ``"mean"`` row per explainer
        (the paper's number: the mean over the removals), columns ``explainer, removal, violation,
        n`` (+ ``gt_disagreement``, + the other metrics).
    """
    import pandas as pd

    named = _named(explainers)
    if not named:
        raise ValueError("explainers must not be empty")
    for how in removals:
        check_choice(how, "removals", REMOVALS)
    check_int(top_k, "top_k", min=1)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    keys = [(e, r) for e in named for r in removals]
    viol = {key: FaithfulnessViolation() for key in keys}
    extra: dict[tuple[str, str], dict[str, Any]] = {}
    if metrics:
        extra = {key: {"comprehensiveness": Comprehensiveness(), "sufficiency": Sufficiency(),
                       "auc_tp": AUCTP(), "rank_correlation": RankCorrelation()} for key in keys}  # fmt: skip
    gt = {e: [0, 0] for e in named}
    seen = 0
    try:
        for i, batch in enumerate(dataloader):
            if max_batches is not None and i >= max_batches:
                break
            valid = model.padding_mask(batch)
            b, n = valid.shape
            with torch.no_grad():
                logits = model.forward_from_embeddings(model.embed(batch), valid)
            pred = logits.argmax(-1)
            weights = {name: e(model, batch, target=pred).to(torch.float64) for name, e in named.items()}
            k = min(top_k, n, int(valid.sum(1).min()))
            share = n <= top_k * len(named)
            for how in removals:
                cached = None
                if share:
                    all_pos = torch.arange(n, device=valid.device).expand(b, n)
                    cached = removal_probs(model, batch, all_pos, how, chunk_size)
                for name, w in weights.items():
                    top = topk_abs(w, k, valid)
                    if cached is not None:
                        p0, pk_all = cached
                        pk = pk_all.gather(1, top[..., None].expand(-1, -1, pk_all.shape[-1]))
                    else:
                        p0, pk = removal_probs(model, batch, top, how, chunk_size)
                    y0 = p0.gather(1, pred[:, None])
                    yk = pk.gather(2, pred[:, None, None].expand(-1, k, 1))[..., 0]
                    deltas = torch.zeros_like(w).scatter_(1, top, (y0 - yk).to(w.dtype))
                    viol[(name, how)].update(w, deltas, valid)
                    if metrics:
                        _update_extra(extra[(name, how)], model, batch, w, top, p0, pk, pred, how, chunk_size)
            if polarity:
                for name, w in weights.items():
                    flags = polarity_disagreement(w, batch[2].to(w.device), pred, valid)
                    gt[name][0] += int(flags.sum())
                    gt[name][1] += b
            seen += b
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    if seen == 0:
        raise ValueError("dataloader yielded no batches")
    rows = []
    for name in named:
        group = []
        for how in removals:
            row: dict[str, Any] = {"explainer": name, "removal": how,
                                   "violation": float(viol[(name, how)].compute()), "n": seen}  # fmt: skip
            if metrics:
                row.update({m: float(v.compute()) for m, v in extra[(name, how)].items()})
            if polarity:
                row["gt_disagreement"] = gt[name][0] / max(gt[name][1], 1)
            group.append(row)
        mean = {"explainer": name, "removal": "mean", "n": seen}
        for col in group[0]:
            if col not in mean:
                mean[col] = sum(r[col] for r in group) / len(group)
        rows += [*group, mean]
    return pd.DataFrame(rows)


def _update_extra(
    ms: dict[str, Any], model: Any, batch: Any, w: Tensor, top: Tensor, p0: Tensor, pk: Tensor,
    pred: Tensor, how: str, chunk_size: int,
) -> None:  # fmt: skip
    effects = (p0[:, None, :] - pk).abs().mean(-1)
    ms["rank_correlation"].update(w.gather(1, top), effects.to(w.dtype))
    y0 = p0.gather(1, pred[:, None])[:, 0]
    for key, ratios, lowest in (("comprehensiveness", COMPREHENSIVENESS_RATIOS, False),
                                ("sufficiency", SUFFICIENCY_RATIOS, True)):  # fmt: skip
        _, pr = erasure_probs(model, batch, w, ratios, how, lowest=lowest, chunk_size=chunk_size)
        ms[key].update(y0, pr.gather(2, pred[:, None, None].expand(-1, len(ratios), 1))[..., 0])
    _, pr = erasure_probs(model, batch, w, AUCTP_RATIOS, how, chunk_size=chunk_size)
    labels = batch[1] if isinstance(batch, tuple | list) and len(batch) > 1 else pred
    ms["auc_tp"].update(pr.argmax(-1) == labels.to(pr.device)[:, None])


def plot_violations(frame: Any, ax: Any = None, title: str = "Faithfulness violation test") -> Any:
    """Grouped bars: violation ratio per explainer (groups) and removal function (bars). Returns the axes.

    Args:
        frame: a pandas frame with ``explainer``, ``removal`` and ``violation`` columns (as
            :func:`run_violation_test` returns).
        ax: the matplotlib ``Axes`` to draw on (``None``: a new 7x3.5 figure).
        title: the axes title.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    explainers = list(dict.fromkeys(frame["explainer"]))
    removals = list(dict.fromkeys(frame["removal"]))
    width = 0.8 / len(removals)
    for j, how in enumerate(removals):
        sub = frame[frame["removal"] == how].set_index("explainer")
        vals = [float(sub.loc[e, "violation"]) if e in sub.index else 0.0 for e in explainers]
        ax.bar(
            [i + (j - (len(removals) - 1) / 2) * width for i in range(len(explainers))],
            vals,
            width,
            label=how,
        )
    ax.set_xticks(range(len(explainers)), explainers)
    ax.set(ylabel="violation ratio (fraction of examples)", title=title, ylim=(0, None))
    ax.legend(title="removal", fontsize="small")
    return ax
