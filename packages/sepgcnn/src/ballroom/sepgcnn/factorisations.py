"""The kernel factorisations on SE(2) and shared by both groups: the base class, the full kernel, the
G-, channel- and depthwise-separable forms and the free per-element kernel. The Sim(2) ``+2d`` forms
are in :mod:`ballroom.sepgcnn.factorisations_sim2`; :mod:`ballroom.sepgcnn.kernels` re-exports every
factorisation (see its docstring for the mathematics) and holds the registry.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.sepgcnn.functional import (
    grid_extent,
    inverse_jacobian,
    kernel_mask,
    scale_window,
    tap_grid,
    transformed_grid,
)
from ballroom.sepgcnn.groups import SE2, Group, Sim2
from ballroom.sepgcnn.siren import SIRENKernel

__all__ = [
    "DGSeparable",
    "DSeparable",
    "FreeKernel",
    "GSeparable",
    "Kernel",
    "KernelFactorisation",
    "NonSeparable",
    "Separable",
]


Kernel = Tensor | tuple[Tensor, ...]


class KernelFactorisation(nn.Module, ABC):
    """How a group convolution ``(C_in, N_in) -> (C_out, N_out)`` parametrises and applies its kernel.

    Subclasses set :attr:`name` and :attr:`alias`, build their SIRENs in ``__init__`` (after
    ``super().__init__``) and implement :meth:`kernel`, :meth:`materialise` and :meth:`convolve`.
    Element grids ``in_el (N_in, d)``, ``out_el (N_out, d)`` are on the factorisation's device and dtype.

    Args:
        group: the group H (:class:`~ballroom.sepgcnn.groups.SE2` or :class:`~ballroom.sepgcnn.groups.Sim2`).
        in_channels, out_channels: ``C_in``, ``C_out`` (>= 1).
        kernel_size: ``k``; the taps lie on :func:`~ballroom.sepgcnn.functional.tap_grid`.
        hidden, num_hidden, omega0: the SIRENs' width, hidden layers and frequency.
        omega0_first: the first SIREN layer's frequency (the official ``first_omega_0``); ``None``: ``omega0``.
    """

    grid: Tensor  # the (k, k, 2) tap grid, a non-persistent buffer registered in __init__

    #: the official implementation name (``GroupConv(implementation=name)``)
    name: ClassVar[str]
    #: the short alias (``GroupConv(implementation=alias)``)
    alias: ClassVar[str]

    def __init__(
        self,
        group: Group,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0: float = 10.0,
        omega0_first: float | None = None,
    ) -> None:
        super().__init__()
        if min(in_channels, out_channels) < 1:
            raise ValueError(f"channels must be >= 1, got in={in_channels}, out={out_channels}")
        self.group, self.kernel_size = group, kernel_size
        self.in_channels, self.out_channels = in_channels, out_channels
        self.register_buffer("grid", tap_grid(kernel_size, grid_extent(group)), persistent=False)
        first = omega0 if omega0_first is None else omega0_first  # the official first_omega_0
        self._siren = dict(hidden=hidden, num_hidden=num_hidden, omega0_first=first, omega0=omega0)
        self._init_projection()

    def siren(self, in_features: int, out_features: int, fan_in: int) -> SIRENKernel:
        """A SIREN with the factorisation's width, depth and frequency."""
        return SIRENKernel(in_features, out_features, fan_in=fan_in, **self._siren)  # type: ignore[arg-type]

    def _init_projection(self) -> None:
        """Create parameters that precede the SIRENs (none here; see the depthwise variants)."""

    @property
    def kernel_in(self) -> int:
        """Input channels the kernel sees: ``C_in`` (1 after a channel projection)."""
        return self.in_channels

    @property
    def groups(self) -> int:
        """``groups`` of the convolution that mixes input channels: 1 (``C_out`` after a projection)."""
        return 1

    def project(self, x: Tensor) -> Tensor:
        """The input ``(B, C_in, N_in, H, W)`` as the kernel sees it: unchanged."""
        return x

    @abstractmethod
    def kernel(self, in_el: Tensor, out_el: Tensor) -> Kernel:
        """What :meth:`convolve` takes: a kernel ``(C_out N_out, kernel_in N_in, k, k)`` or factors."""

    @abstractmethod
    def materialise(self, kernel: Kernel, n_out: int, n_in: int) -> Tensor:
        """``kernel``'s factors multiplied out: ``(C_out N_out, kernel_in N_in, k, k)``."""

    @abstractmethod
    def convolve(self, x: Tensor, kernel: Kernel, stride: int, padding: int, channels_last: bool) -> Tensor:
        """Convolve the projected ``x (B, kernel_in', N_in, H, W)``: ``(B, C_out N_out, H', W')``.

        ``channels_last``: run the factorised convolutions in NHWC (same result; faster on CPU).
        """

    def full_kernel(self, in_el: Tensor, out_el: Tensor) -> Tensor:
        """The materialised ``(C_out N_out, C_in N_in, k, k)`` kernel: one ``conv2d`` with it on
        ``x.reshape(B, C_in N_in, H, W)`` equals the forward pass."""
        return self.materialise(self.kernel(in_el, out_el), out_el.shape[0], in_el.shape[0])

    # the kernel geometry, shared by the variants
    def _coords(self, elements: Tensor) -> Tensor:
        """``h^-1 . grid`` for every element: ``(N, k, k, 2)``."""
        return transformed_grid(self.group, elements, self.grid)

    def _mask(self, coords: Tensor, slope: float) -> Tensor:
        return kernel_mask(self.group, self.grid, coords, slope)

    def _masked_spatial(
        self, net: SIRENKernel, out_el: Tensor, shape: tuple[int, ...], jacobian_power: int = 1
    ) -> Tensor:
        """``net`` on ``h_out^-1 grid``, viewed ``(N_out, k, k, *shape)``, masked (Sim(2) slope 2) and
        weighted by the Jacobian factor to ``jacobian_power``."""
        coords = self._coords(out_el)
        kr = net(coords).view(*coords.shape[:3], *shape)
        weight = (
            self._mask(coords, 2.0) * inverse_jacobian(self.group, out_el).view(-1, 1, 1) ** jacobian_power
        )
        return kr * weight.view(*weight.shape, *(1,) * len(shape))

    def extra_repr(self) -> str:
        return f"{self.group!r}, {self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"


