"""The dual form of one trained linear layer: unnormalised dot attention over its stored training patterns.

A layer ``y = W x + b`` trained by gradient descent ends at ``W_T = a_T W_0 + sum_t c_t G_t``
(:mod:`ballroom.dualform.coefficients`), so for a query ``q``::

    W_T q = a_T W_0 q + sum_n v_n (k_n . q)        keys k_n = x_{t,i}, values v_n = c_t g_{t,i}

:class:`DualLinear` holds the keys, output gradients and coefficients of one layer (as
:meth:`ballroom.dualform.DualFormRecorder.dual` builds it) and evaluates the forward pass, the
attention scores and the per-slot contributions chunk by chunk over the slots. No hooks, no Lightning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["Contributions", "DualLinear"]


class Contributions(NamedTuple):
    """Per-slot contributions to a layer's output: ``index (M, K)`` slots, ``vectors (M, K, d_out)``."""

    index: Tensor  # type: ignore[assignment]  # shadows tuple.index(); a public field name, kept
    vectors: Tensor


def _as_queries(q: Tensor, d_in: int, what: str = "q") -> tuple[Tensor, tuple[int, ...]]:
    if not isinstance(q, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(q).__name__}")
    if not q.is_floating_point():
        raise TypeError(f"{what} must be floating point, got {q.dtype}")
    if q.ndim == 0 or q.shape[-1] != d_in:
        raise ValueError(f"{what} must have shape (..., d_in={d_in}), got {tuple(q.shape)}")
    if q.numel() == 0:
        raise ValueError(f"{what} is empty: {tuple(q.shape)}")
    if not bool(torch.isfinite(q).all()):
        raise ValueError(f"{what} contains NaN or inf")
    return q.reshape(-1, d_in), tuple(q.shape[:-1])


