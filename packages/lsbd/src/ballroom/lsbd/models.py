"""Encoder and decoder backbones: the "dislib" convolutional pair (Locatello et al.) and MLPs.

Images are ``(B, C, H, W)`` in ``[0, 1]``; encoders return features ``(B, F)``, decoders map a
latent ``(B, D)`` to sigmoid images ``(B, C, H, W)`` (MLPs: any ``out_shape``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_int

__all__ = ["DislibDecoder", "DislibEncoder", "MLPDecoder", "MLPEncoder"]


def _image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or any(s < 1 for s in shape):
        raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {image_shape!r}")
    c, h, w = shape
    if h % 16 or w % 16:
        raise ValueError(f"image_shape must have H and W divisible by 16 (four stride-2 layers), got {shape}")
    return c, h, w


class DislibEncoder(nn.Module):
    """Conv(32) -> Conv(32) -> Conv(64) -> Conv(64) (4x4, stride 2, 'same' = ``padding=1``, ReLU),
    flatten, Dense 256 ReLU: ``(B, C, H, W) -> (B, 256)``.

    Args:
        image_shape: ``(C, H, W)``, ``H`` and ``W`` divisible by 16.
        features: the width of the final dense layer (the output size).

    Raises:
        ValueError: a bad ``image_shape`` or ``features < 1``.
    """

    def __init__(self, image_shape: Sequence[int] = (1, 64, 64), features: int = 256) -> None:
        super().__init__()
        c, h, w = _image_shape(image_shape)
        self.image_shape = (c, h, w)
        self.features = check_int(features, "features", min=1)
        chans = [c, 32, 32, 64, 64]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(chans):
            layers += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
        self.convs = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(64 * (h // 16) * (w // 16), features), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"x must have shape (B, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}"
            )
        return self.dense(self.convs(x))


class DislibDecoder(nn.Module):
    """Dense 256 ReLU -> Dense(64 * H/16 * W/16) ReLU -> reshape -> ConvT(64) -> ConvT(32) -> ConvT(32)
    -> ConvT(C, sigmoid), all 4x4 stride 2 ``padding=1``: ``(B, D) -> (B, C, H, W)``.

    Args:
        latent_dim: the code size ``D``.
        image_shape: ``(C, H, W)`` of the output, ``H`` and ``W`` divisible by 16.
        hidden: the width of the first dense layer.
        output: the last activation: ``"sigmoid"`` (the spec) or ``"linear"`` (none, as the released
            ``architectures.py``, whose Gaussian loss compares the raw outputs).

    Raises:
        ValueError: a bad ``image_shape``, ``latent_dim < 1`` or an unknown ``output``.
    """

    def __init__(
        self,
        latent_dim: int,
        image_shape: Sequence[int] = (1, 64, 64),
        hidden: int = 256,
        output: str = "sigmoid",
    ) -> None:
        super().__init__()
        self.output = check_choice(output, "output", ("sigmoid", "linear"))
        c, h, w = _image_shape(image_shape)
        self.image_shape = (c, h, w)
        self.latent_dim = check_int(latent_dim, "latent_dim", min=1)
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, 64 * (h // 16) * (w // 16)), nn.ReLU()
        )
        chans = [64, 64, 32, 32]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(chans):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
        layers += [nn.ConvTranspose2d(32, c, 4, stride=2, padding=1)]
        if output == "sigmoid":
            layers.append(nn.Sigmoid())
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        _, h, w = self.image_shape
        x = self.dense(z).reshape(z.shape[0], 64, h // 16, w // 16)
        return self.deconvs(x)


class MLPEncoder(nn.Module):
    """Flatten, then Linear-ReLU layers of widths ``hidden``: ``(B, *in_shape) -> (B, hidden[-1])``.

    Args:
        in_features: the flattened input size.
        hidden: the layer widths (non-empty).

    Raises:
        ValueError: ``in_features < 1`` or a bad ``hidden``.
    """

    def __init__(self, in_features: int = 256, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", min=1)
        if len(hidden) == 0 or any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty list of positive widths, got {list(hidden)}")
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        self.net = nn.Sequential(*layers)
        self.features = width

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} values per sample, got {x.shape[1]}")
        return self.net(x)


class MLPDecoder(nn.Module):
    """Linear-ReLU layers of widths ``hidden``, then Linear to ``prod(out_shape)`` and sigmoid:
    ``(B, latent_dim) -> (B, *out_shape)``."""

    def __init__(
        self, latent_dim: int, out_shape: Sequence[int] = (256,), hidden: Sequence[int] = (256, 256)
    ) -> None:
        super().__init__()
        self.latent_dim = check_int(latent_dim, "latent_dim", min=1)
        self.out_shape = tuple(int(s) for s in out_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        layers += [nn.Linear(width, math.prod(self.out_shape)), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).reshape(z.shape[0], *self.out_shape)
