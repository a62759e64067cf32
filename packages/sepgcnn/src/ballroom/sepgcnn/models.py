"""The paper's continuous-kernel G-CNNs: ``CKGResNet`` (MNIST-rot model), the plain ``CKGCNN`` and the
Z^2 baseline ``Z2ResNet``; the zoo (:mod:`ballroom.sepgcnn.zoo`) names configurations of these classes.

The G-CNNs take the group as an object (``CKGResNet(SE2(8), ...)``) or by name with plain values
(``CKGResNet("Sim2", n_rot=8, n_scale=2, max_scale=1.5)``), so that zoo entries and YAML configs
hold only plain values.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.sepgcnn.groups import SE2, Group, Sim2
from ballroom.sepgcnn.nn import (
    GroupBatchNorm,
    GroupConv,
    GroupInvariantMax,
    GroupMaxPool2d,
    Implementation,
    LiftingConv,
)

__all__ = [
    "CKGCNN",
    "CKGResNet",
    "Z2ResNet",
    "build_model",
    "check_images",
    "classifier_head",
    "make_group",
    "set_eval_sampling",
    "z2_widths_for",
]


def check_images(x: Tensor, in_channels: int) -> None:
    """Raise a clear error unless ``x`` is a non-empty, finite, floating ``(B, in_channels, H, W)`` batch."""
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"expected images of shape (B, {in_channels}, H, W), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("empty batch: need at least one image")
    if not x.is_floating_point():
        raise TypeError(f"images must be floating point, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("images contain NaN or inf")


def make_group(group: str = "SE2", n_rot: int = 8, n_scale: int = 2, max_scale: float = 1.5) -> Group:
    """``"SE2"`` -> ``SE2(n_rot)``; ``"Sim2"`` -> ``Sim2(n_rot, n_scale, max_scale)``.

    Args:
        group: the group's name, ``"SE2"`` (default) or ``"Sim2"``.
        n_rot: number of rotations; default 8.
        n_scale: number of scales (Sim(2) only); default 2.
        max_scale: the largest scale (Sim(2) only); default 1.5.

    Returns:
        The :class:`~ballroom.sepgcnn.groups.SE2` or :class:`~ballroom.sepgcnn.groups.Sim2` instance.

    Raises:
        ValueError: if ``group`` is neither name, or the sizes are invalid for the group.
    """
    if group == "SE2":
        return SE2(n_rot)
    if group == "Sim2":
        return Sim2(n_rot, n_scale, max_scale)
    raise ValueError(f"group must be 'SE2' or 'Sim2', got {group!r}")


def _resolve_group(
    group: Group | str, n_rot: int | None, n_scale: int | None, max_scale: float | None
) -> Group:
    """A group object as is, or :func:`make_group` of a name (``n_rot`` etc. only with a name)."""
    sizes = {
        k: v for k, v in (("n_rot", n_rot), ("n_scale", n_scale), ("max_scale", max_scale)) if v is not None
    }
    if isinstance(group, str):
        return make_group(group, **sizes)  # type: ignore[arg-type]
    if sizes:
        raise ValueError(f"{sorted(sizes)} only go with a group name ('SE2'/'Sim2'), not with {group!r}")
    return group


def classifier_head(
    channels: int, num_classes: int, hidden: int = 256, dropout: float = 0.3
) -> nn.Sequential:
    """The official head: ``Linear(C, 256, bias=False) -> BatchNorm1d -> ReLU -> Dropout(0.3) -> Linear(256, classes)``.

    Args:
        channels: input features ``C`` (the invariant feature width).
        num_classes: number of logits.
        hidden: width of the hidden layer; default 256.
        dropout: dropout probability before the last layer; default 0.3.

    Returns:
        An ``nn.Sequential`` mapping ``(B, C) -> (B, num_classes)``.
    """
    return nn.Sequential(
        nn.Linear(channels, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )


class _ResBlock(nn.Module):
    def __init__(
        self, group: Group, cin: int, cout: int, k: int, implementation: Implementation | str, **kw: object
    ) -> None:
        super().__init__()
        self.conv1 = GroupConv(group, cin, cin, k, implementation, **kw)  # type: ignore[arg-type]
        self.bn1 = GroupBatchNorm(cin)
        self.conv2 = GroupConv(group, cin, cout, k, implementation, **kw)  # type: ignore[arg-type]
        self.bn2 = GroupBatchNorm(cout)
        self.skip: GroupConv | None = None
        if cin != cout:
            skip_kw = dict(kw, hidden=max(1, int(kw.get("hidden", 64)) // 2))  # type: ignore[call-overload]
            self.skip = GroupConv(group, cin, cout, 1, implementation, **skip_kw)

    def forward(self, x: Tensor, elements: Tensor) -> Tensor:
        # every conv maps onto the input grid, so the residual sum lives on one grid
        h, _ = self.conv1(x, elements, elements)
        h = torch.relu(self.bn1(h))
        h, _ = self.conv2(h, elements, elements)
        h = torch.relu(self.bn2(h))
        skip = x if self.skip is None else self.skip(x, elements, elements)[0]
        return torch.relu(h + skip)


class CKGResNet(nn.Module):
    """Lifting -> residual G-conv blocks (each followed by BN, 2x2 max-pool, ReLU) -> final unpadded G-conv
    -> invariant max over (group, space) -> MLP head. ``forward(x (B, C, S, S)) -> logits (B, classes)``.

    The final kernel size is ``clamp(S / 2^(L-1) - k, 3, 11)`` (``L = len(widths)``) as the official code.

    Args:
        group: the group object, or its name ``"SE2"`` (default) / ``"Sim2"`` built by :func:`make_group`
            with ``n_rot``, ``n_scale``, ``max_scale``.
        in_channels: image channels ``C``; default 1.
        num_classes: number of logits; default 10.
        widths: channels of the lifting layer and of each later stage; default ``(32, 32, 64)``.
        kernel_size: ``k`` of the lifting layer and the G-convs (not the final one); default 7.
        implementation: the G-convs' kernel factorisation (:class:`~ballroom.sepgcnn.nn.GroupConv`);
            default ``"separable"``.
        sampling: how the layers sample H in training, ``"discretise"`` (default) or ``"uniform"``.
        hidden: width of every kernel SIREN; default 64.
        input_size: image side ``S``, which sets the final kernel size; default 28.
        n_rot: rotations of a named group; default None: :func:`make_group`'s 8.
        n_scale: scales of a named Sim(2); default None: 2.
        max_scale: largest scale of a named Sim(2); default None: 1.5.
        eval_sampling: sampling in eval mode (:func:`set_eval_sampling`); default None: as in training.
        omega0: SIREN frequency; default 10.
        omega0_first: the SIRENs' first-layer frequency; default None: ``omega0``.

    Raises:
        ValueError: if ``widths`` has fewer than two entries, ``n_rot``/``n_scale``/``max_scale`` come
            with a group object, or a layer argument is out of range.
    """

    def __init__(
        self,
        group: Group | str = "SE2",
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 32, 64),
        kernel_size: int = 7,
        implementation: Implementation | str = "separable",
        sampling: str = "discretise",
        hidden: int = 64,
        input_size: int = 28,
        *,
        n_rot: int | None = None,
        n_scale: int | None = None,
        max_scale: float | None = None,
        eval_sampling: str | None = None,
        omega0: float = 10.0,
        omega0_first: float | None = None,
    ) -> None:
        super().__init__()
        group = _resolve_group(group, n_rot, n_scale, max_scale)
        if len(widths) < 2:
            raise ValueError(f"widths needs at least two entries, got {widths}")
        kw = dict(sampling=sampling, hidden=hidden, omega0=omega0, omega0_first=omega0_first)
        self.group = group
        self.lift = LiftingConv(group, in_channels, widths[0], kernel_size, **kw)  # type: ignore[arg-type]
        self.lift_bn = GroupBatchNorm(widths[0])
        self.blocks = nn.ModuleList(
            _ResBlock(group, a, b, kernel_size, implementation, **kw) for a, b in itertools.pairwise(widths)
        )
        self.block_bns = nn.ModuleList(GroupBatchNorm(b) for b in widths[1:])
        self.pool = GroupMaxPool2d(2)
        final_k = int(min(11, max(3, input_size / 2 ** (len(widths) - 1) - kernel_size)))
        self.final = GroupConv(group, widths[-1], widths[-1], final_k, implementation, padding=False, **kw)  # type: ignore[arg-type]
        self.final_bn = GroupBatchNorm(widths[-1])
        self.readout = GroupInvariantMax()
        self.head = classifier_head(widths[-1], num_classes)
        set_eval_sampling(self, eval_sampling)

    def features(self, x: Tensor) -> Tensor:
        """Invariant features ``(B, widths[-1])``."""
        check_images(x, self.lift.in_channels)
        h, el = self.lift(x)
        h = torch.relu(self.lift_bn(h))
        for block, bn in zip(self.blocks, self.block_bns):
            h = torch.relu(self.pool(bn(block(h, el))))
        h, el = self.final(h, el, el)
        return self.readout(torch.relu(self.final_bn(h)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class CKGCNN(nn.Module):
    """Plain stack: lifting -> [BN, pool, ReLU] -> G-convs (each + BN, pool, ReLU) -> final unpadded G-conv
    with ``k = S / 2^L`` -> invariant max -> head. ``forward(x (B, C, S, S)) -> logits``.

    Args:
        group: the group object, or its name ``"SE2"`` (default) / ``"Sim2"`` built by :func:`make_group`
            with ``n_rot``, ``n_scale``, ``max_scale``.
        in_channels: image channels ``C``; default 1.
        num_classes: number of logits; default 10.
        widths: channels of the lifting layer and of each later G-conv; default ``(32, 32, 64)``.
        kernel_size: ``k`` of the lifting layer and the G-convs (not the final one); default 7.
        implementation: the G-convs' kernel factorisation (:class:`~ballroom.sepgcnn.nn.GroupConv`);
            default ``"separable"``.
        sampling: how the layers sample H in training, ``"discretise"`` (default) or ``"uniform"``.
        hidden: width of every kernel SIREN; default 64.
        input_size: image side ``S``; the final kernel size is ``max(1, S // 2^L)`` (2 becomes 3); default 28.
        n_rot: rotations of a named group; default None: :func:`make_group`'s 8.
        n_scale: scales of a named Sim(2); default None: 2.
        max_scale: largest scale of a named Sim(2); default None: 1.5.
        eval_sampling: sampling in eval mode (:func:`set_eval_sampling`); default None: as in training.
        omega0: SIREN frequency; default 10.
        omega0_first: the SIRENs' first-layer frequency; default None: ``omega0``.

    Raises:
        ValueError: if ``n_rot``/``n_scale``/``max_scale`` come with a group object, or a layer argument
            is out of range.
    """

    def __init__(
        self,
        group: Group | str = "SE2",
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 32, 64),
        kernel_size: int = 7,
        implementation: Implementation | str = "separable",
        sampling: str = "discretise",
        hidden: int = 64,
        input_size: int = 28,
        *,
        n_rot: int | None = None,
        n_scale: int | None = None,
        max_scale: float | None = None,
        eval_sampling: str | None = None,
        omega0: float = 10.0,
        omega0_first: float | None = None,
    ) -> None:
        super().__init__()
        if len(widths) < 1:
            raise ValueError("widths must name at least one channel width, got an empty sequence")
        if input_size // 2 ** len(widths) == 2:
            raise ValueError(
                f"input_size={input_size} with {len(widths)} widths leaves a 2x2 map for the final "
                f"unpadded convolution, whose kernel is widened to 3 (odd kernels only): choose input_size "
                f"and widths with input_size // 2**len(widths) != 2"
            )
        group = _resolve_group(group, n_rot, n_scale, max_scale)
        kw = dict(sampling=sampling, hidden=hidden, omega0=omega0, omega0_first=omega0_first)
        self.lift = LiftingConv(group, in_channels, widths[0], kernel_size, **kw)  # type: ignore[arg-type]
        self.bns = nn.ModuleList(GroupBatchNorm(w) for w in widths)
        self.convs = nn.ModuleList(
            GroupConv(group, a, b, kernel_size, implementation, **kw)  # type: ignore[arg-type]
            for a, b in itertools.pairwise(widths)
        )
        self.pool = GroupMaxPool2d(2)
        final_k = max(1, input_size // 2 ** len(widths))
        self.final = GroupConv(group, widths[-1], widths[-1], final_k, implementation, padding=False, **kw)  # type: ignore[arg-type]
        self.readout = GroupInvariantMax()
        self.head = classifier_head(widths[-1], num_classes)
        set_eval_sampling(self, eval_sampling)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.lift.in_channels)
        h, el = self.lift(x)
        h = torch.relu(self.pool(self.bns[0](h)))
        for conv, bn in zip(self.convs, self.bns[1:]):
            h, _ = conv(h, el, el)
            h = torch.relu(self.pool(bn(h)))
        h, _ = self.final(h, el, el)
        return self.head(self.readout(torch.relu(h)))


class _Z2Block(nn.Module):
    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, k, padding=k // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv2 = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else None

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        return torch.relu(h + (x if self.skip is None else self.skip(x)))


class Z2ResNet(nn.Module):
    """The translation-only (Z^2) baseline with :class:`CKGResNet`'s topology and head, plain ``Conv2d``.

    conv (k) -> BN -> ReLU; residual blocks (each + BN, 2x2 max-pool, ReLU); a final unpadded conv with
    the same kernel-size rule; global spatial max; the official head. ``forward(x (B, C, S, S)) -> logits``.
    Use :func:`z2_widths_for` to match a G-CNN's parameter count.

    Args:
        in_channels: image channels ``C``; default 1.
        num_classes: number of logits; default 10.
        widths: channels of the stem and of each residual stage (at least two); default ``(32, 32, 64)``.
        kernel_size: ``k`` of the stem and block convs; default 7.
        input_size: image side ``S``, which sets the final kernel size ``clamp(S / 2^(L-1) - k, 3, 11)``;
            default 28.

    Raises:
        ValueError: if ``widths`` has fewer than two entries.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 32, 64),
        kernel_size: int = 7,
        input_size: int = 28,
    ) -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"widths needs at least two entries, got {widths}")
        k = kernel_size
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], k, padding=k // 2, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        self.blocks = nn.ModuleList(_Z2Block(a, b, k) for a, b in itertools.pairwise(widths))
        self.block_bns = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        final_k = int(min(11, max(3, input_size / 2 ** (len(widths) - 1) - k)))
        self.final = nn.Sequential(
            nn.Conv2d(widths[-1], widths[-1], final_k, bias=False), nn.BatchNorm2d(widths[-1]), nn.ReLU()
        )
        self.head = classifier_head(widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, cast(nn.Conv2d, self.stem[0]).in_channels)  # the stem starts with its Conv2d
        h = self.stem(x)
        for block, bn in zip(self.blocks, self.block_bns):
            h = torch.relu(F.max_pool2d(bn(block(h)), 2))
        return self.head(self.final(h).amax(dim=(-2, -1)))


