"""What the paper's analysis measures on a model and its recorder: the queries and the dual/primal gap.

The pure score statistics (votes, dataset shares, spotlights) live in :mod:`ballroom.dualform.functional`
and are importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ballroom.core.validate import check_tensor
from ballroom.dualform.functional import (
    VoteAgreement,
    same_dataset_share,
    spotlight_concentration,
    vote_agreement,
)

if TYPE_CHECKING:
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

    Args:
        model: the network.
        names: module names (as in ``model.named_modules()``) whose first input and output to keep.
        x: the network's input.

    Returns:
        ``{name: (input, output)}``, detached copies.

    Raises:
        KeyError: a name that is not a module of ``model``.
        RuntimeError: a named module that ``model(x)`` does not call.
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
    training patterns. ``x`` is whatever ``model`` takes, e.g. ``(B, d)``: a non-empty, finite,
    floating-point tensor.

    Args:
        model: the trained network the recorder was attached to.
        recorder: the :class:`~ballroom.dualform.DualFormRecorder` that recorded its training.
        x: the query inputs (above).

    Returns:
        ``{layer name: max relative gap}``.

    Raises:
        NotImplementedError: the optimizer was not SGD and the recorder is not ``approximate``.
    """
    check_tensor(x, "x", min_ndim=1)
    io = capture_layer_io(model, recorder.layer_names, x)
    gaps = {}
    for name, (q, y) in io.items():
        dual = recorder.dual(name).forward(q)
        ref = y.to(dual.dtype)
        gaps[name] = float((dual - ref).abs().max() / ref.abs().max().clamp_min(1e-300))
    return gaps
