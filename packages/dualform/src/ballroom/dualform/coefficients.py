"""The per-optimizer dual coefficients: ``a_T`` of ``W_0`` and ``c_t`` of every ``G_t`` in ``W_T``.

A parameter trained by ``torch.optim.SGD`` ends at ``W_T = a_T W_0 + sum_t c_t G_t`` with
``G_t = sum_i g_{t,i} x_{t,i}^T`` the step's recorded gradient sum. Each optimizer step is one
:class:`StepRecord` (what the param group said at step time, plus the measured gradient scale
``kappa``); :func:`sgd_coefficients` turns a sequence of them into ``(a_T, c)`` by a 2x2
recursion on (coefficient in the parameter, coefficient in the momentum buffer), exactly
PyTorch's rule. :func:`gradient_scale` measures ``kappa`` of a step from the sketch Gram entries
of ``param.grad`` and ``G_t`` (and checks that the gradient really is ``kappa G_t``).

Pure Python and torch: no hooks, no Lightning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from enum import IntEnum
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["StepKind", "StepRecord", "gradient_scale", "sgd_coefficients"]


class StepKind(IntEnum):
    """How a step moved a parameter: not at all, by PyTorch's SGD rule, or by a measured projection."""

    SKIP = 0  #: no gradient this step: the identity
    SGD = 1  #: ``torch.optim.SGD`` with the record's hyper-parameters
    DIRECT = 2  #: ``W' = W + kappa G_t`` (``approximate=True``: projection of another optimizer's update)


class StepRecord(NamedTuple):
    """One optimizer step of one parameter, as the recorder stores it.

    Saved as a row of 8 float64 numbers in this field order (the recorder's ``state_dict``), so
    ``StepRecord.from_row(row)`` and :meth:`to_row` round-trip.

    Attributes:
        kind: a :class:`StepKind`.
        lr, momentum, dampening, weight_decay, nesterov: the param group's values at step time.
        first: the momentum buffer is created this step (PyTorch copies the update into it).
        kappa: the gradient scale: ``param.grad = |kappa| G_t`` (global-norm clipping, DDP
            averaging), negated under ``maximize``; for ``DIRECT`` the projection coefficient.
    """

    kind: StepKind
    lr: float = 0.0
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    first: bool = False
    kappa: float = 0.0

    @classmethod
    def skip(cls) -> StepRecord:
        """A step that did not touch the parameter."""
        return cls(StepKind.SKIP)

    @classmethod
    def direct(cls, kappa: float) -> StepRecord:
        """``W' = W + kappa G_t``."""
        return cls(StepKind.DIRECT, kappa=float(kappa))

    @classmethod
    def sgd(cls, group: Mapping[str, Any], has_buffer: bool, kappa: float = math.nan) -> StepRecord:
        """A ``torch.optim.SGD`` step under param group ``group`` (read at step time).

        ``has_buffer``: the parameter already has a momentum buffer (so this is not the ``first``
        step of one); ``kappa`` is NaN until the step's gradient scale is measured.
        """
        momentum = float(group.get("momentum", 0.0))
        return cls(
            StepKind.SGD,
            lr=float(group["lr"]),
            momentum=momentum,
            dampening=float(group.get("dampening", 0.0)),
            weight_decay=float(group.get("weight_decay", 0.0)),
            nesterov=bool(group.get("nesterov", False)),
            first=momentum != 0.0 and not has_buffer,
            kappa=kappa,
        )

    @classmethod
    def from_row(cls, row: Sequence[float]) -> StepRecord:
        """Read a stored row ``(kind, lr, momentum, dampening, weight_decay, nesterov, first, kappa)``."""
        if len(row) != len(cls._fields):
            raise ValueError(f"a step record has {len(cls._fields)} numbers {cls._fields}, got {len(row)}")
        kind, lr, m, damp, wd, nesterov, first, kappa = row
        return cls(StepKind(int(kind)), lr, m, damp, wd, bool(nesterov), bool(first), kappa)

    def to_row(self) -> tuple[float, ...]:
        """The 8 numbers stored for this step (booleans and the kind as floats)."""
        return tuple(float(v) for v in self)


#: one step's linear map on (coefficient in the parameter, coefficient in the momentum buffer):
#: ``state' = A state + h G_t`` with ``A`` 2x2 row-major and the injection ``h``
StepSystem = tuple[tuple[float, float, float, float], tuple[float, float]]