def z2_widths_for(
    parameters: int, ratios: Sequence[float] = (1.0, 1.0, 2.0), **kwargs: int
) -> tuple[int, ...]:
    """Widths ``round(c * ratios)`` of the :class:`Z2ResNet` whose parameter count is closest to ``parameters``."""
    best: tuple[int, tuple[int, ...]] | None = None
    for c in range(1, 257):
        widths = tuple(max(1, round(c * r)) for r in ratios)
        n = sum(p.numel() for p in Z2ResNet(widths=widths, **kwargs).parameters())
        if best is None or abs(n - parameters) < best[0]:
            best = (abs(n - parameters), widths)
        if n > parameters:
            break
    assert best is not None
    return best[1]


def set_eval_sampling(model: nn.Module, method: str | None) -> nn.Module:
    """Sample ``method`` (``"discretise"``, ``"uniform"`` or None = as in training) in eval mode in every
    group layer of ``model`` (the spec's pitfall: uniform sampling makes test accuracy stochastic)."""
    if method not in (None, "discretise", "uniform"):
        raise ValueError(f"eval sampling must be None, 'discretise' or 'uniform', got {method!r}")
    for layer in model.modules():
        if isinstance(layer, (LiftingConv, GroupConv)):
            layer.eval_sampling = method  # type: ignore[assignment]
    return model


