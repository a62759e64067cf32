"""A whole stack of Bregman layers as one autograd node with a hand-written backward.

Layer ``l`` computes ``s = P_l x`` (``x`` at equal widths), ``c = clamp(s, lo + eps, hi - eps)`` and
``y = sigma(W x + b + sigma^{-1}(c))`` with exactly the operations of
:class:`~ballroom.bregman.nn.BregmanLinear` (so the forward is bitwise the same). The backward uses
what the forward saved: ``du = g * sigma'(z)`` from the output ``y``, the skip term
``du * (sigma^{-1})'(c)`` masked to zero where the clamp is active (``_clamp_grad``: PyTorch's
clamp gradient, whose value at the bounds themselves depends on the torch release; tested against it), ``dx = du W + (skip term) P`` in one ``addmm``, ``dW = du^T x``,
``db = sum du``. At width 64 every op is dispatch-bound on a CPU, and autograd's chain of small
nodes (clamp, inverse, add, their masks and accumulations) is what made a Bregman layer cost ~1.7x
a standard one; one node for the stack removes that overhead. The backward is once-differentiable
(``BregmanMLP(fused_backward=False)`` keeps plain autograd for double backward).

Carried pre-activations (``carry=True``, the default): where ``P = I`` and the layer's input is the
previous layer's output ``x_{l-1} = sigma(z_{l-1})``, ``sigma^{-1}(clamp(x_{l-1}, lo + eps, hi - eps))
= clamp(z_{l-1}, sigma^{-1}(lo + eps), sigma^{-1}(hi - eps))`` in exact arithmetic (``sigma``
strictly increasing, the spec's clamp placement: on ``P x`` before the inverse), so the stack
clamps ``z_{l-1}`` and never evaluates the inverse there; in the backward the skip term's gradient
goes to ``z_{l-1}`` directly (the clamp's mask), with no ``(sigma^{-1})'`` and no ``sigma'``
factor. The forward then differs from the layer-by-layer one by the rounding of
``sigma^{-1}(sigma(z))`` it avoids (closer to a float64 evaluation; tested).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ballroom.bregman.activations import Activation
from ballroom.core.validate import check_tensor

__all__ = ["bregman_stack", "supports_fused_backward"]


def supports_fused_backward(act: Activation) -> bool:
    """Whether ``act`` carries the derivatives the hand-written backward needs (``grad_sigma``, ``grad_inverse``).

    Args:
        act: the activation.

    Returns:
        ``True`` for sigmoid, tanh, isru, atan, softplus<beta> and relu (the bent identity).
    """
    return act.grad_sigma is not None and act.grad_inverse is not None


def _bounds(act: Activation, eps: float) -> tuple[float | None, float | None]:
    lo = act.lo + eps if math.isfinite(act.lo) else None
    hi = act.hi - eps if math.isfinite(act.hi) else None
    return lo, hi


@functools.cache
def _clamp_grad_passes_at_bounds() -> bool:
    """Whether this torch's ``clamp`` gradient is 1 at the bounds themselves (older releases, e.g.
    2.1) rather than 0 (recent ones); the stack's mask follows whichever torch does."""
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with torch.enable_grad():  # may first be asked inside a backward
        torch.clamp(x, 0.0, 1.0).sum().backward()
    assert x.grad is not None
    return bool(x.grad[0] == 1)


def _clamp_grad(g: Tensor, s: Tensor, lo: float, hi: float) -> Tensor:
    """The gradient of ``torch.clamp(s, lo, hi)`` given ``g`` (same shapes), as torch's own autograd gives it.

    Args:
        g: the incoming gradient, any shape.
        s: the clamp's input, the shape of ``g``.
        lo, hi: the bounds (``-inf`` / ``inf`` for an open end).

    Returns:
        ``g`` where ``lo < s < hi`` (and at the bounds where torch's clamp lets it through), else 0.
    """
    if _clamp_grad_passes_at_bounds():
        return g * ((s >= lo) & (s <= hi))
    return torch.ops.aten.hardtanh_backward(g, s, lo, hi)


def _carried_bounds(act: Activation, eps: float) -> tuple[float, float]:
    """``sigma^{-1}(lo + eps)``, ``sigma^{-1}(hi - eps)`` in float64 (``-inf`` / ``inf`` for an open end).

    ``sigma`` is strictly increasing, so ``sigma^{-1}(clamp(sigma(z), lo + eps, hi - eps))`` equals
    ``clamp(z, sigma^{-1}(lo + eps), sigma^{-1}(hi - eps))`` in exact arithmetic.
    """
    lo, hi = _bounds(act, eps)
    out = []
    for bound in (lo, hi):
        out.append(
            math.inf if bound is None else float(act.inverse(torch.tensor(bound, dtype=torch.float64)))
        )
    return -out[0] if lo is None else out[0], out[1]


