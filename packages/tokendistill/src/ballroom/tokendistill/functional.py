"""The losses and estimators of STD (torch only, no Lightning, no state).

* :func:`random_derangement`: a permutation without fixed points (marginal samples for MINE).
* :func:`mine_lower_bound`: the MINE lower bound ``V`` of the mutual information between spatial and
  channel tokens (the paper's Algorithm 1).
* :func:`confidence_weights`: per-sample teacher weights ``softmax_i(sum_k p_ik log p_ik)``.
* :func:`hard_distillation_loss`: ``(1 - alpha) CE(cls, y) + alpha L_dist`` with hard teacher labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.core.validate import check_int, check_probability, check_tensor

__all__ = [
    "class_loss",
    "confidence_weights",
    "distillation_loss",
    "hard_distillation_loss",
    "mine_lower_bound",
    "negative_entropy",
    "random_derangement",
]


def random_derangement(
    n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
) -> Tensor:
    """A random permutation ``pi`` of ``range(n)`` with ``pi[i] != i`` for every ``i``.

    Built as one random ``n``-cycle: a random order ``sigma`` and a random shift ``s`` in ``1..n-1``,
    ``pi[sigma[j]] = sigma[(j + s) mod n]`` (the spec's cyclic shift, in a random order).

    Args:
        n: number of elements, ``>= 2`` (one element has no derangement).
        generator: the CPU ``torch.Generator`` to draw from (default: the global one).
        device: where the result lives.

    Returns:
        ``(n,)`` int64.
    """
    check_int(n, "n", min=2)
    sigma = torch.randperm(n, generator=generator)
    shift = int(torch.randint(1, n, (1,), generator=generator))
    pi = torch.empty(n, dtype=torch.long)
    pi[sigma] = sigma.roll(-shift)
    return pi.to(device) if device is not None else pi


def mine_lower_bound(
    psi: Callable[[Tensor], Tensor], t_s: Tensor, t_c: Tensor, perm: Tensor | None = None
) -> Tensor:
    """The MINE bound ``V = mean_i psi([t_s_i, t_c_i]) - log(mean_i exp psi([t_s_i, t_c_pi(i)]))``.

    The log-mean-exp is ``logsumexp - log b``. Nothing is detached: the statistics network ascends
    ``V`` and the student descends it (see :class:`~ballroom.tokendistill.lit.STDLightningModule`).

    Args:
        psi: the statistics network, ``(b, N + P) -> (b,)`` or ``(b, 1)``.
        t_s: spatial tokens ``(b, N)``.
        t_c: channel tokens ``(b, P)``, the same batch.
        perm: ``(b,)`` int64 permutation for the marginal pairs; default a fresh
            :func:`random_derangement` (fixed points would bias ``V`` upwards).

    Returns:
        a scalar tensor.
    """
    check_tensor(t_s, "t_s", ndim=2)
    check_tensor(t_c, "t_c", ndim=2)
    b = t_s.shape[0]
    if t_c.shape[0] != b:
        raise ValueError(f"t_s and t_c must hold the same batch, got {b} and {t_c.shape[0]} rows")
    if b < 2:
        raise ValueError(f"t_s: the MINE bound needs a batch of at least 2 samples, got {b}")
    if perm is None:
        perm = random_derangement(b, device=t_c.device)
    else:
        check_tensor(perm, "perm", shape=(b,), dtype=torch.long)
        if not torch.equal(perm.sort().values.cpu(), torch.arange(b)):
            raise ValueError(f"perm must be a permutation of range({b})")
    joint = psi(torch.cat([t_s, t_c], dim=1)).reshape(b)
    marginal = psi(torch.cat([t_s, t_c[perm]], dim=1)).reshape(b)
    return joint.mean() - (torch.logsumexp(marginal, dim=0) - math.log(b))


def negative_entropy(logits: Tensor) -> Tensor:
    """``S(g) = sum_k p_k log p_k`` with ``p = softmax(g)`` along the last axis, via log_softmax.

    Args:
        logits: ``(*, K)`` logits ``g``.

    Returns:
        ``(*)``, the negative entropy (``<= 0``; 0 for a one-hot distribution).
    """
    logp = F.log_softmax(logits, dim=-1)
    return (logp.exp() * logp).sum(-1)


def confidence_weights(teacher_logits: Tensor) -> Tensor:
    """Per-sample teacher weights ``w(x) = softmax_i(S(g_i(x)))``, ``S`` = :func:`negative_entropy`.

    A more confident (lower-entropy) teacher gets more weight.

    Args:
        teacher_logits: ``(M, B, K)`` logits of ``M`` teachers.

    Returns:
        ``(B, M)``; every row sums to 1.
    """
    check_tensor(teacher_logits, "teacher_logits", ndim=3)
    return (
        torch.softmax(negative_entropy(teacher_logits.float()), dim=0)
        .transpose(0, 1)
        .to(teacher_logits.dtype)
    )


def class_loss(
    cls_logits: Tensor, targets: Tensor, label_smoothing: float = 0.0, labeled_mask: Tensor | None = None
) -> Tensor:
    """Cross-entropy of the class head, averaged over the labelled samples (0 when none is labelled).

    Args:
        cls_logits: ``(B, K)``.
        targets: ``(B,)`` int64 labels in ``[0, K)`` (entries outside ``labeled_mask`` are ignored).
        label_smoothing: in ``[0, 1)``.
        labeled_mask: ``(B,)`` bool, ``True`` where the label may be used; default all.

    Returns:
        a scalar tensor.
    """
    if labeled_mask is None:
        return F.cross_entropy(cls_logits, targets, label_smoothing=label_smoothing)
    per_sample = F.cross_entropy(cls_logits, targets.masked_fill(~labeled_mask, 0), reduction="none",
                                 label_smoothing=label_smoothing)  # fmt: skip
    return (per_sample * labeled_mask).sum() / labeled_mask.sum().clamp_min(1)


def distillation_loss(
    dist_logits: Sequence[Tensor], teacher_logits: Tensor, assignment: Sequence[int] | None = None
) -> tuple[Tensor, Tensor]:
    """``L_dist = mean_b sum_m w_{a(m)}(x_b) / n_{a(m)} * CE(dist_m(x_b), argmax g_{a(m)}(x_b))``.

    One teacher: ``CE(dist, argmax g)`` (averaged over the heads if several distil it). ``M`` teachers:
    the confidence-weighted sum of the spec, with ``a(m)`` the teacher of head ``m`` and ``n_i`` the
    number of heads that distil teacher ``i``.

    Args:
        dist_logits: one ``(B, K)`` tensor per distillation head.
        teacher_logits: ``(M, B, K)``.
        assignment: the teacher index of each head; default ``range(len(dist_logits))`` when there
            are as many heads as teachers, else all 0 for one teacher.

    Returns:
        ``(loss, weights (B, M))``.
    """
    m_teachers, b, _k = teacher_logits.shape
    if assignment is None:
        if len(dist_logits) == m_teachers:
            assignment = list(range(m_teachers))
        elif m_teachers == 1:
            assignment = [0] * len(dist_logits)
        else:
            raise ValueError(
                f"assignment: {len(dist_logits)} heads and {m_teachers} teachers; say which teacher each head distils"
            )
    if len(assignment) != len(dist_logits) or any(not 0 <= a < m_teachers for a in assignment):
        raise ValueError(
            f"assignment must give one teacher index in [0, {m_teachers}) per head ({len(dist_logits)}), got {list(assignment)}"
        )
    weights = confidence_weights(teacher_logits) if m_teachers > 1 else teacher_logits.new_ones(b, 1)
    hard = teacher_logits.argmax(-1)  # (M, B)
    counts = [list(assignment).count(i) for i in range(m_teachers)]
    loss = teacher_logits.new_zeros(())
    for logits, a in zip(dist_logits, assignment, strict=True):
        ce = F.cross_entropy(logits, hard[a], reduction="none")
        loss = loss + (weights[:, a] * ce).mean() / counts[a]
    return loss, weights


def hard_distillation_loss(
    cls_logits: Tensor,
    dist_logits: Tensor | Sequence[Tensor],
    teacher_logits: Tensor | Sequence[Tensor],
    targets: Tensor,
    alpha: float = 0.5,
    label_smoothing: float = 0.0,
    labeled_mask: Tensor | None = None,
    assignment: Sequence[int] | None = None,
) -> Tensor:
    """``L = (1 - alpha) * CE(cls(x), y) + alpha * L_dist`` with the teachers' argmax labels.

    Label smoothing applies only to the class term; the class term uses only ``labeled_mask``
    samples, the distillation term every sample (see :func:`class_loss`, :func:`distillation_loss`).

    Args:
        cls_logits: ``(B, K)`` class-head logits.
        dist_logits: ``(B, K)`` (one head) or a sequence of them.
        teacher_logits: ``(B, K)`` (one teacher), ``(M, B, K)`` or a sequence of ``(B, K)``.
        targets: ``(B,)`` int64 labels.
        alpha: weight of the distillation term, in ``[0, 1]``.
        label_smoothing: of the class term, in ``[0, 1)``.
        labeled_mask: ``(B,)`` bool; default every sample labelled.
        assignment: teacher index of each distillation head (see :func:`distillation_loss`).

    Returns:
        a scalar tensor.
    """
    check_tensor(cls_logits, "cls_logits", ndim=2)
    b, k = cls_logits.shape
    heads = [dist_logits] if isinstance(dist_logits, Tensor) else list(dist_logits)
    if not heads:
        raise ValueError("dist_logits: need at least one distillation head")
    for i, h in enumerate(heads):
        check_tensor(h, f"dist_logits[{i}]", shape=(b, k))
    teachers = _stack_teachers(teacher_logits, b, k)
    check_tensor(targets, "targets", shape=(b,), dtype=torch.long)
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= k):
        raise ValueError(
            f"targets must lie in [0, {k}), got values in [{int(targets.min())}, {int(targets.max())}]"
        )
    check_probability(alpha, "alpha")
    check_probability(label_smoothing, "label_smoothing", open_high=True)
    if labeled_mask is not None:
        check_tensor(labeled_mask, "labeled_mask", shape=(b,), dtype=torch.bool)
    l_cls = class_loss(cls_logits, targets, label_smoothing, labeled_mask)
    l_dist, _ = distillation_loss(heads, teachers, assignment)
    return (1 - alpha) * l_cls + alpha * l_dist


def _stack_teachers(teacher_logits: Tensor | Sequence[Tensor], b: int, k: int) -> Tensor:
    if isinstance(teacher_logits, Tensor):
        check_tensor(teacher_logits, "teacher_logits", ndim=(2, 3))
        t = teacher_logits.unsqueeze(0) if teacher_logits.ndim == 2 else teacher_logits
    else:
        items = list(teacher_logits)
        if not items:
            raise ValueError("teacher_logits: need at least one teacher")
        for i, g in enumerate(items):
            check_tensor(g, f"teacher_logits[{i}]", ndim=2)
        t = torch.stack(items)
    if t.shape[1:] != (b, k):
        raise ValueError(
            f"teacher_logits must have shape (M, {b}, {k}) like cls_logits, got {tuple(t.shape)}"
        )
    return t