class DualLinear:
    """The dual form of one recorded ``nn.Linear``: ``N`` memory slots (one per training pattern).

    Tensors (``N`` slots, in storage order = training order):

    - ``keys (N, d_in)``: the layer inputs seen in training; ``grads (N, d_out)``: the gradients of
      the loss w.r.t. the layer output; ``values (N, d_out)`` = ``c_{step} * grads``.
    - ``step (N,)`` optimizer step of each slot; ``index``, ``label``, ``dataset`` ``(N,)``
      metadata given through :meth:`DualFormRecorder.set_batch_meta` (``-1`` where unset).
    - ``a_T`` (coefficient of ``W_0``), ``coef (T,)`` the ``c_t``; ``coef_bias``/``a_T_bias``
      the same for the bias, which may sit in another parameter group.

    Every query method works chunk by chunk over the slots (``chunk_size``), on the query's device,
    in float64 for float64 queries and float32 otherwise.

    Built by :meth:`DualFormRecorder.dual`; the arguments are the tensors above.

    Args:
        name: the layer's module name.
        keys: ``(N, d_in)``.
        grads: ``(N, d_out)``.
        step: ``(N,)`` int64.
        index: ``(N,)`` int64.
        label: ``(N,)`` int64.
        dataset: ``(N,)`` int64.
        weight0: ``W_0 (d_out, d_in)``, the initial weight.
        bias0: ``b_0 (d_out,)``, or ``None`` for a layer without bias.
        a_T: the coefficient of ``W_0``.
        coef: ``(T,)`` the ``c_t`` of the weight.
        a_T_bias: the coefficient of ``b_0``.
        coef_bias: ``(T,)`` the ``c_t`` of the bias, or ``None``.
        exact: the optimizer was SGD, so the dual form is exact.
        approximate: the values are the step-wise projections of a non-SGD optimizer's updates.
        chunk_size: slots processed at a time.

    Raises:
        ValueError: ``chunk_size < 1``.
    """

    def __init__(
        self,
        name: str,
        keys: Tensor,
        grads: Tensor,
        step: Tensor,
        index: Tensor,
        label: Tensor,
        dataset: Tensor,
        weight0: Tensor,
        bias0: Tensor | None,
        a_T: float,
        coef: Tensor,
        a_T_bias: float,
        coef_bias: Tensor | None,
        exact: bool,
        approximate: bool,
        chunk_size: int = 65536,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.name = name
        self.keys, self.grads, self.step = keys, grads, step
        self.index, self.label, self.dataset = index, label, dataset
        self.weight0, self.bias0 = weight0, bias0
        self.a_T, self.coef = a_T, coef
        self.a_T_bias, self.coef_bias = a_T_bias, coef_bias
        self.exact, self.approximate = exact, approximate
        self.chunk_size = chunk_size
        self.d_out, self.d_in = weight0.shape

    def __repr__(self) -> str:
        return (
            f"DualLinear({self.name!r}, slots={len(self)}, d_in={self.d_in}, d_out={self.d_out}, "
            f"steps={len(self.coef)}, dtype={self.keys.dtype}, exact={self.exact})"
        )

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    # -- helpers --------------------------------------------------------------------------------
    def _require_values(self) -> None:
        if not (self.exact or self.approximate):
            raise NotImplementedError(
                f"layer {self.name!r}: the optimizer is not torch.optim.SGD, so the trained weight is not "
                "a_T W_0 + sum_t c_t G_t (per-coordinate preconditioning, e.g. Adam); forward/weight/values "
                "are undefined. Key-only scores (attention, scores, vote, ...) still work; pass "
                "approximate=True to DualFormRecorder for the step-wise projection (and measure its gap)."
            )

    def _chunks(self, device: torch.device, dtype: torch.dtype) -> Iterator[tuple[slice, Tensor, Tensor]]:
        """Yield ``(slots, keys, step)`` chunks moved to ``device``/``dtype``."""
        n = len(self)
        for lo in range(0, n, self.chunk_size):
            sl = slice(lo, min(n, lo + self.chunk_size))
            yield sl, self.keys[sl].to(device=device, dtype=dtype), self.step[sl].to(device)

    @staticmethod
    def _dtype(q: Tensor) -> torch.dtype:
        return torch.float64 if q.dtype == torch.float64 else torch.float32

    def _values_chunk(self, sl: slice, step: Tensor, device: torch.device, dtype: torch.dtype) -> Tensor:
        coef = self.coef.to(device=device, dtype=dtype)
        return self.grads[sl].to(device=device, dtype=dtype) * coef[step].unsqueeze(1)

    def _bias_values_chunk(self, sl: slice, step: Tensor, device: torch.device, dtype: torch.dtype) -> Tensor:
        assert self.coef_bias is not None
        coef = self.coef_bias.to(device=device, dtype=dtype)
        return self.grads[sl].to(device=device, dtype=dtype) * coef[step].unsqueeze(1)

    # -- the dual form --------------------------------------------------------------------------
    @property
    def values(self) -> Tensor:
        """``(N, d_out)`` value vectors ``v_n = c_{step_n} g_n`` (in the storage dtype)."""
        self._require_values()
        return (self.grads.double() * self.coef[self.step].unsqueeze(1)).to(self.grads.dtype)

    def weight(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64) -> Tensor:
        """``(d_out, d_in)`` = ``a_T W_0 + V^T K``; equals the trained weight (exactly for SGD)."""
        self._require_values()
        dev = torch.device(device) if device is not None else self.weight0.device
        w = self.a_T * self.weight0.to(device=dev, dtype=dtype)
        for sl, k, s in self._chunks(dev, dtype):
            w += self._values_chunk(sl, s, dev, dtype).T @ k
        return w

    def bias(
        self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64
    ) -> Tensor | None:
        """``(d_out,)`` = ``a_T' b_0 + sum_n c'_{step_n} g_n`` (the constant-key-1 slot), or ``None``."""
        self._require_values()
        if self.bias0 is None:
            return None
        dev = torch.device(device) if device is not None else self.bias0.device
        b = self.a_T_bias * self.bias0.to(device=dev, dtype=dtype)
        for sl, _, s in self._chunks(dev, dtype):
            b += self._bias_values_chunk(sl, s, dev, dtype).sum(0)
        return b

    def initial_output(self, q: Tensor) -> Tensor:
        """``a_T W_0 q + a_T' b_0``: the part of the output owed to initialisation, ``(..., d_out)``."""
        self._require_values()
        q2, lead = _as_queries(q, self.d_in)
        dt = self._dtype(q)
        out = self.a_T * (q2.to(dt) @ self.weight0.to(q.device, dt).T)
        if self.bias0 is not None:
            out += self.a_T_bias * self.bias0.to(q.device, dt)
        return out.reshape(*lead, self.d_out)

    def forward(self, q: Tensor) -> Tensor:
        """Dual output ``(..., d_out)`` for queries ``q (..., d_in)``: ``W_0``-part + ``sum_n v_n (k_n . q)``.

        Computed as attention over the stored slots (never through :meth:`weight`), so it is an
        independent path to the primal output ``W_T q + b_T``.
        """
        self._require_values()
        q2, lead = _as_queries(q, self.d_in)
        dt = self._dtype(q)
        q2 = q2.to(dt)
        out = self.initial_output(q2)
        for sl, k, s in self._chunks(q.device, dt):
            att = q2 @ k.T  # (M, n)
            out += att @ self._values_chunk(sl, s, q.device, dt)
            if self.coef_bias is not None:
                out += self._bias_values_chunk(sl, s, q.device, dt).sum(0)
        return out.reshape(*lead, self.d_out)

    __call__ = forward

    def attention(self, q: Tensor) -> Tensor:
        """Signed unnormalised attention ``a = K q``: ``(M, N)`` for ``q (M, d_in)`` (``(N,)`` for ``(d_in,)``)."""
        q2, _ = _as_queries(q, self.d_in)
        dt = self._dtype(q)
        q2 = q2.to(dt)
        out = torch.cat([q2 @ k.T for _, k, _ in self._chunks(q.device, dt)], dim=1)
        return out.squeeze(0) if q.ndim == 1 else out

    def scores(self, q: Tensor, absolute: bool = True, normalize: bool = False) -> Tensor:
        """Per-slot scores ``(M, N)``: ``|k_n . q|`` (the official analysis) or signed with ``absolute=False``.

        ``normalize=True`` divides by ``||k_n|| ||q||`` (cosine), removing the key-norm effect
        that dominates raw scores after ReLU layers.
        """
        a = self.attention(q)
        if normalize:
            q2, _ = _as_queries(q, self.d_in)
            qn = q2.to(a.dtype).norm(dim=1, keepdim=True).clamp_min(1e-12)
            kn = torch.cat([k.norm(dim=1) for _, k, _ in self._chunks(q.device, a.dtype)]).clamp_min(1e-12)
            a = a / (qn * kn) if a.ndim == 2 else a / (qn.squeeze(0) * kn)
        return a.abs() if absolute else a

    def contributions(self, q: Tensor, top_k: int | None = None, include_bias: bool = True) -> Contributions:
        """Each slot's share of the output: ``a_n v_n`` (+ its bias-slot part ``c'_t g_n``).

        ``q (M, d_in)``. Returns :class:`Contributions` with ``index (M, K)`` and
        ``vectors (M, K, d_out)``: all ``K = N`` slots in storage order when ``top_k`` is
        ``None``, else the ``top_k`` largest by norm (descending). Summed over all slots they equal
        ``forward(q) - initial_output(q)``.
        """
        self._require_values()
        q2, _ = _as_queries(q, self.d_in)
        dt = self._dtype(q)
        q2 = q2.to(dt)
        m = q2.shape[0]
        if top_k is not None and not 1 <= top_k <= len(self):
            raise ValueError(f"top_k must be in [1, N={len(self)}], got {top_k}")
        best_idx: Tensor | None = None
        best_vec: Tensor | None = None
        parts: list[Tensor] = []
        for sl, k, s in self._chunks(q.device, dt):
            vec = (q2 @ k.T).unsqueeze(2) * self._values_chunk(sl, s, q.device, dt).unsqueeze(0)
            if include_bias and self.coef_bias is not None:
                vec = vec + self._bias_values_chunk(sl, s, q.device, dt).unsqueeze(0)
            if top_k is None:
                parts.append(vec)
                continue
            idx = torch.arange(sl.start, sl.stop, device=q.device).expand(m, -1)
            if best_idx is not None and best_vec is not None:
                idx = torch.cat([best_idx, idx], 1)
                vec = torch.cat([best_vec, vec], 1)
            kk = min(top_k, idx.shape[1])
            order = vec.norm(dim=2).topk(kk, dim=1).indices
            best_idx = idx.gather(1, order)
            best_vec = vec.gather(1, order.unsqueeze(2).expand(-1, -1, self.d_out))
        if top_k is None:
            index = torch.arange(len(self), device=q.device).expand(m, -1)
            return Contributions(index, torch.cat(parts, 1))
        assert best_idx is not None and best_vec is not None
        return Contributions(best_idx, best_vec)

    def _grouped(self, q: Tensor, group: Tensor, n_groups: int, absolute: bool, what: str) -> Tensor:
        q2, _ = _as_queries(q, self.d_in)
        if n_groups < 1:
            raise ValueError(f"{what} must be >= 1, got {n_groups}")
        if len(self) and (int(group.min()) < 0 or int(group.max()) >= n_groups):
            raise ValueError(
                f"slot {what.removeprefix('n_')} ids must lie in [0, {n_groups}) (got range "
                f"[{int(group.min())}, {int(group.max())}]); was set_batch_meta called for every batch?"
            )
        dt = self._dtype(q)
        q2 = q2.to(dt)
        out = torch.zeros(q2.shape[0], n_groups, dtype=dt, device=q.device)
        for sl, k, _ in self._chunks(q.device, dt):
            a = q2 @ k.T
            out.index_add_(1, group[sl].to(q.device), a.abs() if absolute else a)
        return out.squeeze(0) if q.ndim == 1 else out

    def per_example_scores(self, q: Tensor, n_examples: int, absolute: bool = True) -> Tensor:
        """``(M, n_examples)``: scores summed over the slots of each training example (``index``)."""
        return self._grouped(q, self.index, n_examples, absolute, "n_examples")

    def class_scores(self, q: Tensor, n_classes: int, absolute: bool = True) -> Tensor:
        """``(M, n_classes)``: scores summed over the slots of each training label."""
        return self._grouped(q, self.label, n_classes, absolute, "n_classes")

    def vote(self, q: Tensor, n_classes: int | None = None) -> Tensor:
        """``(M,)`` the class receiving the most absolute attention, ``argmax_c sum_{label(n)=c} |k_n . q|``."""
        if n_classes is None:
            if len(self) == 0:
                raise ValueError("no slots recorded")
            n_classes = int(self.label.max()) + 1
        return self.class_scores(q, n_classes).argmax(-1)

    def top_k(self, q: Tensor, k: int, absolute: bool = True) -> tuple[Tensor, Tensor]:
        """The ``k`` highest-scoring slots: ``(scores (M, k), slots (M, k))``, descending."""
        if not 1 <= k <= len(self):
            raise ValueError(f"k must be in [1, N={len(self)}], got {k}")
        res = self.scores(q, absolute=absolute).topk(k, dim=-1)
        return res.values, res.indices
