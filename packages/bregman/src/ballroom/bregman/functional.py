"""Pure functions of the method (torch only, no Lightning, no state).

- :func:`bregman_layer`: ``x_l = sigma(sigma^{-1}(clamp(P x_{l-1})) + W x_{l-1} + b)``.
- :func:`project_simplex`: the exact Euclidean projection of each row onto the probability simplex.
- :func:`scale_to_range`: pixel values in ``[0, 1]`` into the range of an activation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.bregman.activations import Activation, get_activation
from ballroom.core.validate import check_choice, check_positive, check_tensor

__all__ = ["bregman_layer", "project_simplex", "scale_to_range"]


def scale_to_range(x: Tensor, activation: str | Activation, eps: float = 1e-5) -> Tensor:
    """Map ``x`` in ``[0, 1]`` into the range ``(lo, hi)`` of ``activation``: ``(lo + eps) + (hi - lo - 2 eps) x``.

    For a half-open range (softplus, relu: ``(0, inf)``) the map is the shift ``lo + eps + x``; for
    ``R`` (asinh, identity) ``x`` is returned unchanged. Any shape; same shape and dtype out.
    """
    act = get_activation(activation)
    check_tensor(x, "x")
    check_positive(eps, "eps", strict=False)
    if bool((x < 0).any()) or bool((x > 1).any()):
        raise ValueError(
            f"x must lie in [0, 1] (pixel intensities), got values in [{float(x.min()):.4g}, {float(x.max()):.4g}]"
        )
    if act.bounded:
        if not 2 * eps < act.hi - act.lo:
            raise ValueError(f"eps must be < (hi - lo) / 2 = {(act.hi - act.lo) / 2}, got {eps}")
        return (act.lo + eps) + (act.hi - act.lo - 2 * eps) * x
    if math.isfinite(act.lo):
        return act.lo + eps + x
    if math.isfinite(act.hi):
        return act.hi - eps - x
    return x


def project_simplex(v: Tensor) -> Tensor:
    """Rows of ``v`` ``(M, N)`` projected onto the probability simplex (exact, sort-based).

    Returns ``w (M, N)`` with ``w >= 0``, rows summing to 1, ``w[i] = argmin_{u in simplex} ||u - v[i]||``:
    ``w = max(v - theta, 0)`` with ``theta`` from the largest ``k`` such that
    ``u_k - (sum_{j<=k} u_j - 1) / k > 0`` over the entries ``u`` sorted in decreasing order.
    """
    check_tensor(v, "v", ndim=2)
    u, _ = torch.sort(v, dim=1, descending=True)
    css = torch.cumsum(u, dim=1) - 1
    k = torch.arange(1, v.shape[1] + 1, device=v.device, dtype=v.dtype)
    support = (u - css / k) > 0  # true on a prefix of the sorted entries
    rho = support.sum(dim=1, keepdim=True)  # >= 1 always (the largest entry qualifies)
    theta = css.gather(1, rho - 1) / rho.to(v.dtype)
    return torch.clamp(v - theta, min=0)


def bregman_layer(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    activation: str | Activation,
    skip_weight: Tensor | None = None,
    version: str = "bregman",
    eps: float = 1e-5,
    offset: str = "exact",
) -> Tensor:
    """One layer ``(B, N_in) -> (B, N_out)``.

    - ``bregman``: ``sigma(sigma^{-1}(clamp(S x)) + W x + b)``, ``S = skip_weight`` (``P``, ``(N_out, N_in)``)
      or the identity when it is ``None`` (then ``N_in == N_out``); ``clamp`` to ``[lo + eps, hi - eps]``.
    - ``euclidean``: ``sigma(S x + W x + b)`` (the quadratic fidelity, ``V = I + W``).
    - ``standard``: ``sigma(W x + b)``.

    ``offset="official"`` uses the official code's offsets (sigmoid ``log(y/(1+y))``, relu ``y + 1/y``).

    Args:
        x: the input ``(B, N_in)``, inside the activation's range for ``bregman``.
        weight: ``W (N_out, N_in)``.
        bias: ``b (N_out,)`` or ``None``.
        activation: an activation name or :class:`~ballroom.bregman.activations.Activation`.
        skip_weight: ``P (N_out, N_in)`` or ``None`` (the identity).
        version: ``"bregman"``, ``"euclidean"`` or ``"standard"`` (above).
        eps: the clamp margin.
        offset: ``"exact"`` or ``"official"``.

    Returns:
        ``(B, N_out)``.

    Raises:
        ValueError: an unknown ``version`` or ``activation``, or differing widths without ``skip_weight``.
    """
    act = get_activation(activation)
    check_choice(version, "version", ("bregman", "euclidean", "standard"))
    pre = F.linear(x, weight, bias)
    if version == "standard":
        return act.sigma(pre)
    skip = x if skip_weight is None else F.linear(x, skip_weight)
    if skip.shape[-1] != pre.shape[-1]:
        raise ValueError(
            f"skip_weight is needed when in and out widths differ ({x.shape[-1]} -> {pre.shape[-1]})"
        )
    if version == "euclidean":
        return act.sigma(skip + pre)
    return act.sigma(pre + act.clamped_inverse(offset, eps)(skip))
