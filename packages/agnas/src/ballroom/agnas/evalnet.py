"""The final (evaluation) network built from derived genotypes (spec: evaluation training)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ballroom.agnas.functional import Genotype
from ballroom.agnas.ops import FactorizedReduce, ReLUConvBN, build_op
from ballroom.core.validate import check_int, check_probability, check_tensor

__all__ = ["AuxiliaryHead", "EvalCell", "EvalNetwork", "as_genotype", "drop_path"]


def drop_path(x: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Per-sample drop path: zero whole samples with probability ``p``, rescale the rest by ``1 / (1 - p)``."""
    if p <= 0.0:
        return x
    keep = 1.0 - p
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(
        keep, generator=generator
    )
    return x * mask / keep


def as_genotype(g: Genotype | Sequence) -> Genotype:
    """Accept a :class:`Genotype`, or plain ``[[(op, input), ...], concat]`` / ``[(op, input), ...]``
    (what a YAML config or a checkpoint's hyperparameters hold)."""
    if isinstance(g, Genotype):
        return g
    seq = list(g)
    if (
        seq
        and isinstance(seq[0], (list, tuple))
        and len(seq) == 2
        and isinstance(seq[1], (list, tuple))
        and (seq[0] and isinstance(seq[0][0], (list, tuple)))
    ):
        gene, concat = seq
    else:
        gene, concat = seq, list(range(2, 2 + len(seq) // 2))
    pairs = tuple((str(op), int(j)) for op, j in gene)
    return Genotype(pairs, tuple(int(c) for c in concat))


class EvalCell(nn.Module):
    """A discrete cell: node ``i`` = ``op_{2i}(h_a) + op_{2i+1}(h_b)`` (affine BN); output = concat.

    ``forward(s0, s1, drop_prob) -> (B, len(concat) * C, H', W')``; drop path applies to
    non-identity ops in training.
    """

    def __init__(
        self, genotype: Genotype, C_prev_prev: int, C_prev: int, C: int, reduction: bool, reduction_prev: bool
    ) -> None:
        super().__init__()
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        if len(genotype.gene) % 2:
            raise ValueError(
                f"genotype must have an even number of (op, input) pairs, got {len(genotype.gene)}"
            )
        self.steps = len(genotype.gene) // 2
        self.concat = list(genotype.concat)
        self.reduction = reduction
        self.inputs = [j for _, j in genotype.gene]
        for i, j in enumerate(self.inputs):
            if not 0 <= j < 2 + i // 2:
                raise ValueError(f"genotype: pair {i} reads state {j}, which does not exist yet")
            if genotype.gene[i][0] == "none":
                raise ValueError("genotype must not contain 'none'")
        self.ops = nn.ModuleList(
            build_op(op, C, 2 if reduction and j < 2 else 1, affine=True, pool_bn=False)
            for op, j in genotype.gene
        )
        self.identity = [isinstance(op, nn.Identity) for op in self.ops]
        self.multiplier = len(self.concat)

    def forward(self, s0: Tensor, s1: Tensor, drop_prob: float = 0.0) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self.steps):
            hs = []
            for k in (2 * i, 2 * i + 1):
                h = self.ops[k](states[self.inputs[k]])
                if self.training and drop_prob > 0 and not self.identity[k]:
                    h = drop_path(h, drop_prob)
                hs.append(h)
            states.append(hs[0] + hs[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier, with an adaptive 2x2 pool so small maps work: ``(B, C, H, W) -> (B, classes)``."""

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class EvalNetwork(nn.Module):
    """The final network: stage-wise genotypes, ``layers`` cells, optional auxiliary head, drop path.

    ``forward(x (B, in_channels, H, W)) -> logits (B, num_classes)``; ``forward_with_aux(x) ->
    (logits, aux logits or None)`` (aux only in training with ``auxiliary``).

    Args:
        genotypes_per_stage: ``2 * len(reductions) + 1`` genotypes: stage 1, reduction 1, stage 2, ...
            (5 for the official rule); empty: the first ones of :data:`ballroom.agnas.AGNAS_GENOTYPES`,
            the paper's result.
        C: channels of stage 1 (36 in the paper).
        layers: cells (20 in the paper); reductions at ``layers // 3`` and ``2 * layers // 3`` unless given.
        auxiliary: add the auxiliary head after cell ``2 * layers // 3`` (weight 0.4 in training).
        drop_path_prob: the current drop-path probability (the trainer raises it linearly).
        num_classes: classifier outputs.
        in_channels: image channels.
        reductions: the reduction cells.
        stem_multiplier: the stem has ``stem_multiplier * C`` channels.
    """

    def __init__(
        self,
        genotypes_per_stage: Sequence[Genotype | Sequence] = (),
        C: int = 36,
        layers: int = 20,
        auxiliary: bool = False,
        num_classes: int = 10,
        in_channels: int = 3,
        reductions: Sequence[int] | None = None,
        drop_path_prob: float = 0.0,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__()
        check_int(C, "C", min=1)
        check_int(layers, "layers", min=1)
        check_int(num_classes, "num_classes", min=2)
        check_probability(drop_path_prob, "drop_path_prob", open_high=True)
        self.reductions = tuple(reductions) if reductions is not None else (layers // 3, 2 * layers // 3)
        need = 2 * len(self.reductions) + 1
        genotypes = [as_genotype(g) for g in (genotypes_per_stage or _default()[:need])]
        if len(genotypes) != 2 * len(self.reductions) + 1:
            raise ValueError(
                f"genotypes_per_stage must hold {2 * len(self.reductions) + 1} genotypes for reductions "
                f"{list(self.reductions)}, got {len(genotypes)}"
            )
        self.drop_path_prob = drop_path_prob
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr)
        )
        C_pp, C_p, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        self.aux_index = 2 * layers // 3
        self.auxiliary_head: AuxiliaryHead | None = None
        reduction_prev, stage = False, 0
        for i in range(layers):
            reduction = i in self.reductions
            if reduction:
                C_curr *= 2
                stage += 1
                genotype = genotypes[2 * stage - 1]
            else:
                genotype = genotypes[2 * stage]
            cell = EvalCell(genotype, C_pp, C_p, C_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_pp, C_p = C_p, cell.multiplier * C_curr
            if auxiliary and i == self.aux_index:
                self.auxiliary_head = AuxiliaryHead(C_p, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        check_tensor(x, "x", ndim=4)
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), aux

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_aux(x)[0]


def _default() -> Sequence[Genotype]:
    from ballroom.agnas.functional import AGNAS_GENOTYPES

    return AGNAS_GENOTYPES
