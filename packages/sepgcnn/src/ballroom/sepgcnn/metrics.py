"""Diagnostics: rot90 equivariance error, kernel separability (redundancy), parameter and FLOP counters."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "count_flops",
    "count_parameters",
    "equivariance_error",
    "group_conv_flops",
    "group_conv_parameters",
    "kernel_separability",
    "siren_parameters",
]


def kernel_separability(weight: Tensor, n_out: int | None = None, n_in: int | None = None) -> Tensor:
    """``sigma_1^2 / sum_i sigma_i^2`` of every kernel viewed as an ``(N_in, k^2)`` matrix.

    With ``n_out`` and ``n_in``: ``weight (C_out N_out, C_in N_in, k, k)`` as returned by
    ``GroupConv.full_kernel()``; returns ``(C_out, N_out, C_in)`` values. Without them: ``weight
    (..., N, k, k)`` is a stack of kernels, each already one ``(N, k^2)`` matrix; returns ``(...)``.
    Values lie in ``(0, 1]``: 1 = rank one (an outer product ``k_H(h) k_R(x)``), ``1 / min(N, k^2)``
    for a flat spectrum.
    """
    if n_out is None and n_in is None:
        if weight.ndim < 3 or weight.shape[-1] != weight.shape[-2]:
            raise ValueError(
                f"weight must be (..., N, k, k) when n_out/n_in are not given, got {tuple(weight.shape)}"
            )
        mats = weight.reshape(*weight.shape[:-2], -1)
    else:
        if n_out is None or n_in is None:
            raise ValueError("give both n_out and n_in, or neither")
        if weight.ndim != 4 or weight.shape[0] % n_out or weight.shape[1] % n_in:
            raise ValueError(
                f"weight must be (C_out*N_out, C_in*N_in, k, k) with N_out={n_out}, N_in={n_in}, got {tuple(weight.shape)}"
            )
        cout, cin = weight.shape[0] // n_out, weight.shape[1] // n_in
        mats = weight.reshape(cout, n_out, cin, n_in, -1)
    s = torch.linalg.svdvals(mats)
    return s[..., 0] ** 2 / (s**2).sum(-1).clamp_min(torch.finfo(s.dtype).tiny)


def equivariance_error(module: nn.Module, x: Tensor, k_rot90: int = 1, n_rot: int | None = None) -> float:
    """Relative max error ``|f(rot x) - rot f(x)| / max |f(x)|`` for a rotation by ``k_rot90`` right angles.

    ``f`` maps images ``(B, C, H, W)`` either to invariant outputs ``(B, ...)`` without spatial axes
    (compared directly) or to lifted maps ``(B, C', N, H, W)`` (``n_rot`` = N: the group axis is
    rolled by ``-k_rot90 N / 4``). Tuple outputs use their first element.

    Args:
        module: the map ``f`` (run under ``torch.no_grad()``; put it in eval mode for deterministic output).
        x: the input images ``(B, C, H, W)`` (square, for the rotation to keep the shape).
        k_rot90: number of counter-clockwise right angles to rotate by; default 1.
        n_rot: group size ``N`` of lifted outputs (a multiple of 4); default None (invariant outputs).

    Returns:
        The relative max error as a float (0 for an exactly equivariant ``f``).

    Raises:
        ValueError: if the output is 5-d and ``n_rot`` is None or not divisible by 4.
    """

    def run(inp: Tensor) -> Tensor:
        out = module(inp)
        return out[0] if isinstance(out, tuple) else out

    with torch.no_grad():
        y = run(x)
        y_rot = run(torch.rot90(x, k_rot90, (-2, -1)))
    if y.ndim == 5:
        if n_rot is None or n_rot % 4:
            raise ValueError("lifted outputs need n_rot divisible by 4")
        expected = torch.roll(torch.rot90(y, k_rot90, (-2, -1)), -k_rot90 * n_rot // 4, dims=2)
    else:
        expected = y
    return float((y_rot - expected).abs().max() / y.abs().max().clamp_min(1e-30))


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``.

    Args:
        module: the module whose ``parameters()`` are counted.
        trainable_only: count only parameters with ``requires_grad`` (default True); False: all.

    Returns:
        The number of scalar parameters.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def siren_parameters(in_features: int, out_features: int, hidden: int = 64, num_hidden: int = 1) -> int:
    """Closed form of :class:`~ballroom.sepgcnn.nn.SIRENKernel`'s parameter count.

    Args:
        in_features: the SIREN's input coordinates.
        out_features: its outputs.
        hidden: its hidden width; default 64.
        num_hidden: its hidden-to-hidden layers; default 1.

    Returns:
        ``(in + 1) hidden + num_hidden (hidden + 1) hidden + (hidden + 1) out`` (weights and biases).
    """
    return (in_features + 1) * hidden + num_hidden * (hidden + 1) * hidden + (hidden + 1) * out_features


def group_conv_parameters(
    implementation: str,
    in_channels: int,
    out_channels: int,
    group_dim: int = 1,
    hidden: int = 64,
    num_hidden: int = 1,
) -> int:
    """Closed-form parameter count of a :class:`~ballroom.sepgcnn.nn.GroupConv` (its SIRENs and channel
    projection): independent of the number of group elements, the kernel size and the image size.

    Args:
        implementation: the factorisation's official name or alias (``"separable"``, ``"hc"``, ...).
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        group_dim: Lie-algebra dimension ``d`` of H: 1 for SE(2) (default), 2 for Sim(2).
        hidden: the SIRENs' width; default 64.
        num_hidden: the SIRENs' hidden layers; default 1.

    Returns:
        The number of parameters (``omega0`` and the buffers do not count).

    Raises:
        ValueError: if ``implementation`` is unknown.
    """
    from ballroom.sepgcnn.nn import ALIASES

    impl = ALIASES.get(implementation, implementation)
    cin, cout, d = in_channels, out_channels, group_dim

    def siren(i: int, o: int) -> int:
        return siren_parameters(i, o, hidden, num_hidden)

    counts = {
        "nonseparable": siren(2 + d, cout * cin),
        "gseparable": siren(d, cout * cin) + siren(2, cout * cin),
        "separable": siren(d, cout * cin) + siren(2, cout),
        "dseparable": cin * cout + siren(2 + d, cout),
        "dgseparable": cin * cout + siren(d, cout) + siren(2, cout),
        "separable+2d": siren(1, cout * cin) + siren(1, cout) + siren(2, cout),
        "gseparable+2d": siren(1, cout * cin) + siren(1, cout * cin) + siren(2, cout * cin),
    }
    if impl not in counts:
        raise ValueError(f"unknown implementation {implementation!r}")
    return counts[impl]


def group_conv_flops(
    implementation: str,
    in_channels: int,
    out_channels: int,
    n_in: int,
    n_out: int,
    kernel_size: int,
    height: int,
    width: int,
    batch: int = 1,
    n_scale: int = 1,
) -> int:
    """Closed-form FLOPs (2 per multiply-add) of a stride-1, padded group convolution's convolutions
    (kernel generation excluded): the paper's ``O(C_in C_out N^2 k^2)`` against
    ``O(C_in C_out N^2 + C_out N k^2)`` per output pixel.

    Args:
        implementation: the factorisation's official name or alias.
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        n_in: input group elements ``N_in``.
        n_out: output group elements ``N_out``.
        kernel_size: ``k``.
        height: output height (stride 1, padded: the input's).
        width: output width.
        batch: batch size; default 1.
        n_scale: scales ``N_s`` of a Sim(2) grid (the ``+2d`` forms split ``N = N_rot N_s``); default 1.

    Returns:
        The FLOP count, ``2 batch height width`` times the multiply-adds per output pixel.

    Raises:
        ValueError: if ``implementation`` is unknown.
    """
    from ballroom.sepgcnn.nn import ALIASES

    impl = ALIASES.get(implementation, implementation)
    cin, cout, k2 = in_channels, out_channels, kernel_size**2
    pixels = batch * height * width
    spatial = cout * n_out * k2  # depthwise
    macs = {
        "nonseparable": cin * n_in * cout * n_out * k2,
        "gseparable": cin * n_in * cout * n_out * k2,
        "separable": cin * n_in * cout * n_out + spatial,
        "dseparable": cin * cout * n_in + cout * n_in * n_out * k2,
        "dgseparable": cin * cout * n_in + cout * n_in * n_out + spatial,
        "separable+2d": cin * (n_in // n_scale) * cout * (n_out // n_scale) * n_scale
        + cout * (n_out // n_scale) * n_scale * n_scale
        + spatial,
        "gseparable+2d": cout * (n_out // n_scale) * cin * n_in
        + cout * n_out * cin * n_scale
        + spatial * cin,
    }
    if impl not in macs:
        raise ValueError(f"unknown implementation {implementation!r}")
    return 2 * pixels * macs[impl]


def count_flops(module: nn.Module, *inputs: object, backward: bool = False) -> int:
    """FLOPs of one forward (and backward) pass, counted by ``torch.utils.flop_counter.FlopCounterMode``
    (convolutions, matmuls and einsums; elementwise ops are not counted).

    Args:
        module: the module to run.
        *inputs: its positional inputs.
        backward: also count the backward pass of ``out.sum()`` (the first output of a tuple); default False.

    Returns:
        The total FLOP count.
    """
    with FlopCounterMode(display=False) as counter:
        out = module(*inputs)
        if backward:
            first = out[0] if isinstance(out, tuple) else out
            first.sum().backward()
    return int(counter.get_total_flops())
