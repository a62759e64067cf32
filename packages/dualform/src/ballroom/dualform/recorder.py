"""Record what every linear layer saw during training and answer queries in the dual form.

A linear layer ``y = W x + b`` trained by gradient descent ends at
``W_T = a_T W_0 + sum_t c_t G_t`` with ``G_t = sum_i g_{t,i} x_{t,i}^T`` (``g`` the gradient of the
loss w.r.t. the layer output). So for a query ``q``::

    W_T q = a_T W_0 q + sum_n v_n (k_n . q)        keys k_n = x_{t,i}, values v_n = c_t g_{t,i}

-- unnormalised dot attention over every training pattern the layer ever processed.
:class:`DualFormRecorder` hooks the layers, stores keys and output gradients per optimizer step,
measures the clipping factor of each step, and derives ``a_T`` and ``c_t`` exactly for
``torch.optim.SGD`` (momentum, dampening, Nesterov, weight decay, ``maximize``, any learning-rate
schedule, global-norm clipping, gradient accumulation). :meth:`DualFormRecorder.dual` returns a
:class:`DualLinear` that evaluates the dual form chunk by chunk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["Contributions", "DualFormRecorder", "DualLinear", "sgd_coefficients"]

_KIND_SKIP, _KIND_SGD, _KIND_DIRECT = 0, 1, 2
_NO_META = -1
_SKETCH_PROBES = 4


# ----------------------------------------------------------------------------------------------
# coefficients of W_0 and of every G_t in the final weight


def _step_system(rec: Sequence[float]) -> tuple[tuple[float, float, float, float], tuple[float, float]]:
    """One step's linear map on (coefficient in the parameter, coefficient in the momentum buffer).

    ``rec = (kind, lr, momentum, dampening, weight_decay, nesterov, first, kappa)``. Returns the
    2x2 matrix ``A`` (row-major) and the injection ``h`` of the step's gradient sum ``G_t``:
    ``state' = A state + h G_t``.
    """
    kind, lr, m, damp, wd, nesterov, first, kappa = rec
    if kind == _KIND_SKIP:
        return (1.0, 0.0, 0.0, 1.0), (0.0, 0.0)
    if kind == _KIND_DIRECT:
        return (1.0, 0.0, 0.0, 1.0), (kappa, 0.0)
    if m == 0.0:  # p' = p - lr (wd p + kappa G); no buffer
        return (1.0 - lr * wd, 0.0, 0.0, 1.0), (-lr * kappa, 0.0)
    mu = 0.0 if first else m  # PyTorch: the first step copies d_p into the buffer
    delta = 1.0 if first else 1.0 - damp
    # d = wd p + kappa G ; b' = mu b + delta d
    if nesterov:  # update = d + m b'
        scale = 1.0 + m * delta
        a = (1.0 - lr * wd * scale, -lr * m * mu, delta * wd, mu)
        h = (-lr * kappa * scale, delta * kappa)
    else:  # update = b'
        a = (1.0 - lr * delta * wd, -lr * mu, delta * wd, mu)
        h = (-lr * delta * kappa, delta * kappa)
    return a, h


def sgd_coefficients(records: Tensor) -> tuple[float, Tensor]:
    """``(a_T, c (T,))`` with ``W_T = a_T W_0 + sum_t c_t G_t`` for a sequence of optimizer steps.

    ``records (T, 8)`` float64, one row per step: ``(kind, lr, momentum, dampening, weight_decay,
    nesterov, first, kappa)`` as the recorder stores them (``kappa`` = clip factor, negated under
    ``maximize``). Forward recursion for ``a_T``, adjoint (backward) recursion for every ``c_t``:
    O(T) time, exact to float64 rounding.
    """
    rows = records.tolist()
    p, b = 1.0, 0.0
    systems = [_step_system(r) for r in rows]
    for a, _ in systems:
        p, b = a[0] * p + a[1] * b, a[2] * p + a[3] * b
    coef = [0.0] * len(rows)
    rp, rb = 1.0, 0.0  # row vector e_p^T A_{T-1} ... A_{t+1}
    for t in range(len(rows) - 1, -1, -1):
        a, h = systems[t]
        coef[t] = rp * h[0] + rb * h[1]
        rp, rb = rp * a[0] + rb * a[2], rp * a[1] + rb * a[3]
    return p, torch.tensor(coef, dtype=torch.float64)


# ----------------------------------------------------------------------------------------------
# the dual form of one layer


class Contributions(NamedTuple):
    """Per-slot contributions to a layer's output: ``index (M, K)`` slots, ``vectors (M, K, d_out)``."""

    index: Tensor
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