class _OneConv(KernelFactorisation):
    """Variants run as one conv2d with the materialised kernel."""

    def materialise(self, kernel: Kernel, n_out: int, n_in: int) -> Tensor:
        assert isinstance(kernel, Tensor)
        return kernel

    def convolve(self, x: Tensor, kernel: Kernel, stride: int, padding: int, channels_last: bool) -> Tensor:
        assert isinstance(kernel, Tensor)
        b, c, n_in, h, w = x.shape
        flat = x.reshape(b, c * n_in, h, w)
        return F.conv2d(flat, kernel.to(x.dtype), stride=stride, padding=padding, groups=self.groups)


class _GroupSpatialFactors(KernelFactorisation):
    """``k_H(h) k_R(x)``: a group SIREN on ``log(h_out^-1 h_in)`` and a spatial SIREN on ``h_out^-1 x``.

    ``spatial_per_input``: ``k_R^{o,i}`` (one spatial kernel per channel pair) instead of ``k_R^{o}``.
    """

    def __init__(
        self,
        group: Group,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0: float = 10.0,
        omega0_first: float | None = None,
        *,
        spatial_per_input: bool = False,
    ) -> None:
        super().__init__(
            group, in_channels, out_channels, kernel_size, hidden, num_hidden, omega0, omega0_first
        )
        cin, cout = self.kernel_in, out_channels
        self._spatial_shape = (cout, cin) if spatial_per_input else (cout,)
        self.group_net = self.siren(group.dim, cout * cin, fan_in=cin)
        self.spatial_net = self.siren(2, math.prod(self._spatial_shape), fan_in=kernel_size**2)

    def _group_factor(self, out_el: Tensor, in_el: Tensor) -> Tensor:
        """``k_H`` on the offsets: ``(N_out, N_in, C_out, kernel_in)`` (Sim(2): times the scale window)."""
        offsets = self.group.log_offset(out_el, in_el)
        kh = self.group_net(offsets).view(*offsets.shape[:2], self.out_channels, self.kernel_in)
        return kh * scale_window(self.group, offsets, 10.0)[..., None, None]

    def _spatial_factor(self, out_el: Tensor) -> Tensor:
        """``k_R`` on ``h_out^-1 grid``, masked and Jacobian-weighted: ``(N_out, k, k, C_out[, C_in])``."""
        return self._masked_spatial(self.spatial_net, out_el, self._spatial_shape)


