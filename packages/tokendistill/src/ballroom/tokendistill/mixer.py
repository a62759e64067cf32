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
    """``fc2(drop(GELU(fc1(x))))`` along the last axis: ``(*, d_in) -> (*, d_in)`` through ``hidden``.

    Args:
        d_in: input and output width.
        hidden: hidden width.
        drop: dropout probability.
    """

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

    Args:
        num_patches: ``P``, the patches (rows of ``Z``).
        dim: ``N``, the channels (columns of ``Z``).
        token_hidden: ``D_S``, hidden width of the token (spatial) MLP.
        channel_hidden: ``D_C``, hidden width of the channel MLP.
        drop: dropout probability after the GELU and after each MLP, in ``[0, 1)``.
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
    """Non-overlapping ``p x p`` patches -> ``Linear(p^2 C -> N)`` (a stride-``p`` convolution): ``(B, C, H, W) -> (B, P, N)``.

    Args:
        img_size: side of the square images, a multiple of ``patch_size``.
        patch_size: side ``p`` of a patch.
        in_chans: input channels ``C``.
        dim: ``N``, output channels per patch.
    """

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

    Args:
        img_size: side ``H = W`` of the square input images, a multiple of ``patch_size``.
        patch_size: side ``p`` of the non-overlapping patches (``P = (img_size / p)^2``).
        in_chans: input channels ``C``.
        num_classes: ``K``, classes of the head.
        dim: ``N``, channels per patch.
        depth: number of Mixer blocks.
        token_hidden: ``D_S`` of every block's token MLP.
        channel_hidden: ``D_C`` of every block's channel MLP.
        drop: dropout probability inside the blocks' MLPs.
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
        """The output of every block, ``depth`` tensors ``(B, P, N)``.

        Args:
            x: images ``(B, C, H, W)``.
        """
        z = self.stem(x)
        outs = []
        for block in self.blocks:
            z = block(z)
            outs.append(z)
        return outs

    def pooled(self, z: Tensor) -> Tensor:
        """``mean_P(LN(z))``: ``(B, P, N) -> (B, N)``, the features the class head reads.

        Args:
            z: the last block output ``(B, P, N)``.
        """
        return self.norm(z).mean(1)

    def forward_head(self, z: Tensor) -> Tensor:
        """Logits ``(B, K)`` from the last block output ``z (B, P, N)``.

        Args:
            z: the last block output ``(B, P, N)``.
        """
        return self.head(self.pooled(z))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x)[-1])


class TimmMixerHost(nn.Module):
    """A timm ``MlpMixer`` (or any model with ``stem``, ``blocks``, ``norm``, ``forward_head``) as an STD host.

    ``forward_features`` runs the stem and every block and returns the block outputs ``(B, P, N)``
    (timm's own ``forward_features`` returns only the normed last one); ``forward_head`` applies
    timm's final norm and head. The wrapped model's weights are used as they are (``self.model``).

    Args:
        model: a timm ``MlpMixer`` (e.g. ``timm.create_model("mixer_s16_224")``).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        for attr in ("stem", "blocks", "norm", "forward_head"):
            if not hasattr(model, attr):
                raise TypeError(
                    f"model: expected a timm MlpMixer-like model with .{attr}, got {type(model).__name__}"
                )
        self.model = model
        # timm ships no stubs of MlpMixer's attributes: read them untyped, checked above
        timm_model: Any = model
        first = timm_model.blocks[0]
        self.num_patches = int(timm_model.stem.num_patches)
        self.dim = int(getattr(timm_model, "embed_dim", first.norm1.normalized_shape[0]))
        self.depth = len(timm_model.blocks)
        self.num_classes = int(timm_model.num_classes)
        self.token_hidden = int(first.mlp_tokens.fc1.out_features)
        self.channel_hidden = int(first.mlp_channels.fc1.out_features)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """The output of every block of the wrapped model, ``depth`` tensors ``(B, P, N)``.

        Args:
            x: images ``(B, C, H, W)`` as the wrapped model takes them.

        Returns:
            one ``(B, P, N)`` tensor per block.
        """
        timm_model: Any = self.model
        z = timm_model.stem(x)
        outs = []
        for block in timm_model.blocks:
            z = block(z)
            outs.append(z)
        return outs

    def forward_head(self, z: Tensor) -> Tensor:
        """Logits ``(B, K)`` of the wrapped model's final norm and head on the last block output ``z (B, P, N)``."""
        timm_model: Any = self.model
        return timm_model.forward_head(timm_model.norm(z))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x)[-1])
