"""Pure functions of AGNAS: the attention-weighted sum, op importance, genotype derivation, Kendall tau.

Torch only, no Lightning, no state. Shapes: ``B`` batch, ``K`` candidate ops, ``C`` channels per op,
``E`` edges of a cell (14 for 4 steps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from ballroom.core.validate import check_int, check_tensor

__all__ = [
    "AGNAS_GENOTYPES",
    "DartsGenotype",
    "Genotype",
    "attention_weighted_sum",
    "derive_genotype",
    "derive_macro",
    "kendall_tau",
    "num_edges",
    "op_importance",
    "stage_genotypes",
]


class Genotype(NamedTuple):
    """One DARTS cell: ``gene`` = ``steps * 2`` pairs ``(op name, input state)`` (node ``i`` owns
    pairs ``2i, 2i+1``; inputs 0, 1 are the cell inputs, ``j >= 2`` intermediate node ``j - 2``),
    ``concat`` = the states concatenated to the output (``2 .. steps + 1``)."""

    gene: tuple[tuple[str, int], ...]
    concat: tuple[int, ...]


class DartsGenotype(NamedTuple):
    """DARTS' own notation (``normal``, ``normal_concat``, ``reduce``, ``reduce_concat``)."""

    normal: list[tuple[str, int]]
    normal_concat: list[int]
    reduce: list[tuple[str, int]]
    reduce_concat: list[int]

    @classmethod
    def from_cells(cls, normal: Genotype, reduce: Genotype) -> DartsGenotype:
        """DARTS' genotype from a normal and a reduction cell."""
        return cls(list(normal.gene), list(normal.concat), list(reduce.gene), list(reduce.concat))


def _g(pairs: list[tuple[str, int]]) -> Genotype:
    return Genotype(tuple(pairs), (2, 3, 4, 5))


_S3, _S5, _D3, _D5 = "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"
_SK, _AV, _MX = "skip_connect", "avg_pool_3x3", "max_pool_3x3"

#: the searched result of the official code (``genotypes.AGNAS``): stage 1, reduction 1, stage 2,
#: reduction 2, stage 3 (searched cells 0, 2, 3, 5, 6)
AGNAS_GENOTYPES: tuple[Genotype, ...] = (
    _g([(_S3, 0), (_D3, 1), (_D5, 0), (_SK, 1), (_S3, 0), (_S5, 3), (_D5, 0), (_S3, 3)]),
    _g([(_MX, 0), (_S5, 1), (_SK, 0), (_S5, 1), (_MX, 0), (_SK, 1), (_S5, 0), (_S3, 1)]),
    _g([(_SK, 0), (_S3, 1), (_D5, 0), (_S3, 1), (_D3, 0), (_S5, 1), (_S3, 1), (_D5, 4)]),
    _g([(_SK, 1), (_SK, 0), (_D3, 1), (_D3, 0), (_AV, 0), (_MX, 1), (_AV, 0), (_MX, 1)]),
    _g([(_SK, 0), (_D5, 1), (_S3, 0), (_S3, 1), (_S5, 0), (_MX, 2), (_S5, 0), (_S3, 1)]),
)


def num_edges(steps: int) -> int:
    """Edges of a DARTS cell with ``steps`` intermediate nodes: ``sum(2 + i)`` = 14 for 4 steps."""
    return sum(2 + i for i in range(steps))


def attention_weighted_sum(outputs: Sequence[Tensor | None], attention: Tensor) -> Tensor:
    """``sum_k a[:, kC:(k+1)C] * o_k`` without concatenating the outputs.

    Args:
        outputs: ``K`` tensors ``(B, C, H, W)``; ``None`` marks an op known to output zeros (``none``),
            which contributes nothing and is skipped.
        attention: ``(B, K * C)`` channel attention.

    Returns:
        ``(B, C, H, W)``.
    """
    check_tensor(attention, "attention", ndim=2)
    present = [o for o in outputs if o is not None]
    if not present:
        raise ValueError("outputs must hold at least one tensor that is not None")
    B, C = present[0].shape[:2]
    K = len(outputs)
    if attention.shape != (B, K * C):
        raise ValueError(f"attention must have shape ({B}, {K * C}), got {tuple(attention.shape)}")
    a = attention.view(B, K, C, 1, 1)
    y: Tensor | None = None
    for k, o in enumerate(outputs):
        if o is None:
            continue
        y = a[:, k] * o if y is None else torch.addcmul(y, a[:, k], o)
    assert y is not None
    return y