# ----------------------------------------------------------------------------------------------
# the recorder


@dataclass
class _Pending:
    x: Tensor  # (P, d_in), detached view of the layer input
    meta: Tensor | None  # (P, 3) index, label, dataset; None = unset
    g: Tensor | None = None  # (P, d_out) once backward reached the output

    def add_grad(self, g: Tensor) -> None:
        g = g.detach().reshape(-1, g.shape[-1])
        self.g = g if self.g is None else self.g + g


@dataclass
class _ParamTrack:
    param: nn.Parameter
    init: Tensor
    group: dict[str, Any]
    records: list[tuple[float, ...]] = field(default_factory=list)
    has_buffer: bool = False
    before: Tensor | None = None  # snapshot for approximate mode
    # pending gradient checks: (record index, sketch (2, n) of [param.grad; G_t], noted clip, sign)
    checks: list[tuple[int, Tensor, float | None, float | None]] = field(default_factory=list)

    def coefficients(self) -> tuple[float, Tensor]:
        if not self.records:
            return 1.0, torch.zeros(0, dtype=torch.float64)
        return sgd_coefficients(torch.tensor(self.records, dtype=torch.float64))


@dataclass
class _LayerTrack:
    name: str
    module: nn.Linear
    weight: _ParamTrack
    bias: _ParamTrack | None
    pending: list[_Pending] = field(default_factory=list)
    keys: list[Tensor] = field(default_factory=list)
    grads: list[Tensor] = field(default_factory=list)
    steps: list[Tensor] = field(default_factory=list)  # (P,) optimizer step of each slot
    meta: list[Tensor] = field(default_factory=list)  # (P, 3): index, label, dataset
    probes: Tensor | None = None  # (d_in, k) random sketch vectors of the gradient check


def _is_sgd(optimizer: torch.optim.Optimizer) -> bool:
    return type(optimizer) is torch.optim.SGD


