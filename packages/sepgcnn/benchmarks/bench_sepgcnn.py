"""One SE(2) group-convolution layer (SIREN kernel generation + convolution, forward + backward), ours
against the official formulation and a Z^2 convolution, side by side.

Run with ``nox -s "bench(sepgcnn, cpu)"`` or ``"bench(sepgcnn, cuda)"`` (JSON to
``.benchmarks/sepgcnn-<device>.json``). The spec's setting: batch 64, 28x28, k = 7, C_in = C_out = C,
N in {4, 8, 16} (C = 32) and C = 64, N = 16 on a GPU; on CPU batch 8 and C = 16 (a full kernel at
C = 32, N = 16 is a 512 -> 512-channel 7x7 convolution: minutes per step on two cores).

- ``ours-nonseparable`` / ``ours-gseparable`` / ``ours-separable``: :class:`ballroom.sepgcnn.GroupConv`
  (batched kernel generation; the separable path runs channels-last on CPU).
- ``official-nonseparable`` / ``official-separable``: the official layers' computation order,
  transcribed here as the reference (a SIREN call per output element, kernels stacked, NCHW
  convolutions), sharing our layer's weights; checked equal to ours before timing.
- ``z2``: ``nn.Conv2d(C, C, k)`` on ``(B, C, 28, 28)``, the translation-only baseline.

``extra_info``: ``saved_MiB`` (bytes autograd keeps for backward) and on CUDA ``peak_MiB``.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.profiling import saved_tensor_bytes
from ballroom.sepgcnn import SE2, GroupConv

KERNEL, SIZE = 7, 28
CPU = {"batch": 8, "settings": [(16, 4), (16, 8), (16, 16)]}
CUDA = {"batch": 64, "settings": [(32, 4), (32, 8), (32, 16), (64, 16)]}
IMPLS = (
    "ours-nonseparable",
    "ours-gseparable",
    "ours-separable",
    "official-nonseparable",
    "official-separable",
    "z2",
)


class OfficialFormulation(nn.Module):
    """The official code's order of work for ``nonseparable`` and ``separable`` SE(2) layers, on the
    weights of one of our layers: per output element, transform the tap grid and evaluate the SIREN(s),
    stack the kernels, then one conv2d (full) or a 1x1 conv and a depthwise conv (separable), NCHW."""

    def __init__(self, layer: GroupConv) -> None:
        super().__init__()
        if layer.implementation not in ("nonseparable", "separable"):
            raise ValueError("reference for nonseparable and separable layers only")
        self.layer = layer

    def forward(self, x: Tensor, el: Tensor) -> Tensor:
        layer = self.layer
        b, cin, n, h, w = x.shape
        cout, k = layer.out_channels, layer.kernel_size
        grid = layer.grid.to(x.dtype)
        mask = (grid.norm(dim=-1) <= 1.0 + 1e-6).to(x.dtype)  # (k, k)
        per_out_full, per_out_h, per_out_r = [], [], []
        for m in range(n):
            theta = el[m, 0]
            c, s = torch.cos(-theta), torch.sin(-theta)
            coords = torch.stack(
                [c * grid[..., 0] - s * grid[..., 1], s * grid[..., 0] + c * grid[..., 1]], -1
            )
            phi = torch.remainder(el[:, 0] - theta, 2 * torch.pi) / torch.pi - 1.0  # (N_in,)
            if layer.implementation == "nonseparable":
                inp = torch.cat([coords.expand(n, k, k, 2), phi.view(n, 1, 1, 1).expand(n, k, k, 1)], -1)
                kern = layer.kernel_net(inp).view(n, k, k, cout, cin) * mask[..., None, None]
                per_out_full.append(kern.permute(3, 4, 0, 1, 2))  # (C_out, C_in, N_in, k, k)
            else:
                per_out_h.append(
                    layer.group_net(phi[:, None]).view(n, cout, cin).permute(1, 2, 0)
                )  # (C_out, C_in, N_in)
                per_out_r.append(
                    (layer.spatial_net(coords) * mask[..., None]).permute(2, 0, 1)
                )  # (C_out, k, k)
        flat = x.reshape(b, cin * n, h, w)
        if per_out_full:
            weight = torch.stack(per_out_full, 1).reshape(cout * n, cin * n, k, k)
            y = F.conv2d(flat, weight, padding=k // 2)
        else:
            w_h = torch.stack(per_out_h, 1).reshape(cout * n, cin * n, 1, 1)
            w_r = torch.stack(per_out_r, 1).reshape(cout * n, 1, k, k)
            y = F.conv2d(F.conv2d(flat, w_h), w_r, padding=k // 2, groups=cout * n)
        return y.view(b, cout, n, h, w)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("index", range(4))
def test_group_conv_layer(benchmark: Any, device: torch.device, impl: str, index: int) -> None:
    cfg = CUDA if device.type == "cuda" else CPU
    if index >= len(cfg["settings"]):
        pytest.skip(f"{len(cfg['settings'])} settings on {device.type}")
    channels, n = cfg["settings"][index]
    batch = cfg["batch"]
    benchmark.group = f"C{channels}-N{n}-B{batch}"
    torch.manual_seed(0)
    group = SE2(n)
    el = group.sample().to(device)
    if impl == "z2":
        conv2d = nn.Conv2d(channels, channels, KERNEL, padding=KERNEL // 2, bias=False).to(device)
        x = torch.randn(batch, channels, SIZE, SIZE, device=device, requires_grad=True)
        run = lambda: conv2d(x)  # noqa: E731
        module: nn.Module = conv2d
    else:
        kind = impl.split("-")[1]
        layer = GroupConv(group, channels, channels, KERNEL, implementation=kind).to(device)
        x = torch.randn(batch, channels, n, SIZE, SIZE, device=device, requires_grad=True)
        if impl.startswith("official"):
            ref = OfficialFormulation(layer)
            with torch.no_grad():
                torch.testing.assert_close(ref(x[:1], el), layer(x[:1], el)[0], rtol=1e-4, atol=1e-4)
            run = lambda: ref(x, el)  # noqa: E731
        else:
            run = lambda: layer(x, el)[0]  # noqa: E731
        module = layer

    def step() -> None:
        out = run()
        out.backward(torch.ones_like(out))
        module.zero_grad(set_to_none=True)
        x.grad = None
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()
    benchmark.extra_info["saved_MiB"] = saved_tensor_bytes(run) / 2**20
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        benchmark.extra_info["peak_MiB"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    benchmark.pedantic(step, rounds=3 if device.type == "cpu" else 20, iterations=1, warmup_rounds=1)
