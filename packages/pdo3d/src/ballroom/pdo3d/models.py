"""The Tetris networks of the spec (plain ``nn.Module``): O-equivariant PDO nets, the SO(3) irreps
net and the plain 3D CNN baseline. Input ``[B, 1, S, S, S]`` volumes, output ``[B, 8]`` logits."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_int, check_probability
from ballroom.pdo3d.groups import GROUPS, Group, Rep
from ballroom.pdo3d.nn import (
    FieldAvgPool3d,
    FieldReLU,
    FieldType,
    GatedNonlinearity,
    GaussianLowPass3d,
    InvariantReadout,
    PDOConv3d,
    _check_input,
)

__all__ = ["PDOTetrisNet", "PlainCNN3d", "SO3TetrisNet", "count_parameters", "field_rep"]


def field_rep(group: Group, field: str) -> Rep:
    """The representation named ``field``: ``"regular"``, ``"trivial"``, ``"quotient-V"``, ``"quotient-T"``."""
    check_choice(field, "field", ("regular", "trivial", "quotient-V", "quotient-T"))
    if field == "regular":
        return group.regular()
    if field == "trivial":
        return group.trivial()
    return group.quotient(GROUPS[field[-1]]())


class PDOTetrisNet(nn.Module):
    """Tetris-O (spec): trivial(1) -> F(mult) -> ReLU -> AvgPool -> F(mult) -> ReLU -> AvgPool ->
    trivial(readout) -> ReLU -> spatial mean -> Linear(readout, classes).

    ``group`` "O" (also "T", "V" with ``field="regular"``); ``field`` "regular", "quotient-V" or
    "quotient-T"; ``mode`` "fd" or "gaussian". ``[B, 1, S, S, S] -> [B, num_classes]``.

    Args:
        group: the discrete group's name.
        field: the hidden fields' representation.
        mult: hidden multiplicity (10 in the paper's Tetris-O).
        readout: trivial fields of the last PDO layer (64 in the paper).
        mode: ``"fd"`` or ``"gaussian"`` stencils.
        num_classes: logits per sample.
    """

    def __init__(
        self, group: str = "O", field: str = "regular", mult: int = 10, readout: int = 64, mode: str = "fd",
        num_classes: int = 8,
    ) -> None:  # fmt: skip
        super().__init__()
        g = GROUPS[check_choice(group, "group", ("V", "T", "O", "I"))]()
        rep = field_rep(g, field)
        mult, readout = check_int(mult, "mult", min=1), check_int(readout, "readout", min=1)
        t_in = FieldType(g, [(g.trivial(), 1)])
        hid = FieldType(g, [(rep, mult)])
        t_out = FieldType(g, [(g.trivial(), readout)])
        self.in_type, self.out_type = t_in, t_out
        self.body = nn.Sequential(
            PDOConv3d(t_in, hid, mode), FieldReLU(hid), FieldAvgPool3d(2),
            PDOConv3d(hid, hid, mode), FieldReLU(hid), FieldAvgPool3d(2),
            PDOConv3d(hid, t_out, mode), FieldReLU(t_out), InvariantReadout(t_out),
        )  # fmt: skip
        self.head = nn.Linear(readout, check_int(num_classes, "num_classes", min=2))

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_type)
        return self.head(self.body(x))


class SO3TetrisNet(nn.Module):
    """Tetris-SO(3) (spec): Gaussian blur -> irreps deg = 0..L with multiplicities ``mults[0]`` ->
    ``mults[1]`` -> pool -> ``mults[2]`` -> pool -> trivial(readout) -> mean -> Dropout -> Linear.

    Every irreps layer is a ``PDOConv3d`` to the gated type followed by ``GatedNonlinearity``;
    pooling is ``GaussianLowPass3d`` (size 4, std 1, stride 2). ``[B, 1, S, S, S] -> [B, classes]``.

    Args:
        mults: three ``(m_0, m_1, m_2)`` multiplicities of the irreps ``l = 0, 1, 2`` per layer.
        readout: trivial fields of the last PDO layer.
        mode: the stencils, ``"gaussian"`` (5^3, the paper's choice for SO(3)) or ``"fd"``.
        dropout: before the linear head (the paper's 0.2).
        blur: start with a 5^3 Gaussian blur (std 1) of the input.
        num_classes: logits per sample.
    """

    def __init__(
        self, mults: Sequence[Sequence[int]] = ((4, 4, 4), (16, 16, 16), (32, 16, 16)), readout: int = 128,
        mode: str = "gaussian", dropout: float = 0.2, blur: bool = True, num_classes: int = 8,
    ) -> None:  # fmt: skip
        super().__init__()
        g = GROUPS["SO3"]()
        check_probability(dropout, "dropout")
        if len(mults) != 3:
            raise ValueError(f"mults must list 3 layers, got {len(mults)}")
        types = [FieldType(g, [(g.irrep(deg), m) for deg, m in enumerate(ms) if m > 0]) for ms in mults]
        t_in = FieldType(g, [(g.irrep(0), 1)])
        t_out = FieldType(g, [(g.irrep(0), check_int(readout, "readout", min=1))])
        self.in_type, self.out_type = t_in, t_out
        layers: list[nn.Module] = [GaussianLowPass3d(5, 1.0, 1, 2)] if blur else []
        prev = t_in
        for k, t in enumerate(types):
            layers += [PDOConv3d(prev, t.gated(), mode), GatedNonlinearity(t)]
            if k >= 1:
                layers.append(GaussianLowPass3d(4, 1.0, 2, 1))
            prev = t
        layers += [PDOConv3d(prev, t_out, mode), InvariantReadout(t_out)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(readout, check_int(num_classes, "num_classes", min=2))
        )

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_type)
        return self.head(self.body(x))


class PlainCNN3d(nn.Module):
    """The plain 3D CNN baseline: conv(1 -> ch) -> ReLU -> AvgPool -> conv(ch -> ch) -> ReLU ->
    AvgPool -> conv(ch -> readout) -> ReLU -> mean -> Linear. ``[B, 1, S, S, S] -> [B, classes]``.

    Args:
        channels: width of the two hidden 3^3 convolutions.
        readout: channels of the last convolution (the linear head's input).
        num_classes: logits per sample.
    """

    def __init__(self, channels: int = 12, readout: int = 16, num_classes: int = 8) -> None:
        super().__init__()
        c, r = check_int(channels, "channels", min=1), check_int(readout, "readout", min=1)
        self.body = nn.Sequential(
            nn.Conv3d(1, c, 3, padding=1), nn.ReLU(), nn.AvgPool3d(2),
            nn.Conv3d(c, c, 3, padding=1), nn.ReLU(), nn.AvgPool3d(2),
            nn.Conv3d(c, r, 3, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(r, check_int(num_classes, "num_classes", min=2))

    def forward(self, x: Tensor) -> Tensor:
        from ballroom.core.validate import check_tensor

        check_tensor(x, "x", ndim=5)
        if x.shape[1] != 1:
            raise ValueError(f"x must have 1 channel, got shape {tuple(x.shape)}")
        return self.head(self.body(x).mean(dim=(2, 3, 4)))


def count_parameters(module: nn.Module) -> int:
    """The number of learnable parameters (``requires_grad``) of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
