"""Neurocoder layers (no Lightning): program memory, composition, low-rank evaluation.

Shapes: ``B`` batch, ``n`` in / ``m`` out features, ``P`` slots, ``k`` key size, ``r`` rank per
read, ``R`` components (``r`` in direct mode, ``steps * r`` in recurrent mode).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_int, check_tensor
from ballroom.neurocoder import functional as NF

__all__ = [
    "NeurocoderConv2d",
    "NeurocoderLinear",
    "NeurocoderMLP",
    "ProgramComposition",
    "ProgramMemory",
    "attach_neurocoder",
    "neurocoder_regularizer",
]


class ProgramMemory(nn.Module):
    """The three slot matrices of one layer and their keys.

    ``M_U (P, k+n)``, ``M_V (P, k+m)``, ``M_S (P, k+1)``: columns ``[:k]`` a stored key, ``[k:]`` the
    program. ``key_mode="content"`` computes ``K_U = key_u(M_U[:, k:])``, ``K_V = key_v(M_V[:, k:])``
    (keys follow the programs), ``K_S = M_S[:, :k]``; ``"learned"`` uses the stored key columns.
    Init: xavier-uniform (gain 1) on each whole matrix; key Linears keep PyTorch's default.

    Args:
        num_programs: the number of slots ``P``.
        key_dim: the key size ``k``.
        in_features: the program's input size ``n``.
        out_features: the program's output size ``m``.
        key_mode: ``"content"`` or ``"learned"`` (above).

    Raises:
        ValueError: a size below 1 or an unknown ``key_mode``.
    """

    def __init__(
        self,
        num_programs: int,
        key_dim: int,
        in_features: int,
        out_features: int,
        key_mode: str = "content",
    ) -> None:
        super().__init__()
        self.num_programs = check_int(num_programs, "num_programs", min=1)
        self.key_dim = check_int(key_dim, "key_dim", min=1)
        self.in_features = check_int(in_features, "in_features", min=1)
        self.out_features = check_int(out_features, "out_features", min=1)
        self.key_mode = check_choice(key_mode, "key_mode", ("content", "learned"))
        P, k = self.num_programs, self.key_dim
        self.M_U = nn.Parameter(torch.empty(P, k + self.in_features))
        self.M_V = nn.Parameter(torch.empty(P, k + self.out_features))
        self.M_S = nn.Parameter(torch.empty(P, k + 1))
        for M in (self.M_U, self.M_V, self.M_S):
            nn.init.xavier_uniform_(M, gain=1.0)
        if key_mode == "content":
            self.key_u = nn.Linear(self.in_features, k)
            self.key_v = nn.Linear(self.out_features, k)

    def programs(self) -> tuple[Tensor, Tensor, Tensor]:
        """The program columns: ``(P, n)``, ``(P, m)``, ``(P, 1)``."""
        k = self.key_dim
        return self.M_U[:, k:], self.M_V[:, k:], self.M_S[:, k:]

    def keys(self) -> tuple[Tensor, Tensor, Tensor]:
        """``K_U, K_V, K_S``, each ``(P, k)``, recomputed at every call."""
        k = self.key_dim
        if self.key_mode == "content":
            return self.key_u(self.M_U[:, k:]), self.key_v(self.M_V[:, k:]), self.M_S[:, :k]
        return self.M_U[:, :k], self.M_V[:, :k], self.M_S[:, :k]

    def orthogonality_loss(self) -> Tensor:
        """``|M_U M_U^T - I|_F + |M_V M_V^T - I|_F`` on the whole rows (keys included); no M_S term."""
        return NF.orthogonality_loss(self.M_U) + NF.orthogonality_loss(self.M_V)

    def extra_repr(self) -> str:
        return (
            f"num_programs={self.num_programs}, key_dim={self.key_dim}, in_features={self.in_features}, "
            f"out_features={self.out_features}, key_mode={self.key_mode!r}"
        )


class ProgramComposition(NamedTuple):
    """One composed program per sample: ``W_a = U^T diag(sigma) V``.

    Attributes:
        U: ``(B, R, n)``; V: ``(B, R, m)``; sigma: ``(B, R)`` positive, monotone;
        gate: ``(B, 1)`` residual gate ``g`` (in ``(0, 1)``); sigma_min: ``(B,)``;
        read_weights: ``(w_U, w_V, w_S)``, each ``(B, R, P)``.
    """

    U: Tensor
    V: Tensor
    sigma: Tensor
    gate: Tensor
    read_weights: tuple[Tensor, Tensor, Tensor]
    sigma_min: Tensor


def _init_linear(layer: nn.Linear) -> None:
    nn.init.xavier_uniform_(layer.weight, gain=1.0)
    nn.init.normal_(layer.bias, std=0.01)


class NeurocoderLinear(nn.Module):
    """A linear map ``(B, n) -> (B, m)`` whose weight is composed per sample from a program memory.

    ``y = ((x U^T) * sigma) V + sigma_min g (x W_res) + b``, evaluated in low rank (never ``B x n x m``).

    Args:
        in_features, out_features: ``n``, ``m``.
        num_programs, key_dim, rank: ``P``, ``k``, ``r`` (components per read).
        composition: ``"direct"`` (three Linear query maps, beta = 1, increasing sigma) or
            ``"recurrent"`` (an LSTM controller run ``steps`` times, beta = 10, decreasing sigma).
        steps: ``T`` of the recurrent controller (1 in direct mode).
        top_lu: least-used interpolation over this many slots (recurrent mode; 0 = off).
        residual: add the learned residual program ``W_res (n, m)`` (also passable to ``forward``).
        bias: add ``b (m,)``.
        controller_features: size of the controller input ``c`` (default ``n``: ``c = x``).
        key_mode: ``"content"`` (released) or ``"learned"`` program keys.
        sigma_order: ``"code"`` (official: increasing in direct, decreasing in recurrent mode) or
            ``"paper"`` (``sigma_j = sum_{l>=j} softplus(a_l)``).
        scale_by_key_dim: keep the official ``1/k`` in the similarity.
        eps: the similarity's delta.
        renormalize_lu: renormalise the least-used blended weights to sum 1 (official: ``False``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_programs: int = 50,
        key_dim: int = 5,
        rank: int = 10,
        composition: str = "direct",
        steps: int = 1,
        top_lu: int = 0,
        residual: bool = False,
        bias: bool = False,
        controller_features: int | None = None,
        key_mode: str = "content",
        sigma_order: str = "code",
        scale_by_key_dim: bool = True,
        eps: float = 1e-6,
        renormalize_lu: bool = False,
    ) -> None:
        super().__init__()
        self.renormalize_lu = bool(renormalize_lu)
        self.in_features = check_int(in_features, "in_features", min=1)
        self.out_features = check_int(out_features, "out_features", min=1)
        self.rank = check_int(rank, "rank", min=1)
        self.composition = check_choice(composition, "composition", ("direct", "recurrent"))
        self.steps = check_int(steps, "steps", min=1)
        self.top_lu = check_int(top_lu, "top_lu", min=0)
        self.sigma_order_mode = check_choice(sigma_order, "sigma_order", ("code", "paper"))
        self.controller_features = (
            self.in_features
            if controller_features is None
            else check_int(controller_features, "controller_features", min=1)
        )
        self.memory = ProgramMemory(num_programs, key_dim, in_features, out_features, key_mode)
        self.num_programs, self.key_dim = self.memory.num_programs, self.memory.key_dim
        self.scale_by_key_dim = bool(scale_by_key_dim)
        self.eps = float(eps)
        self.has_residual, self.has_bias = bool(residual), bool(bias)
        #: when True, forward keeps its composition (detached) in ``last_composition`` (for logging)
        self.record = False
        self.last_composition: ProgramComposition | None = None
        c, rk = self.controller_features, self.rank * self.key_dim
        if self.composition == "direct":
            if self.steps != 1 or self.top_lu != 0:
                raise ValueError(
                    f"steps and top_lu: direct composition reads once without least-used blending; "
                    f"need steps=1, top_lu=0, got steps={steps}, top_lu={top_lu} (use composition='recurrent')"
                )
            self.query_u, self.query_v, self.query_s = nn.Linear(c, rk), nn.Linear(c, rk), nn.Linear(c, rk)
            self.gate = nn.Linear(c, 1)
            for layer in (self.query_u, self.query_v, self.query_s, self.gate):
                _init_linear(layer)
            self.beta = 1.0
        else:
            if self.top_lu >= self.num_programs:
                raise ValueError(f"top_lu must be < num_programs={self.num_programs}, got {top_lu}")
            hidden = 3 * rk + 1
            self.controller = nn.LSTM(c, hidden)
            bound = 5.0 / math.sqrt(c + hidden)
            for p in self.controller.parameters():
                nn.init.uniform_(p, -bound, bound) if p.dim() > 1 else nn.init.zeros_(p)
            self.h0 = nn.Parameter(torch.randn(1, 1, hidden) * 0.05)
            self.c0 = nn.Parameter(torch.randn(1, 1, hidden) * 0.05)
            if self.top_lu > 0:
                self.lu_gate = nn.Linear(c, 3 * self.num_programs)
            self.beta = 10.0
        if self.sigma_order_mode == "paper":
            self.sigma_order = "paper"
        else:
            self.sigma_order = "increasing" if self.composition == "direct" else "decreasing"
        if self.has_residual:
            self.residual_program = nn.Parameter(torch.empty(in_features, out_features))
            nn.init.xavier_uniform_(self.residual_program, gain=1.0)
        if self.has_bias:
            self.bias = nn.Parameter(torch.zeros(out_features))
            if self.has_residual:
                nn.init.normal_(self.bias, std=0.01)

    @property
    def num_components(self) -> int:
        """``R``: ``rank`` in direct mode, ``steps * rank`` in recurrent mode."""
        return self.rank * (self.steps if self.composition == "recurrent" else 1)

    def _controller_input(self, x: Tensor | None, context: Tensor | None) -> Tensor:
        if context is None:
            if self.controller_features != self.in_features:
                raise ValueError(
                    f"context: this layer's controller takes {self.controller_features} features "
                    f"(controller_features), so pass context=(B, {self.controller_features})"
                )
            assert x is not None
            return x
        check_tensor(context, "context", shape=(None, self.controller_features))
        if x is not None and context.shape[0] != x.shape[0]:
            raise ValueError(f"context must have batch size {x.shape[0]} (as x), got {context.shape[0]}")
        return context

    def _check_x(self, x: Tensor) -> Tensor:
        return check_tensor(x, "x", shape=(None, self.in_features))

    def _weights(self, q: Tensor, keys: Tensor) -> Tensor:
        return torch.softmax(self.beta * NF._similarity(q, keys, self.eps, self.scale_by_key_dim), dim=-1)

    def _compose(self, c: Tensor) -> ProgramComposition:
        B, r, k = c.shape[0], self.rank, self.key_dim
        KU, KV, KS = self.memory.keys()
        PU, PV, PS = self.memory.programs()
        if self.composition == "direct":
            # the three reads in one batched similarity: (3, B, r, k) against (3, 1, P, k)
            q = torch.stack([self.query_u(c), self.query_v(c), self.query_s(c)]).view(3, B, r, k)
            wU, wV, wS = self._weights(q, torch.stack([KU, KV, KS]).unsqueeze(1)).unbind(0)
            U, V, a = wU @ PU, wV @ PV, wS @ PS
            gate = torch.sigmoid(self.gate(c))
        else:
            U, V, a, gate, (wU, wV, wS) = self._compose_recurrent(c, (KU, KV, KS), (PU, PV, PS))
        sigma = NF.cumulative_sigma(a.squeeze(-1), self.sigma_order)
        smin = NF.sigma_min(sigma, self.sigma_order)
        return ProgramComposition(U, V, sigma, gate, (wU, wV, wS), smin)

    def _compose_recurrent(
        self, c: Tensor, keys: Sequence[Tensor], programs: Sequence[Tensor]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]:
        B, r, k, P, rk = c.shape[0], self.rank, self.key_dim, self.num_programs, self.rank * self.key_dim
        state = (self.h0.expand(1, B, -1).contiguous(), self.c0.expand(1, B, -1).contiguous())
        parts: list[list[Tensor]] = [[], [], []]
        history: list[list[Tensor]] = [[], [], []]
        if self.top_lu > 0:
            gates = torch.sigmoid(self.lu_gate(c)).view(B, 3, P)
            lu0 = torch.zeros(B, 1, P, dtype=c.dtype, device=c.device)
            lu0[..., : self.top_lu] = 1.0
            lus = [lu0, lu0, lu0]
        out = c
        for _ in range(self.steps):
            out, state = self.controller(c.unsqueeze(0), state)
            out = out.squeeze(0)
            for j in range(3):
                q = out[:, j * rk : (j + 1) * rk].view(B, r, k)
                w = self._weights(q, keys[j])
                if self.top_lu > 0:
                    w = NF.least_used_blend(w, lus[j], gates[:, j : j + 1])
                    if self.renormalize_lu:
                        w = w / w.sum(-1, keepdim=True)
                parts[j].append(w @ programs[j])
                history[j].append(w)
            if self.top_lu > 0:
                lus = [NF.least_used_update(torch.cat(h, dim=1), self.top_lu) for h in history]
        gate = torch.sigmoid(out[:, 3 * rk :])
        U, V, a = (torch.cat(p, dim=1) for p in parts)
        wU, wV, wS = (torch.cat(h, dim=1) for h in history)
        return U, V, a, gate, (wU, wV, wS)

    def compose(self, x: Tensor | None, context: Tensor | None = None) -> ProgramComposition:
        """Compose each sample's program from ``x (B, n)`` (or ``context (B, c)``, the controller input)."""
        if x is not None:
            self._check_x(x)
        elif context is None:
            raise ValueError("x and context: give x (B, n) or context (B, controller_features)")
        return self._compose(self._controller_input(x, context))

    def apply_program(
        self, comp: ProgramComposition, x: Tensor, residual_program: Tensor | None = None
    ) -> Tensor:
        """Evaluate a composition on ``x (B, n)`` or rows ``(B, L, n)`` in low rank: ``(B, [L,] m)``."""
        y = NF._low_rank_apply(x, comp.U, comp.sigma, comp.V)
        res = self.residual_program if self.has_residual else residual_program
        if res is not None:
            scale = comp.sigma_min.unsqueeze(1) * comp.gate  # (B, 1)
            if x.ndim == 3:
                scale = scale.unsqueeze(1)
            y = y + scale * (x @ res)
        if self.has_bias:
            y = y + self.bias
        return y

    def forward(
        self, x: Tensor, context: Tensor | None = None, residual_program: Tensor | None = None
    ) -> Tensor:
        """``(B, n) -> (B, m)``; ``context (B, c)`` replaces ``x`` as controller input; ``residual_program
        (n, m)`` is a host-supplied ``W_res`` (when the layer has none of its own)."""
        self._check_x(x)
        if residual_program is not None:
            check_tensor(residual_program, "residual_program", shape=(self.in_features, self.out_features))
        comp = self._compose(self._controller_input(x, context))
        if self.record:
            wU, wV, wS = comp.read_weights
            self.last_composition = ProgramComposition(
                comp.U.detach(),
                comp.V.detach(),
                comp.sigma.detach(),
                comp.gate.detach(),
                (wU.detach(), wV.detach(), wS.detach()),
                comp.sigma_min.detach(),
            )
        return self.apply_program(comp, x, residual_program)

    def working_program(
        self, x: Tensor, context: Tensor | None = None, residual_program: Tensor | None = None
    ) -> Tensor:
        """The explicit per-sample working program ``W (B, n, m)`` (inspection and tests only)."""
        comp = self.compose(x, context)
        W = NF.working_program(comp.U, comp.sigma, comp.V)
        res = self.residual_program if self.has_residual else residual_program
        if res is not None:
            W = W + (comp.sigma_min.unsqueeze(1) * comp.gate).unsqueeze(-1) * res
        return W

    def orthogonality_loss(self) -> Tensor:
        """The memory's orthogonality regulariser (a scalar)."""
        return self.memory.orthogonality_loss()

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}, "
            f"composition={self.composition!r}, steps={self.steps}, top_lu={self.top_lu}, "
            f"residual={self.has_residual}, bias={self.has_bias}"
        )