class NonSeparable(_OneConv):
    """``k^{o,i}(h_out^-1 x, log(h_out^-1 h_in))``: one SIREN on ``(x', phi)``, one conv2d with the
    ``(C_out N_out, C_in N_in, k, k)`` kernel (mask slope 3, scale-window slope 5).

    Args:
        group: the group H (:class:`~ballroom.sepgcnn.groups.SE2` or :class:`~ballroom.sepgcnn.groups.Sim2`).
        in_channels: input channels ``C_in`` (``>= 1``).
        out_channels: output channels ``C_out`` (``>= 1``).
        kernel_size: ``k``, taps per axis on :func:`~ballroom.sepgcnn.functional.tap_grid`.
        hidden: width of the SIRENs' layers; default 64.
        num_hidden: hidden sine layers of each SIREN; default 1.
        omega0: the SIRENs' frequency; default 10.
        omega0_first: the SIRENs' first-layer frequency (the official ``first_omega_0``); default None: ``omega0``.

    Raises:
        ValueError: if ``in_channels`` or ``out_channels`` is below 1.
    """

    name, alias = "nonseparable", "none"

    def __init__(
        self,
        group: Group,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0: float = 10.0,
        omega0_first: float | None = None,
    ) -> None:
        super().__init__(
            group, in_channels, out_channels, kernel_size, hidden, num_hidden, omega0, omega0_first
        )
        cin = self.kernel_in
        self.kernel_net = self.siren(2 + group.dim, out_channels * cin, fan_in=cin * kernel_size**2)

    def kernel(self, in_el: Tensor, out_el: Tensor) -> Tensor:
        n_out, n_in, k = out_el.shape[0], in_el.shape[0], self.kernel_size
        cout, cin = self.out_channels, self.kernel_in
        offsets = self.group.log_offset(out_el, in_el)  # (N_out, N_in, d)
        coords = self._coords(out_el)  # (N_out, k, k, 2)
        inputs = torch.cat(
            [
                coords[:, None].expand(n_out, n_in, k, k, 2),
                offsets[:, :, None, None].expand(n_out, n_in, k, k, offsets.shape[-1]),
            ],
            dim=-1,
        )
        w = self.kernel_net(inputs).view(n_out, n_in, k, k, cout, cin)
        weight = self._mask(coords, 3.0) * inverse_jacobian(self.group, out_el).view(
            -1, 1, 1
        )  # (N_out, k, k)
        w = (
            w
            * weight[:, None, :, :, None, None]
            * scale_window(self.group, offsets, 5.0)[:, :, None, None, None, None]
        )
        return w.permute(4, 0, 5, 1, 2, 3).reshape(cout * n_out, cin * n_in, k, k)


