"""Continuous-kernel group convolutions on SE(2) and Sim(2): lifting and group layers, pooling, BN.

Feature maps on G are ``(B, C, N, H, W)`` tensors (``N`` sampled elements of H). Kernel taps sit on
``linspace(-e, e, k)`` in both axes (``e = 1`` for SE(2), ``max_scale`` for Sim(2)); tap ``[r, c]``
has planar coordinate ``(x, y) = (lin[c], lin[r])``. The kernel variants of :class:`GroupConv` are
the classes of :mod:`ballroom.sepgcnn.kernels`; the geometry is :mod:`ballroom.sepgcnn.functional`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_int, check_positive, check_tensor
from ballroom.sepgcnn.factorisations import Kernel
from ballroom.sepgcnn.functional import (
    check_kernel_size,
    grid_extent,
    inverse_jacobian,
    kernel_mask,
    tap_grid,
    transformed_grid,
)
from ballroom.sepgcnn.groups import Group, Sampling
from ballroom.sepgcnn.kernels import (
    ALIASES,
    IMPLEMENTATIONS,
    KernelFactorisation,
    factorisation_class,
)
from ballroom.sepgcnn.siren import SIRENKernel

__all__ = [
    "ALIASES",
    "IMPLEMENTATIONS",
    "GroupBatchNorm",
    "GroupConv",
    "GroupInvariantMax",
    "GroupMaxPool2d",
    "LiftingConv",
    "SIRENKernel",
    "tap_grid",
]

Implementation = Literal[
    "nonseparable", "gseparable", "separable", "dseparable", "dgseparable", "separable+2d", "gseparable+2d"
]


def _clear_cache_after_load(module: nn.Module, keys: object) -> None:
    """``load_state_dict`` post-hook (a module-level function, so layers stay picklable for DDP spawn)."""
    module.clear_kernel_cache()  # type: ignore[operator]


class _GroupLayer(nn.Module):
    """What lifting and group layers share: element sampling, padding and stride, the eval-mode cache."""

    grid: Tensor  # the (k, k, 2) tap grid, a non-persistent buffer registered in __init__

    def __init__(
        self, group: Group, kernel_size: int, sampling: Sampling, padding: bool, stride: int
    ) -> None:
        super().__init__()
        if not hasattr(group, "check_elements"):
            raise TypeError(f"group must be an SE2 or Sim2 instance, got {type(group).__name__}")
        check_int(kernel_size, "kernel_size", min=1)
        check_int(stride, "stride", min=1)
        check_kernel_size(kernel_size, group)
        check_choice(sampling, "sampling", ("discretise", "uniform"))
        self.group, self.kernel_size, self.sampling = group, kernel_size, sampling
        #: sampling method in eval mode (None: the training method, as the official code, which draws
        #: uniform offsets in eval too); "discretise" makes evaluation deterministic
        self.eval_sampling: Sampling | None = None
        self.padding, self.stride = (kernel_size // 2 if padding else 0), stride
        self.register_buffer("grid", tap_grid(kernel_size, grid_extent(group)), persistent=False)
        self._cache: tuple[tuple[Tensor, ...], object] | None = None
        self.register_load_state_dict_post_hook(_clear_cache_after_load)

    def clear_kernel_cache(self) -> None:
        """Forget the eval-mode kernel cache (done on ``train()``/``eval()`` and ``load_state_dict``)."""
        self._cache = None

    def train(self, mode: bool = True) -> _GroupLayer:
        self.clear_kernel_cache()
        return super().train(mode)

    def _cached_kernel(self, key: tuple[Tensor, ...], build: Callable[[], Any]) -> Any:
        """In eval mode with grad disabled, reuse the kernel built for the same element grids."""
        if self.training or torch.is_grad_enabled():
            return build()
        if self._cache is not None:
            old, value = self._cache
            if len(old) == len(key) and all(
                a.shape == b.shape and torch.equal(a, b) for a, b in zip(old, key)
            ):
                return value
        value = build()
        self._cache = (tuple(t.detach().clone() for t in key), value)
        return value

    def _elements(self, elements: Tensor | None, device: torch.device, name: str = "elements") -> Tensor:
        if elements is None:
            method = self.sampling if self.training or self.eval_sampling is None else self.eval_sampling
            elements = self.group.sample(method)
        else:
            self.group.check_elements(elements, name)
        return elements.to(device=device, dtype=self.grid.dtype)


def _check_layer_args(
    in_channels: int,
    out_channels: int,
    hidden: int,
    num_hidden: int,
    omega0: float,
    omega0_first: float | None,
) -> None:
    """The channel and SIREN arguments lifting and group layers share."""
    if omega0_first is not None:
        check_positive(omega0_first, "omega0_first")
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("hidden", hidden)):
        check_int(value, name, min=1)
    check_int(num_hidden, "num_hidden", min=0)
    check_positive(omega0, "omega0")


class LiftingConv(_GroupLayer):
    """Lifting convolution R^2 -> G: ``(f * k)(x, h) = sum f(x~) k(h^-1 (x~ - x)) J(h)``.

    ``J(h)`` is the paper's ``1 / |det h|`` on SE(2) (= 1) and, on Sim(2), the official code's ``1/s``
    (not ``1/s^2``; see the README's choices).

    ``forward(x (B, C_in, H, W), elements (N, d) | None) -> (y (B, C_out, N, H', W'), elements)``;
    ``elements=None`` samples the group (``sampling``). ``kernel(elements)`` is ``(C_out * N, C_in, k, k)``
    (output channels ``(o, j)``, o-major).

    Args:
        group: the group H (an :class:`~ballroom.sepgcnn.groups.SE2` or :class:`~ballroom.sepgcnn.groups.Sim2`).
        in_channels: input channels ``C_in`` of the images (``>= 1``).
        out_channels: output channels ``C_out`` per group element (``>= 1``).
        kernel_size: ``k``, taps per axis (``>= 1``; not 2 on SE(2), where every tap is masked out).
        sampling: how ``elements=None`` samples H: ``"discretise"`` (the fixed grid, default) or
            ``"uniform"`` (a random offset of the grid per call).
        padding: pad by ``k // 2`` so that ``H' = H`` at stride 1 (default True); False: no padding.
        stride: spatial stride (``>= 1``); default 1.
        hidden: width of the kernel SIREN's layers (``>= 1``); default 64.
        num_hidden: hidden sine layers of the SIREN (``>= 0``); default 1.
        omega0: SIREN frequency (``> 0``); default 10.
        omega0_first: frequency of the SIREN's first layer (``> 0``; the official ``first_omega_0``);
            default None: ``omega0``.

    Raises:
        TypeError: if ``group`` is not an SE2 or Sim2 instance.
        ValueError: if a size, ``sampling``, ``omega0`` or ``omega0_first`` is out of range (see above).
    """

    def __init__(
        self,
        group: Group,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        sampling: Sampling = "discretise",
        padding: bool = True,
        stride: int = 1,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0: float = 10.0,
        omega0_first: float | None = None,
    ) -> None:
        super().__init__(group, kernel_size, sampling, padding, stride)
        _check_layer_args(in_channels, out_channels, hidden, num_hidden, omega0, omega0_first)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_net = SIRENKernel(
            2,
            out_channels * in_channels,
            hidden,
            num_hidden,
            omega0 if omega0_first is None else omega0_first,
            omega0,
            fan_in=in_channels * kernel_size**2,
        )

    def kernel(self, elements: Tensor | None = None) -> Tensor:
        elements = self._elements(elements, self.grid.device)
        coords = transformed_grid(self.group, elements, self.grid)  # (N, k, k, 2)
        n, k = elements.shape[0], self.kernel_size
        w = self.kernel_net(coords).view(n, k, k, self.out_channels, self.in_channels)
        weight = kernel_mask(self.group, self.grid, coords, 3.0) * inverse_jacobian(
            self.group, elements
        ).view(-1, 1, 1)
        w = w * weight[..., None, None]
        return w.permute(3, 0, 4, 1, 2).reshape(self.out_channels * n, self.in_channels, k, k)

    def forward(self, x: Tensor, elements: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_tensor(x, "x", ndim=4, finite=False)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        elements = self._elements(elements, x.device)
        kernel = self._cached_kernel((elements,), lambda: self.kernel(elements))
        y = F.conv2d(x, kernel.to(x.dtype), stride=self.stride, padding=self.padding)
        b, _, h, w = y.shape
        return y.view(b, self.out_channels, elements.shape[0], h, w), elements


class GroupConv(_GroupLayer):
    """Group convolution G -> G with a continuous kernel, full or separable.

    ``implementation`` picks the kernel's :class:`~ballroom.sepgcnn.kernels.KernelFactorisation` once,
    by the official code's name, its short alias (:data:`ALIASES`) or the class itself:

    - ``"nonseparable"`` (``"none"``): one SIREN ``k^{o,i}(h_out^-1 x, log(h_out^-1 h_in))``, materialised
      as ``(C_out N_out, C_in N_in, k, k)`` and run as one conv2d.
    - ``"gseparable"`` (``"g"``): ``k_H^{o,i}(h) k_R^{o,i}(x)``, materialised.
    - ``"separable"`` (``"hc"``, the paper's default): ``k_H^{o,i}(h) k_R^{o}(x)``, run as a 1x1
      "H-convolution" ``(C_in N_in -> C_out N_out)`` and a depthwise spatial conv.
    - ``"dseparable"`` (``"dw"``): a channel projection ``P (C_in, C_out)``, then a per-channel full
      kernel ``k^o(x, h)`` (``groups = C_out``).
    - ``"dgseparable"`` (``"dwg"``): the projection, a per-channel ``k_H^o(h)``, a depthwise ``k_R^o(x)``.
    - ``"separable+2d"`` (``"hc2d"``, Sim(2) only): ``k_SO2^{o,i}(theta) k_R+^{o}(s) k_R^{o}(x)``:
      rotation mixing (1x1 over ``C_in N_rot``), per-channel scale mixing, depthwise spatial conv.
    - ``"gseparable+2d"`` (``"g2d"``, Sim(2) only): ``k_SO2^{o,i}(theta) k_R+^{o,i}(s) k_R^{o,i}(x)``:
      rotation and scale mixing per channel pair, a grouped spatial conv summing over ``C_in``.

    ``forward(x (B, C_in, N_in, H, W), in_elements (N_in, d), out_elements=None)
    -> (y (B, C_out, N_out, H', W'), out_elements)``; ``out_elements=None`` samples the group.
    ``kernel()`` returns what the forward pass convolves with; ``full_kernel()`` always returns the
    materialised ``(C_out N_out, C_in N_in, k, k)`` kernel (for inspection and tests).
    ``channels_last`` (default: on CPU only) runs the separable path's convolutions in NHWC, where
    oneDNN's depthwise backward is about 3x faster than in NCHW; the result is identical.
    The factorisation is ``self.factorisation``; its SIRENs (``kernel_net``, ``group_net``,
    ``spatial_net``, ...) and ``projection`` read through the layer too (``conv.group_net``).

    Args:
        group: the group H (an :class:`~ballroom.sepgcnn.groups.SE2` or :class:`~ballroom.sepgcnn.groups.Sim2`).
        in_channels: input channels ``C_in`` per group element (``>= 1``).
        out_channels: output channels ``C_out`` per group element (``>= 1``).
        kernel_size: ``k``, taps per axis (``>= 1``; not 2 on SE(2)).
        implementation: the kernel factorisation: an official name (default ``"separable"``), an alias
            (:data:`ALIASES`) or a :class:`~ballroom.sepgcnn.kernels.KernelFactorisation` subclass.
        sampling: how ``out_elements=None`` samples H: ``"discretise"`` (default) or ``"uniform"``.
        padding: pad by ``k // 2`` so that ``H' = H`` at stride 1 (default True); False: no padding.
        stride: spatial stride (``>= 1``); default 1.
        hidden: width of the kernel SIREN's layers (``>= 1``); default 64.
        num_hidden: hidden sine layers of the SIREN (``>= 0``); default 1.
        omega0: SIREN frequency (``> 0``); default 10.
        omega0_first: frequency of the SIREN's first layer (``> 0``; the official ``first_omega_0``);
            default None: ``omega0``.
        separable: ``implementation`` under its other keyword (wins when given); default None.
        channels_last: run the separable convolutions in NHWC; default None: on CPU only.

    Raises:
        TypeError: if ``group`` is not an SE2 or Sim2 instance.
        ValueError: if a size, ``sampling``, ``omega0`` or ``omega0_first`` is out of range, or
            ``implementation`` is unknown (or a ``+2d`` form on SE(2)).
    """

    def __init__(
        self,
        group: Group,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        implementation: Implementation | str | type[KernelFactorisation] = "separable",
        sampling: Sampling = "discretise",
        padding: bool = True,
        stride: int = 1,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0: float = 10.0,
        omega0_first: float | None = None,
        *,
        separable: str | None = None,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__(group, kernel_size, sampling, padding, stride)
        _check_layer_args(in_channels, out_channels, hidden, num_hidden, omega0, omega0_first)
        cls = factorisation_class(implementation if separable is None else separable)
        self.factorisation: KernelFactorisation = cls(
            group, in_channels, out_channels, kernel_size, hidden, num_hidden, omega0, omega0_first
        )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.implementation: str = cls.name
        self.channels_last = channels_last

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if name != "factorisation" and "factorisation" in modules:
                return getattr(modules["factorisation"], name)
            raise

    def _grids(self, in_elements: Tensor | None, out_elements: Tensor | None) -> tuple[Tensor, Tensor]:
        if in_elements is None:
            in_elements = self.group.sample("discretise")
        else:
            self.group.check_elements(in_elements, "in_elements")
        out_el = self._elements(out_elements, self.grid.device, "out_elements")
        return in_elements.to(device=self.grid.device, dtype=self.grid.dtype), out_el

    def kernel(self, in_elements: Tensor | None = None, out_elements: Tensor | None = None) -> Kernel:
        """What the forward pass convolves with.

        ``nonseparable``/``gseparable``/``dseparable``: the kernel ``(C_out N_out, C_in N_in, k, k)``
        (``C_in`` -> 1 for ``dseparable``, which runs with ``groups = C_out``); ``separable``/``dgseparable``:
        ``(W_H (C_out N_out, C_in N_in or N_in, 1, 1), W_R (C_out N_out, 1, k, k))``; ``separable+2d``:
        ``(W_rot, W_scale (C_out, N_s, N_s), W_R)``. ``in_elements=None``: the discretised grid.
        """
        return self.factorisation.kernel(*self._grids(in_elements, out_elements))

    def full_kernel(self, in_elements: Tensor | None = None, out_elements: Tensor | None = None) -> Tensor:
        """The materialised kernel ``(C_out N_out, C_in N_in, k, k)`` of any implementation (channel
        projection folded in), such that ``conv2d(x.reshape(B, C_in N_in, H, W), full_kernel)`` equals
        the forward pass. ``in_elements=None``: the discretised grid."""
        return self.factorisation.full_kernel(*self._grids(in_elements, out_elements))

    def _use_channels_last(self, x: Tensor) -> bool:
        return x.device.type == "cpu" if self.channels_last is None else self.channels_last

    def forward(
        self, x: Tensor, in_elements: Tensor, out_elements: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        check_tensor(x, "x", ndim=5, finite=False)
        self.group.check_elements(in_elements, "in_elements")
        if x.shape[1] != self.in_channels or x.shape[2] != in_elements.shape[0]:
            raise ValueError(
                f"x must have shape (B, C_in={self.in_channels}, N_in={in_elements.shape[0]}, H, W), got {tuple(x.shape)}"
            )
        out_el = self._elements(out_elements, x.device, "out_elements")
        x = self.factorisation.project(x)
        kernel = self._cached_kernel((in_elements, out_el), lambda: self.kernel(in_elements, out_el))
        y = self.factorisation.convolve(x, kernel, self.stride, self.padding, self._use_channels_last(x))
        y = y.contiguous()
        return y.view(x.shape[0], self.out_channels, out_el.shape[0], *y.shape[-2:]), out_el


class GroupBatchNorm(nn.BatchNorm3d):
    """``BatchNorm3d(C)`` on ``(B, C, N, H, W)``: statistics shared over the group axis (keeps equivariance)."""

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x", ndim=5, finite=False)
        return super().forward(x)


class GroupMaxPool2d(nn.Module):
    """2x2 (``kernel_size``) spatial max pooling of ``(B, C, N, H, W)``; the group axis is untouched.

    Args:
        kernel_size: the pooling window per spatial axis; default 2.
        stride: the pooling stride; default None (or 0): ``kernel_size``.
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride or kernel_size

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x", ndim=5, finite=False)
        b, c, n, h, w = x.shape
        y = F.max_pool2d(x.reshape(b, c * n, h, w), self.kernel_size, self.stride)
        return y.view(b, c, n, *y.shape[-2:])


class GroupInvariantMax(nn.Module):
    """Invariant read-out: max over (group, H, W), ``(B, C, N, H, W) -> (B, C)``."""

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x", ndim=5, finite=False)
        return x.flatten(2).amax(dim=-1)
