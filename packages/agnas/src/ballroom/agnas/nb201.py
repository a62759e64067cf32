"""NAS-Bench-201 space: the cell, the skeleton, arch strings, and its attention / DARTS supernets."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ballroom.agnas.functional import best_op
from ballroom.agnas.nn import AttentionMixedOp, DartsMixedOp, MixedOpBase
from ballroom.agnas.ops import NB201_PRIMITIVES, ReLUConvBN, build_op
from ballroom.core.validate import check_choice, check_int, check_tensor

__all__ = ["NB201Cell", "NB201Network", "NB201ResBlock", "NB201SearchSpace", "NB201Supernet"]

#: (node i, input j) of the 6 edges, in the arch string's order
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


class NB201SearchSpace:
    """The 5^6 = 15625 cells of NAS-Bench-201.

    A genotype is a tuple of 6 op names in :data:`EDGES` order; the arch string is NB201's
    ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.
    """

    primitives: tuple[str, ...] = NB201_PRIMITIVES
    edges: tuple[tuple[int, int], ...] = EDGES

    def __len__(self) -> int:
        return len(self.primitives) ** len(self.edges)

    def to_arch_str(self, genotype: Sequence[str]) -> str:
        """``(op_10, op_20, op_21, op_30, op_31, op_32) -> "|op_10~0|+|op_20~0|op_21~1|+|..."``."""
        ops = self._check(genotype)
        nodes = []
        for i in (1, 2, 3):
            nodes.append(
                "|" + "|".join(f"{ops[e]}~{j}" for e, (n, j) in enumerate(self.edges) if n == i) + "|"
            )
        return "+".join(nodes)

    def from_arch_str(self, arch: str) -> tuple[str, ...]:
        """The inverse of :meth:`to_arch_str`."""
        if not isinstance(arch, str):
            raise TypeError(f"arch must be a str, got {type(arch).__name__}")
        ops: list[str] = []
        nodes = arch.split("+")
        if len(nodes) != 3:
            raise ValueError(f"arch must have 3 nodes separated by '+', got {arch!r}")
        for i, node in enumerate(nodes, 1):
            parts = [p for p in node.strip("|").split("|") if p]
            if len(parts) != i:
                raise ValueError(f"arch: node {i} must have {i} inputs, got {node!r}")
            for j, part in enumerate(parts):
                op, _, src = part.partition("~")
                if src != str(j):
                    raise ValueError(f"arch: node {i} input {j} must read '~{j}', got {part!r}")
                ops.append(op)
        return self._check(ops)

    def _check(self, genotype: Sequence[str]) -> tuple[str, ...]:
        ops = tuple(genotype)
        if len(ops) != len(self.edges):
            raise ValueError(f"genotype must have {len(self.edges)} ops, got {len(ops)}")
        for op in ops:
            check_choice(op, "genotype op", self.primitives)
        return ops

    def index(self, genotype: Sequence[str]) -> int:
        """Position in :meth:`all` (base-5 digits, first edge most significant)."""
        idx = 0
        for op in self._check(genotype):
            idx = idx * len(self.primitives) + self.primitives.index(op)
        return idx

    def all(self) -> list[tuple[str, ...]]:
        """Every genotype, in :meth:`index` order."""
        return [tuple(p) for p in itertools.product(self.primitives, repeat=len(self.edges))]

    def sample(self, n: int, generator: torch.Generator | None = None) -> list[tuple[str, ...]]:
        """``n`` distinct genotypes drawn uniformly (seeded by ``generator``)."""
        check_int(n, "n", min=0, max=len(self))
        picks = torch.randperm(len(self), generator=generator)[:n].tolist()
        K = len(self.primitives)
        return [
            tuple(self.primitives[(i // K**p) % K] for p in reversed(range(len(self.edges)))) for i in picks
        ]

    def derive(self, importance: Tensor, exclude: str | None = "none") -> tuple[str, ...]:
        """``argmax_{k != exclude}`` per edge of ``importance (6, K)`` or ``(cells, 6, K)`` (summed over cells)."""
        check_tensor(importance, "importance", ndim=(2, 3), dtype="numeric")
        table = importance.sum(0) if importance.ndim == 3 else importance
        if table.shape != (len(self.edges), len(self.primitives)):
            raise ValueError(
                f"importance must end in ({len(self.edges)}, {len(self.primitives)}), got {tuple(importance.shape)}"
            )
        allowed = [k for k, p in enumerate(self.primitives) if p != exclude]
        rows = table.detach().double().cpu().tolist()
        return tuple(self.primitives[best_op(allowed, r)] for r in rows)


class NB201Cell(nn.Module):
    """A NB201 cell: node ``i = sum_{j<i} op_{ij}(node_j)``, output node 3. ``(B, C, H, W) -> (B, C, H, W)``.

    With ``genotype`` the cell is discrete (affine BN); with ``mixed`` (``"attention"`` or ``"darts"``)
    every edge is a mixed op over all 5 candidates and ``forward`` returns ``(out, importance (6, K))``.
    """

    def __init__(self, C: int, genotype: Sequence[str] | None = None, mixed: str | None = None) -> None:
        super().__init__()
        space = NB201SearchSpace()
        self.mixed = mixed
        if mixed is None:
            ops = space._check(genotype or ())
            self.edges = nn.ModuleList(build_op(op, C, 1, affine=True, pool_bn=False) for op in ops)
            self.none = [op == "none" for op in ops]
        else:
            check_choice(mixed, "mixed", ("attention", "darts"))
            prims = space.primitives
            if mixed == "attention":
                self.edges = nn.ModuleList(AttentionMixedOp(C, 1, prims, pool_bn=False) for _ in EDGES)
            else:
                self.edges = nn.ModuleList(DartsMixedOp(C, 1, prims, pool_bn=False) for _ in EDGES)
            self.none = [False] * len(EDGES)

    def forward(self, x: Tensor, weights: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        nodes = [x]
        imps: list[Tensor] = []
        for i in (1, 2, 3):
            s: Tensor | None = None
            for e, (n, j) in enumerate(EDGES):
                if n != i:
                    continue
                if self.mixed is None:
                    if self.none[e]:
                        continue
                    y = self.edges[e](nodes[j])
                else:
                    y, imp = self.edges[e](nodes[j], None if weights is None else weights[e])
                    imps.append(imp)
                s = y if s is None else s + y
            nodes.append(torch.zeros_like(x) if s is None else s)
        return nodes[3] if self.mixed is None else (nodes[3], torch.stack(imps))


class NB201ResBlock(nn.Module):
    """NB201's stride-2 residual block: ``conv_b(conv_a(x)) + downsample(x)``: ``(B, C_in, H, W) -> (B, C_out, H/2, W/2)``."""

    def __init__(self, C_in: int, C_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(C_in, C_out, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


class _Skeleton(nn.Module):
    def __init__(self, C: int, N: int, num_classes: int, in_channels: int, make_cell) -> None:
        super().__init__()
        check_int(C, "C", min=1)
        check_int(N, "N", min=1)
        check_int(num_classes, "num_classes", min=2)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage:
                layers.append(NB201ResBlock(width // 2, width))
            layers += [make_cell(width) for _ in range(N)]
        self.layers = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * C, num_classes)

    def _head(self, x: Tensor) -> Tensor:
        return self.classifier(self.global_pooling(self.lastact(x)).flatten(1))


class NB201Network(_Skeleton):
    """A NB201 architecture on the benchmark's skeleton: ``(B, in_channels, H, W) -> (B, num_classes)``.

    Args:
        arch: an arch string or a genotype (6 op names).
        C: stem / stage-1 channels (16 in NB201, 8 in the digits "NB201-mini").
        N: cells per stage (5 in NB201, 1 in NB201-mini).
    """

    def __init__(
        self, arch: str | Sequence[str], C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3
    ) -> None:
        space = NB201SearchSpace()
        genotype = space.from_arch_str(arch) if isinstance(arch, str) else space._check(arch)
        super().__init__(C, N, num_classes, in_channels, lambda w: NB201Cell(w, genotype))
        self.arch = space.to_arch_str(genotype)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x", ndim=4)
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self._head(x)


class NB201Supernet(_Skeleton):
    """The NB201 skeleton with a mixed op on every edge.

    ``mixed="attention"``: each cell has its own attention; ``mixed="darts"``: one ``alpha (6, K)``
    shared by all cells (NB201's DARTS setting; ``arch_parameters()`` returns it).
    ``forward(x) -> logits``; ``forward(x, return_importance=True) -> (logits, importance (cells, 6, K))``.

    Args:
        C: channels of the first stage (16, 32, 64 in NB201).
        N: cells per stage.
        num_classes: classifier outputs.
        in_channels: image channels.
        mixed: ``"attention"`` (AGNAS) or ``"darts"`` (softmax of alpha).
    """

    def __init__(
        self, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3, mixed: str = "attention"
    ) -> None:
        check_choice(mixed, "mixed", ("attention", "darts"))
        super().__init__(C, N, num_classes, in_channels, lambda w: NB201Cell(w, mixed=mixed))
        self.mixed = mixed
        self.primitives = NB201_PRIMITIVES
        self.alpha: nn.Parameter | None = None
        if mixed == "darts":
            self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(NB201_PRIMITIVES)))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [] if self.alpha is None else [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        ids = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in ids]

    def cell_edges(self) -> list[list[MixedOpBase]]:
        """The mixed ops of every cell (``[cell][edge]``)."""
        return [
            [e for e in layer.edges if isinstance(e, MixedOpBase)]
            for layer in self.layers
            if isinstance(layer, NB201Cell)
        ]

    def forward(self, x: Tensor, return_importance: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        check_tensor(x, "x", ndim=4)
        weights = None if self.alpha is None else torch.softmax(self.alpha, dim=-1)
        x = self.stem(x)
        imps = []
        for layer in self.layers:
            if isinstance(layer, NB201Cell):
                x, imp = layer(x, weights)
                imps.append(imp)
            else:
                x = layer(x)
        logits = self._head(x)
        return (logits, torch.stack(imps)) if return_importance else logits