def op_importance(attention: Tensor, num_ops: int) -> Tensor:
    """``I_k = sum_b sum_{c in chunk k} a_b[c]``.

    Args:
        attention: ``(B, K * C)`` channel attention.
        num_ops: ``K``.

    Returns:
        ``(K,)``, detached, on ``attention``'s device.
    """
    check_tensor(attention, "attention", ndim=2, nonempty=False)
    check_int(num_ops, "num_ops", min=1)
    if attention.shape[1] % num_ops:
        raise ValueError(f"attention's width {attention.shape[1]} is not a multiple of num_ops={num_ops}")
    return attention.detach().view(attention.shape[0], num_ops, -1).sum((0, 2))


def derive_genotype(
    importance: Tensor, primitives: Sequence[str], exclude: str | None = "none", steps: int = 4
) -> Genotype:
    """The spec's derivation rule for one cell.

    For each node ``i``, every incoming edge ``j`` scores ``max_{k != exclude} I[e, k]``; the two highest
    edges are kept (stable sort: ties go to the lower ``j``) and each takes its ``argmax_{k != exclude}``
    (ties: the lower ``k``).

    Args:
        importance: ``(E, K)`` with ``E = num_edges(steps)`` rows in the cell's edge order.
        primitives: the ``K`` op names.
        exclude: the op never chosen (``"none"``); ``None`` excludes nothing.
        steps: intermediate nodes.

    Returns:
        a :class:`Genotype` with ``2 * steps`` pairs and concat ``2 .. steps + 1``.
    """
    check_int(steps, "steps", min=1)
    E = num_edges(steps)
    check_tensor(importance, "importance", shape=(E, len(primitives)), dtype="numeric")
    allowed = [k for k, p in enumerate(primitives) if p != exclude]
    if not allowed:
        raise ValueError(f"primitives must hold an op other than exclude={exclude!r}")
    table = importance.detach().double().cpu().tolist()
    gene: list[tuple[str, int]] = []
    start = 0
    for i in range(steps):
        n = 2 + i
        rows = table[start : start + n]
        best = [best_op(allowed, r) for r in rows]  # ties -> lower k
        score = [rows[j][best[j]] for j in range(n)]
        for j in sorted(range(n), key=lambda j: -score[j])[:2]:  # stable: ties -> lower j
            gene.append((primitives[best[j]], j))
        start += n
    return Genotype(tuple(gene), tuple(range(2, steps + 2)))


def best_op(allowed: Sequence[int], row: Sequence[float]) -> int:
    """``argmax_{k in allowed} row[k]``, ties to the lower ``k``."""
    return max(allowed, key=lambda k: (row[k], -k))


def stage_genotypes(per_cell: Sequence[Genotype], reductions: Sequence[int]) -> list[Genotype]:
    """The official final-network rule: stage 1 uses cell 0, each reduction its own cell, each later
    stage the cell right after its reduction (cells 0, 2, 3, 5, 6 for 8 cells).

    Args:
        per_cell: one genotype per searched cell.
        reductions: indices of the reduction cells.

    Returns:
        ``2 * len(reductions) + 1`` genotypes (stage 1, reduction 1, stage 2, ...).
    """
    picks = [0]
    for r in reductions:
        picks += [r, r + 1]
    if max(picks) >= len(per_cell):
        raise ValueError(
            f"per_cell has {len(per_cell)} cells; reductions {list(reductions)} need {max(picks) + 1}"
        )
    return [per_cell[i] for i in picks]


def derive_macro(importance: Sequence[Tensor], candidates: Sequence[Sequence[str]]) -> list[str]:
    """``argmax_k`` importance per layer (ties: the first candidate); ``"identity"`` means the layer is removed.

    Args:
        importance: one ``(K_l,)`` tensor per layer.
        candidates: the ``K_l`` candidate names of each layer.
    """
    if len(importance) != len(candidates):
        raise ValueError(f"importance has {len(importance)} layers but candidates has {len(candidates)}")
    chosen = []
    for layer, (imp, names) in enumerate(zip(importance, candidates)):
        check_tensor(imp, f"importance[{layer}]", shape=(len(names),), dtype="numeric")
        values = imp.detach().double().cpu().tolist()
        chosen.append(names[max(range(len(names)), key=lambda k: (values[k], -k))])
    return chosen


def kendall_tau(x: Sequence[float] | Tensor, y: Sequence[float] | Tensor) -> float:
    """Kendall's tau-b of two equally long sequences (ties counted as in tau-b).

    Args:
        x: first sequence (``n`` values).
        y: second sequence (``n`` values).

    Returns:
        tau-b in ``[-1, 1]``; NaN if undefined (one sequence constant).
    """
    xs = torch.as_tensor(x, dtype=torch.float64).flatten().tolist()
    ys = torch.as_tensor(y, dtype=torch.float64).flatten().tolist()
    if len(xs) != len(ys):
        raise ValueError(f"x and y must have the same length, got {len(xs)} and {len(ys)}")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denom = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denom if denom > 0 else float("nan")
