"""Macro search (ProxylessNAS space): MBConv candidates per layer re-weighted by channel attention."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ballroom.agnas.functional import attention_weighted_sum
from ballroom.agnas.nn import ChannelAttention
from ballroom.core.validate import check_int, check_tensor

__all__ = ["PROXYLESS_STAGES", "AttentionSuperBlock", "MBConv", "MacroSupernet"]

#: the ProxylessNAS / MobileNetV2 skeleton's searchable stages (channels, layers, first stride): 21 layers
PROXYLESS_STAGES: tuple[tuple[int, int, int], ...] = (
    (32, 4, 2), (56, 4, 2), (112, 4, 2), (128, 4, 1), (256, 4, 2), (432, 1, 1),
)  # fmt: skip


class MBConv(nn.Module):
    """Inverted residual: pw (C_in -> e C_in)-BN-ReLU6 -> dw k x k (stride)-BN-ReLU6 -> pw (-> C_out)-BN,
    plus the input when ``stride == 1`` and ``C_in == C_out``. ``expand == 1`` drops the first pw.
    ``(B, C_in, H, W) -> (B, C_out, H / stride, W / stride)``.

    Args:
        C_in: input channels.
        C_out: output channels.
        kernel: depthwise kernel size (odd; padding ``kernel // 2``).
        stride: 1 or 2 (on the depthwise conv).
        expand: expansion ratio ``e`` of the hidden width ``e * C_in``.
    """

    def __init__(self, C_in: int, C_out: int, kernel: int = 3, stride: int = 1, expand: int = 6) -> None:
        super().__init__()
        for name, v in (("C_in", C_in), ("C_out", C_out), ("kernel", kernel), ("expand", expand)):
            check_int(v, name, min=1)
        check_int(stride, "stride", min=1, max=2)
        mid = C_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(C_in, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(inplace=False)]
        layers += [
            nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU6(inplace=False),
            nn.Conv2d(mid, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out),
        ]
        self.op = nn.Sequential(*layers)
        self.residual = stride == 1 and C_in == C_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.op(x)
        return x + y if self.residual else y


class AttentionSuperBlock(nn.Module):
    """One searchable layer: MBConv ``k x e`` candidates (+ ``identity`` iff ``stride == 1`` and
    ``C_in == C_out``), channel attention over their concatenation (reduction 16), ``y = sum_k a_k * y_k``.

    ``forward(x) -> (y (B, C_out, H/s, W/s), importance (K,))`` with ``I_k = sum_b mean_c a_k``.

    Args:
        C_in: input channels.
        C_out: output channels of every candidate.
        stride: 1 or 2.
        kernels: MBConv kernel sizes of the candidates.
        expansions: MBConv expansion ratios of the candidates (every kernel x expansion pair).
        reduction: SE reduction (hidden width ``K * C_out // reduction``, at least 1).
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        stride: int = 1,
        kernels: Sequence[int] = (3, 5, 7),
        expansions: Sequence[int] = (3, 6),
        reduction: int = 16,
    ) -> None:
        super().__init__()
        check_int(reduction, "reduction", min=1)
        self.candidates: list[str] = []
        ops: list[nn.Module] = []
        for k in kernels:
            for e in expansions:
                self.candidates.append(f"mbconv_k{k}_e{e}")
                ops.append(MBConv(C_in, C_out, k, stride, e))
        if stride == 1 and C_in == C_out:
            self.candidates.append("identity")
            ops.append(nn.Identity())
        self.ops = nn.ModuleList(ops)
        self.C_out = C_out
        K = len(ops)
        self.attention = ChannelAttention(K * C_out, max(K * C_out // reduction, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        outs = [op(x) for op in self.ops]
        a = self.attention(torch.cat([o.mean((2, 3)) for o in outs], dim=1))
        importance = a.detach().view(a.shape[0], len(outs), self.C_out).mean(2).sum(0)
        return attention_weighted_sum(outs, a), importance


class MacroSupernet(nn.Module):
    """A chain of :class:`AttentionSuperBlock` layers on the MobileNetV2 skeleton.

    first conv 3x3 (stride ``first_stride``) -> ``first_channels`` -> MBConv1 3x3 -> ``mb1_channels``
    -> ``widths`` stages ``(channels, layers, stride)`` -> 1x1 conv -> ``last_channels`` -> GAP -> FC.
    ``forward(x) -> logits``; ``forward(x, return_importance=True) -> (logits, [importance (K_l,)] per layer)``.

    Args:
        widths: the searchable stages ``(channels, layers, stride)`` (default: ProxylessNAS' 21 layers).
        num_classes: classifier outputs.
        in_channels: image channels.
        first_channels: channels of the first 3x3 conv.
        mb1_channels: output channels of the fixed MBConv1 3x3.
        last_channels: channels of the final 1x1 conv.
        first_stride: stride of the first conv (2 on ImageNet).
    """

    def __init__(
        self,
        widths: Sequence[tuple[int, int, int]] = PROXYLESS_STAGES,
        num_classes: int = 1000,
        in_channels: int = 3,
        first_channels: int = 40,
        mb1_channels: int = 24,
        last_channels: int = 1728,
        first_stride: int = 2,
    ) -> None:
        super().__init__()
        check_int(num_classes, "num_classes", min=2)
        self.first = nn.Sequential(
            nn.Conv2d(in_channels, first_channels, 3, first_stride, 1, bias=False),
            nn.BatchNorm2d(first_channels),
            nn.ReLU6(inplace=False),
        )
        self.mb1 = MBConv(first_channels, mb1_channels, 3, 1, 1)
        blocks = []
        C = mb1_channels
        for c, n, s in widths:
            for i in range(n):
                blocks.append(AttentionSuperBlock(C, c, s if i == 0 else 1))
                C = c
        self.blocks = nn.ModuleList(blocks)
        self.last = nn.Sequential(
            nn.Conv2d(C, last_channels, 1, bias=False), nn.BatchNorm2d(last_channels), nn.ReLU6()
        )
        self.classifier = nn.Linear(last_channels, num_classes)

    @property
    def candidates(self) -> list[list[str]]:
        """The candidate names of every layer."""
        return [list(b.candidates) for b in self.blocks if isinstance(b, AttentionSuperBlock)]

    def forward(self, x: Tensor, return_importance: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        check_tensor(x, "x", ndim=4)
        x = self.mb1(self.first(x))
        imps = []
        for block in self.blocks:
            x, imp = block(x)
            imps.append(imp)
        logits = self.classifier(self.last(x).mean((2, 3)))
        return (logits, imps) if return_importance else logits
