"""Bregman ResNets: ``y = sigma(BN2(conv2 sigma(BN1(conv1 x))) + sigma^{-1}(clamp(S(x))))``.

CIFAR family (``bregman_resnet20/32/44/56/110``: 3 stages of 3/5/7/9/18 basic blocks, widths 16/32/64)
and the ImageNet family (``bregman_resnet18/34/50``, torchvision layout). The down-sampling shortcut
``S`` is "option E": ``x[:, :, ::s, ::s]`` with the new channels padded by the constant ``sigma(0)``,
so they contribute exactly ``sigma^{-1}(sigma(0)) = 0``. ``standard=True`` gives the plain ResNet of
the same shape (``sigma(h + S_A(x))``, zero padding on CIFAR, a 1x1 conv + BN shortcut on ImageNet).
Parameter names match the official ``bregmanet`` CIFAR models (``conv1``, ``bn1``, ``layer{k}.{j}.conv1``, ...,
``linear``), so their state dicts load as they are.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.bregman.activations import Activation, get_activation
from ballroom.bregman.fused import _carried_bounds
from ballroom.core.validate import check_choice, check_tensor

__all__ = [
    "BregmanBasicBlock",
    "BregmanBottleneck",
    "BregmanResNet",
    "CifarBregmanResNet",
    "bregman_resnet18",
    "bregman_resnet20",
    "bregman_resnet32",
    "bregman_resnet34",
    "bregman_resnet44",
    "bregman_resnet50",
    "bregman_resnet56",
    "bregman_resnet110",
]

#: the clamp margin inside the blocks: eps = 1e-5 of the range plus the official second 1e-5
BLOCK_EPS = 2e-5


def _sigma(act: Activation, standard: bool, offset: str) -> Callable[[Tensor], Tensor]:
    return act.plain if (standard and offset == "official" and act.plain is not None) else act.sigma


class _Shortcut(nn.Module):
    """``x[:, :, ::stride, ::stride]`` padded in channels to ``out_channels`` with ``value``: ``(B, C, H, W) -> (B, C', H', W')``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, value: float) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"the padded shortcut cannot reduce channels ({in_channels} -> {out_channels})")
        self.stride, self.value = stride, value
        self.front = (out_channels - in_channels) // 2
        self.back = out_channels - in_channels - self.front

    def forward(self, x: Tensor, value: float | None = None) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # a view (the input itself at stride 1)
        if self.front or self.back:
            pad = self.value if value is None else value
            x = F.pad(x, (0, 0, 0, 0, self.front, self.back), "constant", pad)
        return x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad=({self.front}, {self.back}), value={self.value:.6g}"


class _BregmanBlock(nn.Module, ABC):
    """Shared tail of the blocks: ``sigma(h + sigma^{-1}(clamp(S x)))`` (or ``sigma(h + S x)`` when standard)."""

    def __init__(self, activation: str | Activation, standard: bool, eps: float, offset: str) -> None:
        super().__init__()
        check_choice(offset, "offset", ("exact", "official"))
        self.act, self.standard, self.eps = get_activation(activation), standard, eps
        self._act = _sigma(self.act, standard, offset)
        self._inverse = self.act.offset(offset)
        self._guarded_inverse = self.act.clamped_inverse(offset, eps)
        self.offset, self._zbounds = offset, _carried_bounds(self.act, eps)

    def _setup_shortcut(self, in_planes: int, out_planes: int, stride: int, conv_shortcut: bool) -> None:
        self.shortcut: nn.Module
        if stride == 1 and in_planes == out_planes:
            self.shortcut = nn.Identity()
        elif conv_shortcut and (self.standard or getattr(self, "official_shortcut", False)):
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes)
            )
        else:
            value = 0.0 if self.standard else float(self.act.sigma(torch.zeros(1, dtype=torch.float64)))
            self.shortcut = _Shortcut(in_planes, out_planes, stride, value)

    def _merge(self, h: Tensor, x: Tensor) -> Tensor:
        s = self.shortcut(x)
        if self.standard:
            return self._act(h + s)
        return self._act(h + self._guarded_inverse(s))

    def carries(self) -> bool:
        """Whether :meth:`forward_carried` applies: exact offsets, a Bregman block, an identity or padded
        shortcut, no module hooks (they must see ``forward``)."""
        plain = not (self.standard or getattr(self, "official_shortcut", False)) and self.offset == "exact"
        hooked = bool(self._forward_hooks or self._forward_pre_hooks)
        return plain and not hooked and isinstance(self.shortcut, nn.Identity | _Shortcut)

    def forward_carried(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """The block on ``x = sigma(z)`` given ``z``: ``forward(x)`` in exact arithmetic, no ``sigma^{-1}``.

        Args:
            x: the block input ``(B, C, H, W)``, ``sigma(z)``.
            z: its pre-activation ``(B, C, H, W)``.

        Returns:
            ``y (B, C', H', W')`` and its pre-activation ``z_out`` (same shape).

        Raises:
            ValueError: ``z`` does not have the shape of ``x``.
        """
        check_tensor(z, "z", shape=tuple(x.shape), finite=False)  # the pre-activation of x
        # sigma^-1(clamp(S(sigma(z)))) = S(clamp(z, sigma^-1(lo+eps), sigma^-1(hi-eps))) padded with 0
        lo, hi = self._zbounds
        c = torch.clamp(z, lo, hi) if math.isfinite(lo) or math.isfinite(hi) else z
        if isinstance(self.shortcut, _Shortcut):
            c = self.shortcut(c, min(max(0.0, lo), hi))
        out = self._residual(x) + c
        return self._act(out), out

    @abstractmethod
    def _residual(self, x: Tensor) -> Tensor: ...  # the convolutional branch h of each block type

    def skip_map(self, x: Tensor) -> Tensor:
        """``S(x)``: the block input in the output's space (for :func:`~ballroom.bregman.nn.layer_displacement`)."""
        return self.shortcut(x)


class BregmanBasicBlock(_BregmanBlock):
    """Basic block ``(B, in_planes, H, W) -> (B, planes, H/stride, W/stride)``.

    ``h = BN2(conv2 sigma(BN1(conv1 x)))``; ``y = sigma(h + sigma^{-1}(clamp(S(x))))``, clamp to
    ``[lo + eps, hi - eps]`` (``eps = 2e-5``: the official double margin).

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: the stride (of the first conv for the basic block, of the 3x3 conv for the bottleneck).
        activation: the activation ``sigma``: a name of :data:`~ballroom.bregman.activations.ACTIVATIONS`
            (``"softplus"``: beta 1000) or an :class:`~ballroom.bregman.activations.Activation`.
        standard: the plain ResNet of the same shape (``sigma(h + S x)``), for comparison.
        eps: the clamp margin ``[lo + eps, hi - eps]`` before ``sigma^{-1}``.
        offset: ``"exact"`` (the exact inverse ``sigma^{-1}``) or ``"official"`` (the official code's
            sigmoid/relu offsets, and its plain ReLU in ``standard`` relu nets).
        conv_shortcut: with ``standard``, a down-sampling shortcut is a 1x1 conv + BN (else the
            padded option-E/A shortcut).

    Raises:
        ValueError: an unknown ``offset`` or ``activation``, or a padded shortcut that would reduce
            channels.
    """

    expansion = 1

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        activation: str | Activation = "softplus",
        standard: bool = False,
        eps: float = BLOCK_EPS,
        offset: str = "exact",
        conv_shortcut: bool = False,
    ) -> None:
        super().__init__(activation, standard, eps, offset)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self._setup_shortcut(in_planes, planes, stride, conv_shortcut)

    def _residual(self, x: Tensor) -> Tensor:
        return self.bn2(self.conv2(self._act(self.bn1(self.conv1(x)))))

    def forward(self, x: Tensor) -> Tensor:
        return self._merge(self._residual(x), x)


