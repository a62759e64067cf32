"""The reference host: MLP-Mixer (pre-norm, residual, exact GELU, LayerNorm eps 1e-6), and hosts for STD.

A *host* is any module with ``forward_features(x) -> list[Tensor (B, P, N)]`` (one entry per block,
the block outputs STD taps) and ``forward_head(z_last) -> logits (B, K)``. Parameter names follow
timm's ``MlpMixer`` (``stem.proj``, ``blocks.i.norm1``, ``blocks.i.mlp_tokens.fc1``, ...), so a timm
Mixer's ``state_dict`` loads into :class:`MLPMixer` unchanged; :class:`TimmMixerHost` makes a timm
Mixer itself a host.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ballroom.core.validate import check_int, check_number, check_tensor

__all__ = ["MLP", "MLPMixer", "MixerBlock", "PatchEmbed", "TimmMixerHost"]

LN_EPS = 1e-6


class MLP(nn.Module):
    """``fc2(drop(GELU(fc1(x))))`` along the last axis: ``(*, d_in) -> (*, d_in)`` through ``hidden``."""

    def __init__(self, d_in: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.act = nn.GELU()  # exact erf form
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, d_in)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class MixerBlock(nn.Module):
    """``U = Z + MLP_S(LN1(Z))`` on every channel column, ``Z' = U + MLP_C(LN2(U))`` on every patch row.

    Shapes: ``(B, P, N) -> (B, P, N)`` with ``P = num_patches``, ``N = dim``; the token MLP is
    ``P -> token_hidden -> P``, the channel MLP ``N -> channel_hidden -> N``.
    """

    def __init__(
        self, num_patches: int, dim: int, token_hidden: int, channel_hidden: int, drop: float = 0.0
    ) -> None:
        super().__init__()
        for name, v in [("num_patches", num_patches), ("dim", dim), ("token_hidden", token_hidden),
                        ("channel_hidden", channel_hidden)]:  # fmt: skip
            check_int(v, name, min=1)
        check_number(drop, "drop", lo=0, hi=1, hi_open=True)
        self.num_patches, self.dim = num_patches, dim
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp_tokens = MLP(num_patches, token_hidden, drop)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp_channels = MLP(dim, channel_hidden, drop)

    def forward(self, z: Tensor) -> Tensor:
        u = z + self.mlp_tokens(self.norm1(z).transpose(1, 2)).transpose(1, 2)
        return u + self.mlp_channels(self.norm2(u))


class PatchEmbed(nn.Module):
    """Non-overlapping ``p x p`` patches -> ``Linear(p^2 C -> N)`` (a stride-``p`` convolution): ``(B, C, H, W) -> (B, P, N)``."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, dim: int) -> None:
        super().__init__()
        check_int(img_size, "img_size", min=1)
        check_int(patch_size, "patch_size", min=1)
        if img_size % patch_size:
            raise ValueError(f"img_size ({img_size}) must be a multiple of patch_size ({patch_size})")
        self.img_size, self.patch_size, self.in_chans = img_size, patch_size, in_chans
        self.grid = img_size // patch_size
        self.num_patches = self.grid**2
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x", shape=(None, self.in_chans, self.img_size, self.img_size), finite=False)
        return self.proj(x).flatten(2).transpose(1, 2)


class MLPMixer(nn.Module):
    """MLP-Mixer: stem -> ``depth`` :class:`MixerBlock` s -> LN -> mean over patches -> ``Linear(N -> K)``.

    ``forward(x (B, C, H, W)) -> logits (B, K)``; ``forward_features(x)`` returns the list of the
    ``depth`` block outputs ``(B, P, N)`` (what STD taps; the host is not changed by it);
    ``forward_head(z)`` maps the last of them to logits. Mixer-S/16: ``dim=512, depth=8,
    token_hidden=256, channel_hidden=2048``; Mixer-B/16: ``768, 12, 384, 3072``.
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        dim: int = 512,
        depth: int = 8,
        token_hidden: int = 256,
        channel_hidden: int = 2048,
        drop: float = 0.0,
    ) -> None:
        super().__init__()
        check_int(in_chans, "in_chans", min=1)
        check_int(num_classes, "num_classes", min=2)
        check_int(depth, "depth", min=1)
        self.stem = PatchEmbed(img_size, patch_size, in_chans, dim)
        self.num_patches, self.dim, self.depth, self.num_classes = (
            self.stem.num_patches,
            dim,
            depth,
            num_classes,
        )
        self.token_hidden, self.channel_hidden = token_hidden, channel_hidden
        self.blocks = nn.Sequential(
            *[MixerBlock(self.num_patches, dim, token_hidden, channel_hidden, drop) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.head = nn.Linear(dim, num_classes)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """The output of every block, ``depth`` tensors ``(B, P, N)``."""
        z = self.stem(x)
        outs = []
        for block in self.blocks:
            z = block(z)
            outs.append(z)
        return outs

    def pooled(self, z: Tensor) -> Tensor:
        """``mean_P(LN(z))``: ``(B, P, N) -> (B, N)``, the features the class head reads."""
        return self.norm(z).mean(1)

    def forward_head(self, z: Tensor) -> Tensor:
        """Logits ``(B, K)`` from the last block output ``(B, P, N)``."""
        return self.head(self.pooled(z))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x)[-1])


class TimmMixerHost(nn.Module):
    """A timm ``MlpMixer`` (or any model with ``stem``, ``blocks``, ``norm``, ``forward_head``) as an STD host.

    ``forward_features`` runs the stem and every block and returns the block outputs ``(B, P, N)``
    (timm's own ``forward_features`` returns only the normed last one); ``forward_head`` applies
    timm's final norm and head. The wrapped model's weights are used as they are (``self.model``).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        for attr in ("stem", "blocks", "norm", "forward_head"):
            if not hasattr(model, attr):
                raise TypeError(
                    f"model: expected a timm MlpMixer-like model with .{attr}, got {type(model).__name__}"
                )
        self.model = model
        blocks: Any = model.blocks
        first = blocks[0]
        self.num_patches = int(model.stem.num_patches)  # type: ignore[union-attr]
        self.dim = int(getattr(model, "embed_dim", first.norm1.normalized_shape[0]))
        self.depth = len(blocks)
        self.num_classes = int(getattr(model, "num_classes"))  # noqa: B009
        self.token_hidden = int(first.mlp_tokens.fc1.out_features)
        self.channel_hidden = int(first.mlp_channels.fc1.out_features)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        z = self.model.stem(x)  # type: ignore[operator]
        outs = []
        for block in self.model.blocks:  # type: ignore[union-attr]
            z = block(z)
            outs.append(z)
        return outs

    def forward_head(self, z: Tensor) -> Tensor:
        return self.model.forward_head(self.model.norm(z))  # type: ignore[operator]

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x)[-1])