class _BregmanStack(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        act: Activation,
        eps: float,
        skips: tuple[Tensor | None, ...],
        carry: bool,
        x: Tensor,
        *params: Tensor | None,
    ) -> Tensor:
        lo, hi = _bounds(act, eps)
        zlo, zhi = _carried_bounds(act, eps) if carry else (-math.inf, math.inf)
        fused = act.fused_inverse is not None and act.fused_inverse_grad is not None
        clamped = not (lo is None and hi is None)
        saved: list[Tensor] = []
        carried: list[bool] = []
        h, z_prev = x, None
        for i, skip_weight in enumerate(skips):
            weight, bias = params[2 * i], params[2 * i + 1]
            assert weight is not None
            if carry and skip_weight is None and z_prev is not None:
                # x_{l-1} = sigma(z_{l-1}) and P = I: the clamped inverse is clamp(z_{l-1}) (exact
                # arithmetic); the fresh clamp output takes the bias and the matmul in place
                s = z_prev
                c = torch.clamp(z_prev, zlo, zhi) if clamped else z_prev.clone()
                if bias is not None:
                    c.add_(bias)
                u = c.addmm_(h, weight.t())
                carried.append(True)
            else:
                s = h if skip_weight is None else torch.mm(h, skip_weight.t())
                if fused:
                    offset = act.fused_inverse(s, eps)  # type: ignore[misc]
                    c = s
                else:
                    c = s if not clamped else torch.clamp(s, lo, hi)
                    offset = act.inverse(c)
                u = torch.mm(h, weight.t()) if bias is None else torch.addmm(bias, h, weight.t())
                u = u.add_(offset)  # the same ops and order as BregmanLinear.forward
                carried.append(False)
            y = act.sigma(u)
            saved += [h, s, c, y]
            h, z_prev = y, u
        ctx.act, ctx.eps, ctx.skips, ctx.fused, ctx.n = act, eps, skips, fused, len(skips)
        ctx.clamped, ctx.carried = clamped, carried
        ctx.lo = -math.inf if lo is None else lo
        ctx.hi = math.inf if hi is None else hi
        ctx.zlo, ctx.zhi = zlo, zhi
        ctx.has_bias = [params[2 * i + 1] is not None for i in range(len(skips))]
        ctx.save_for_backward(*saved, *(p for p in params if p is not None))
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        act: Activation = ctx.act
        n = ctx.n
        tensors = ctx.saved_tensors
        states, rest = tensors[: 4 * n], list(tensors[4 * n :])
        weights: list[Tensor] = []
        for has_bias in ctx.has_bias:
            weights.append(rest.pop(0))
            if has_bias:
                rest.pop(0)
        needs = ctx.needs_input_grad  # (act, eps, skips, carry, x, w0, b0, w1, b1, ...)
        grads: list[Tensor | None] = [None] * (2 * n)
        g = grad.contiguous()
        through: Tensor | None = None  # d loss / d z_l reaching layer l through layer l+1's carried clamp
        for i in reversed(range(n)):
            h, s, c, y = states[4 * i : 4 * i + 4]
            du = act.grad_sigma(g, y)  # type: ignore[misc]
            if through is not None:
                du = du.add_(through)
            if needs[5 + 2 * i]:
                grads[2 * i] = du.t().mm(h)
            if ctx.has_bias[i] and needs[6 + 2 * i]:
                grads[2 * i + 1] = du.sum(0)
            if i == 0 and not needs[4]:
                break
            if ctx.carried[i]:
                # the offset was clamp(z_{l-1}): its gradient goes to z_{l-1} directly (torch's clamp
                # mask, 0 at the bounds), the linear part's to x_{l-1}
                through = _clamp_grad(du, s, ctx.zlo, ctx.zhi) if ctx.clamped else du
                g = du.mm(weights[i])
                continue
            through = None
            # the clamp's gradient first, as torch's: 1 strictly inside the bounds, else 0 (then the
            # inverse's derivative at c, finite everywhere since c is clamped into the range)
            m = _clamp_grad(du, s, ctx.lo, ctx.hi) if ctx.clamped else du
            if ctx.fused:
                gs = act.fused_inverse_grad(m, s, ctx.eps)  # type: ignore[misc]
            else:
                gs = act.grad_inverse(m, c)  # type: ignore[misc]
            skip_weight = ctx.skips[i]
            if skip_weight is not None:
                gs = gs.mm(skip_weight)
            g = torch.addmm(gs, du, weights[i])
        gx = g if needs[4] else None
        return (None, None, None, None, gx, *grads)


