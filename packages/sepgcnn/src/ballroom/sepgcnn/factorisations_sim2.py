"""The Sim(2) kernel factorisations ``separable+2d`` and ``gseparable+2d``: rotation, scale and spatial
factors. Re-exported by :mod:`ballroom.sepgcnn.kernels`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.sepgcnn.factorisations import Kernel, KernelFactorisation
from ballroom.sepgcnn.functional import (
    log_scale_window,
    product_grids,
)
from ballroom.sepgcnn.groups import SE2, Group, Sim2

__all__ = ["GSeparable2D", "Separable2D"]


class Separable2D(KernelFactorisation):
    """Sim(2) only: ``k_SO2^{o,i}(theta) k_R+^{o}(s) k_R^{o}(x)``: rotation mixing (1x1 over
    ``C_in N_rot``, each input scale separately), per-channel scale mixing, depthwise spatial conv.

    Fan-ins (the spec gives none): rotation ``C_in``, scale 1, spatial ``k^2``; Jacobian ``1/s^2``
    in the spatial factor, as the official code.

    Args:
        group: the group H; must be a :class:`~ballroom.sepgcnn.groups.Sim2`.
        in_channels: input channels ``C_in`` (``>= 1``).
        out_channels: output channels ``C_out`` (``>= 1``).
        kernel_size: ``k``, taps per axis on :func:`~ballroom.sepgcnn.functional.tap_grid`.
        hidden: width of the SIRENs' layers; default 64.
        num_hidden: hidden sine layers of each SIREN; default 1.
        omega0: the SIRENs' frequency; default 10.
        omega0_first: the SIRENs' first-layer frequency (the official ``first_omega_0``); default None: ``omega0``.

    Raises:
        ValueError: if ``group`` is not a Sim2, or ``in_channels`` or ``out_channels`` is below 1.
    """

    name, alias = "separable+2d", "hc2d"
    group: Sim2

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
        if not isinstance(group, Sim2):
            raise ValueError(
                f"implementation {self.name!r} factorises rotation and scale: it needs a Sim2 group"
            )
        super().__init__(
            group, in_channels, out_channels, kernel_size, hidden, num_hidden, omega0, omega0_first
        )
        self._make_nets()

    def _make_nets(self) -> None:
        cin, cout, k = self.in_channels, self.out_channels, self.kernel_size
        self.rotation_net = self.siren(1, cout * cin, fan_in=cin)
        self.scale_net = self.siren(1, cout, fan_in=1)
        self.spatial_net = self.siren(2, cout, fan_in=k**2)

    def kernel(self, in_el: Tensor, out_el: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Rotation ``(C_out N_rot_out, C_in N_rot_in, 1, 1)``, scale ``(C_out, N_s_out, N_s_in)``,
        spatial ``(C_out N_out, 1, k, k)``."""
        cout, k = self.out_channels, self.kernel_size
        rot_out, s_out = product_grids(self.group, out_el)
        rot_in, s_in = product_grids(self.group, in_el)
        phi = SE2.log_offset(self.group, rot_out[:, None], rot_in[:, None])  # (R_out, R_in, 1)
        k_rot = self.rotation_net(phi).view(rot_out.shape[0], rot_in.shape[0], cout, self.in_channels)
        w_rot = k_rot.permute(2, 0, 3, 1).reshape(cout * rot_out.shape[0], -1, 1, 1)
        log_s = torch.log(s_in[None, :] / s_out[:, None]).unsqueeze(-1)  # (S_out, S_in, 1)
        window = log_scale_window(self.group, log_s[..., 0], 10.0)
        w_scale = (self.scale_net(log_s) * window[..., None]).permute(2, 0, 1)  # (C_out, S_out, S_in)
        kr = self._masked_spatial(self.spatial_net, out_el, (cout,), jacobian_power=2)  # (N_out, k, k, C_out)
        return w_rot, w_scale, kr.permute(3, 0, 1, 2).reshape(cout * out_el.shape[0], 1, k, k)

    def materialise(self, kernel: Kernel, n_out: int, n_in: int) -> Tensor:
        w_rot, w_scale, w_r = kernel
        cout, cin = self.out_channels, self.in_channels
        r_out, r_in = w_rot.shape[0] // cout, w_rot.shape[1] // cin
        rot = w_rot.view(cout, r_out, cin, r_in)
        w_h = torch.einsum("oaib,ost->oasibt", rot, w_scale).reshape(cout * n_out, cin * n_in, 1, 1)
        return w_h * w_r

    def convolve(self, x: Tensor, kernel: Kernel, stride: int, padding: int, channels_last: bool) -> Tensor:
        w_rot, w_scale, w_r = kernel
        b, c, n_in, h, w = x.shape
        n_s, cout = self.group.n_scale, self.out_channels
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        # rotation mixing, one scale slice at a time (scales folded into the batch)
        xs = x.view(b, c, n_in // n_s, n_s, h, w).permute(0, 3, 1, 2, 4, 5)
        xs = xs.reshape(b * n_s, -1, h, w).contiguous(memory_format=fmt)
        z = F.conv2d(xs, w_rot.to(x.dtype)).view(b, n_s, cout, -1, h, w)  # (B, S_in, C_out, R_out, H, W)
        u = torch.einsum("bsorhw,ots->borthw", z, w_scale.to(x.dtype))  # per-channel scale mixing
        flat = u.reshape(b, -1, h, w).contiguous(memory_format=fmt)
        return F.conv2d(flat, w_r.to(x.dtype), stride=stride, padding=padding, groups=w_r.shape[0])


class GSeparable2D(Separable2D):
    """Sim(2) only, the official ``gseparable+2d``: ``k_SO2^{o,i}(theta) k_R+^{o,i}(s) k_R^{o,i}(x)``,
    every factor per channel pair. Run as the official code: rotation mixing per input channel
    (``C_in`` kept), scale mixing per input channel, then a grouped spatial conv (``groups = C_out N_out``)
    that sums over ``C_in``.

    Fan-ins as the official kernels: rotation ``C_in``, scale ``C_in``, spatial ``C_in k^2``; scale
    window slope 10, spatial mask slope 2, Jacobian ``1/s^2`` in the spatial factor.
    """

    name, alias = "gseparable+2d", "g2d"

    def _make_nets(self) -> None:
        cin, cout, k = self.in_channels, self.out_channels, self.kernel_size
        self.rotation_net = self.siren(1, cout * cin, fan_in=cin)
        self.scale_net = self.siren(1, cout * cin, fan_in=cin)
        self.spatial_net = self.siren(2, cout * cin, fan_in=cin * k**2)

    def kernel(self, in_el: Tensor, out_el: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Rotation ``(C_out, N_rot_out, C_in, N_rot_in)``, scale ``(C_out, N_s_out, C_in, N_s_in)``,
        spatial ``(C_out N_out, C_in, k, k)``."""
        cout, cin, k = self.out_channels, self.in_channels, self.kernel_size
        rot_out, s_out = product_grids(self.group, out_el)
        rot_in, s_in = product_grids(self.group, in_el)
        phi = SE2.log_offset(self.group, rot_out[:, None], rot_in[:, None])  # (R_out, R_in, 1)
        k_rot = self.rotation_net(phi).view(rot_out.shape[0], rot_in.shape[0], cout, cin)
        log_s = torch.log(s_in[None, :] / s_out[:, None]).unsqueeze(-1)  # (S_out, S_in, 1)
        window = log_scale_window(self.group, log_s[..., 0], 10.0)
        k_s = self.scale_net(log_s).view(s_out.shape[0], s_in.shape[0], cout, cin) * window[..., None, None]
        kr = self._masked_spatial(self.spatial_net, out_el, (cout, cin), jacobian_power=2)
        w_r = kr.permute(3, 0, 4, 1, 2).reshape(cout * out_el.shape[0], cin, k, k)
        return k_rot.permute(2, 0, 3, 1), k_s.permute(2, 0, 3, 1), w_r

    def materialise(self, kernel: Kernel, n_out: int, n_in: int) -> Tensor:
        """``W[(o,r,s),(i,r',s')] = k_SO2[o,r,i,r'] k_R+[o,s,i,s'] k_R[(o,r,s),i]``."""
        w_rot, w_scale, w_r = kernel
        cout, cin, k = self.out_channels, self.in_channels, self.kernel_size
        h = torch.einsum("oaib,osit->oasibt", w_rot, w_scale).reshape(cout * n_out, cin, n_in, 1, 1)
        return (h * w_r[:, :, None]).reshape(cout * n_out, cin * n_in, k, k)

    def convolve(self, x: Tensor, kernel: Kernel, stride: int, padding: int, channels_last: bool) -> Tensor:
        w_rot, w_scale, w_r = kernel
        b, c, n_in, h, w = x.shape
        n_s = self.group.n_scale
        xs = x.view(b, c, n_in // n_s, n_s, h, w)
        z = torch.einsum("bcrshw,oacr->boacshw", xs, w_rot.to(x.dtype))  # rotation mixing, C_in kept
        u = torch.einsum("boacshw,otcs->boatchw", z, w_scale.to(x.dtype))  # scale mixing, C_in kept
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        flat = u.reshape(b, -1, h, w).contiguous(memory_format=fmt)  # (B, C_out N_out C_in, H, W)
        return F.conv2d(flat, w_r.to(x.dtype), stride=stride, padding=padding, groups=w_r.shape[0])