class GSeparable(_OneConv, _GroupSpatialFactors):
    """``k_H^{o,i}(h) k_R^{o,i}(x)``: separable along the group axis only, run materialised.

    Args:
        group: the group H (:class:`~ballroom.sepgcnn.groups.SE2` or :class:`~ballroom.sepgcnn.groups.Sim2`).
        in_channels: input channels ``C_in`` (``>= 1``).
        out_channels: output channels ``C_out`` (``>= 1``).
        kernel_size: ``k``, taps per axis on :func:`~ballroom.sepgcnn.functional.tap_grid`.
        hidden: width of the SIRENs' layers; default 64.
        num_hidden: hidden sine layers of each SIREN; default 1.
        omega0: the SIRENs' frequency; default 10.
        omega0_first: the SIRENs' first-layer frequency (the official ``first_omega_0``); default None: ``omega0``.

    Raises:
        ValueError: if ``in_channels`` or ``out_channels`` is below 1.
    """

    name, alias = "gseparable", "g"

    def __init__(
        self,
        group: Group,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0: float = 10.0,
        omega0_first: float | None = None,
    ) -> None:
        super().__init__(
            group,
            in_channels,
            out_channels,
            kernel_size,
            hidden,
            num_hidden,
            omega0,
            omega0_first,
            spatial_per_input=True,
        )

    def kernel(self, in_el: Tensor, out_el: Tensor) -> Tensor:
        n_out, n_in, k = out_el.shape[0], in_el.shape[0], self.kernel_size
        kh = self._group_factor(out_el, in_el)  # (N_out, N_in, C_out, C_in)
        kr = self._spatial_factor(out_el)  # (N_out, k, k, C_out, C_in)
        w = kh[:, :, None, None] * kr[:, None]
        return w.permute(4, 0, 5, 1, 2, 3).reshape(self.out_channels * n_out, self.kernel_in * n_in, k, k)


class Separable(_GroupSpatialFactors):
    """``k_H^{o,i}(h) k_R^{o}(x)`` (the paper's default): a 1x1 "H-convolution" ``C_in N_in -> C_out N_out``,
    then a depthwise spatial convolution."""

    name, alias = "separable", "hc"

    def kernel(self, in_el: Tensor, out_el: Tensor) -> tuple[Tensor, Tensor]:
        """``(W_H (C_out N_out, kernel_in N_in, 1, 1), W_R (C_out N_out, 1, k, k))``."""
        n_out, n_in, k, cout = out_el.shape[0], in_el.shape[0], self.kernel_size, self.out_channels
        kh = self._group_factor(out_el, in_el)  # (N_out, N_in, C_out, kernel_in)
        kr = self._spatial_factor(out_el)  # (N_out, k, k, C_out)
        w_h = kh.permute(2, 0, 3, 1).reshape(cout * n_out, self.kernel_in * n_in, 1, 1)
        w_r = kr.permute(3, 0, 1, 2).reshape(cout * n_out, 1, k, k)
        return w_h, w_r

    def materialise(self, kernel: Kernel, n_out: int, n_in: int) -> Tensor:
        w_h, w_r = kernel
        return w_h * w_r

    def convolve(self, x: Tensor, kernel: Kernel, stride: int, padding: int, channels_last: bool) -> Tensor:
        w_h, w_r = kernel
        b, c, n_in, h, w = x.shape
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        flat = x.reshape(b, c * n_in, h, w).contiguous(memory_format=fmt)
        mixed = F.conv2d(flat, w_h.to(x.dtype), groups=self.groups)
        return F.conv2d(mixed, w_r.to(x.dtype), stride=stride, padding=padding, groups=w_r.shape[0])


class _ChannelProjection(KernelFactorisation):
    """The depthwise variants: ``x'[o] = sum_i P[i, o] x[i]`` (``P (C_in, C_out)``, kaiming-uniform with
    ``a = sqrt 5``, shared over group and space), then per-channel kernels (``groups = C_out``)."""

    def _init_projection(self) -> None:
        self.projection = nn.Parameter(torch.empty(self.in_channels, self.out_channels))
        nn.init.kaiming_uniform_(self.projection.T, a=math.sqrt(5))

    @property
    def kernel_in(self) -> int:
        return 1

    @property
    def groups(self) -> int:
        return self.out_channels

    def project(self, x: Tensor) -> Tensor:
        return torch.einsum("bignm,io->bognm", x, self.projection.to(x.dtype))

    def full_kernel(self, in_el: Tensor, out_el: Tensor) -> Tensor:
        """The per-channel kernel with ``P`` folded in: ``W[(o,j),(i,m)] = P[i,o] k^o[(o,j),m]``."""
        per = super().full_kernel(in_el, out_el)
        cout, cin, k = self.out_channels, self.in_channels, self.kernel_size
        n_out, n_in = out_el.shape[0], in_el.shape[0]
        per = per.view(cout, n_out, 1, n_in, k, k)
        return (per * self.projection.T.to(per.dtype).reshape(cout, 1, cin, 1, 1, 1)).reshape(
            cout * n_out, cin * n_in, k, k
        )