class NeurocoderConv2d(nn.Module):
    """A 2-d convolution whose kernel is a composed program (our extension of the paper).

    Program over ``n = C_in * kh * kw`` and ``m = C_out``; the controller reads the global-average-
    pooled input ``(B, C_in)``; the low-rank program is applied to the unfolded patches, so no
    per-sample kernel is built. ``(B, C_in, H, W) -> (B, C_out, H', W')``. Keyword arguments go to
    :class:`NeurocoderLinear`.

    Args:
        in_channels: input channels ``C_in``.
        out_channels: output channels ``C_out``.
        kernel_size: ``kh`` (= ``kw``) or ``(kh, kw)``.
        stride: the convolution stride (``F.unfold``'s).
        padding: the zero padding (``F.unfold``'s).
        **kwargs: keyword arguments of :class:`NeurocoderLinear`.

    Raises:
        ValueError: a channel count or kernel size below 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        **kwargs: object,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", min=1)
        self.out_channels = check_int(out_channels, "out_channels", min=1)
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.kernel_size = (check_int(ks[0], "kernel_size", min=1), check_int(ks[1], "kernel_size", min=1))
        self.stride, self.padding = stride, padding
        n = in_channels * self.kernel_size[0] * self.kernel_size[1]
        self.linear = NeurocoderLinear(n, out_channels, controller_features=in_channels, **kwargs)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x", ndim=4)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels (dim 1), got shape {tuple(x.shape)}")
        B, _, H, W = x.shape
        comp = self.linear.compose(None, context=x.mean(dim=(2, 3)))
        patches = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # (B, n, L)
        y = self.linear.apply_program(comp, patches.transpose(1, 2))  # (B, L, m)
        ho, wo = _out_size(H, W, self.kernel_size, self.stride, self.padding)
        return y.transpose(1, 2).reshape(B, self.out_channels, ho, wo)

    def kernels(self, x: Tensor) -> Tensor:
        """The per-sample kernels ``(B, C_out, C_in, kh, kw)`` (inspection and tests only)."""
        W = self.linear.working_program(None, context=x.mean(dim=(2, 3)))  # type: ignore[arg-type]
        return W.transpose(1, 2).reshape(x.shape[0], self.out_channels, self.in_channels, *self.kernel_size)

    def orthogonality_loss(self) -> Tensor:
        return self.linear.orthogonality_loss()


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _out_size(
    H: int, W: int, k: tuple[int, int], s: int | tuple[int, int], p: int | tuple[int, int]
) -> tuple[int, int]:
    (sh, sw), (ph, pw) = _pair(s), _pair(p)
    return (H + 2 * ph - k[0]) // sh + 1, (W + 2 * pw - k[1]) // sw + 1


def attach_neurocoder(model: nn.Module, layer_names: Sequence[str], **kwargs: object) -> nn.Module:
    """Replace the ``nn.Linear`` layers named ``layer_names`` (dotted, as in ``named_modules``) by
    :class:`NeurocoderLinear` of the same shape (bias kept if the layer had one); in place, returns ``model``."""
    if isinstance(layer_names, str) or not len(layer_names):
        raise ValueError(f"layer_names must be a non-empty sequence of module names, got {layer_names!r}")
    modules = dict(model.named_modules())
    for name in layer_names:
        layer = modules.get(name)
        if not isinstance(layer, nn.Linear):
            found = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
            raise ValueError(f"layer_names: {name!r} is not an nn.Linear of the model (its Linears: {found})")
        opts = {"bias": layer.bias is not None, **kwargs}
        new = NeurocoderLinear(layer.in_features, layer.out_features, **opts)  # type: ignore[arg-type]
        new.to(device=layer.weight.device, dtype=layer.weight.dtype)
        parent_name, _, attr = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, attr, new)
    return model


def neurocoder_regularizer(model: nn.Module) -> Tensor:
    """The sum of the orthogonality terms of every Neurocoder layer in ``model`` (0 if none)."""
    terms = [m.orthogonality_loss() for m in model.modules() if isinstance(m, NeurocoderLinear)]
    if not terms:
        p = next(model.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else None)
    return torch.stack(terms).sum()


class NeurocoderMLP(nn.Module):
    """An MLP ``(B, in_features) -> (B, num_classes)``, ReLU between layers, no hidden bias.

    ``neurocoder=True`` makes every layer from index ``neurocoder_from`` on (default 0: all, the head
    included; the released CL setting) a :class:`NeurocoderLinear` with ``layer_kwargs``; earlier
    layers are ``nn.Linear`` (as the paper's host networks with Neurocoder final layers).
    ``False`` is the baseline MLP (no hidden bias, head with bias).
    Images ``(B, C, H, W)`` are flattened first.
    """

    def __init__(
        self,
        in_features: int = 64,
        hidden: Sequence[int] = (100, 100),
        num_classes: int = 2,
        neurocoder: bool = True,
        layer_kwargs: dict[str, object] | None = None,
        neurocoder_from: int = 0,
    ) -> None:
        super().__init__()
        check_int(neurocoder_from, "neurocoder_from", min=0, max=len(hidden))
        self.in_features = check_int(in_features, "in_features", min=1)
        check_int(num_classes, "num_classes", min=2)
        widths = [self.in_features, *[check_int(h, "hidden", min=1) for h in hidden], num_classes]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            last = i == len(widths) - 2
            if neurocoder and i >= neurocoder_from:
                layers.append(NeurocoderLinear(a, b, **dict(layer_kwargs or {})))  # type: ignore[arg-type]
            else:
                layers.append(nn.Linear(a, b, bias=last))
            if not last:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features per sample, got {x.shape[1]}")
        return self.layers(x)