class BregmanBottleneck(_BregmanBlock):
    """Bottleneck block ``(B, in_planes, H, W) -> (B, 4 planes, H/stride, W/stride)`` (stride on the 3x3 conv).

    ``h = BN3(conv3 sigma(BN2(conv2 sigma(BN1(conv1 x)))))``; ``y = sigma(h + sigma^{-1}(clamp(S(x))))``.

    Args:
        in_planes: input channels.
        planes: the planes before the 4x expansion (the block outputs ``4 planes``).
        stride: the stride (of the first conv for the basic block, of the 3x3 conv for the bottleneck).
        activation: the activation ``sigma``: a name of :data:`~ballroom.bregman.activations.ACTIVATIONS`
            (``"softplus"``: beta 1000) or an :class:`~ballroom.bregman.activations.Activation`.
        standard: the plain ResNet of the same shape (``sigma(h + S x)``), for comparison.
        eps: the clamp margin ``[lo + eps, hi - eps]`` before ``sigma^{-1}``.
        offset: ``"exact"`` (the exact inverse ``sigma^{-1}``) or ``"official"`` (the official code's
            sigmoid/relu offsets, and its plain ReLU in ``standard`` relu nets).
        conv_shortcut: with ``standard``, a down-sampling shortcut is a 1x1 conv + BN (else the
            padded option-E/A shortcut).
        groups: groups of the 3x3 conv (ResNeXt).
        base_width: the width per group; the inner width is ``int(planes * base_width / 64) * groups``.
        official_shortcut: the official ``bregmanet`` Bregman bottleneck: a down-sampling shortcut
            is a 1x1 conv + BN (``shortcut.0``, ``shortcut.1``; official ``downsample.0/1``) and
            ``sigma^{-1}`` is applied to ``S(x)`` with no clamp, ``sigma(h + sigma^{-1}(S x))``; a
            shortcut value outside the range gives NaN, exactly as there. Default: the option-E
            padded shortcut with the clamp (the spec's block).

    Raises:
        ValueError: an unknown ``offset`` or ``activation``, or a padded shortcut that would reduce
            channels.
    """

    expansion = 4

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        activation: str | Activation = "softplus",
        standard: bool = False,
        eps: float = BLOCK_EPS,
        offset: str = "exact",
        conv_shortcut: bool = True,
        groups: int = 1,
        base_width: int = 64,
        official_shortcut: bool = False,
    ) -> None:
        super().__init__(activation, standard, eps, offset)
        self.official_shortcut = bool(official_shortcut) and not standard
        width = int(planes * (base_width / 64.0)) * groups
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self._setup_shortcut(in_planes, out, stride, conv_shortcut or self.official_shortcut)

    def _residual(self, x: Tensor) -> Tensor:
        h = self._act(self.bn2(self.conv2(self._act(self.bn1(self.conv1(x))))))
        return self.bn3(self.conv3(h))

    def forward(self, x: Tensor) -> Tensor:
        h = self._residual(x)
        if self.official_shortcut:
            return self._act(h + self._inverse(self.shortcut(x)))  # official: no clamp
        return self._merge(h, x)


