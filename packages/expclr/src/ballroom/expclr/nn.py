"""Encoders, heads and loss modules (plain PyTorch).

Every encoder maps ``x (B, C, T)`` (+ optional ``mask (B, T)``, True on observed steps) to a
representation ``(B, repr_dim)`` by masked global average pooling of per-step features
``(B, repr_dim, T)`` (available from :meth:`features`).
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_int, check_positive, check_probability, check_tensor
from ballroom.expclr.functional import expclr_loss

__all__ = [
    "ExpCLRLoss",
    "ExpertFeatureDecoder",
    "ResNet1DEncoder",
    "TCNEncoder",
    "TimeSeriesAugment",
    "build_encoder",
    "masked_mean",
]


def masked_mean(h: Tensor, mask: Tensor | None) -> Tensor:
    """Average ``h (B, E, T)`` over observed steps of ``mask (B, T)`` (all steps when ``None``) -> ``(B, E)``."""
    if mask is None:
        return h.mean(-1)
    m = mask.to(h.dtype).unsqueeze(1)
    return (h * m).sum(-1) / m.sum(-1).clamp_min(1.0)


def _check_input(x: Tensor, mask: Tensor | None, channels: int) -> None:
    if x.ndim != 3 or x.shape[1] != channels:
        raise ValueError(f"expected x of shape (B, C={channels}, T), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point, got {x.dtype}")
    if x.shape[0] == 0 or x.shape[2] == 0:
        raise ValueError(f"x is empty: {tuple(x.shape)}")
    if mask is not None and (mask.shape != (x.shape[0], x.shape[2]) or mask.dtype != torch.bool):
        raise ValueError(
            f"mask must be a bool tensor of shape ({x.shape[0]}, {x.shape[2]}), got {mask.dtype} {tuple(mask.shape)}"
        )


class _ResBlock(nn.Module):
    def __init__(self, width: int, kernel_size: int, dilation: int = 1, norm: bool = True) -> None:
        super().__init__()
        pad = dilation * (kernel_size - 1) // 2
        self.conv1 = nn.Conv1d(width, width, kernel_size, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, kernel_size, padding=pad, dilation=dilation)
        self.bn1 = nn.BatchNorm1d(width) if norm else nn.Identity()
        self.bn2 = nn.BatchNorm1d(width) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(h)))


class ResNet1DEncoder(nn.Module):
    """1-D residual CNN: stem conv, ``blocks`` residual blocks (BatchNorm, ReLU), 1x1 conv to ``repr_dim``, masked GAP.

    ``(B, C, T) -> (B, repr_dim)``. Defaults follow the paper's encoder (8 blocks, e = 100).

    Args:
        in_channels: input channels ``C``.
        repr_dim: the representation size ``e``.
        blocks: residual blocks.
        width: the channels inside the blocks.
        kernel_size: the (odd) kernel size of the block convolutions.

    Raises:
        ValueError: a size below 1 or an even ``kernel_size``.
    """

    def __init__(
        self, in_channels: int, repr_dim: int = 100, blocks: int = 8, width: int = 64, kernel_size: int = 5
    ) -> None:
        super().__init__()
        if min(in_channels, repr_dim, blocks, width) < 1 or kernel_size % 2 == 0:
            raise ValueError("in_channels, repr_dim, blocks, width must be >= 1 and kernel_size odd")
        self.in_channels, self.repr_dim = in_channels, repr_dim
        self.stem = nn.Sequential(
            nn.Conv1d(in_channels, width, 7, padding=3), nn.BatchNorm1d(width), nn.ReLU()
        )
        self.blocks = nn.Sequential(*[_ResBlock(width, kernel_size) for _ in range(blocks)])
        self.head = nn.Conv1d(width, repr_dim, 1)

    def features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Per-step features ``(B, repr_dim, T)`` (padded steps zeroed)."""
        _check_input(x, mask, self.in_channels)
        h = self.head(self.blocks(self.stem(x)))
        return h if mask is None else h * mask.unsqueeze(1).to(h.dtype)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return masked_mean(self.features(x, mask), mask)