def build_model(model: str = "ckgresnet", **kwargs: Any) -> nn.Module:
    """Deprecated (0.1): build the class directly (``CKGResNet("SE2", n_rot=8, ...)``, ``CKGCNN``,
    ``Z2ResNet``) or by zoo name (``ballroom.core.zoo.create_model("sepgcnn-digits-se2")``).

    Args:
        model: ``"ckgresnet"`` (default), ``"ckgcnn"`` or ``"z2resnet"``.
        **kwargs: the class's keyword arguments; for ``"z2resnet"`` the group-only ones (``group``,
            ``n_rot``, ``implementation``, ``hidden``, ``sampling``, ...) are dropped.

    Returns:
        The built model.

    Warns:
        DeprecationWarning: always.

    Raises:
        ValueError: if ``model`` is not one of the three names.
    """
    warnings.warn(
        "build_model is deprecated: use CKGResNet/CKGCNN/Z2ResNet or a zoo name (create_model)",
        DeprecationWarning,
        stacklevel=2,
    )
    classes: dict[str, type[nn.Module]] = {"ckgresnet": CKGResNet, "ckgcnn": CKGCNN, "z2resnet": Z2ResNet}
    if model not in classes:
        raise ValueError(f"model must be one of {tuple(classes)}, got {model!r}")
    if model == "z2resnet":  # the baseline has no group
        for key in (
            "group",
            "n_rot",
            "n_scale",
            "max_scale",
            "implementation",
            "hidden",
            "sampling",
            "eval_sampling",
        ):
            kwargs.pop(key, None)
    return classes[model](**kwargs)