class DualFormRecorder:
    """Record keys and error signals of ``nn.Linear`` layers during training; build their dual form.

    Args:
        model: the network; its ``nn.Linear`` modules (or those named in ``layers``) are hooked.
        optimizer: the optimizer training ``model``. ``torch.optim.SGD`` (any momentum, dampening,
            Nesterov, weight decay, ``maximize``, learning-rate schedule, global-norm clipping) gives
            the exact dual form. Any other optimizer is recorded for key-only scores; its
            ``forward``/``weight`` raise unless ``approximate=True``.
        layers: names (as in ``model.named_modules()``) of the layers to record; default every
            ``nn.Linear``.
        store_dtype: dtype of stored keys/gradients (default float32, as the spec; ``None`` = the
            parameters' dtype, needed for 1e-15 exactness of float64 models; float16 halves memory
            at about 1e-3 relative error).
        device: where stored patterns live (``"cpu"`` keeps GPU memory free).
        approximate: for non-SGD optimizers, represent each step's actual update by its projection
            on ``G_t`` (``c_t = <dW_t, G_t> / ||G_t||^2``); report the gap with
            :func:`ballroom.dualform.dual_primal_gap`.
        check_tol: relative tolerance of the per-step check that ``weight.grad`` is
            ``rho_t * sum_i g_i x_i^T`` (catches loss terms on ``W``, tied weights, unrecorded
            forwards). Default ``1e-6`` for float64 parameters, ``1e-3`` otherwise (raise it for
            bf16 autocast); ``None`` (or ``math.inf``) disables the check.
        sync_ddp: under ``torch.distributed``, gather every rank's patterns at each step (with
            DDP's gradient averaging ``1/world_size`` folded into the stored gradients), so each
            rank holds the full dual form.
        chunk_size: slots per chunk in the :class:`DualLinear` queries.
        check_every: the gradient checks (and the measured clipping factors) are evaluated in
            batches every ``check_every`` steps and before a dual form is built, so a violation
            raises within that many steps, naming the step (``1``: at every step).

    Patterns are recorded only when the module is in training mode and autograd is enabled; a
    forward whose output gets no gradient before the optimizer step is discarded. Every pattern is
    one slot: an input ``(B, T, d_in)`` gives ``B*T`` slots.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        layers: Sequence[str] | None = None,
        store_dtype: torch.dtype | None = torch.float32,
        device: torch.device | str = "cpu",
        approximate: bool = False,
        check_tol: float | str | None = "auto",
        sync_ddp: bool = True,
        chunk_size: int = 65536,
        check_every: int = 16,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if store_dtype is None:  # the parameters' own dtype (float64 models stay exact to 1e-15)
            store_dtype = next(model.parameters()).dtype
        if not store_dtype.is_floating_point:
            raise TypeError(f"store_dtype must be a floating dtype, got {store_dtype}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if check_every < 1:
            raise ValueError(f"check_every must be >= 1, got {check_every}")
        self.check_every = check_every
        self.model = model
        self.optimizer = optimizer
        self.store_dtype = store_dtype
        self.device = torch.device(device)
        self.exact = _is_sgd(optimizer)
        self.approximate = bool(approximate) and not self.exact
        self.check_tol = check_tol
        self.sync_ddp = sync_ddp
        self.chunk_size = chunk_size
        self.num_steps = 0
        self._meta: Tensor | None = None  # (B, 3)
        self._clip: float | None = None
        self._cache: dict[str, DualLinear] = {}
        self._gen = torch.Generator().manual_seed(0)

        modules = dict(model.named_modules())
        if layers is None:
            names = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
        else:
            names = list(layers)
            for n in names:
                if n not in modules:
                    raise KeyError(f"no module named {n!r} in the model (have {sorted(modules)[:10]}...)")
                if not isinstance(modules[n], nn.Linear):
                    raise TypeError(f"module {n!r} is {type(modules[n]).__name__}, expected nn.Linear")
        if not names:
            raise ValueError("the model has no nn.Linear layer to record")
        groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
        self._layers: dict[str, _LayerTrack] = {}
        self._preexisting: list[str] = []  # layers whose momentum predates the recorder
        for n in names:
            mod = modules[n]
            assert isinstance(mod, nn.Linear)
            tracks = []
            for p in (mod.weight, mod.bias):
                if p is None:
                    tracks.append(None)
                    continue
                if id(p) not in groups:
                    raise ValueError(f"a parameter of layer {n!r} is not in the optimizer's param groups")
                if optimizer.state.get(p, {}).get("momentum_buffer") is not None:
                    self._preexisting.append(n)
                tracks.append(_ParamTrack(p, p.detach().to(self.device).clone(), groups[id(p)]))
            self._layers[n] = _LayerTrack(n, mod, tracks[0], tracks[1])
        self._handles = [
            t.module.register_forward_hook(self._make_forward_hook(t)) for t in self._layers.values()
        ]
        self._handles.append(optimizer.register_step_pre_hook(self._pre_step))
        self._handles.append(optimizer.register_step_post_hook(self._post_step))

    # -- public API -----------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        """Names of the recorded layers, in model order."""
        return list(self._layers)

    def set_batch_meta(
        self, index: Tensor | None = None, label: Tensor | None = None, dataset: Tensor | int | None = None
    ) -> None:
        """Metadata ``(B,)`` for the examples of the next forward passes (until the next call or optimizer step).

        ``index``: example ids (for :meth:`DualLinear.per_example_scores`), ``label``: classes
        (for votes), ``dataset``: dataset/task ids (an int broadcasts). Missing fields are ``-1``.
        """
        given = [t for t in (index, label) if t is not None]
        if isinstance(dataset, Tensor):
            given.append(dataset)
        if not given:
            self._meta = None
            return
        b = int(given[0].shape[0]) if given[0].ndim else 1
        cols = []
        for nm, t in (("index", index), ("label", label), ("dataset", dataset)):
            if t is None:
                cols.append(torch.full((b,), _NO_META, dtype=torch.int64))
            elif isinstance(t, int):
                cols.append(torch.full((b,), t, dtype=torch.int64))
            else:
                t = torch.as_tensor(t)
                if t.dtype.is_floating_point or t.ndim != 1 or t.shape[0] != b:
                    raise ValueError(
                        f"{nm} must be an integer tensor of shape ({b},), got {t.dtype} {tuple(t.shape)}"
                    )
                cols.append(t.detach().to("cpu", torch.int64))
        self._meta = torch.stack(cols, 1)

    def note_clip(self, rho: float) -> None:
        """Declare the gradient scale applied this step (e.g. ``min(1, clip / (norm + 1e-6))``).

        Used instead of the measured factor; the per-step check still verifies it.
        """
        rho = float(rho)
        if not math.isfinite(rho) or rho < 0:
            raise ValueError(f"clip factor must be finite and >= 0, got {rho}")
        self._clip = rho

    def dual(self, name: str) -> DualLinear:
        """The :class:`DualLinear` of layer ``name`` as of the last optimizer step."""
        if name not in self._layers:
            raise KeyError(f"layer {name!r} is not recorded; recorded layers: {self.layer_names}")
        if name not in self._cache:
            self._cache[name] = self._build(self._layers[name])
        return self._cache[name]

    def duals(self) -> dict[str, DualLinear]:
        """``{name: DualLinear}`` for every recorded layer."""
        return {n: self.dual(n) for n in self._layers}

    def num_patterns(self, name: str) -> int:
        """Number of slots stored for layer ``name``."""
        return sum(int(k.shape[0]) for k in self._layers[name].keys)

    def memory_bytes(self) -> int:
        """Bytes held by the stored keys, gradients and per-slot metadata of every layer."""
        total = 0
        for t in self._layers.values():
            for lst in (t.keys, t.grads, t.steps, t.meta):
                total += sum(x.numel() * x.element_size() for x in lst)
        return total

    def remove(self) -> None:
        """Detach every hook (recorded data stays available)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> DualFormRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # -- hooks ----------------------------------------------------------------------------------
    def _make_forward_hook(self, track: _LayerTrack) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Tensor) -> None:
            if not (module.training and torch.is_grad_enabled()) or not output.requires_grad:
                return
            x = args[0].detach()
            d_in = track.module.in_features
            x2 = x.reshape(-1, d_in)
            meta = self._expand_meta(x.shape[0] if x.ndim > 1 else 1, x2.shape[0], track.name)
            entry = _Pending(x2, meta)
            output.register_hook(entry.add_grad)
            track.pending.append(entry)

        return hook

    def _expand_meta(self, batch: int, patterns: int, name: str) -> Tensor | None:
        if self._meta is None:
            return None
        b = self._meta.shape[0]
        if b != batch or patterns % b:
            raise ValueError(
                f"layer {name!r}: set_batch_meta was given {b} examples but the forward has batch {batch} "
                f"({patterns} patterns)"
            )
        rep = patterns // b
        return self._meta.repeat_interleave(rep, dim=0) if rep > 1 else self._meta

    def _pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self.approximate:
            for t in self._layers.values():
                for p in (t.weight, t.bias):
                    if p is not None:
                        p.before = p.param.detach().clone()

    def _tol(self, dtype: torch.dtype) -> float:
        if self.check_tol == "auto":
            return 1e-6 if dtype == torch.float64 else 1e-3
        return math.inf if self.check_tol is None else float(self.check_tol)  # type: ignore[arg-type]

    def _gather(self, x: Tensor, g: Tensor, meta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        import torch.distributed as dist

        if not (self.sync_ddp and dist.is_available() and dist.is_initialized()):
            return x, g, meta
        world = dist.get_world_size()
        if world == 1:
            return x, g, meta
        n = torch.tensor([x.shape[0]], device=x.device)
        sizes = [torch.zeros_like(n) for _ in range(world)]
        dist.all_gather(sizes, n)
        top = int(max(int(s) for s in sizes))
        out = []
        for t in (x, g, meta.to(x.device)):
            pad = torch.zeros((top - t.shape[0], *t.shape[1:]), dtype=t.dtype, device=t.device)
            buf = [torch.empty((top, *t.shape[1:]), dtype=t.dtype, device=t.device) for _ in range(world)]
            dist.all_gather(buf, torch.cat([t, pad]).contiguous())
            out.append(torch.cat([b[: int(s)] for b, s in zip(buf, sizes)]))
        # DDP averages gradients over ranks: fold the 1/world into the stored output gradients
        return out[0], out[1] / world, out[2].cpu()

    def _post_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._preexisting:
            raise RuntimeError(
                f"the optimizer held momentum for layers {self._preexisting} before the recorder was attached, "
                "so the weights are not in the span of W_0 and the recorded gradients: attach the recorder "
                "before the first optimizer step, or restore its state with load_state_dict()"
            )
        step = self.num_steps
        for track in self._layers.values():
            done = [e for e in track.pending if e.g is not None]
            track.pending = []
            w = track.weight.param
            if done:
                x = torch.cat([e.x for e in done]).to(w.dtype)  # a copy: the stored keys own their memory
                g = done[0].g if len(done) == 1 else torch.cat([e.g for e in done if e.g is not None])
                assert g is not None
                g = g.to(w.dtype)
                meta = torch.cat(
                    [e.meta if e.meta is not None else torch.full((e.x.shape[0], 3), _NO_META) for e in done]
                )
            else:
                x = w.new_zeros(0, track.module.in_features)
                g = w.new_zeros(0, track.module.out_features)
                meta = torch.zeros(0, 3, dtype=torch.int64)
            x, g, meta = self._gather(x, g, meta)
            self._record_param(track, track.weight, x, g, step, is_bias=False)
            if track.bias is not None:
                self._record_param(track, track.bias, x, g, step, is_bias=True)
            if x.shape[0]:
                track.keys.append(x.detach().to(self.device, self.store_dtype))
                track.grads.append(g.detach().to(self.device, self.store_dtype))
                track.steps.append(torch.full((x.shape[0],), step, dtype=torch.int64, device=self.device))
                track.meta.append(meta.to(self.device))
        self._clip = None
        self._meta = None  # metadata describes the batches of one step
        self.num_steps += 1
        self._cache.clear()
        if self.num_steps % self.check_every == 0:
            self.verify()

    def _record_param(
        self, layer: _LayerTrack, track: _ParamTrack, x: Tensor, g: Tensor, step: int, is_bias: bool
    ) -> None:
        p = track.param
        if p.grad is None:
            if x.shape[0] and math.isfinite(self._tol(p.dtype)):
                raise RuntimeError(
                    f"layer {layer.name!r} {'bias' if is_bias else 'weight'} at step {step}: patterns were "
                    "recorded but the parameter has no gradient"
                )
            track.records.append((_KIND_SKIP, 0, 0, 0, 0, 0, 0, 0))
            return
        grad = p.grad.detach()
        if is_bias:
            sketch = torch.stack([grad, g.sum(0)])
        else:  # random sketches: G r = g^T (x r) costs B (d_in + d_out) instead of B d_in d_out
            r = layer.probes
            if r is None or r.dtype != p.dtype or r.device != p.device:
                r = torch.randn(p.shape[1], _SKETCH_PROBES, generator=self._gen, dtype=torch.float64)
                r = layer.probes = r.to(device=p.device, dtype=p.dtype)
            sketch = torch.stack([grad @ r, g.T @ (x @ r)]).reshape(2, -1)
        group = track.group
        sign: float | None = None
        if self.exact:
            m = float(group.get("momentum", 0.0))
            sign = -1.0 if group.get("maximize", False) else 1.0
            track.records.append(
                (
                    _KIND_SGD,
                    float(group["lr"]),
                    m,
                    float(group.get("dampening", 0.0)),
                    float(group.get("weight_decay", 0.0)),
                    float(bool(group.get("nesterov", False))),
                    float(m != 0.0 and not track.has_buffer),
                    math.nan,  # kappa = sign * rho, filled in by _verify
                )
            )
            track.has_buffer = track.has_buffer or m != 0.0
        elif self.approximate:
            assert track.before is not None
            delta = (p.detach() - track.before).double()
            full = (g.T @ x).double() if not is_bias else g.sum(0).double()
            den = float((full * full).sum())
            c = float((delta * full).sum()) / den if den > 0 else 0.0
            track.records.append((_KIND_DIRECT, 0, 0, 0, 0, 0, 0, c))
            track.before = None
        else:
            track.records.append((_KIND_SKIP, 0, 0, 0, 0, 0, 0, 0))
        track.checks.append((len(track.records) - 1, sketch, self._clip, sign))

    def verify(self) -> None:
        """Run the pending per-step gradient checks now (they run every ``check_every`` steps and
        before any dual form is built) and fill in the measured clipping factors."""
        for layer in self._layers.values():
            for pname, track in (("weight", layer.weight), ("bias", layer.bias)):
                if track is not None and track.checks:
                    self._verify(layer.name, pname, track)

    def _verify(self, name: str, pname: str, track: _ParamTrack) -> None:
        """``rho_t`` with ``param.grad == rho_t * G_t`` for every pending step, from one batched Gram."""
        checks, track.checks = track.checks, []
        grams = torch.stack([c[1] for c in checks]).double()
        grams = (grams @ grams.transpose(1, 2)).tolist()
        tol = self._tol(track.param.dtype)
        snap = 64 * torch.finfo(track.param.dtype).eps
        for (idx, _, clip, sign), ((pp, pg), (_, gg)) in zip(checks, grams):
            what = f"layer {name!r} {pname} at step {idx}"
            if gg == 0.0:
                if pp > 0.0 and math.isfinite(tol):
                    raise RuntimeError(
                        f"{what}: the parameter has a gradient but no recorded pattern produced it; is the "
                        "weight used outside the module's forward (tied weights, nn.MultiheadAttention), or "
                        "did a forward run in eval mode / under no_grad?"
                    )
                rho = 1.0
            else:
                if clip is not None:
                    rho = clip
                else:
                    rho = pg / gg
                    # an unclipped step measures 1 up to rounding: snap, so plain SGD gives values == -lr * g exactly
                    if abs(rho - 1.0) <= snap:
                        rho = 1.0
                # ||p - rho g|| / ||p|| from the Gram entries (float64; noise floor ~1e-8 relative)
                resid = math.sqrt(max(pp - 2 * rho * pg + rho * rho * gg, 0.0) / pp) if pp > 0 else 0.0
                if resid > tol:
                    raise RuntimeError(
                        f"{what}: param.grad is not rho * sum_i g_i x_i^T (relative residual {resid:.2e} > "
                        f"{tol:.0e}). Something other than the recorded forward passes changed the gradient: an "
                        "extra loss term on the weight (e.g. an explicit L2 penalty), tied weights, element-wise "
                        "clipping, a wrong note_clip(), or gradients zeroed between backward and step. Use SGD's "
                        "weight_decay instead of a penalty in the loss, or pass check_tol to loosen the check."
                    )
            if sign is not None:
                track.records[idx] = (*track.records[idx][:7], sign * rho)

    # -- building the dual form -----------------------------------------------------------------
    def _build(self, track: _LayerTrack) -> DualLinear:
        self.verify()
        d_in, d_out = track.module.in_features, track.module.out_features
        keys = torch.cat(track.keys) if track.keys else torch.zeros(0, d_in, dtype=self.store_dtype)
        grads = torch.cat(track.grads) if track.grads else torch.zeros(0, d_out, dtype=self.store_dtype)
        steps = torch.cat(track.steps) if track.steps else torch.zeros(0, dtype=torch.int64)
        meta = torch.cat(track.meta) if track.meta else torch.zeros(0, 3, dtype=torch.int64)
        a_w, c_w = track.weight.coefficients()
        if track.bias is not None:
            a_b, c_b = track.bias.coefficients()
        else:
            a_b, c_b = 1.0, None
        return DualLinear(
            track.name,
            keys,
            grads,
            steps,
            meta[:, 0],
            meta[:, 1],
            meta[:, 2],
            track.weight.init,
            None if track.bias is None else track.bias.init,
            a_w,
            c_w,
            a_b,
            c_b,
            exact=self.exact,
            approximate=self.approximate,
            chunk_size=self.chunk_size,
        )

    # -- persistence ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue recording or to rebuild the dual form (tensors and numbers only)."""
        self.verify()
        layers: dict[str, Any] = {}
        for n, t in self._layers.items():
            entry: dict[str, Any] = {
                "keys": torch.cat(t.keys) if t.keys else None,
                "grads": torch.cat(t.grads) if t.grads else None,
                "steps": torch.cat(t.steps) if t.steps else None,
                "meta": torch.cat(t.meta) if t.meta else None,
            }
            for pname, p in (("weight", t.weight), ("bias", t.bias)):
                if p is not None:
                    entry[pname] = {
                        "init": p.init,
                        "records": torch.tensor(p.records, dtype=torch.float64).reshape(-1, 8),
                        "has_buffer": p.has_buffer,
                    }
            layers[n] = entry
        return {
            "version": 1,
            "num_steps": self.num_steps,
            "exact": self.exact,
            "approximate": self.approximate,
            "store_dtype": str(self.store_dtype).removeprefix("torch."),
            "layers": layers,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (same layer names and shapes) into this recorder."""
        if state.get("version") != 1:
            raise ValueError(f"unknown recorder state version {state.get('version')!r}")
        if set(state["layers"]) != set(self._layers):
            raise ValueError(
                f"recorded layers differ: state has {sorted(state['layers'])}, recorder has {self.layer_names}"
            )
        for n, t in self._layers.items():
            entry = state["layers"][n]
            if tuple(entry["weight"]["init"].shape) != tuple(t.weight.param.shape):
                raise ValueError(
                    f"layer {n!r}: state weight shape {tuple(entry['weight']['init'].shape)} "
                    f"!= model {tuple(t.weight.param.shape)}"
                )
            t.keys = [entry["keys"].to(self.device, self.store_dtype)] if entry["keys"] is not None else []
            t.grads = [entry["grads"].to(self.device, self.store_dtype)] if entry["grads"] is not None else []
            t.steps = [entry["steps"].to(self.device)] if entry["steps"] is not None else []
            t.meta = [entry["meta"].to(self.device)] if entry["meta"] is not None else []
            t.pending = []
            for pname, p in (("weight", t.weight), ("bias", t.bias)):
                if p is None:
                    continue
                if pname not in entry:
                    raise ValueError(f"layer {n!r}: state has no {pname}")
                p.init = entry[pname]["init"].to(self.device)
                p.records = [tuple(r) for r in entry[pname]["records"].tolist()]
                p.has_buffer = bool(entry[pname]["has_buffer"])
        self.num_steps = int(state["num_steps"])
        self._preexisting = []
        self._cache.clear()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`state_dict` with ``torch.save`` (loadable with ``weights_only=True``)."""
        torch.save(self.state_dict(), path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore a file written by :meth:`save` (read with ``weights_only=True``)."""
        self.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))

    def __repr__(self) -> str:
        return (
            f"DualFormRecorder(layers={self.layer_names}, steps={self.num_steps}, exact={self.exact}, "
            f"store_dtype={self.store_dtype}, memory={self.memory_bytes() / 2**20:.1f} MiB)"
        )