def _step_system(rec: StepRecord) -> StepSystem:
    """The ``(A, h)`` of one step (see :data:`StepSystem`)."""
    if rec.kind == StepKind.SKIP:
        return (1.0, 0.0, 0.0, 1.0), (0.0, 0.0)
    if rec.kind == StepKind.DIRECT:
        return (1.0, 0.0, 0.0, 1.0), (rec.kappa, 0.0)
    lr, m, damp, wd, kappa = rec.lr, rec.momentum, rec.dampening, rec.weight_decay, rec.kappa
    if m == 0.0:  # p' = p - lr (wd p + kappa G); no buffer
        return (1.0 - lr * wd, 0.0, 0.0, 1.0), (-lr * kappa, 0.0)
    mu = 0.0 if rec.first else m  # PyTorch: the first step copies d_p into the buffer
    delta = 1.0 if rec.first else 1.0 - damp
    # d = wd p + kappa G ; b' = mu b + delta d
    if rec.nesterov:  # update = d + m b'
        scale = 1.0 + m * delta
        a = (1.0 - lr * wd * scale, -lr * m * mu, delta * wd, mu)
        h = (-lr * kappa * scale, delta * kappa)
    else:  # update = b'
        a = (1.0 - lr * delta * wd, -lr * mu, delta * wd, mu)
        h = (-lr * delta * kappa, delta * kappa)
    return a, h


def _as_records(records: Tensor | Iterable[StepRecord | Sequence[float]]) -> list[StepRecord]:
    if isinstance(records, Tensor):
        if records.ndim != 2 or records.shape[1] != len(StepRecord._fields):
            raise ValueError(f"records must have shape (T, 8), got {tuple(records.shape)}")
        records = records.tolist()
    return [r if isinstance(r, StepRecord) else StepRecord.from_row(r) for r in records]


def sgd_coefficients(records: Tensor | Iterable[StepRecord | Sequence[float]]) -> tuple[float, Tensor]:
    """``(a_T, c (T,))`` with ``W_T = a_T W_0 + sum_t c_t G_t`` for a sequence of optimizer steps.

    ``records``: :class:`StepRecord` s, or a ``(T, 8)`` float64 tensor of their rows ``(kind, lr,
    momentum, dampening, weight_decay, nesterov, first, kappa)`` as the recorder stores them
    (``kappa`` = clip factor, negated under ``maximize``). Forward recursion for ``a_T``, adjoint
    (backward) recursion for every ``c_t``: O(T) time, exact to float64 rounding.
    """
    systems = [_step_system(r) for r in _as_records(records)]
    p, b = 1.0, 0.0
    for a, _ in systems:
        p, b = a[0] * p + a[1] * b, a[2] * p + a[3] * b
    coef = [0.0] * len(systems)
    rp, rb = 1.0, 0.0  # row vector e_p^T A_{T-1} ... A_{t+1}
    for t in range(len(systems) - 1, -1, -1):
        a, h = systems[t]
        coef[t] = rp * h[0] + rb * h[1]
        rp, rb = rp * a[0] + rb * a[2], rp * a[1] + rb * a[3]
    return p, torch.tensor(coef, dtype=torch.float64)


def gradient_scale(
    pp: float, pg: float, gg: float, clip: float | None, tol: float, snap: float, what: str
) -> float:
    """``rho`` with ``param.grad == rho * G_t`` for one step, from the Gram entries of their sketches.

    Args:
        pp, pg, gg: ``<p, p>``, ``<p, G>``, ``<G, G>`` of the sketched ``param.grad`` (``p``) and
            recorded gradient sum (``G``), in float64.
        clip: the factor declared with ``note_clip`` (used instead of the measured one, and checked).
        tol: the relative residual ``||p - rho G|| / ||p||`` above which the step is refused
            (``math.inf``: never).
        snap: a measured ``rho`` within ``snap`` of 1 is taken as exactly 1 (an unclipped step),
            so plain SGD stores ``values == -lr * grads`` bit for bit.
        what: names the layer, parameter and step in the error.

    Raises:
        RuntimeError: the gradient is not a multiple of the recorded patterns' gradient sum.
    """
    if gg == 0.0:
        if pp > 0.0 and math.isfinite(tol):
            raise RuntimeError(
                f"{what}: the parameter has a gradient but no recorded pattern produced it; is the "
                "weight used outside the module's forward (tied weights, nn.MultiheadAttention), or "
                "did a forward run in eval mode / under no_grad?"
            )
        return 1.0
    if clip is not None:
        rho = clip
    else:
        rho = pg / gg
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
    return rho
