"""AGNAS' building blocks (no Lightning): the channel attention, the attention mixed op, the search
cell, the supernet, the importance accumulator and the official-checkpoint name mapping."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ballroom.agnas.functional import attention_weighted_sum, num_edges, op_importance
from ballroom.agnas.ops import DARTS_PRIMITIVES, FactorizedReduce, ReLUConvBN, build_op
from ballroom.core.validate import check_int, check_tensor

__all__ = [
    "AttentionMixedOp",
    "AttentionSupernet",
    "ChannelAttention",
    "DartsMixedOp",
    "ImportanceAccumulator",
    "SearchCell",
    "load_official_state_dict",
    "official_to_ours",
]


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation weights: ``a = sigmoid(W2 ReLU(W1 g))``, no biases.

    ``forward(g)``: pooled features ``(B, channels) -> (B, channels)`` in ``(0, 1)``. ``W1`` is
    ``(hidden, channels)``, ``W2`` ``(channels, hidden)`` (``fc1.weight``, ``fc2.weight``; PyTorch's
    default ``nn.Linear`` initialisation, as the official code).
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        check_int(channels, "channels", min=1)
        check_int(hidden, "hidden", min=1)
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, channels, bias=False)

    def forward(self, g: Tensor) -> Tensor:
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(g))))


class MixedOpBase(nn.Module):
    """Shared part of the mixed ops: the candidate modules and the masked-op switch.

    Args:
        C: channels of every op.
        stride: 1 or 2.
        primitives: the ``K`` candidate names (keys of ``OPS``).
        pool_bn: follow pooling ops with a non-affine BN.
    """

    def __init__(self, C: int, stride: int, primitives: Sequence[str], pool_bn: bool) -> None:
        super().__init__()
        check_int(C, "C", min=1)
        check_int(stride, "stride", min=1, max=2)
        if not primitives or any(p not in _known() for p in primitives):
            raise ValueError(
                f"primitives must be a non-empty sequence of names from OPS, got {list(primitives)}"
            )
        if all(p == "none" for p in primitives):
            raise ValueError("primitives must hold an op other than 'none'")
        self.C, self.stride, self.primitives = C, stride, tuple(primitives)
        self.ops = nn.ModuleList(build_op(p, C, stride, affine=False, pool_bn=pool_bn) for p in primitives)
        #: index of an op whose contribution is removed (the masked-op experiment); ``None``: none masked
        self.masked: int | None = None

    def _outputs(self, x: Tensor) -> list[Tensor | None]:
        check_tensor(x, "x", ndim=4)
        if x.shape[1] != self.C:
            raise ValueError(f"x must have {self.C} channels, got shape {tuple(x.shape)}")
        return [
            None if (p == "none" or k == self.masked) else op(x)
            for k, (p, op) in enumerate(zip(self.primitives, self.ops))
        ]


def _known() -> set[str]:
    from ballroom.agnas.ops import OPS

    return set(OPS)


class AttentionMixedOp(MixedOpBase):
    """One edge of AGNAS: all candidates, re-weighted channel-wise by attention and summed.

    ``forward(x) -> (y, importance)``: ``x (B, C, H, W) -> y (B, C, H/s, W/s)`` and
    ``importance (K,)`` = ``I_k`` of this batch (a detached tensor on ``x``'s device; no sync).
    ``GAP(Z)`` is the concatenation of the per-op GAPs and the weighted sum multiplies each op's
    output by its attention chunk, so the ``(B, K C, H, W)`` concat is never built; ``none``'s
    output (zeros) is never computed: its GAP is 0 and it adds nothing.

    Args:
        C: channels of every op.
        stride: 1 or 2.
        primitives: the ``K`` candidate names (default: the DARTS space).
        hidden: attention hidden width (default ``C``: reduction ratio ``K``, the official 8).
        pool_bn: follow pooling ops with a non-affine BN (the official supernet).
    """

    def __init__(
        self,
        C: int,
        stride: int = 1,
        primitives: Sequence[str] = DARTS_PRIMITIVES,
        hidden: int | None = None,
        pool_bn: bool = True,
    ) -> None:
        super().__init__(C, stride, primitives, pool_bn)
        K = len(self.primitives)
        self.attention = ChannelAttention(K * C, C if hidden is None else hidden)

    def forward(self, x: Tensor, weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
        outs = self._outputs(x)
        present = next(o for o in outs if o is not None) if any(o is not None for o in outs) else None
        if present is None:
            raise ValueError("every op of this edge is none or masked")
        zeros = present.new_zeros(present.shape[0], self.C)
        pooled = torch.cat([zeros if o is None else o.mean((2, 3)) for o in outs], dim=1)
        a = self.attention(pooled)
        return attention_weighted_sum(outs, a), op_importance(a, len(outs))


class DartsMixedOp(MixedOpBase):
    """DARTS' mixed op: ``y = sum_k w_k o_k(x)`` with ``w = softmax(alpha)`` given by the network.

    ``forward(x, weights (K,)) -> (y, weights.detach())``, shapes as :class:`AttentionMixedOp`.

    Args:
        C: channels of every op.
        stride: 1 or 2.
        primitives: the ``K`` candidate names.
        pool_bn: follow pooling ops with a non-affine BN (the DARTS supernet).
    """

    def __init__(
        self, C: int, stride: int = 1, primitives: Sequence[str] = DARTS_PRIMITIVES, pool_bn: bool = True
    ) -> None:
        super().__init__(C, stride, primitives, pool_bn)

    def forward(self, x: Tensor, weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if weights is None or weights.shape != (len(self.primitives),):
            raise ValueError(f"weights must be a ({len(self.primitives)},) tensor of op weights")
        outs = self._outputs(x)
        y: Tensor | None = None
        for k, o in enumerate(outs):
            if o is not None:
                y = weights[k] * o if y is None else y + weights[k] * o
        if y is None:
            raise ValueError("every op of this edge is none or masked")
        return y, weights.detach()


MixedFactory = Callable[[int, int], nn.Module]


class SearchCell(nn.Module):
    """A DARTS search cell: two preprocessed inputs, ``steps`` nodes, every edge a mixed op.

    ``forward(s0, s1, weights=None) -> (out (B, steps * C, H', W'), importance (E, K))``;
    ``s0 (B, C_pp, H0, W0)``, ``s1 (B, C_p, H, W)``; reduction cells halve ``H, W`` (stride-2 edges from
    the inputs). ``weights (E, K)`` are op weights for DARTS mixed ops (ignored by attention ops).

    Args:
        steps: intermediate nodes.
        C_prev_prev: channels of ``s0``.
        C_prev: channels of ``s1``.
        C: channels of every node.
        reduction: a reduction cell (stride-2 edges from the inputs, ``C`` doubled by the network).
        reduction_prev: the previous cell reduced (``s0`` goes through FactorizedReduce).
        mixed: ``(C, stride) -> mixed op`` (default :class:`AttentionMixedOp` on the DARTS space).
    """

    def __init__(
        self,
        steps: int,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        mixed: MixedFactory | None = None,
    ) -> None:
        super().__init__()
        check_int(steps, "steps", min=1)
        self.reduction, self.steps = reduction, steps
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        factory = mixed or (lambda c, s: AttentionMixedOp(c, s))
        self.edges = nn.ModuleList(
            factory(C, 2 if reduction and j < 2 else 1) for i in range(steps) for j in range(2 + i)
        )

    def forward(self, s0: Tensor, s1: Tensor, weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        importance: list[Tensor] = []
        e = 0
        for _ in range(self.steps):
            s: Tensor | None = None
            for h in list(states):
                y, imp = self.edges[e](h, None if weights is None else weights[e])
                importance.append(imp)
                s = y if s is None else s + y
                e += 1
            assert s is not None
            states.append(s)
        return torch.cat(states[-self.steps :], dim=1), torch.stack(importance)


class AttentionSupernet(nn.Module):
    """The AGNAS supernet: stem Conv3x3 + BN, ``layers`` search cells (each with its own attention),
    GAP, Linear. ``forward(x (B, in_channels, H, W)) -> logits (B, num_classes)``;
    ``forward(x, return_importance=True) -> (logits, importance (layers, E, K))``.

    Args:
        C: channels of the first stage (doubled at each reduction).
        layers: cells; reductions at ``layers // 3`` and ``2 * layers // 3`` unless ``reductions`` is given.
        steps: nodes per cell (``E = num_edges(steps)`` edges).
        primitives: the candidate ops.
        stem_multiplier: the stem has ``stem_multiplier * C`` channels.
    """

    def __init__(
        self,
        C: int = 16,
        layers: int = 8,
        steps: int = 4,
        num_classes: int = 10,
        in_channels: int = 3,
        primitives: Sequence[str] = DARTS_PRIMITIVES,
        reductions: Sequence[int] | None = None,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__()
        for name, v in (("C", C), ("layers", layers), ("steps", steps), ("in_channels", in_channels)):
            check_int(v, name, min=1)
        check_int(num_classes, "num_classes", min=2)
        self.C, self.layers, self.steps = C, layers, steps
        self.primitives = tuple(primitives)
        self.reductions = tuple(reductions) if reductions is not None else (layers // 3, 2 * layers // 3)
        if any(not 0 <= r < layers for r in self.reductions):
            raise ValueError(f"reductions must lie in [0, {layers}), got {list(self.reductions)}")
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr)
        )
        C_pp, C_p, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in self.reductions
            if reduction:
                C_curr *= 2
            self.cells.append(
                SearchCell(steps, C_pp, C_p, C_curr, reduction, reduction_prev, self._mixed_factory())
            )
            reduction_prev = reduction
            C_pp, C_p = C_p, steps * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)

    def _mixed_factory(self) -> MixedFactory:
        prims = self.primitives
        return lambda c, s: AttentionMixedOp(c, s, prims)

    def _weights(self) -> Tensor | None:
        return None

    @property
    def importance_shape(self) -> tuple[int, int, int]:
        """``(layers, E, K)``: the shape of one forward's importance."""
        return self.layers, num_edges(self.steps), len(self.primitives)

    def edge(self, layer: int, edge: int) -> MixedOpBase:
        """The mixed op of ``edge`` in cell ``layer``."""
        cell = self.cells[layer]
        assert isinstance(cell, SearchCell)
        op = cell.edges[edge]
        assert isinstance(op, MixedOpBase)
        return op

    def forward(self, x: Tensor, return_importance: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        check_tensor(x, "x", ndim=4)
        s0 = s1 = self.stem(x)
        weights = self._weights()
        importance = []
        for i, cell in enumerate(self.cells):
            out, imp = cell(s0, s1, None if weights is None else weights[i])
            s0, s1 = s1, out
            importance.append(imp)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return (logits, torch.stack(importance)) if return_importance else logits


class ImportanceAccumulator:
    """Sums per-batch importances (any fixed shape, e.g. ``(layers, E, K)``) on their device.

    ``update(importance)`` adds one batch (no sync); ``total`` is the sum so far (``None`` before the
    first update); ``merge(other)`` adds another accumulator's total (e.g. from another rank).
    """

    def __init__(self) -> None:
        self.total: Tensor | None = None
        self.batches = 0

    def update(self, importance: Tensor) -> None:
        check_tensor(importance, "importance", dtype="floating", finite=False)
        if self.total is None:
            self.total = importance.detach().clone().double()
        else:
            if importance.shape != self.total.shape:
                raise ValueError(
                    f"importance must have shape {tuple(self.total.shape)}, got {tuple(importance.shape)}"
                )
            self.total += importance.detach().double()
        self.batches += 1

    def merge(self, other: ImportanceAccumulator) -> None:
        if other.total is not None:
            self.update(other.total)
            self.batches += other.batches - 1

    def reset(self) -> None:
        self.total, self.batches = None, 0

    @torch.no_grad()
    def collect(self, model: nn.Module, batches: Iterable[Sequence[Tensor] | Tensor]) -> Tensor:
        """Forward ``batches`` (``x`` or ``(x, y, ...)``) through ``model`` in eval mode, add each
        importance, restore the mode; returns the total."""
        was_training = model.training
        model.eval()
        try:
            for batch in batches:
                x = batch if isinstance(batch, Tensor) else batch[0]
                _, imp = model(x, return_importance=True)
                self.update(imp)
        finally:
            model.train(was_training)
        if self.total is None:
            raise ValueError("batches must not be empty")
        return self.total


_OFFICIAL = [
    (re.compile(r"^cells\.(\d+)\._ops\.(\d+)\._ops\."), r"cells.\1.edges.\2.ops."),
    (re.compile(r"^cells\.(\d+)\._ops\.(\d+)\.attention\.fc\.0\."), r"cells.\1.edges.\2.attention.fc1."),
    (re.compile(r"^cells\.(\d+)\._ops\.(\d+)\.attention\.fc\.2\."), r"cells.\1.edges.\2.attention.fc2."),
]


def official_to_ours(key: str) -> str:
    """Map an official AGNAS supernet key to ours: ``cells.i._ops.e._ops.k.*`` -> ``cells.i.edges.e.ops.k.*``,
    ``cells.i._ops.e.attention.fc.0`` / ``fc.2`` -> ``...attention.fc1`` / ``fc2``; the rest is unchanged."""
    for pattern, repl in _OFFICIAL:
        new, n = pattern.subn(repl, key)
        if n:
            return new
    return key


def load_official_state_dict(model: nn.Module, state: Mapping[str, Tensor], strict: bool = True) -> None:
    """Load an official AGNAS supernet ``state_dict`` (``module.`` prefixes of DataParallel stripped).

    Args:
        model: our :class:`AttentionSupernet` of the same size.
        state: the official ``state_dict`` (keys mapped by :func:`official_to_ours`).
        strict: as ``nn.Module.load_state_dict``.
    """
    mapped = {official_to_ours(k.removeprefix("module.")): v for k, v in state.items()}
    model.load_state_dict(mapped, strict=strict)
