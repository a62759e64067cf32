"""Continuous-kernel group convolutions on SE(2) and Sim(2): SIREN kernels, lifting and group layers.

Feature maps on G are ``(B, C, N, H, W)`` tensors (``N`` sampled elements of H). Kernel taps sit on
``linspace(-e, e, k)`` in both axes (``e = 1`` for SE(2), ``max_scale`` for Sim(2)); tap ``[r, c]``
has planar coordinate ``(x, y) = (lin[c], lin[r])``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.sepgcnn.groups import SE2, Group, Sampling, Sim2

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
    "nonseparable", "gseparable", "separable", "dseparable", "dgseparable", "separable+2d"
]
IMPLEMENTATIONS: tuple[str, ...] = (
    "nonseparable",
    "gseparable",
    "separable",
    "dseparable",
    "dgseparable",
    "separable+2d",
)
#: Short names (the issue's) for the official implementation names.
ALIASES: dict[str, str] = {
    "none": "nonseparable",
    "g": "gseparable",
    "hc": "separable",
    "dw": "dseparable",
    "dwg": "dgseparable",
    "hc2d": "separable+2d",
}


class SIRENKernel(nn.Module):
    """A SIREN ``(..., in_features) -> (..., out_features)``: ``sin(w0 (W x + b))`` layers, linear read-out.

    Initialisation as the official code: first layer ``W ~ U(-1/d_in, 1/d_in)`` (PyTorch's default
    bias), hidden ``W ~ U(+-sqrt(6/hidden)/omega0)`` with zero bias, last ``W ~ U(+-sqrt(6/hidden)/sqrt(fan_in))``
    with zero bias (``fan_in``: the fan-in of the convolution the kernel parametrises).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0_first: float = 10.0,
        omega0: float = 10.0,
        fan_in: int = 1,
    ) -> None:
        super().__init__()
        if min(in_features, out_features, hidden, fan_in) < 1 or num_hidden < 0:
            raise ValueError("in_features, out_features, hidden and fan_in must be >= 1, num_hidden >= 0")
        self.omega0_first, self.omega0 = omega0_first, omega0
        self.first = nn.Linear(in_features, hidden)
        nn.init.uniform_(self.first.weight, -1.0 / in_features, 1.0 / in_features)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(num_hidden))
        bound = math.sqrt(6.0 / hidden) / omega0
        for layer in self.hidden:
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.zeros_(layer.bias)
        self.last = nn.Linear(hidden, out_features)
        nn.init.uniform_(
            self.last.weight,
            -math.sqrt(6.0 / hidden) / math.sqrt(fan_in),
            math.sqrt(6.0 / hidden) / math.sqrt(fan_in),
        )
        nn.init.zeros_(self.last.bias)

    def forward(self, coords: Tensor) -> Tensor:
        h = torch.sin(self.omega0_first * self.first(coords))
        for layer in self.hidden:
            h = torch.sin(self.omega0 * layer(h))
        return self.last(h)


def tap_grid(kernel_size: int, extent: float = 1.0) -> Tensor:
    """``(k, k, 2)`` planar coordinates ``(x, y) = (lin[c], lin[r])`` of the kernel taps; ``(0, 0)`` for ``k = 1``."""
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    lin = torch.zeros(1) if kernel_size == 1 else torch.linspace(-extent, extent, kernel_size)
    rows, cols = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([cols, rows], dim=-1)


def _check_kernel_size(kernel_size: int, group: Group) -> None:
    if kernel_size == 2 and not isinstance(group, Sim2):
        raise ValueError(
            "kernel_size=2 puts every tap outside the unit-circle mask (a dead layer); use k >= 3 or 1"
        )


def _clear_cache_after_load(module: nn.Module, keys: object) -> None:
    """``load_state_dict`` post-hook (a module-level function, so layers stay picklable for DDP spawn)."""
    module.clear_kernel_cache()  # type: ignore[operator]


