"""What the paper's analysis measures on the dual form: exactness, votes, dataset shares, spotlights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ballroom.dualform.recorder import DualFormRecorder

__all__ = [
    "VoteAgreement",
    "capture_layer_io",
    "dual_primal_gap",
    "same_dataset_share",
    "spotlight_concentration",
    "vote_agreement",
]


def capture_layer_io(model: nn.Module, names: Sequence[str], x: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
    """Run ``model(x)`` in eval mode without gradients; return ``{name: (input (..., d_in), output (..., d_out))}``.

    The inputs are the queries of the dual form: each layer's input for the test sample under the
    final model. The model's training/eval mode is restored afterwards.
    """
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise KeyError(f"model has no modules {missing}")
    seen: dict[str, tuple[Tensor, Tensor]] = {}

    def make(name: str):
        def hook(module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> None:
            seen[name] = (args[0].detach().clone(), output.detach().clone())  # later in-place ops (ReLU)

        return hook

    handles = [modules[n].register_forward_hook(make(n)) for n in names]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    absent = [n for n in names if n not in seen]
    if absent:
        raise RuntimeError(f"layers {absent} were not called by model(x)")
    return seen


def dual_primal_gap(model: nn.Module, recorder: DualFormRecorder, x: Tensor) -> dict[str, float]:
    """Max relative error ``max |dual - primal| / max |primal|`` of every recorded layer on inputs ``x``.

    The primal output is the live layer's output inside ``model(x)`` (eval mode); the dual output is
    :meth:`DualLinear.forward` of the same layer input, computed as attention over the stored
    training patterns. ``x`` is whatever ``model`` takes, e.g. ``(B, d)``.
    """
    io = capture_layer_io(model, recorder.layer_names, x)
    gaps = {}
    for name, (q, y) in io.items():
        dual = recorder.dual(name).forward(q)
        ref = y.to(dual.dtype)
        gaps[name] = float((dual - ref).abs().max() / ref.abs().max().clamp_min(1e-300))
    return gaps


@dataclass(frozen=True)
class VoteAgreement:
    """How often the attention vote agrees with the model output (``vote_pred``) and the target.

    ``pred_table``/``target_table`` ``(2, 2)``: rows = vote agrees / disagrees (with the prediction,
    resp. the target), columns = the model was right / wrong; column-normalised (each column sums
    to 1, or 0 when empty). ``counts`` ``(2,)`` = number of right / wrong predictions.
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
    """Compare votes ``(M,)`` with model predictions ``(M,)`` and targets ``(M,)`` (integer class ids)."""
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

    ``scores (M, N)``, ``query_dataset (M,)``, ``key_dataset (N,)`` integer dataset ids.
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
    """``(M,)`` share of each query's total ``|score|`` held by its top ``frac`` of slots (at least one)."""
    s = _check_scores(scores)
    if not 0.0 < frac <= 1.0:
        raise ValueError(f"frac must be in (0, 1], got {frac}")
    k = max(1, round(frac * s.shape[1]))
    return s.topk(k, dim=1).values.sum(1) / s.sum(1).clamp_min(1e-300)