class TCNEncoder(nn.Module):
    """Temporal convolutional network: residual blocks of dilated convs (dilation ``2^i``), masked GAP.

    ``(B, C, T) -> (B, repr_dim)``; non-causal ("same") padding, no normalisation layers.

    Args:
        in_channels: input channels ``C``.
        repr_dim: the representation size ``e``.
        blocks: residual blocks.
        width: the channels inside the blocks.
        kernel_size: the (odd) kernel size of the dilated convolutions.

    Raises:
        ValueError: a size below 1 or an even ``kernel_size``.
    """

    def __init__(
        self, in_channels: int, repr_dim: int = 100, blocks: int = 8, width: int = 64, kernel_size: int = 3
    ) -> None:
        super().__init__()
        if min(in_channels, repr_dim, blocks, width) < 1 or kernel_size % 2 == 0:
            raise ValueError("in_channels, repr_dim, blocks, width must be >= 1 and kernel_size odd")
        self.in_channels, self.repr_dim = in_channels, repr_dim
        self.stem = nn.Conv1d(in_channels, width, 1)
        self.blocks = nn.Sequential(
            *[_ResBlock(width, kernel_size, dilation=2**i, norm=False) for i in range(blocks)]
        )
        self.head = nn.Conv1d(width, repr_dim, 1)

    def features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Per-step features ``(B, repr_dim, T)`` (padded steps zeroed)."""
        _check_input(x, mask, self.in_channels)
        h = self.head(self.blocks(self.stem(x)))
        return h if mask is None else h * mask.unsqueeze(1).to(h.dtype)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return masked_mean(self.features(x, mask), mask)


def build_encoder(
    kind: str, in_channels: int, repr_dim: int = 100, blocks: int = 8, width: int = 64
) -> nn.Module:
    """Deprecated: build the class itself (:class:`ResNet1DEncoder`, :class:`TCNEncoder`) or a zoo
    entry (``ballroom.core.zoo.create_model("expclr-resnet", in_channels=...)``).

    Args:
        kind: ``"resnet"`` or ``"tcn"``.
        in_channels: input channels.
        repr_dim: the representation size.
        blocks: residual blocks.
        width: the channels inside the blocks.

    Returns:
        The encoder (with its class's default ``kernel_size``); a ``DeprecationWarning`` is issued.

    Raises:
        ValueError: an unknown ``kind``.
    """
    warnings.warn(
        "build_encoder is deprecated: use ResNet1DEncoder / TCNEncoder or a zoo name "
        "(ballroom.core.zoo.create_model('expclr-resnet', ...)); LightningModules take model='expclr-...'",
        DeprecationWarning,
        stacklevel=2,
    )
    classes: dict[str, type[nn.Module]] = {"resnet": ResNet1DEncoder, "tcn": TCNEncoder}
    if kind not in classes:
        raise ValueError(f"encoder must be 'resnet' or 'tcn', got {kind!r}")
    return classes[kind](in_channels, repr_dim, blocks, width)


class ExpertFeatureDecoder(nn.Module):
    """Expert-feature decoding baseline: ``Linear(repr_dim -> feature_dim)`` on top of an encoder.

    ``forward(x, mask) -> f_hat (B, feature_dim)``; the representation is ``encoder(x, mask)``.
    """

    def __init__(self, encoder: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(cast(Any, encoder).repr_dim), feature_dim)  # encoders carry an int repr_dim

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.head(self.encoder(x, mask))


class ExpCLRLoss(nn.Module):
    """:func:`~ballroom.expclr.expclr_loss` as a module: ``(z (N, e), f (N, d), labels=None) -> scalar``.

    The rule of ``torch.nn`` losses: options in the constructor, per-batch tensors in ``forward``.
    ``labels (N,)`` (integer classes, ``-1`` = unlabelled) are per-batch data like
    ``nn.CrossEntropyLoss``'s target, so they go to ``forward``; pass ``None`` for the unsupervised
    loss. The expert features ``f`` are constants of the loss: no gradient flows into them (a warning
    says so when ``f`` requires grad).

    Args:
        delta: the margin ``delta`` (``ExpCLRModule(delta="auto")`` computes :func:`optimal_delta`).
        temperature: soft-maximum temperature; ``None`` = the quadratic loss.
        squared: square the clipped expert similarity (the paper's experiments).
        max_distance: the normaliser ``m`` of the expert distances (default: the batch's largest).
        reduction: ``"mean"`` (a scalar) or ``"none"`` (the per-pair terms ``(N, N)``).
    """

    def __init__(
        self,
        delta: float = 1.0,
        temperature: float | None = 1.0,
        squared: bool = True,
        max_distance: float | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.delta, self.temperature, self.squared, self.max_distance = (
            delta,
            temperature,
            squared,
            max_distance,
        )
        self.reduction = check_choice(reduction, "reduction", ("mean", "none"))

    def forward(self, z: Tensor, f: Tensor, labels: Tensor | None = None) -> Tensor:
        """The loss of ``z (N, e)`` given expert features ``f (N, d)`` and optional ``labels (N,)``."""
        return expclr_loss(
            z, f, self.delta, self.temperature, self.squared, self.max_distance, labels, self.reduction
        )

    def extra_repr(self) -> str:
        return (
            f"delta={self.delta}, temperature={self.temperature}, squared={self.squared}, "
            f"max_distance={self.max_distance}, reduction={self.reduction!r}"
        )


class TimeSeriesAugment(nn.Module):
    """SimCLR-TS augmentations of ``x (B, C, T)``: jitter, scaling, segment permutation, time shift, dropout.

    Each is applied per sample with probability ``p``: Gaussian jitter (``jitter`` x the series'
    std), channel scaling by ``N(1, scale^2)``, permutation of up to ``max_segments`` segments, a
    circular shift of up to ``shift`` x T steps, and dropout of steps with rate ``dropout``. Padded
    steps (``mask`` False) stay zero. Randomness comes from ``generator`` or the global RNG.
    """

    def __init__(
        self,
        jitter: float = 0.1,
        scale: float = 0.2,
        max_segments: int = 5,
        shift: float = 0.1,
        dropout: float = 0.1,
        p: float = 0.8,
    ) -> None:
        super().__init__()
        self.jitter = check_positive(jitter, "jitter", strict=False)
        self.scale = check_positive(scale, "scale", strict=False)
        self.max_segments = check_int(max_segments, "max_segments", min=1)
        self.shift = check_probability(shift, "shift")
        self.dropout = check_probability(dropout, "dropout", open_high=True)
        self.p = check_probability(p, "p")

    def forward(
        self, x: Tensor, mask: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        check_tensor(x, "x", ndim=3)
        if mask is not None:
            check_tensor(mask, "mask", shape=(x.shape[0], x.shape[2]), dtype="bool")
        b, c, t = x.shape
        dev = x.device

        def coin() -> Tensor:
            return (torch.rand(b, 1, 1, generator=generator) < self.p).to(dev)

        out = x
        std = x.std(dim=-1, keepdim=True)
        out = torch.where(
            coin(), out + self.jitter * std * torch.randn(x.shape, generator=generator).to(dev), out
        )
        out = torch.where(
            coin(), out * (1 + self.scale * torch.randn(b, c, 1, generator=generator)).to(dev), out
        )
        if self.max_segments > 1 and t >= self.max_segments:
            # permute 2..max_segments contiguous segments per sample, vectorised: random cut points,
            # a random rank per segment, then a stable sort of the steps by (segment rank, position)
            k = torch.randint(2, self.max_segments + 1, (b, 1), generator=generator)
            cuts = torch.rand(b, t - 1, generator=generator).argsort(1)[:, : self.max_segments - 1] + 1
            cuts = cuts.sort(1).values  # distinct cut points in [1, t-1]
            used = torch.arange(self.max_segments - 1).unsqueeze(0) < (k - 1)
            cuts = torch.where(used, cuts, torch.full_like(cuts, t))
            seg = (torch.arange(t).view(1, t, 1) >= cuts.unsqueeze(1)).sum(-1)  # (b, t) segment id
            rank = torch.rand(b, self.max_segments, generator=generator).argsort(1)
            order = (rank.gather(1, seg) * t + torch.arange(t)).argsort(1)
            apply = coin().view(b, 1)
            order = torch.where(apply.cpu(), order, torch.arange(t).expand(b, t))
            out = out.gather(2, order.to(dev).unsqueeze(1).expand(b, c, t))
        if self.shift > 0:
            max_shift = max(1, int(self.shift * t))
            shifts = torch.randint(-max_shift, max_shift + 1, (b, 1), generator=generator)
            shifts = torch.where(coin().view(b, 1).cpu(), shifts, torch.zeros_like(shifts))
            idx = (torch.arange(t).unsqueeze(0) - shifts) % t  # torch.roll semantics
            out = out.gather(2, idx.to(dev).unsqueeze(1).expand(b, c, t))
        if self.dropout > 0:
            keep = (torch.rand(b, 1, t, generator=generator) >= self.dropout).to(dev)
            out = torch.where(coin(), out * keep, out)
        if mask is not None:
            out = out * mask.unsqueeze(1).to(out.dtype)
        return out