class DSeparable(_ChannelProjection, NonSeparable):
    """The channel projection, then a per-channel full kernel ``k^o(x, h)`` (``groups = C_out``)."""

    name, alias = "dseparable", "dw"


class DGSeparable(_ChannelProjection, Separable):
    """The channel projection, a per-channel ``k_H^o(h)`` and a depthwise ``k_R^o(x)``."""

    name, alias = "dgseparable", "dwg"


class FreeKernel(_OneConv):
    """SE(2) only, no SIREN: a free parameter per ``(o, i, h, tap)``, the regular G-CNN's kernel.

    ``weight (C_out, C_in, N, k, k)`` holds ``k^{o,i}(h, x)`` at the identity output element for every
    offset ``h = h_out^-1 h_in`` of the ``N``-element grid; the kernel of output element ``h_out`` is
    ``k^{o,i}(h_out^-1 h_in, h_out^-1 x)``: the offset index picks the slice and the taps are resampled at
    ``h_out^-1 x`` (bilinear; exact for right angles), masked by the unit disc. Initialised i.i.d.
    ``U(+-sqrt(3 / (C_in N k^2)))`` (unit-variance outputs): non-separable. Element grids must lie on the
    discretised ``N``-grid (the ``uniform`` sampling is refused). Not in :data:`IMPLEMENTATIONS` (its
    parameter count grows with ``N k^2``); ``GroupConv(implementation="free")`` selects it. ``hidden``,
    ``num_hidden`` and the frequencies are accepted and unused.
    """

    name, alias = "free", "free"

    def __init__(
        self,
        group: Group,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0: float = 10.0,
        omega0_first: float | None = None,
    ) -> None:
        if isinstance(group, Sim2) or not isinstance(group, SE2):
            raise ValueError("implementation 'free' is SE(2) only")
        super().__init__(
            group, in_channels, out_channels, kernel_size, hidden, num_hidden, omega0, omega0_first
        )
        n = group.size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, n, kernel_size, kernel_size))
        bound = math.sqrt(3.0 / (in_channels * n * kernel_size**2))
        nn.init.uniform_(self.weight, -bound, bound)

    def kernel(self, in_el: Tensor, out_el: Tensor) -> Tensor:
        n, k = self.group.size, self.kernel_size
        cout, cin = self.out_channels, self.in_channels
        steps = (self.group.log_offset(out_el, in_el)[..., 0] + 1.0) * (n / 2)  # offsets in grid steps
        index = torch.round(steps)
        if bool(((steps - index).abs() > 1e-3).any()):
            raise ValueError("implementation 'free' needs elements on the discretised grid (2 pi j / N)")
        index = index.long() % n  # (N_out, N_in)
        n_out = out_el.shape[0]
        coords = self._coords(out_el).to(self.weight.dtype)  # (N_out, k, k, 2) = h_out^-1 x, (col, row)
        maps = self.weight.reshape(1, cout * cin * n, k, k).expand(n_out, -1, -1, -1)
        taps = F.grid_sample(maps, coords, mode="bilinear", padding_mode="zeros", align_corners=True)
        taps = taps.view(n_out, cout, cin, n, k, k) * self._mask(coords, 3.0)[:, None, None, None]
        gathered = taps[torch.arange(n_out)[:, None], :, :, index]  # (N_out, N_in, C_out, C_in, k, k)
        return gathered.permute(2, 0, 3, 1, 4, 5).reshape(cout * n_out, cin * in_el.shape[0], k, k)


#: every variant, in the order of the official code's names