class _GroupLayer(nn.Module):
    def __init__(
        self, group: Group, kernel_size: int, sampling: Sampling, padding: bool, stride: int
    ) -> None:
        super().__init__()
        _check_kernel_size(kernel_size, group)
        if sampling not in ("discretise", "uniform"):
            raise ValueError(f"sampling must be 'discretise' or 'uniform', got {sampling!r}")
        self.group, self.kernel_size, self.sampling = group, kernel_size, sampling
        #: sampling method in eval mode (None: the training method, as the official code, which draws
        #: uniform offsets in eval too); "discretise" makes evaluation deterministic
        self.eval_sampling: Sampling | None = None
        self.padding, self.stride = (kernel_size // 2 if padding else 0), stride
        extent = group.max_scale if isinstance(group, Sim2) else 1.0
        self.register_buffer("grid", tap_grid(kernel_size, extent), persistent=False)
        self._cache: tuple[tuple[Tensor, ...], object] | None = None
        self.register_load_state_dict_post_hook(_clear_cache_after_load)

    def clear_kernel_cache(self) -> None:
        """Forget the eval-mode kernel cache (done on ``train()``/``eval()`` and ``load_state_dict``)."""
        self._cache = None

    def train(self, mode: bool = True) -> _GroupLayer:
        self.clear_kernel_cache()
        return super().train(mode)

    def _cached_kernel(self, key: tuple[Tensor, ...], build: object) -> object:
        """In eval mode with grad disabled, reuse the kernel built for the same element grids."""
        if self.training or torch.is_grad_enabled():
            return build()  # type: ignore[operator]
        if self._cache is not None:
            old, value = self._cache
            if len(old) == len(key) and all(
                a.shape == b.shape and torch.equal(a, b) for a, b in zip(old, key)
            ):
                return value
        value = build()  # type: ignore[operator]
        self._cache = (tuple(t.detach().clone() for t in key), value)
        return value

    def _elements(self, elements: Tensor | None, device: torch.device) -> Tensor:
        if elements is None:
            method = self.sampling if self.training or self.eval_sampling is None else self.eval_sampling
            elements = self.group.sample(method)
        return elements.to(device=device, dtype=self.grid.dtype)

    def _spatial(self, elements: Tensor) -> Tensor:
        """``h^-1 . grid`` for every element: ``(N, k, k, 2)``."""
        return self.group.act_r2_inverse(elements, self.grid)

    def _mask(self, coords: Tensor, slope: float) -> Tensor:
        """SE(2): the hard unit disc on the (rotation-invariant) tap radius; Sim(2): ``sigmoid(slope (1 - |x'|))``."""
        if isinstance(self.group, Sim2):
            return torch.sigmoid(slope * (1.0 - coords.norm(dim=-1)))
        radius = self.grid.norm(dim=-1)
        return (radius <= 1.0 + 1e-6).to(coords.dtype).expand(coords.shape[:-1])

    def _inv_jacobian(self, elements: Tensor) -> Tensor:
        """The official code's Jacobian factor ``1/s`` (Sim(2)); ones for SE(2). ``(N,)``."""
        if isinstance(self.group, Sim2):
            return 1.0 / elements[:, 1]
        return torch.ones(elements.shape[0], device=elements.device)

    def _scale_window(self, offsets: Tensor, slope: float) -> Tensor:
        """Sim(2): ``sigmoid(slope (log(s_max)/N_s - |log(s_in/s_out)|))`` on ``(N_out, N_in)``; ones for SE(2)."""
        if not isinstance(self.group, Sim2):
            return torch.ones(offsets.shape[:2], device=offsets.device)
        width = math.log(self.group.max_scale) / self.group.n_scale
        return torch.sigmoid(slope * (width - offsets[..., 1].abs()))


class LiftingConv(_GroupLayer):
    """Lifting convolution R^2 -> G: ``(f * k)(x, h) = sum f(x~) k(h^-1 (x~ - x)) / |det h|``.

    ``forward(x (B, C_in, H, W), elements (N, d) | None) -> (y (B, C_out, N, H', W'), elements)``;
    ``elements=None`` samples the group (``sampling``). ``kernel(elements)`` is ``(C_out * N, C_in, k, k)``
    (output channels ``(o, j)``, o-major).
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
    ) -> None:
        super().__init__(group, kernel_size, sampling, padding, stride)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_net = SIRENKernel(
            2,
            out_channels * in_channels,
            hidden,
            num_hidden,
            omega0,
            omega0,
            fan_in=in_channels * kernel_size**2,
        )

    def kernel(self, elements: Tensor | None = None) -> Tensor:
        elements = self._elements(elements, self.grid.device)
        coords = self._spatial(elements)  # (N, k, k, 2)
        n, k = elements.shape[0], self.kernel_size
        w = self.kernel_net(coords).view(n, k, k, self.out_channels, self.in_channels)
        w = w * (self._mask(coords, 3.0) * self._inv_jacobian(elements).view(-1, 1, 1))[..., None, None]
        return w.permute(3, 0, 4, 1, 2).reshape(self.out_channels * n, self.in_channels, k, k)

    def forward(self, x: Tensor, elements: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        elements = self._elements(elements, x.device)
        kernel = self._cached_kernel((elements,), lambda: self.kernel(elements))
        y = F.conv2d(x, kernel.to(x.dtype), stride=self.stride, padding=self.padding)  # type: ignore[attr-defined]
        b, _, h, w = y.shape
        return y.view(b, self.out_channels, elements.shape[0], h, w), elements


class GroupConv(_GroupLayer):
    """Group convolution G -> G with a continuous kernel, full or separable.

    ``implementation`` (the official code's names; the short aliases of :data:`ALIASES` work too):

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

    ``forward(x (B, C_in, N_in, H, W), in_elements (N_in, d), out_elements=None)
    -> (y (B, C_out, N_out, H', W'), out_elements)``; ``out_elements=None`` samples the group.
    ``kernel()`` returns what the forward pass convolves with; ``full_kernel()`` always returns the
    materialised ``(C_out N_out, C_in N_in, k, k)`` kernel (for inspection and tests).
    ``channels_last`` (default: on CPU only) runs the separable path's convolutions in NHWC, where
    oneDNN's depthwise backward is about 3x faster than in NCHW; the result is identical.
    """

    def __init__(
        self,
        group: Group,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        implementation: Implementation | str = "separable",
        sampling: Sampling = "discretise",
        padding: bool = True,
        stride: int = 1,
        hidden: int = 64,
        num_hidden: int = 1,
        omega0: float = 10.0,
        *,
        separable: str | None = None,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__(group, kernel_size, sampling, padding, stride)
        if separable is not None:
            implementation = separable
        implementation = ALIASES.get(implementation, implementation)
        if implementation not in IMPLEMENTATIONS:
            names = ", ".join(f"{k!r}/{v!r}" for v, k in ALIASES.items())
            raise ValueError(f"implementation must be one of {names}, got {implementation!r}")
        if implementation == "separable+2d" and not isinstance(group, Sim2):
            raise ValueError(
                "implementation 'separable+2d' factorises rotation and scale: it needs a Sim2 group"
            )
        if min(in_channels, out_channels) < 1:
            raise ValueError(f"channels must be >= 1, got in={in_channels}, out={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.implementation: str = implementation
        self.channels_last = channels_last
        cin, cout, k, d = in_channels, out_channels, kernel_size, group.dim
        siren = dict(hidden=hidden, num_hidden=num_hidden, omega0_first=omega0, omega0=omega0)
        if implementation.startswith("d"):  # channel projection P (C_in x C_out), kaiming-uniform(a=sqrt 5)
            self.projection = nn.Parameter(torch.empty(cin, cout))
            nn.init.kaiming_uniform_(self.projection.T, a=math.sqrt(5))
        if implementation == "nonseparable":
            self.kernel_net = SIRENKernel(2 + d, cout * cin, fan_in=cin * k * k, **siren)  # type: ignore[arg-type]
        elif implementation == "dseparable":  # per-channel full kernel k^o(x, h)
            self.kernel_net = SIRENKernel(2 + d, cout, fan_in=k * k, **siren)  # type: ignore[arg-type]
        elif implementation == "dgseparable":  # per-channel k_H^o(h) and depthwise k_R^o(x)
            self.group_net = SIRENKernel(d, cout, fan_in=1, **siren)  # type: ignore[arg-type]
            self.spatial_net = SIRENKernel(2, cout, fan_in=k * k, **siren)  # type: ignore[arg-type]
        elif implementation == "separable+2d":  # k_SO2^{o,i}(theta) k_R+^{o}(s) k_R^{o}(x)
            self.rotation_net = SIRENKernel(1, cout * cin, fan_in=cin, **siren)  # type: ignore[arg-type]
            self.scale_net = SIRENKernel(1, cout, fan_in=1, **siren)  # type: ignore[arg-type]
            self.spatial_net = SIRENKernel(2, cout, fan_in=k * k, **siren)  # type: ignore[arg-type]
        else:
            self.group_net = SIRENKernel(d, cout * cin, fan_in=cin, **siren)  # type: ignore[arg-type]
            spatial_out = cout * cin if implementation == "gseparable" else cout
            self.spatial_net = SIRENKernel(2, spatial_out, fan_in=k * k, **siren)  # type: ignore[arg-type]

    @property
    def _kernel_in(self) -> int:
        """Input channels the kernel sees: ``C_in``, or 1 after the channel projection (``d*`` variants)."""
        return 1 if self.implementation.startswith("d") else self.in_channels

    def _group_factor(self, out_el: Tensor, in_el: Tensor) -> Tensor:
        """``k_H`` on the offsets: ``(N_out, N_in, C_out, C_in or 1)`` (Sim(2): times the scale window)."""
        offsets = self.group.log_offset(out_el, in_el)
        kh = self.group_net(offsets).view(*offsets.shape[:2], self.out_channels, self._kernel_in)
        return kh * self._scale_window(offsets, 10.0)[..., None, None]

    def _spatial_factor(self, out_el: Tensor, jacobian_power: int = 1) -> Tensor:
        """``k_R`` on ``h_out^-1 grid``, masked and Jacobian-weighted: ``(N_out, k, k, C_out[, C_in])``."""
        coords = self._spatial(out_el)
        kr = self.spatial_net(coords)
        weight = self._mask(coords, 2.0) * self._inv_jacobian(out_el).view(-1, 1, 1) ** jacobian_power
        if self.implementation == "gseparable":
            kr = kr.view(*coords.shape[:3], self.out_channels, self.in_channels)
            return kr * weight[..., None, None]
        return kr * weight[..., None]

    def _product_grids(self, elements: Tensor) -> tuple[Tensor, Tensor]:
        """Split a rotation-major Sim(2) grid into its ``(N_rot,)`` angles and ``(N_s,)`` scales."""
        group = self.group
        assert isinstance(group, Sim2)
        n_s = group.n_scale
        if elements.shape[0] % n_s:
            raise ValueError(
                f"separable+2d needs a rotation-major product grid of {n_s} scales, got {elements.shape[0]} elements"
            )
        grid = elements.view(-1, n_s, 2)
        return grid[:, 0, 0], grid[0, :, 1]

    def _factors_2d(self, out_el: Tensor, in_el: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``separable+2d`` kernels: rotation ``(C_out N_rot_out, C_in N_rot_in, 1, 1)``, scale
        ``(C_out, N_s_out, N_s_in)``, spatial ``(C_out N_out, 1, k, k)`` (Jacobian ``1/s^2`` as the code)."""
        rot_out, s_out = self._product_grids(out_el)
        rot_in, s_in = self._product_grids(in_el)
        phi = SE2.log_offset(self.group, rot_out[:, None], rot_in[:, None])  # (R_out, R_in, 1)
        k_rot = self.rotation_net(phi).view(
            rot_out.shape[0], rot_in.shape[0], self.out_channels, self.in_channels
        )
        w_rot = k_rot.permute(2, 0, 3, 1).reshape(self.out_channels * rot_out.shape[0], -1, 1, 1)
        log_s = torch.log(s_in[None, :] / s_out[:, None]).unsqueeze(-1)  # (S_out, S_in, 1)
        group = self.group
        assert isinstance(group, Sim2)
        window = torch.sigmoid(10.0 * (math.log(group.max_scale) / group.n_scale - log_s[..., 0].abs()))
        w_scale = (self.scale_net(log_s) * window[..., None]).permute(2, 0, 1)  # (C_out, S_out, S_in)
        kr = self._spatial_factor(out_el, jacobian_power=2)  # (N_out, k, k, C_out)
        k = self.kernel_size
        return w_rot, w_scale, kr.permute(3, 0, 1, 2).reshape(self.out_channels * out_el.shape[0], 1, k, k)

    def kernel(
        self, in_elements: Tensor | None = None, out_elements: Tensor | None = None
    ) -> Tensor | tuple[Tensor, ...]:
        """What the forward pass convolves with.

        ``nonseparable``/``gseparable``/``dseparable``: the kernel ``(C_out N_out, C_in N_in, k, k)``
        (``C_in`` -> 1 for ``dseparable``, which runs with ``groups = C_out``); ``separable``/``dgseparable``:
        ``(W_H (C_out N_out, C_in N_in or N_in, 1, 1), W_R (C_out N_out, 1, k, k))``; ``separable+2d``:
        ``(W_rot, W_scale (C_out, N_s, N_s), W_R)``. ``in_elements=None``: the discretised grid.
        """
        if in_elements is None:
            in_elements = self.group.sample("discretise")
        out_el = self._elements(out_elements, self.grid.device)
        in_el = in_elements.to(device=self.grid.device, dtype=self.grid.dtype)
        if self.implementation == "separable+2d":
            return self._factors_2d(out_el, in_el)
        n_out, n_in, k = out_el.shape[0], in_el.shape[0], self.kernel_size
        cout, cin = self.out_channels, self._kernel_in
        if self.implementation in ("nonseparable", "dseparable"):
            offsets = self.group.log_offset(out_el, in_el)  # (N_out, N_in, d)
            coords = self._spatial(out_el)  # (N_out, k, k, 2)
            inputs = torch.cat(
                [
                    coords[:, None].expand(n_out, n_in, k, k, 2),
                    offsets[:, :, None, None].expand(n_out, n_in, k, k, offsets.shape[-1]),
                ],
                dim=-1,
            )
            w = self.kernel_net(inputs).view(n_out, n_in, k, k, cout, cin)
            weight = self._mask(coords, 3.0) * self._inv_jacobian(out_el).view(-1, 1, 1)  # (N_out, k, k)
            w = (
                w
                * weight[:, None, :, :, None, None]
                * self._scale_window(offsets, 5.0)[:, :, None, None, None, None]
            )
            return w.permute(4, 0, 5, 1, 2, 3).reshape(cout * n_out, cin * n_in, k, k)
        kh = self._group_factor(out_el, in_el)  # (N_out, N_in, C_out, C_in)
        kr = self._spatial_factor(out_el)
        if self.implementation == "gseparable":  # kr (N_out, k, k, C_out, C_in)
            w = kh[:, :, None, None] * kr[:, None]
            return w.permute(4, 0, 5, 1, 2, 3).reshape(cout * n_out, cin * n_in, k, k)
        w_h = kh.permute(2, 0, 3, 1).reshape(cout * n_out, cin * n_in, 1, 1)  # (C_out N_out, C_in|1 N_in)
        w_r = kr.permute(3, 0, 1, 2).reshape(cout * n_out, 1, k, k)
        return w_h, w_r

    def full_kernel(self, in_elements: Tensor | None = None, out_elements: Tensor | None = None) -> Tensor:
        """The materialised kernel ``(C_out N_out, C_in N_in, k, k)`` of any implementation (channel
        projection folded in), such that ``conv2d(x.reshape(B, C_in N_in, H, W), full_kernel)`` equals
        the forward pass. ``in_elements=None``: the discretised grid."""
        if in_elements is None:
            in_elements = self.group.sample("discretise")
        out_el = self._elements(out_elements, self.grid.device)
        kernel = self.kernel(in_elements, out_el)
        cout, cin, k = self.out_channels, self.in_channels, self.kernel_size
        n_out, n_in = out_el.shape[0], in_elements.shape[0]
        if self.implementation == "separable+2d":
            w_rot, w_scale, w_r = kernel  # type: ignore[misc]
            r_out, r_in = w_rot.shape[0] // cout, w_rot.shape[1] // cin
            rot = w_rot.view(cout, r_out, cin, r_in)
            w_h = torch.einsum("oaib,ost->oasibt", rot, w_scale).reshape(cout * n_out, cin * n_in, 1, 1)
            return w_h * w_r
        if isinstance(kernel, tuple):
            w_h, w_r = kernel
            kernel = w_h * w_r  # (C_out N_out, C_in|1 N_in, k, k)
        if self.implementation.startswith("d"):  # fold P in: W[(o,j),(i,m)] = P[i,o] k^o[(o,j),m]
            per = kernel.view(cout, n_out, 1, n_in, k, k)
            kernel = (per * self.projection.T.to(per.dtype).reshape(cout, 1, cin, 1, 1, 1)).reshape(
                cout * n_out, cin * n_in, k, k
            )
        return kernel

    def _use_channels_last(self, x: Tensor) -> bool:
        return x.device.type == "cpu" if self.channels_last is None else self.channels_last

    def forward(
        self, x: Tensor, in_elements: Tensor, out_elements: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if x.ndim != 5 or x.shape[1] != self.in_channels or x.shape[2] != in_elements.shape[0]:
            raise ValueError(
                f"expected x of shape (B, C_in={self.in_channels}, N_in={in_elements.shape[0]}, H, W), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"x must be floating point, got {x.dtype}")
        out_el = self._elements(out_elements, x.device)
        b, _, n_in, h, w = x.shape
        groups = 1
        if self.implementation.startswith("d"):  # x'[o] = sum_i P[i, o] x[i], shared over group and space
            x = torch.einsum("bignm,io->bognm", x, self.projection.to(x.dtype))
            groups = self.out_channels
        kernel = self._cached_kernel((in_elements, out_el), lambda: self.kernel(in_elements, out_el))
        nhwc = self._use_channels_last(x) and isinstance(kernel, tuple)
        fmt = torch.channels_last if nhwc else torch.contiguous_format
        if self.implementation == "separable+2d":
            w_rot, w_scale, w_r = kernel  # type: ignore[misc]
            group = self.group
            assert isinstance(group, Sim2)
            n_s, cout = group.n_scale, self.out_channels
            # rotation mixing, one scale slice at a time (scales folded into the batch)
            xs = x.view(b, self.in_channels, n_in // n_s, n_s, h, w).permute(0, 3, 1, 2, 4, 5)
            xs = xs.reshape(b * n_s, -1, h, w).contiguous(memory_format=fmt)
            z = F.conv2d(xs, w_rot.to(x.dtype)).view(b, n_s, cout, -1, h, w)  # (B, S_in, C_out, R_out, H, W)
            u = torch.einsum("bsorhw,ots->borthw", z, w_scale.to(x.dtype))  # per-channel scale mixing
            flat = u.reshape(b, -1, h, w).contiguous(memory_format=fmt)
            y = F.conv2d(flat, w_r.to(x.dtype), stride=self.stride, padding=self.padding, groups=w_r.shape[0])
        elif isinstance(kernel, tuple):
            w_h, w_r = kernel
            flat = x.reshape(b, x.shape[1] * n_in, h, w).contiguous(memory_format=fmt)
            mixed = F.conv2d(flat, w_h.to(x.dtype), groups=groups)
            y = F.conv2d(
                mixed, w_r.to(x.dtype), stride=self.stride, padding=self.padding, groups=w_r.shape[0]
            )
        else:
            flat = x.reshape(b, x.shape[1] * n_in, h, w)
            y = F.conv2d(flat, kernel.to(x.dtype), stride=self.stride, padding=self.padding, groups=groups)
        y = y.contiguous()
        return y.view(b, self.out_channels, out_el.shape[0], *y.shape[-2:]), out_el


class GroupBatchNorm(nn.BatchNorm3d):
    """``BatchNorm3d(C)`` on ``(B, C, N, H, W)``: statistics shared over the group axis (keeps equivariance)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5:
            raise ValueError(f"expected (B, C, N, H, W), got {tuple(x.shape)}")
        return super().forward(x)


class GroupMaxPool2d(nn.Module):
    """2x2 (``kernel_size``) spatial max pooling of ``(B, C, N, H, W)``; the group axis is untouched."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride or kernel_size

    def forward(self, x: Tensor) -> Tensor:
        b, c, n, h, w = x.shape
        y = F.max_pool2d(x.reshape(b, c * n, h, w), self.kernel_size, self.stride)
        return y.view(b, c, n, *y.shape[-2:])


class GroupInvariantMax(nn.Module):
    """Invariant read-out: max over (group, H, W), ``(B, C, N, H, W) -> (B, C)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2).amax(dim=-1)