class _ResNetBase(nn.Module):
    blocks: list[nn.Module]

    def _check(self, x: Tensor) -> None:
        check_tensor(x, "x", ndim=4)
        if x.shape[1] != 3:
            raise ValueError(f"x must have 3 channels (B, 3, H, W), got shape {tuple(x.shape)}")

    def skip_maps(self) -> list[Callable[[Tensor], Tensor]]:
        """Each block's shortcut map, aligned with ``forward_features(x)[1:]``."""
        return [cast(_BregmanBlock, b).skip_map for b in self.blocks]  # every block is a _BregmanBlock


class CifarBregmanResNet(_ResNetBase):
    """CIFAR ResNet ``(B, 3, H, W) -> (B, num_classes)``: stem ``sigma(BN(conv3x3(3 -> 16)))``, 3 stages, pool, linear.

    Kaiming-normal init of conv and linear weights; BatchNorm eps 1e-5, momentum 0.1.

    Args:
        num_blocks: the basic blocks of each of the 3 stages (widths 16, 32, 64).
        num_classes: the number of classes.
        activation: the activation ``sigma``: a name of :data:`~ballroom.bregman.activations.ACTIVATIONS`
            (``"softplus"``: beta 1000) or an :class:`~ballroom.bregman.activations.Activation`.
        standard: the plain ResNet of the same shape (``sigma(h + S x)``), for comparison.
        offset: ``"exact"`` (the exact inverse ``sigma^{-1}``) or ``"official"`` (the official code's
            sigmoid/relu offsets, and its plain ReLU in ``standard`` relu nets).
        carry_preactivation: ``forward`` passes each block's pre-activation ``z`` to the next block,
            whose skip term is then ``S(clamp(z, sigma^{-1}(lo + eps), sigma^{-1}(hi - eps)))`` (equal
            to ``sigma^{-1}(clamp(S(sigma(z))))`` in exact arithmetic; no inverse evaluated; Bregman
            nets with exact offsets and no block hooks). ``False``: every block's ``forward`` (the
            explicit inverse, bitwise :meth:`forward_features`).

    Raises:
        ValueError: ``num_blocks`` does not give 3 positive depths.
    """

    def __init__(
        self,
        num_blocks: Sequence[int] = (3, 3, 3),
        num_classes: int = 10,
        activation: str | Activation = "softplus",
        standard: bool = False,
        offset: str = "exact",
        carry_preactivation: bool = True,
    ) -> None:
        super().__init__()
        self.carry_preactivation = bool(carry_preactivation)
        if len(num_blocks) != 3 or any(n < 1 for n in num_blocks):
            raise ValueError(f"num_blocks must give 3 positive stage depths, got {list(num_blocks)}")
        self.act = get_activation(activation)
        self._act = _sigma(self.act, standard, offset)
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        planes_in = 16
        stages = []
        for planes, n, stride in zip((16, 32, 64), num_blocks, (1, 2, 2)):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(BregmanBasicBlock(planes_in, planes, s, self.act, standard, offset=offset))
                planes_in = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, num_classes)
        self.blocks = [b for stage in stages for b in stage]
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """``[stem output, block 1 output, ...]``, each ``(B, C, H, W)``."""
        self._check(x)
        feats = [self._act(self.bn1(self.conv1(x)))]
        for block in self.blocks:
            feats.append(block(feats[-1]))
        return feats

    def _carries(self) -> bool:
        blocks = cast("list[_BregmanBlock]", self.blocks)
        return self.carry_preactivation and all(b.carries() and b.act.name == self.act.name for b in blocks)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        if self._carries():
            z = self.bn1(self.conv1(x))
            out = self._act(z)
            for block in cast("list[_BregmanBlock]", self.blocks):
                out, z = block.forward_carried(out, z)
        else:
            out = self._act(self.bn1(self.conv1(x)))
            out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class BregmanResNet(_ResNetBase):
    """ImageNet ResNet ``(B, 3, H, W) -> (B, num_classes)`` in torchvision's layout with Bregman blocks.

    Stem ``maxpool(sigma(BN(conv7x7/2)))``, 4 stages (64/128/256/512 planes), pool, ``fc``.
    ``block_activation`` is the activation inside the blocks (default: ``activation``; the official
    code always uses ``"softplus"``, beta 1000, there).

    Args:
        block: :class:`BregmanBasicBlock` or :class:`BregmanBottleneck`.
        layers: the blocks of each of the 4 stages.
        num_classes: the number of classes.
        activation: the stem's activation ``sigma``: a name of
            :data:`~ballroom.bregman.activations.ACTIVATIONS` (``"softplus"``: beta 1000) or an :class:`~ballroom.bregman.activations.Activation`.
        block_activation: the activation inside the blocks (above).
        standard: the plain ResNet of the same shape (``sigma(h + S x)``), for comparison; its
            down-sampling shortcuts are 1x1 conv + BN.
        offset: ``"exact"`` (the exact inverse ``sigma^{-1}``) or ``"official"`` (the official code's
            sigmoid/relu offsets, and its plain ReLU in ``standard`` relu nets).
        official_shortcut: bottleneck nets only: the official conv + BN shortcut with no clamp (see
            :class:`BregmanBottleneck`); needed to load official Bregman ResNet-50 weights.

    Raises:
        ValueError: ``layers`` does not give 4 positive depths, or ``official_shortcut`` with basic
            blocks (the official basic block uses the option-E shortcut, as ours).
    """

    def __init__(
        self,
        block: type[BregmanBasicBlock] | type[BregmanBottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        activation: str | Activation = "softplus",
        block_activation: str | Activation | None = None,
        standard: bool = False,
        offset: str = "exact",
        official_shortcut: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(f"layers must give 4 positive stage depths, got {list(layers)}")
        if official_shortcut and block is not BregmanBottleneck:
            raise ValueError(
                "official_shortcut applies to bottleneck nets only (the official basic block uses the "
                "option-E shortcut, as ours)"
            )
        extra = {"official_shortcut": True} if official_shortcut else {}
        self.act = get_activation(activation)
        block_act = self.act if block_activation is None else get_activation(block_activation)
        self._act = _sigma(self.act, standard, offset)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        planes_in, stages = 64, []
        for planes, n, stride in zip((64, 128, 256, 512), layers, (1, 2, 2, 2)):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(
                    block(
                        planes_in, planes, s, block_act, standard, offset=offset, conv_shortcut=True, **extra
                    )
                )
                planes_in = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(planes_in, num_classes)
        self.blocks = [b for stage in stages for b in stage]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """``[stem output, block outputs...]``."""
        self._check(x)
        feats = [self.maxpool(self._act(self.bn1(self.conv1(x))))]
        for block in self.blocks:
            feats.append(block(feats[-1]))
        return feats

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        out = self.maxpool(self._act(self.bn1(self.conv1(x))))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def _cifar(n: int) -> Callable[..., CifarBregmanResNet]:
    def build(
        activation: str = "softplus",
        num_classes: int = 10,
        standard: bool = False,
        offset: str = "exact",
        carry_preactivation: bool = True,
    ) -> CifarBregmanResNet:
        return CifarBregmanResNet((n, n, n), num_classes, activation, standard, offset, carry_preactivation)

    build.__name__ = f"bregman_resnet{6 * n + 2}"
    build.__doc__ = (
        f"Bregman ResNet-{6 * n + 2} for CIFAR (3 stages of {n} basic blocks): ``(B, 3, 32, 32) -> (B, num_classes)``; "
        "``standard=True`` gives the plain ResNet of the same size.\n\n"
        "Args:\n"
        '    activation: the activation name (``"softplus"``: beta 1000).\n'
        "    num_classes: the number of classes.\n"
        "    standard: the plain ResNet of the same shape.\n"
        '    offset: ``"exact"`` (the exact inverse) or ``"official"`` (the official code\'s offsets).\n'
        "    carry_preactivation: pass each block's pre-activation on (no inverse evaluated; see\n"
        "        :class:`CifarBregmanResNet`).\n"
    )
    return build


bregman_resnet20 = _cifar(3)
bregman_resnet32 = _cifar(5)
bregman_resnet44 = _cifar(7)
bregman_resnet56 = _cifar(9)
bregman_resnet110 = _cifar(18)


def _imagenet(block: type[BregmanBasicBlock] | type[BregmanBottleneck], layers: tuple[int, ...], depth: int):
    def build(
        activation: str = "softplus",
        num_classes: int = 1000,
        standard: bool = False,
        block_activation: str | None = None,
        offset: str = "exact",
        official_shortcut: bool = False,
    ) -> BregmanResNet:
        return BregmanResNet(
            block, layers, num_classes, activation, block_activation, standard, offset, official_shortcut
        )

    build.__name__ = f"bregman_resnet{depth}"
    build.__doc__ = (
        f"Bregman ResNet-{depth} (ImageNet layout): ``(B, 3, H, W) -> (B, num_classes)``; "
        "``block_activation='softplus'`` reproduces the official blocks; ``standard=True`` the plain "
        "ResNet.\n\n"
        "Args:\n"
        "    activation: the activation name of the stem (and of the blocks by default).\n"
        "    num_classes: the number of classes.\n"
        "    standard: the plain ResNet of the same shape.\n"
        "    block_activation: the activation inside the blocks (``None``: ``activation``).\n"
        '    offset: ``"exact"`` (the exact inverse) or ``"official"`` (the official code\'s offsets).\n'
        "    official_shortcut: bottleneck nets: the official conv + BN shortcut with no clamp.\n"
    )
    return build


bregman_resnet18 = _imagenet(BregmanBasicBlock, (2, 2, 2, 2), 18)
bregman_resnet34 = _imagenet(BregmanBasicBlock, (3, 4, 6, 3), 34)
bregman_resnet50 = _imagenet(BregmanBottleneck, (3, 4, 6, 3), 50)