def bregman_stack(
    x: Tensor,
    weights: list[Tensor],
    biases: list[Tensor | None],
    skips: list[Tensor | None],
    act: Activation,
    eps: float,
    carry: bool = True,
) -> Tensor:
    """``L`` Bregman layers (exact offsets) applied to ``x (B, N_0)`` as one autograd node: ``(B, N_L)``.

    With ``carry`` (default), a layer ``l >= 2`` whose skip is the identity takes its offset from the
    previous layer's pre-activation ``z_{l-1}`` (where ``x_{l-1} = sigma(z_{l-1})``):
    ``sigma^{-1}(clamp(x_{l-1}, lo + eps, hi - eps)) = clamp(z_{l-1}, sigma^{-1}(lo + eps),
    sigma^{-1}(hi - eps))`` exactly in exact arithmetic (``sigma`` is strictly increasing), so the
    inverse is never evaluated there. In floating point this is the exact value where the explicit
    form carries the rounding of ``sigma^{-1}(sigma(z))``: the two forwards agree to a few ulps of
    ``x_l`` (documented and tested), not bit for bit. The first layer and layers with a projection
    ``P`` always use the explicit inverse.

    Args:
        x: the input ``(B, N_0)``, inside the activation's range.
        weights: ``W_l (N_l, N_{l-1})``.
        biases: ``b_l (N_l,)`` or ``None``.
        skips: ``P_l (N_l, N_{l-1})`` (fixed buffers, no gradient) or ``None`` for the identity.
        act: an activation with :func:`supports_fused_backward`.
        eps: the clamp margin ``[lo + eps, hi - eps]``.
        carry: carry the clamped pre-activation through identity skips (above); ``False``: the
            explicit inverse in every layer.

    Returns:
        ``x_L (B, N_L)``: with ``carry=False`` equal (bitwise) to the layer-by-layer forward, with
        ``carry=True`` equal to it up to rounding; gradients to ``x`` and every ``W_l, b_l`` that
        requires one.

    Raises:
        TypeError: a non-tensor or non-floating ``x``, weight, bias or skip, or a non-bool ``carry``.
        ValueError: ``act`` has no hand-written derivatives, the lists differ in length, or the
            shapes do not chain (``W_l (N_l, N_{l-1})``, ``b_l (N_l,)``, ``P_l (N_l, N_{l-1})``).
    """
    if not supports_fused_backward(act):
        raise ValueError(
            f"act: activation {act.name!r} has no hand-written derivatives (grad_sigma, grad_inverse)"
        )
    if not len(weights) == len(biases) == len(skips):
        raise ValueError(
            f"weights, biases and skips must have the same length, got {len(weights)}, {len(biases)}, {len(skips)}"
        )
    if not isinstance(carry, bool):
        raise TypeError(f"carry must be a bool, got {type(carry).__name__}")
    check_tensor(x, "x", ndim=2, finite=False)
    width = x.shape[1]
    for i, (w, b, p) in enumerate(zip(weights, biases, skips)):
        check_tensor(w, f"weights[{i}]", ndim=2, finite=False)
        skip_in = width if p is None else check_tensor(p, f"skips[{i}]", shape=(w.shape[0], width)).shape[0]
        if w.shape[1] != width or skip_in != w.shape[0]:
            raise ValueError(
                f"weights[{i}] must have shape ({width if p is None else 'N'}, {width}) "
                f"(an identity skip keeps the width), got {tuple(w.shape)}"
            )
        if b is not None:
            check_tensor(b, f"biases[{i}]", shape=(w.shape[0],), finite=False)
        width = w.shape[0]
    return _stack(x, weights, biases, skips, act, eps, carry)


def _stack(
    x: Tensor,
    weights: list[Tensor],
    biases: list[Tensor | None],
    skips: list[Tensor | None],
    act: Activation,
    eps: float,
    carry: bool = True,
) -> Tensor:
    """:func:`bregman_stack` without the argument checks (for callers that built consistent layers)."""
    params: list[Tensor | None] = []
    for w, b in zip(weights, biases):
        params += [w, b]
    out: Tensor = _BregmanStack.apply(act, eps, tuple(skips), carry, x, *params)
    return out
