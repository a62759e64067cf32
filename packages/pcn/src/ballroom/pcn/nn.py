"""The predictive coding network as an ``nn.Module`` (no Lightning): :class:`PCN`.

``PCN(layer_sizes)`` holds ``W_l`` and ``b_l`` for ``l = 1..L`` as ``nn.Linear(n_{l-1}, n_l)``
layers (PyTorch's default initialisation; ``weight`` is ``W_l: (n_l, n_{l-1})``). Node values are
lists ``xs = [x_0, ..., x_L]`` of ``(B, n_l)`` tensors. ``forward(x0)`` is the feedforward pass's
output ``x_L`` (what the trained network predicts; the unique fixed point of the prediction stage).
All inference runs under ``torch.no_grad`` with the closed forms of :mod:`ballroom.pcn.functional`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from ballroom.core.validate import check_int, check_positive, check_same_size, check_tensor
from ballroom.pcn import functional as PF
from ballroom.pcn.activations import get_activation

__all__ = ["PCN"]

INITS = ("feedforward", "zeros")


class PCN(nn.Module):
    """A predictive coding network with layer widths ``layer_sizes = [n_0, ..., n_L]`` (``L >= 1``).

    Args:
        layer_sizes: widths, input first.
        activation: a name of :data:`ballroom.pcn.activations.ACTIVATIONS` (``f``, C²).
        bias: learn ``b_l``.
        activate_input: ``a_0 = f`` (the paper's Eq. (5) uses ``f(x_0)``); default ``a_0 = identity``.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int] = (64, 64, 10),
        activation: str = "tanh",
        bias: bool = True,
        activate_input: bool = False,
    ) -> None:
        super().__init__()
        sizes = list(layer_sizes) if isinstance(layer_sizes, Sequence) else layer_sizes
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise ValueError(
                f"layer_sizes must list at least two widths (input, output), got {layer_sizes!r}"
            )
        sizes = [check_int(n, f"layer_sizes[{i}]", min=1) for i, n in enumerate(sizes)]
        self.act = get_activation(activation)
        self.activation = activation
        self.layer_sizes = sizes
        self.bias = bool(bias)
        self.activate_input = bool(activate_input)
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in itertools.pairwise(sizes))

    def _linears(self) -> Iterable[nn.Linear]:
        """``self.layers`` (an ``nn.ModuleList`` of ``nn.Linear``, built in ``__init__``) with its item type."""
        return cast("Iterable[nn.Linear]", self.layers)

    @property
    def depth(self) -> int:
        """``L``, the number of weight layers."""
        return len(self.layers)

    @property
    def weights(self) -> list[Tensor]:
        """``[W_1, ..., W_L]``, ``W_l: (n_l, n_{l-1})``."""
        return [lin.weight for lin in self._linears()]

    @property
    def biases(self) -> list[Tensor | None]:
        """``[b_1, ..., b_L]`` (``None`` without bias)."""
        return [lin.bias for lin in self._linears()]

    def extra_repr(self) -> str:
        return f"layer_sizes={self.layer_sizes}, activation={self.activation!r}, activate_input={self.activate_input}"

    # ------------------------------------------------------------------ checks
    def _check_x0(self, x0: Tensor) -> Tensor:
        x0 = check_tensor(x0, "x0", min_ndim=1)
        if x0.ndim > 2:
            x0 = x0.flatten(1)
        if x0.ndim == 1:
            x0 = x0.unsqueeze(0)
        if x0.shape[1] != self.layer_sizes[0]:
            raise ValueError(
                f"x0 must have {self.layer_sizes[0]} features per sample (shape (B, {self.layer_sizes[0]})), "
                f"got shape {tuple(x0.shape)}"
            )
        return x0

    def _check_xs(self, xs: Sequence[Tensor]) -> list[Tensor]:
        if not isinstance(xs, list | tuple) or len(xs) != self.depth + 1:
            raise ValueError(f"xs must be a list of {self.depth + 1} node tensors [x_0, ..., x_L], got {type(xs).__name__}"
                             + (f" of length {len(xs)}" if isinstance(xs, list | tuple) else ""))  # fmt: skip
        out = []
        for ell, x in enumerate(xs):
            check_tensor(x, f"xs[{ell}]", shape=(None, self.layer_sizes[ell]))
            out.append(x)
        check_same_size(*((f"xs[{ell}]", x, 0) for ell, x in enumerate(out)))
        return out

    def _free(self, free: Sequence[int] | None) -> list[int]:
        if free is None:
            return list(range(1, self.depth + 1))
        out = [check_int(ell, "free", min=0, max=self.depth) for ell in free]
        if len(set(out)) != len(out):
            raise ValueError(f"free must list distinct layer indices, got {list(free)}")
        return sorted(out)

    # ------------------------------------------------------------------ closed forms
    def feedforward(self, x0: Tensor) -> list[Tensor]:
        """The feedforward pass ``x_l = mu_l(x_{l-1})``: ``(B, n_0) -> [x_0 (B, n_0), ..., x_L (B, n_L)]``.

        Images ``(B, C, H, W)`` are flattened first; a single sample ``(n_0,)`` becomes ``(1, n_0)``.
        """
        xs = [self._check_x0(x0)]
        for ell, lin in enumerate(self.layers):
            xs.append(lin(PF.presynaptic(xs[-1], ell, self.act, self.activate_input)))
        return xs

    def forward(self, x0: Tensor) -> Tensor:
        """The prediction ``x_L`` of the feedforward pass: ``(B, n_0) -> (B, n_L)``."""
        return self.feedforward(x0)[-1]

    def errors(self, xs: Sequence[Tensor]) -> list[Tensor]:
        """``[eps_1, ..., eps_L]``, ``eps_l = x_l - mu_l``: each ``(B, n_l)``."""
        xs = self._check_xs(xs)
        return PF.errors(self.weights, self.biases, xs, self.act, self.activate_input)

    def energy(self, xs: Sequence[Tensor]) -> Tensor:
        """Per-sample energy ``F = 1/2 sum_l ||eps_l||^2``: ``(B,)`` (sum it for node updates, mean for weights)."""
        xs = self._check_xs(xs)
        return PF.energy(self.weights, self.biases, xs, self.act, self.activate_input)

    def node_grads(self, xs: Sequence[Tensor], free: Sequence[int] | None = None) -> list[Tensor]:
        """``dF/dx_l`` (closed form) for the layers in ``free`` (default ``1..L``), each ``(B, n_l)``,
        in the order of ``sorted(free)``."""
        xs = self._check_xs(xs)
        free_ = self._free(free)
        g = PF.node_grads(self.weights, self.biases, xs, self.act, self.activate_input)
        return [g[ell] for ell in free_]

    def param_grads(self, xs: Sequence[Tensor], reduction: str = "mean") -> dict[str, Tensor]:
        """``dF/dtheta`` in closed form, keyed like ``named_parameters()`` (``layers.0.weight`` is ``W_1``),
        of the batch-mean energy (``reduction="sum"``: of the batch sum)."""
        xs = self._check_xs(xs)
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be one of ['mean', 'sum'], got {reduction!r}")
        out: dict[str, Tensor] = {}
        grads = PF.param_grads(self.weights, self.biases, xs, self.act, self.activate_input, reduction)
        for i, (gw, gb) in enumerate(grads):
            out[f"layers.{i}.weight"] = gw
            if gb is not None:
                out[f"layers.{i}.bias"] = gb
        return out

    def inference_step(
        self, xs: Sequence[Tensor], gamma: float, free: Sequence[int] | None = None
    ) -> list[Tensor]:
        """One synchronous explicit-Euler step ``x_l <- x_l - gamma dF/dx_l`` of every free layer
        (all gradients at the old state); clamped layers are returned unchanged (same objects)."""
        xs = self._check_xs(xs)
        gamma = check_positive(gamma, "gamma")
        return self._step(list(xs), gamma, self._free(free))

    def _step(self, xs: list[Tensor], gamma: float, free: list[int]) -> list[Tensor]:
        g = PF.node_grads(self.weights, self.biases, xs, self.act, self.activate_input)
        new = list(xs)
        for ell in free:
            new[ell] = xs[ell] - gamma * g[ell]
        return new

    def _residual(self, xs: list[Tensor], free: list[int]) -> Tensor:
        g = PF.node_grads(self.weights, self.biases, xs, self.act, self.activate_input)
        return torch.stack([g[ell].abs().amax() for ell in free]).amax()

    @torch.no_grad()
    def infer(
        self,
        x0: Tensor,
        target: Tensor | None = None,
        steps: int = 20,
        gamma: float = 0.1,
        init: str | Tensor | Sequence[Tensor] = "feedforward",
        tol: float | None = None,
        return_trace: bool = False,
    ) -> Any:
        """Relax the free nodes by ``steps`` inference steps (under ``no_grad``).

        Args:
            x0: the clamped input ``(B, n_0)``.
            target: ``(B, n_L)``: clamp the output too (training stage: free layers ``1..L-1``);
                ``None``: prediction stage (free layers ``1..L``).
            steps: the most steps to take (``>= 0``).
            gamma: the step size.
            init: ``"feedforward"`` (the feedforward values; the output then replaced by ``target``),
                ``"zeros"``, a list of tensors ``[x_1, ..., x_L]`` or one flat ``(B, n_1 + ... + n_L)``.
            tol: stop early when ``max |dF/dx|`` over the free nodes falls below ``tol``.
            return_trace: also return ``{"energy": (k+1, B), "residual": (k+1,)}`` along the run.

        Returns:
            ``xs = [x_0, ..., x_L]`` (and the trace when ``return_trace``).
        """
        x0 = self._check_x0(x0)
        B = x0.shape[0]
        steps = check_int(steps, "steps", min=0)
        gamma = check_positive(gamma, "gamma")
        if tol is not None:
            tol = check_positive(tol, "tol")
        if target is not None:
            target = check_tensor(target, "target", shape=(None, self.layer_sizes[-1]))
            check_same_size(("x0", x0, 0), ("target", target, 0))
            target = target.to(x0.dtype)
        xs = self._init_states(x0, init)
        if target is not None:
            if self.depth == 1:
                raise ValueError("target: a PCN with one weight layer has no hidden nodes to relax")
            xs[-1] = target
        free = list(range(1, self.depth + (0 if target is not None else 1)))
        energies = [self._energy_batch(xs)] if return_trace else []
        residuals = [self._residual(xs, free)] if (return_trace or tol is not None) else []
        for _ in range(steps):
            if tol is not None and residuals and float(residuals[-1]) < tol:
                break
            xs = self._step(xs, gamma, free)
            if return_trace or tol is not None:
                residuals.append(self._residual(xs, free))
            if return_trace:
                energies.append(self._energy_batch(xs))
        del B
        if return_trace:
            return xs, {"energy": torch.stack(energies), "residual": torch.stack(residuals)}
        return xs

    def _energy_batch(self, xs: list[Tensor]) -> Tensor:
        return PF.energy(self.weights, self.biases, xs, self.act, self.activate_input)

    def _init_states(self, x0: Tensor, init: str | Tensor | Sequence[Tensor]) -> list[Tensor]:
        B = x0.shape[0]
        if isinstance(init, str):
            if init not in INITS:
                raise ValueError(
                    f"init must be one of {list(INITS)}, a tensor or a list of tensors, got {init!r}"
                )
            if init == "feedforward":
                return self.feedforward(x0)
            return [x0] + [x0.new_zeros(B, n) for n in self.layer_sizes[1:]]
        if isinstance(init, Tensor):
            total = sum(self.layer_sizes[1:])
            check_tensor(init, "init", shape=(B, total))
            return [x0, *torch.split(init.to(x0.dtype), self.layer_sizes[1:], dim=1)]
        if isinstance(init, list | tuple):
            if len(init) != self.depth:
                raise ValueError(f"init must list {self.depth} tensors [x_1, ..., x_L], got {len(init)}")
            for ell, t in enumerate(init, 1):
                check_tensor(t, f"init[{ell - 1}]", shape=(B, self.layer_sizes[ell]))
            return [x0, *(t.to(x0.dtype) for t in init)]
        raise TypeError(
            f"init must be 'feedforward', 'zeros', a tensor or a list of tensors, got {type(init).__name__}"
        )
