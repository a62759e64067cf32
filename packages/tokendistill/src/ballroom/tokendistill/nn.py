"""STD's modules (no Lightning): token layers, STD modules, the student wrapper, MINE's statistics network.

Shapes: ``B`` batch, ``P`` patches, ``N`` channels, ``K`` classes. The tokens read the host's block
outputs ``Z (B, P, N)`` and never write back into them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple, Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import check_int, check_tensor
from ballroom.tokendistill.mixer import LN_EPS, MLPMixer

__all__ = [
    "KDHeadStudent",
    "STDModule",
    "STDOutput",
    "STDStudent",
    "StatisticsNetwork",
    "TeacherCNN",
    "TokenLayer",
    "build_kd_head_student",
    "build_mixer",
    "build_std_student",
]


class STDHost(Protocol):
    """What :class:`STDStudent` needs of a host: block outputs and the class head."""

    def forward_features(self, x: Tensor) -> list[Tensor] | Tensor:
        """The block outputs ``(B, P, N)`` (one per block; a single tensor counts as one block)."""
        ...

    def forward_head(self, z: Tensor) -> Tensor:
        """Class logits ``(B, K)`` from the last block output ``(B, P, N)``."""
        ...


class TokenLayer(nn.Module):
    """One spatial and one channel token update (pre-norm + residual), batched matmuls only.

    Spatial: ``A = LN_N([Z; t_s])`` ``(B, P+1, N)``; ``t_s[j] += w2^T GELU(W1 A[:, j] + b1) + b2`` for
    every channel ``j`` (``W1: (D_S, P+1)``). Channel: ``C = LN_{N+1}([Z, t_c])`` ``(B, P, N+1)``;
    ``t_c[i] += w4^T GELU(W3 C[i, :] + b3) + b4`` for every patch ``i`` (``W3: (D_C, N+1)``).
    Only the token outputs are kept; ``Z`` is read, never modified.

    ``forward(z (B, P, N), t_s (B, N), t_c (B, P)) -> (t_s (B, N), t_c (B, P))``.

    Args:
        num_patches: ``P``, rows of ``Z`` (the spatial MLP reads ``P + 1`` entries per column).
        dim: ``N``, columns of ``Z`` (the channel MLP reads ``N + 1`` entries per row).
        spatial_hidden: ``D_S``, hidden width of the spatial token MLP.
        channel_hidden: ``D_C``, hidden width of the channel token MLP.
    """

    def __init__(self, num_patches: int, dim: int, spatial_hidden: int, channel_hidden: int) -> None:
        super().__init__()
        for name, v in [("num_patches", num_patches), ("dim", dim), ("spatial_hidden", spatial_hidden),
                        ("channel_hidden", channel_hidden)]:  # fmt: skip
            check_int(v, name, min=1)
        self.num_patches, self.dim = num_patches, dim
        self.norm_s = nn.LayerNorm(dim, eps=LN_EPS)  # over the N channels of each of the P+1 rows
        self.fc1 = nn.Linear(num_patches + 1, spatial_hidden)  # W1, b1
        self.fc2 = nn.Linear(spatial_hidden, 1)  # w2, b2
        self.norm_c = nn.LayerNorm(dim + 1, eps=LN_EPS)  # over the N+1 entries of each patch row
        self.fc3 = nn.Linear(dim + 1, channel_hidden)  # W3, b3
        self.fc4 = nn.Linear(channel_hidden, 1)  # w4, b4

    def spatial(self, z: Tensor, t_s: Tensor) -> Tensor:
        """The spatial update ``(B, P, N), (B, N) -> (B, N)``."""
        a = self.norm_s(torch.cat([z, t_s.unsqueeze(1)], dim=1))  # (B, P+1, N)
        h = F.gelu(self.fc1(a.transpose(1, 2)))  # (B, N, D_S): one row per channel column j
        return t_s + self.fc2(h).squeeze(-1)

    def channel(self, z: Tensor, t_c: Tensor) -> Tensor:
        """The channel update ``(B, P, N), (B, P) -> (B, P)``."""
        c = self.norm_c(torch.cat([z, t_c.unsqueeze(2)], dim=2))  # (B, P, N+1)
        h = F.gelu(self.fc3(c))  # (B, P, D_C): one row per patch i
        return t_c + self.fc4(h).squeeze(-1)

    def forward(self, z: Tensor, t_s: Tensor, t_c: Tensor) -> tuple[Tensor, Tensor]:
        """Both token updates on the same ``Z``.

        Args:
            z: the tapped block output ``(B, P, N)`` (read, not modified).
            t_s: spatial tokens ``(B, N)``.
            t_c: channel tokens ``(B, P)``.

        Returns:
            the updated ``(t_s (B, N), t_c (B, P))``.
        """
        p, n = self.num_patches, self.dim
        check_tensor(z, "z", shape=(None, p, n), finite=False)
        b = z.shape[0]
        check_tensor(t_s, "t_s", shape=(b, n), finite=False)
        check_tensor(t_c, "t_c", shape=(b, p), finite=False)
        return self.spatial(z, t_s), self.channel(z, t_c)


class STDModule(nn.Module):
    """Learned tokens ``t_s (N,)``, ``t_c (P,)`` (normal std 0.02 truncated at +-2 std), ``num_layers`` :class:`TokenLayer` s
    on the same ``Z``, and the head ``Linear(N + P -> K)`` on ``tau = [t_s, t_c]``.

    ``forward(z (B, P, N)) -> (logits (B, K), t_s (B, N), t_c (B, P))``.

    Args:
        num_patches: ``P`` of the tapped block output (the channel token's length).
        dim: ``N`` of the tapped block output (the spatial token's length).
        num_classes: ``K``, classes of the distillation head.
        num_layers: ``L_t``, token layers (each with its own weights).
        spatial_hidden: ``D_S`` of the token layers (default: Mixer-S/16's 256).
        channel_hidden: ``D_C`` of the token layers (default: Mixer-S/16's 2048).
    """

    def __init__(
        self,
        num_patches: int,
        dim: int,
        num_classes: int,
        num_layers: int = 2,
        spatial_hidden: int = 256,
        channel_hidden: int = 2048,
    ) -> None:
        super().__init__()
        check_int(num_layers, "num_layers", min=1)
        check_int(num_classes, "num_classes", min=2)
        self.num_patches, self.dim = num_patches, dim
        self.spatial_token = nn.Parameter(torch.empty(dim))
        self.channel_token = nn.Parameter(torch.empty(num_patches))
        for token in (self.spatial_token, self.channel_token):
            nn.init.trunc_normal_(token, std=0.02, a=-0.04, b=0.04)  # truncated at 2 std
        self.layers = nn.ModuleList(
            [TokenLayer(num_patches, dim, spatial_hidden, channel_hidden) for _ in range(num_layers)]
        )
        self.head = nn.Linear(dim + num_patches, num_classes)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Tokens from the block output ``z (B, P, N)``.

        Args:
            z: the tapped block output ``(B, P, N)``.

        Returns:
            ``(logits (B, K), t_s (B, N), t_c (B, P))``, the tokens after the last layer.
        """
        check_tensor(z, "z", shape=(None, self.num_patches, self.dim), finite=False)
        b = z.shape[0]
        t_s = self.spatial_token.expand(b, -1)
        t_c = self.channel_token.expand(b, -1)
        for layer in self.layers:
            t_s, t_c = layer(z, t_s, t_c)
        return self.head(torch.cat([t_s, t_c], dim=1)), t_s, t_c


class STDOutput(NamedTuple):
    """What a student returns: class logits ``(B, K)``, one ``(B, K)`` per distillation head, and
    the final ``(t_s (B, N), t_c (B, P))`` of each STD module (empty for a student without tokens)."""

    cls_logits: Tensor
    dist_logits: list[Tensor]
    tokens: list[tuple[Tensor, Tensor]]


def _averaged(out: STDOutput) -> Tensor:
    return 0.5 * (out.cls_logits + torch.stack(out.dist_logits).mean(0))


class STDStudent(nn.Module):
    """A host with STD modules attached after the blocks ``tap_blocks``.

    Args:
        host: any module with ``forward_features(x) -> list[(B, P, N)]`` (block outputs) and
            ``forward_head(z_last) -> (B, K)`` (e.g. :class:`~ballroom.tokendistill.mixer.MLPMixer`,
            :class:`~ballroom.tokendistill.mixer.TimmMixerHost`); ``num_patches``, ``dim``,
            ``num_classes``, ``token_hidden``, ``channel_hidden`` are read from it unless given.
        tap_blocks: the block index of each STD module (``-1``: the last block; the paper's
            intermediate position is ``depth * 2 // 3 - 1``, see :meth:`two_thirds`).
        num_teachers: teachers ``M``.
        teacher_assignment: the teacher each module distils; default: module ``i`` -> teacher ``i``
            when there are as many modules as teachers, else all teacher 0 (one teacher).
        num_layers: token layers per module (``L_t = 2``).
        num_patches, dim, num_classes: ``P``, ``N``, ``K`` (default: the host's attributes).
        spatial_hidden, channel_hidden: ``D_S``, ``D_C`` of the token layers (default: the host's
            ``token_hidden``, ``channel_hidden``).

    ``forward(x) -> STDOutput``; ``predict(x) = (cls + mean_i dist_i) / 2`` (teacher-free).
    """

    def __init__(
        self,
        host: nn.Module,
        tap_blocks: Sequence[int] = (-1,),
        num_teachers: int = 1,
        teacher_assignment: Sequence[int] | None = None,
        num_layers: int = 2,
        num_patches: int | None = None,
        dim: int | None = None,
        num_classes: int | None = None,
        spatial_hidden: int | None = None,
        channel_hidden: int | None = None,
    ) -> None:
        super().__init__()
        if not (hasattr(host, "forward_features") and hasattr(host, "forward_head")):
            raise TypeError(f"host: needs forward_features and forward_head, got {type(host).__name__}")
        check_int(num_teachers, "num_teachers", min=1)
        taps = [check_int(t, "tap_blocks[]") for t in tap_blocks]
        if not taps:
            raise ValueError("tap_blocks: need at least one block to attach an STD module to")
        depth = getattr(host, "depth", None)
        if depth is not None and any(not -depth <= t < depth for t in taps):
            raise ValueError(f"tap_blocks must index the host's {depth} blocks, got {taps}")
        if teacher_assignment is None:
            teacher_assignment = list(range(len(taps))) if len(taps) == num_teachers else [0] * len(taps)
            if num_teachers not in (1, len(taps)):
                raise ValueError(
                    f"teacher_assignment: {len(taps)} modules and {num_teachers} teachers; say which distils which"
                )
        assign = [int(a) for a in teacher_assignment]
        if len(assign) != len(taps) or any(not 0 <= a < num_teachers for a in assign):
            raise ValueError(
                f"teacher_assignment must give one teacher in [0, {num_teachers}) per tap block ({len(taps)}), got {assign}"
            )
        if sorted(set(assign)) != list(range(num_teachers)):
            raise ValueError(
                f"teacher_assignment: every teacher needs a module, got {assign} for {num_teachers} teachers"
            )
        self.host = host
        self.tap_blocks, self.teacher_assignment, self.num_teachers = tuple(taps), tuple(assign), num_teachers
        p = num_patches if num_patches is not None else int(getattr(host, "num_patches"))  # noqa: B009
        n = dim if dim is not None else int(getattr(host, "dim"))  # noqa: B009
        k = num_classes if num_classes is not None else int(getattr(host, "num_classes"))  # noqa: B009
        d_s = spatial_hidden if spatial_hidden is not None else int(getattr(host, "token_hidden"))  # noqa: B009
        d_c = channel_hidden if channel_hidden is not None else int(getattr(host, "channel_hidden"))  # noqa: B009
        self.num_patches, self.dim, self.num_classes = p, n, k
        self.std = nn.ModuleList([STDModule(p, n, k, num_layers, d_s, d_c) for _ in taps])

    @staticmethod
    def two_thirds(depth: int) -> int:
        """The paper's intermediate position: after block ``floor(2 depth / 3)`` (1-based), i.e. index ``floor(2 depth / 3) - 1``.

        Args:
            depth: the host's number of blocks.
        """
        return (2 * depth) // 3 - 1

    def forward_taps(self, x: Tensor) -> tuple[STDOutput, list[Tensor]]:
        """:meth:`forward` plus the block outputs the modules read.

        Args:
            x: the host's input, e.g. images ``(B, C, H, W)``.

        Returns:
            ``(STDOutput, [Z (B, P, N) per module])``.
        """
        host = cast(STDHost, self.host)  # checked in __init__
        out = host.forward_features(x)
        feats = [out] if isinstance(out, Tensor) else list(out)
        cls_logits = host.forward_head(feats[-1])
        dist, tokens, taps = [], [], []
        for tap, module in zip(self.tap_blocks, self.std, strict=True):
            logits, t_s, t_c = module(feats[tap])
            dist.append(logits)
            tokens.append((t_s, t_c))
            taps.append(feats[tap])
        return STDOutput(cls_logits, dist, tokens), taps

    def forward(self, x: Tensor) -> STDOutput:
        """Class logits, distillation logits and tokens of every module.

        Args:
            x: the host's input, e.g. images ``(B, C, H, W)``.

        Returns:
            ``STDOutput(cls_logits (B, K), dist_logits [(B, K)] per module, tokens [(t_s (B, N), t_c (B, P))])``.
        """
        return self.forward_taps(x)[0]

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Inference logits ``(B, K) = (cls(x) + mean_i dist_i(x)) / 2`` (no teacher).

        Args:
            x: the host's input, e.g. images ``(B, C, H, W)``.
        """
        return _averaged(self(x))


class KDHeadStudent(nn.Module):
    """The DeiT-style baseline without tokens: a second head ``Linear(N -> K)`` on the host's pooled features.

    The host must offer ``pooled(z_last) -> (B, N)`` and ``head`` (as :class:`MLPMixer`).
    ``forward(x) -> STDOutput(cls, [dist], [])``; ``predict`` averages the two heads.

    Args:
        host: the :class:`MLPMixer` whose pooled features both heads read.
        num_teachers: distillation heads, one per teacher.
    """

    def __init__(self, host: MLPMixer, num_teachers: int = 1) -> None:
        super().__init__()
        if not hasattr(host, "pooled"):
            raise TypeError(f"host: needs pooled(z) -> (B, N), got {type(host).__name__}")
        check_int(num_teachers, "num_teachers", min=1)
        self.host = host
        self.num_classes, self.num_teachers = host.num_classes, num_teachers
        self.teacher_assignment = tuple(range(num_teachers))
        self.dist_heads = nn.ModuleList([nn.Linear(host.dim, host.num_classes) for _ in range(num_teachers)])

    def forward(self, x: Tensor) -> STDOutput:
        pooled = self.host.pooled(self.host.forward_features(x)[-1])
        return STDOutput(self.host.head(pooled), [h(pooled) for h in self.dist_heads], [])

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Inference logits ``(B, K)``: the mean of the class head and the distillation heads' mean.

        Args:
            x: images ``(B, C, H, W)``.
        """
        return _averaged(self(x))


class StatisticsNetwork(nn.Module):
    """MINE's ``psi: R^{in_dim} -> R``: ``depth`` linear layers of width ``hidden`` with GELU between.

    ``forward(u (B, in_dim)) -> (B,)``.

    Args:
        in_dim: input width, ``N + P`` for the pair ``[t_s, t_c]``.
        hidden: width of the hidden layers.
        depth: number of linear layers.
    """

    def __init__(self, in_dim: int, hidden: int = 512, depth: int = 3) -> None:
        super().__init__()
        check_int(in_dim, "in_dim", min=1)
        check_int(hidden, "hidden", min=1)
        check_int(depth, "depth", min=1)
        widths = [in_dim] + [hidden] * (depth - 1) + [1]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(a, b))
            if i < depth - 1:
                layers.append(nn.GELU())
        self.net = nn.Sequential(*layers)
        self.in_dim = in_dim

    def forward(self, u: Tensor) -> Tensor:
        return self.net(u).squeeze(-1)


class TeacherCNN(nn.Module):
    """The digits teacher: conv32-conv64-maxpool-conv64-GAP-linear (3x3 convs, BatchNorm, ReLU).

    ``forward(x (B, C, H, W)) -> logits (B, K)``.

    Args:
        in_chans: input channels ``C``.
        num_classes: ``K``.
        widths: the three conv widths.
    """

    def __init__(
        self, in_chans: int = 1, num_classes: int = 10, widths: Sequence[int] = (32, 64, 64)
    ) -> None:
        super().__init__()
        check_int(in_chans, "in_chans", min=1)
        check_int(num_classes, "num_classes", min=2)
        if len(widths) != 3:
            raise ValueError(f"widths must give the 3 conv widths, got {list(widths)}")
        w1, w2, w3 = (int(w) for w in widths)

        def conv(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

        self.features = nn.Sequential(*conv(in_chans, w1), *conv(w1, w2), nn.MaxPool2d(2), *conv(w2, w3))
        self.head = nn.Linear(w3, num_classes)
        self.in_chans = in_chans

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x", ndim=4, finite=False)
        return self.head(self.features(x).mean((2, 3)))


def build_mixer(**kwargs: object) -> MLPMixer:
    """``MLPMixer(**kwargs)`` (the zoo's builder for plain hosts)."""
    return MLPMixer(**kwargs)  # type: ignore[arg-type]


def build_std_student(
    tap_blocks: Sequence[int] = (-1,),
    num_teachers: int = 1,
    teacher_assignment: Sequence[int] | None = None,
    num_layers: int = 2,
    **mixer: object,
) -> STDStudent:
    """An :class:`STDStudent` over ``MLPMixer(**mixer)`` (the zoo's builder)."""
    return STDStudent(build_mixer(**mixer), tap_blocks, num_teachers, teacher_assignment, num_layers)


def build_kd_head_student(num_teachers: int = 1, **mixer: object) -> KDHeadStudent:
    """A :class:`KDHeadStudent` over ``MLPMixer(**mixer)`` (the zoo's builder)."""
    return KDHeadStudent(build_mixer(**mixer), num_teachers)
