"""Pure functions of the paper's analysis on attention scores: votes, dataset shares, spotlights.

They take tensors (scores ``(M, N)`` of ``M`` queries over ``N`` slots, integer ids) and return
tensors or numbers; :class:`~ballroom.dualform.DualLinear` produces the scores, and
:mod:`ballroom.dualform.metrics` the model-level measurements (layer inputs, dual/primal gap).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "VoteAgreement",
    "linear_layer_names",
    "same_dataset_share",
    "spotlight_concentration",
    "vote_agreement",
]


@dataclass(frozen=True)
class VoteAgreement:
    """How often the attention vote agrees with the model output (``vote_pred``) and the target.

    ``pred_table``/``target_table`` ``(2, 2)``: rows = vote agrees / disagrees (with the prediction,
    resp. the target), columns = the model was right / wrong; column-normalised (each column sums
    to 1, or 0 when empty). ``counts`` ``(2,)`` = number of right / wrong predictions.

    Args:
        vote_pred: the fraction of queries whose vote equals the model's prediction.
        vote_target: the fraction of queries whose vote equals the target.
        pred_table: ``(2, 2)`` float64, vote-vs-prediction agreement by right/wrong (above).
        target_table: ``(2, 2)`` float64, vote-vs-target agreement by right/wrong.
        counts: ``(2,)`` int64, right and wrong predictions.
    """

    vote_pred: float
    vote_target: float
    pred_table: Tensor
    target_table: Tensor
    counts: Tensor


def _table(agree: Tensor, right: Tensor) -> Tensor:
    t = torch.zeros(2, 2, dtype=torch.float64)
    for col, mask in enumerate((right, ~right)):
        n = int(mask.sum())
        if n:
            a = int((agree & mask).sum())
            t[0, col], t[1, col] = a / n, (n - a) / n
    return t


def vote_agreement(votes: Tensor, preds: Tensor, targets: Tensor) -> VoteAgreement:
    """Compare votes ``(M,)`` with model predictions ``(M,)`` and targets ``(M,)`` (integer class ids).

    Args:
        votes: ``(M,)`` integer class voted by the attention (e.g. :meth:`DualLinear.vote`).
        preds: ``(M,)`` integer class the model predicted.
        targets: ``(M,)`` integer true class.

    Returns:
        A :class:`VoteAgreement`.

    Raises:
        ValueError: a tensor that is not 1-D integer, or shapes that differ or are empty.
    """
    for nm, t in (("votes", votes), ("preds", preds), ("targets", targets)):
        if not isinstance(t, Tensor) or t.ndim != 1 or t.dtype.is_floating_point:
            raise ValueError(f"{nm} must be a 1-D integer tensor, got {getattr(t, 'dtype', type(t))}")
    if not votes.shape == preds.shape == targets.shape or votes.numel() == 0:
        raise ValueError(
            f"votes, preds, targets must share one non-empty shape, got {tuple(votes.shape)}, "
            f"{tuple(preds.shape)}, {tuple(targets.shape)}"
        )
    votes, preds, targets = votes.cpu(), preds.cpu(), targets.cpu()
    right = preds == targets
    return VoteAgreement(
        vote_pred=float((votes == preds).double().mean()),
        vote_target=float((votes == targets).double().mean()),
        pred_table=_table(votes == preds, right),
        target_table=_table(votes == targets, right),
        counts=torch.tensor([int(right.sum()), int((~right).sum())]),
    )


def _check_scores(scores: Tensor) -> Tensor:
    if not isinstance(scores, Tensor) or scores.ndim != 2 or not scores.is_floating_point():
        raise ValueError(
            f"scores must be a floating (M, N) tensor, got {getattr(scores, 'shape', type(scores))}"
        )
    if scores.shape[1] == 0:
        raise ValueError("scores has no slots (N = 0)")
    return scores.abs()


def same_dataset_share(scores: Tensor, query_dataset: Tensor, key_dataset: Tensor) -> Tensor:
    """``(M,)`` share of each query's total ``|score|`` mass that falls on keys of its own dataset.

    Args:
        scores: ``(M, N)`` floating scores of ``M`` queries over ``N`` slots (signs are dropped).
        query_dataset: ``(M,)`` integer dataset id of each query.
        key_dataset: ``(N,)`` integer dataset id of each slot.

    Returns:
        ``(M,)`` shares in ``[0, 1]`` (0 for a query whose scores are all 0).

    Raises:
        ValueError: ``scores`` is not a floating ``(M, N)`` tensor with ``N > 0``, or the id shapes
            do not match it.
    """
    s = _check_scores(scores)
    if query_dataset.shape != (s.shape[0],) or key_dataset.shape != (s.shape[1],):
        raise ValueError(
            f"expected query_dataset ({s.shape[0]},) and key_dataset ({s.shape[1]},), got "
            f"{tuple(query_dataset.shape)} and {tuple(key_dataset.shape)}"
        )
    own = query_dataset.to(s.device).unsqueeze(1) == key_dataset.to(s.device).unsqueeze(0)
    return (s * own).sum(1) / s.sum(1).clamp_min(1e-300)


def spotlight_concentration(scores: Tensor, frac: float = 0.01) -> Tensor:
    """``(M,)`` share of each query's total ``|score|`` held by its top ``frac`` of slots (at least one).

    Args:
        scores: ``(M, N)`` floating scores (signs are dropped).
        frac: the fraction of slots counted, in ``(0, 1]`` (``round(frac * N)``, at least 1).

    Returns:
        ``(M,)`` shares in ``[0, 1]``.

    Raises:
        ValueError: ``scores`` is not a floating ``(M, N)`` tensor with ``N > 0``, or ``frac`` is out
            of range.
    """
    s = _check_scores(scores)
    if not 0.0 < frac <= 1.0:
        raise ValueError(f"frac must be in (0, 1], got {frac}")
    k = max(1, round(frac * s.shape[1]))
    return s.topk(k, dim=1).values.sum(1) / s.sum(1).clamp_min(1e-300)


def linear_layer_names(model: nn.Module, patterns: str | Sequence[str] | None = None) -> list[str]:
    """The ``nn.Linear`` layers of ``model`` by the names :class:`DualFormRecorder` takes, in model order.

    Args:
        model: any ``nn.Module``.
        patterns: ``None`` for every ``nn.Linear``; else a name or shell-style glob (``"blocks.*.fc1"``,
            ``"head"``) or a list of them: the layers matching any, in model order.

    Returns:
        module paths as in ``model.named_modules()`` (``"layers.0"``, ``"encoder.blocks.3.mlp.fc1"``).

    Raises:
        KeyError: a pattern matches no ``nn.Linear`` (the message lists the ones there are).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if patterns is None:
        return names
    wanted = [patterns] if isinstance(patterns, str) else list(patterns)
    for pat in wanted:
        if not isinstance(pat, str):
            raise TypeError(f"patterns must be strings, got {type(pat).__name__}")
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            modules = dict(model.named_modules())
            what = (
                f"module {pat!r} is {type(modules[pat]).__name__}, not nn.Linear"
                if pat in modules
                else (f"no nn.Linear layer matches {pat!r}")
            )
            raise KeyError(f"{what}; the nn.Linear layers are {names}")
    return [n for n in names if any(fnmatch.fnmatchcase(n, pat) for pat in wanted)]
