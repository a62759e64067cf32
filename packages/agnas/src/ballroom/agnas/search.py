"""Plain-PyTorch loops of the search protocol: train a supernet, collect importances on the selection
split, mask ops, train a derived network (what :mod:`ballroom.agnas.reproduce` runs; the Lightning
modules in :mod:`ballroom.agnas.lit` wrap the same pieces)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.agnas.baselines import darts_first_order_step
from ballroom.agnas.evalnet import EvalNetwork
from ballroom.agnas.nn import ImportanceAccumulator, MixedOpBase

__all__ = [
    "accuracy",
    "collect_importance",
    "masked_op_drops",
    "sgd_cosine",
    "train_network",
    "train_supernet",
]

Batches = Iterable[Sequence[Tensor]]


class SizedBatches(Protocol):
    """What the loops take: re-iterable batches ``(x, y, ...)`` with a length (a list of tuples or
    :class:`~ballroom.agnas.data.TensorBatches`)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Sequence[Tensor]]: ...


@runtime_checkable
class _ArchModel(Protocol):
    """A DARTS supernet: architecture parameters alpha apart from the network weights."""

    def arch_parameters(self) -> list[nn.Parameter]: ...

    def weight_parameters(self) -> list[nn.Parameter]: ...


def sgd_cosine(
    params: Iterable[nn.Parameter],
    lr: float,
    epochs: int,
    steps_per_epoch: int,
    lr_min: float = 0.0,
    momentum: float = 0.9,
    weight_decay: float = 3e-4,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD(momentum, wd) with cosine decay ``lr -> lr_min`` over ``epochs`` (stepped per epoch).

    Args:
        params: the parameters to optimise.
        lr: initial learning rate.
        epochs: epochs of the cosine period.
        steps_per_epoch: batches per epoch (kept for the signature; the schedule steps per epoch).
        lr_min: final learning rate.
        momentum: SGD momentum.
        weight_decay: L2 weight decay.

    Returns:
        ``(optimizer, scheduler)``.
    """
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1), eta_min=lr_min)


@torch.no_grad()
def accuracy(model: nn.Module, batches: Batches) -> float:
    """Top-1 accuracy of ``model`` in eval mode (mode restored).

    Args:
        model: maps ``x (B, ...)`` to logits ``(B, classes)``.
        batches: ``(x, y, ...)`` batches, ``y (B,)`` integer labels.

    Returns:
        the fraction of correct predictions (0 for no batches).
    """
    was = model.training
    model.eval()
    correct = total = 0
    for x, y, *_ in batches:
        correct += int((model(x).argmax(-1) == y).sum())
        total += len(y)
    model.train(was)
    return correct / max(total, 1)


def collect_importance(model: nn.Module, batches: Batches) -> Tensor:
    """Importance summed over ``batches`` in eval mode.

    Args:
        model: a supernet whose ``forward(x, return_importance=True)`` returns ``(logits, importance)``.
        batches: ``(x, y, ...)`` batches of the selection split.

    Returns:
        the summed importance, e.g. ``(layers, E, K)``, float64.
    """
    return ImportanceAccumulator().collect(model, batches)


def train_supernet(
    model: nn.Module,
    train: SizedBatches,
    epochs: int,
    lr: float = 0.025,
    lr_min: float = 0.001,
    weight_decay: float = 3e-4,
    grad_clip: float = 5.0,
    val: SizedBatches | None = None,
    arch_lr: float = 3e-4,
    arch_weight_decay: float = 1e-3,
    on_epoch: Callable[[int, nn.Module], object] | None = None,
) -> list[float]:
    """Train a supernet (spec's search schedule); returns the mean training loss per epoch.

    AGNAS (no ``arch_parameters``): SGD on every weight, attention included. DARTS (the model has
    ``arch_parameters()`` and ``val`` is given): alternating first-order updates, alpha by
    Adam(``arch_lr``, betas (0.5, 0.999), ``arch_weight_decay``) on ``val`` batches.

    Args:
        model: the supernet (``(B, 3, H, W) -> (B, classes)``).
        train: training batches ``(x, y)``.
        epochs: passes over ``train``.
        lr: initial SGD learning rate (cosine to ``lr_min``).
        lr_min: final learning rate.
        weight_decay: SGD weight decay.
        grad_clip: gradient-norm clip of the weights.
        val: selection batches for alpha's updates (DARTS only; one per weight step, taken pass
            after pass: DARTS draws a fresh batch of the selection split per step, so give batches
            of the training batch size, shuffled, without a short last batch).
        arch_lr: Adam learning rate of alpha.
        arch_weight_decay: Adam weight decay of alpha.
        on_epoch: called as ``on_epoch(epoch, model)`` after every epoch.

    Returns:
        the mean training loss of every epoch.
    """
    arch = list(model.arch_parameters()) if isinstance(model, _ArchModel) else []
    weights = list(model.weight_parameters()) if isinstance(model, _ArchModel) else list(model.parameters())
    opt, sched = sgd_cosine(weights, lr, epochs, len(train), lr_min, weight_decay=weight_decay)
    a_opt = (
        torch.optim.Adam(arch, lr=arch_lr, betas=(0.5, 0.999), weight_decay=arch_weight_decay)
        if arch
        else None
    )
    if arch and val is None:
        raise ValueError("val must be given to train a DARTS supernet (alpha is fit on it)")
    losses = []
    model.train()
    # alpha's batches run through ``val`` pass after pass (a shuffled ``val`` reshuffles every pass);
    # ``itertools.cycle`` would replay the first pass's batches
    val_iter = _passes(val) if val is not None and a_opt is not None else None
    for epoch in range(epochs):
        total, n = 0.0, 0
        for batch in train:
            if a_opt is not None:
                assert val_iter is not None
                loss = darts_first_order_step(model, batch, next(val_iter), opt, a_opt, grad_clip)
            else:
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(batch[0]), batch[1])
                loss.backward()
                nn.utils.clip_grad_norm_(weights, grad_clip)
                opt.step()
            total += float(loss.detach()) * len(batch[1])
            n += len(batch[1])
        sched.step()
        losses.append(total / max(n, 1))
        if on_epoch is not None:
            on_epoch(epoch, model)
    return losses


def _passes(batches: SizedBatches) -> Iterator[Sequence[Tensor]]:
    """``batches`` re-iterated without end (each pass draws a new order when they shuffle)."""
    if len(batches) == 0:
        raise ValueError("val must hold at least one batch")
    while True:
        yield from batches


@torch.no_grad()
def masked_op_drops(model: nn.Module, edges: Sequence[MixedOpBase], batches: SizedBatches) -> Tensor:
    """Selection-accuracy drop when one op of one edge is removed.

    Args:
        model: the supernet.
        edges: mixed ops of ``model`` (``.masked`` switches one op off), all with the same ``K`` ops.
        batches: selection batches ``(x, y)``.

    Returns:
        ``(len(edges), K)`` float64: entry ``[e, k]`` is ``acc(full) - acc(op k of edge e removed)``;
        ``none`` (never computed) gets 0.
    """
    base = accuracy(model, batches)
    K = len(edges[0].primitives)
    drops = torch.zeros(len(edges), K, dtype=torch.float64)
    for e, edge in enumerate(edges):
        for k, p in enumerate(edge.primitives):
            if p == "none":
                continue
            edge.masked = k
            try:
                drops[e, k] = base - accuracy(model, batches)
            finally:
                edge.masked = None
    return drops


def train_network(
    net: nn.Module,
    train: SizedBatches,
    epochs: int,
    lr: float = 0.025,
    weight_decay: float = 3e-4,
    grad_clip: float = 5.0,
    auxiliary_weight: float = 0.4,
    drop_path_prob: float = 0.0,
) -> list[float]:
    """Evaluation training from scratch: SGD cosine ``lr -> 0``, clip; auxiliary loss and linearly
    growing drop path when ``net`` has them (:class:`~ballroom.agnas.evalnet.EvalNetwork`).

    Args:
        net: the network to train (``(B, 3, H, W) -> (B, classes)``).
        train: training batches ``(x, y)``.
        epochs: passes over ``train``.
        lr: initial SGD learning rate (cosine to 0).
        weight_decay: SGD weight decay.
        grad_clip: gradient-norm clip.
        auxiliary_weight: weight of the auxiliary head's cross-entropy.
        drop_path_prob: final drop-path probability (grows linearly from 0).

    Returns:
        the mean training loss of every epoch.
    """
    opt, sched = sgd_cosine(net.parameters(), lr, epochs, len(train), 0.0, weight_decay=weight_decay)
    losses = []
    net.train()
    for epoch in range(epochs):
        if isinstance(net, EvalNetwork):
            net.drop_path_prob = drop_path_prob * epoch / max(epochs, 1)
        total, n = 0.0, 0
        for x, y, *_ in train:
            opt.zero_grad(set_to_none=True)
            if isinstance(net, EvalNetwork):
                logits, aux = net.forward_with_aux(x)
                loss = F.cross_entropy(logits, y)
                if aux is not None:
                    loss = loss + auxiliary_weight * F.cross_entropy(aux, y)
            else:
                loss = F.cross_entropy(net(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
            opt.step()
            total += float(loss.detach()) * len(y)
            n += len(y)
        sched.step()
        losses.append(total / max(n, 1))
    if math.isnan(losses[-1]) if losses else False:
        raise FloatingPointError("training diverged (NaN loss)")
    return losses
