"""ExpCLR's loss and the baselines' losses and augmentations (pure functions, no Lightning).

ExpCLR (Nonnenmacher et al., ICML 2022) trains an encoder so that normalised representation
distances match a target set by the expert features: ``L_ij = ((1 - s_ij) * delta - D_ij)^2`` with
``s_ij = (1 - ||f_i - f_j|| / m)^2`` and ``D_ij = ||z_i - z_j|| / mean_k ||z_i - z_k||``, combined
by a soft maximum ``tau * log mean_ij exp(L_ij / tau)``.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.core.validate import check_choice, check_int, check_positive

__all__ = [
    "effective_dimensionality",
    "expclr_loss",
    "expert_similarity",
    "max_pairwise_distance",
    "normalized_distances",
    "nt_xent_loss",
    "optimal_delta",
    "pairwise_distances",
    "pairwise_lipschitz_stats",
    "ts2vec_hierarchical_loss",
]


def _check_2d(t: Tensor, name: str, n: int | None = None) -> None:
    if not isinstance(t, Tensor) or t.ndim != 2 or not t.is_floating_point():
        raise ValueError(f"{name} must be a floating (N, dim) tensor, got {getattr(t, 'shape', type(t))}")
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{name} must have N={n} rows, got {t.shape[0]}")
    if t.shape[0] < 2:
        raise ValueError(f"{name}: a batch needs at least 2 samples (pairs), got {t.shape[0]}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf")


def pairwise_distances(x: Tensor) -> Tensor:
    """Euclidean distances ``(N, d) -> (N, N)`` with a safe square root.

    Exact zeros on the diagonal and for coincident points, with zero (not NaN) gradient there;
    no eps is added inside the distance.

    Args:
        x: ``(N, d)`` points (not validated).

    Returns:
        ``(N, N)`` distances in ``x``'s dtype.
    """
    sq = (x.unsqueeze(1) - x.unsqueeze(0)).pow(2).sum(-1)
    pos = sq > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def expert_similarity(
    f: Tensor, max_distance: float | None = None, squared: bool = True, labels: Tensor | None = None
) -> Tensor:
    """Expert similarity ``s (N, N)`` in ``[0, 1]``, 1 on the diagonal; ``f (N, d)`` is a constant.

    ``s_ij = clip(1 - ||f_i - f_j|| / m, 0, 1)`` squared (``squared=True``, the paper's experiments)
    or not; ``m`` = the batch's largest distance unless ``max_distance`` (e.g. the training set's)
    is given. ``labels (N,)``: pairs where both labels are ``>= 0`` get ``s = [y_i == y_j]``
    (semi-supervised variant); ``-1`` marks unlabelled samples. ``f`` is detached: the expert features
    are constants of the loss (a ``UserWarning`` says so when ``f`` requires grad).
    """
    _check_2d(f, "f")
    if f.requires_grad:
        warnings.warn(
            "f (the expert features) requires grad, but ExpCLR treats expert features as constants: "
            "no gradient flows into f (pass f.detach() to silence this)",
            UserWarning,
            stacklevel=3,
        )
    f = f.detach()
    d = pairwise_distances(f)
    m = float(d.max()) if max_distance is None else check_positive(max_distance, "max_distance")
    s = torch.ones_like(d) if m == 0.0 else (1.0 - d / m).clamp(0.0, 1.0)
    if squared:
        s = s * s
    if labels is not None:
        if labels.shape != (f.shape[0],) or labels.dtype.is_floating_point:
            raise ValueError(
                f"labels must be an integer tensor of shape ({f.shape[0]},), got {labels.dtype} {tuple(labels.shape)}"
            )
        known = labels >= 0
        both = known.unsqueeze(1) & known.unsqueeze(0)
        same = (labels.unsqueeze(1) == labels.unsqueeze(0)).to(s.dtype)
        s = torch.where(both, same, s)
    return s


def normalized_distances(z: Tensor, eps: float = 1e-12) -> Tensor:
    """``D (N, N)``: ``||z_i - z_j|| / mu_i`` with ``mu_i = (1/N) sum_j ||z_i - z_j||`` (self term 0 included).

    Every row has mean 1 (unless all points coincide: ``mu_i`` is clamped at ``eps``); ``D`` is
    invariant to ``z -> c z + t`` and not symmetric.
    """
    _check_2d(z, "z")
    dist = pairwise_distances(z)
    mu = dist.mean(dim=1, keepdim=True).clamp_min(eps)
    return dist / mu


def expclr_loss(
    z: Tensor,
    f: Tensor,
    delta: float = 1.0,
    temperature: float | None = 1.0,
    squared: bool = True,
    max_distance: float | None = None,
    labels: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The ExpCLR loss of representations ``z (N, e)`` given expert features ``f (N, d)``, a scalar.

    ``L_ij = ((1 - s_ij) delta - D_ij)^2`` over all ``N^2`` pairs (diagonal included);
    ``temperature=None`` gives the quadratic loss ``mean L_ij``, otherwise the soft maximum
    ``tau * (logsumexp(L / tau) - log N^2)`` (>= the quadratic loss, -> max L as tau -> 0).
    ``reduction="none"`` returns the per-pair terms ``L (N, N)`` instead (``temperature`` is then
    not used): what each pair contributes, for inspection or a custom reduction.

    Args:
        z: ``(N, e)`` floating representations, ``N >= 2``.
        f: ``(N, d)`` floating expert features of the same samples (constants: detached).
        delta: the target scale ``delta`` (> 0, finite; see :func:`optimal_delta`).
        temperature: the soft maximum's ``tau`` (> 0), or ``None`` for the quadratic loss.
        squared: square the expert similarity (the paper's experiments).
        max_distance: the ``m`` of the similarity (``None``: the batch's largest expert distance).
        labels: ``(N,)`` integer classes, ``-1`` for unlabelled samples (see :func:`expert_similarity`).
        reduction: ``"mean"`` (the scalar loss) or ``"none"`` (the ``(N, N)`` pair terms).

    Returns:
        A 0-dim tensor, or ``(N, N)`` with ``reduction="none"``.

    Raises:
        ValueError: bad shapes, NaN or inf, fewer than 2 samples, a bad ``delta``, ``temperature``,
            ``max_distance``, ``labels`` or ``reduction``.
    """
    check_choice(reduction, "reduction", ("mean", "none"))
    _check_2d(z, "z")
    _check_2d(f, "f", n=z.shape[0])
    check_positive(delta, "delta")  # finite: delta=inf made every pair inf and the loss NaN
    if temperature is not None:
        check_positive(temperature, "temperature")
    s = expert_similarity(f, max_distance, squared, labels).to(z.dtype)
    pair = ((1.0 - s) * delta - normalized_distances(z)).pow(2)
    if reduction == "none":
        return pair
    if temperature is None:
        return pair.mean()
    n2 = pair.numel()
    return temperature * (torch.logsumexp(pair.flatten() / temperature, 0) - math.log(n2))


def optimal_delta(f: Tensor, squared: bool = True, max_distance: float | None = None) -> float:
    """``delta* = 1 / mean(1 - s)`` over all pairs (diagonal included) of ``f (N, d)``.

    Every row of ``D`` has mean 1, so a row's error can vanish only if ``delta * mean_j(1 - s_ij) = 1``;
    compute it on the training set (``delta="auto"`` in :class:`~ballroom.expclr.ExpCLRModule`).

    Args:
        f: ``(N, d)`` floating expert features.
        squared: square the similarity, as the loss will.
        max_distance: the similarity's ``m`` (``None``: the largest distance within ``f``).

    Returns:
        ``delta*`` as a Python float.

    Raises:
        ValueError: all rows of ``f`` coincide (every pair fully similar): no finite ``delta*``.
    """
    s = expert_similarity(f, max_distance, squared)
    gap = float((1.0 - s).mean())
    if gap <= 0.0:
        raise ValueError(
            "f: all rows of the expert features coincide (every pair fully similar), so there is no "
            "finite optimal delta; pass delta explicitly"
        )
    return 1.0 / gap


def max_pairwise_distance(f: Tensor, chunk_size: int = 1024) -> float:
    """Largest Euclidean distance between two rows of ``f (P, d)``, in ``O(P * chunk_size)`` memory.

    The pool-wide ``m`` for ``max_distance=`` of :func:`expert_similarity` (the training set's largest
    expert-feature distance) without the ``(P, P)`` matrix; equals ``pairwise_distances(f).max()``.
    """
    _check_2d(f, "f")
    check_int(chunk_size, "chunk_size", min=1)
    f = f.detach()
    best = 0.0
    for start in range(0, f.shape[0], chunk_size):
        best = max(best, float(torch.cdist(f[start : start + chunk_size], f).max()))
    return best


def effective_dimensionality(z: Tensor) -> Tensor:
    """Participation ratio ``(sum l)^2 / sum l^2`` of the covariance eigenvalues of ``z (N, e)``."""
    zc = z - z.mean(0)
    ev = torch.linalg.svdvals(zc).pow(2)
    return ev.sum().pow(2) / ev.pow(2).sum().clamp_min(1e-30)


def pairwise_lipschitz_stats(
    z: Tensor, f: Tensor, quantiles: tuple[float, ...] = (0.01, 0.5, 0.99)
) -> dict[str, float]:
    """Distribution of ``||z_i - z_j|| / ||f_i - f_j||`` over pairs with ``f_i != f_j`` (P1/P2 diagnostic).

    Returns ``min``, ``max``, the requested quantiles (``q01``, ``q50``, ...) and ``ratio`` =
    max/min (1 for an isometry up to scale; a bi-Lipschitz encoder keeps it bounded).

    Args:
        z: ``(N, e)`` representations.
        f: ``(N, d)`` expert features of the same samples.
        quantiles: the quantiles of the ratio to report, each in ``[0, 1]``.

    Raises:
        ValueError: bad shapes, NaN or inf, or all expert features coincide.
    """
    _check_2d(z, "z")
    _check_2d(f, "f", n=z.shape[0])
    dz, df = pairwise_distances(z.detach().double()), pairwise_distances(f.detach().double())
    iu = torch.triu_indices(z.shape[0], z.shape[0], 1)
    dz, df = dz[iu[0], iu[1]], df[iu[0], iu[1]]
    keep = df > 0
    if not bool(keep.any()):
        raise ValueError("all expert features coincide: no pair to compare")
    r = dz[keep] / df[keep]
    out = {"min": float(r.min()), "max": float(r.max())}
    out.update({f"q{round(q * 100):02d}": float(torch.quantile(r, q)) for q in quantiles})
    out["ratio"] = out["max"] / out["min"] if out["min"] > 0 else math.inf
    return out


def nt_xent_loss(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """SimCLR's NT-Xent loss of two views ``z1, z2 (N, e)``: each sample's positive is its other view.

    Cosine similarities over the ``2N`` embeddings, self-pairs excluded, cross-entropy averaged over
    all ``2N`` anchors.

    Args:
        z1: ``(N, e)`` embeddings of the first view.
        z2: ``(N, e)`` embeddings of the second view, same samples in the same order.
        temperature: the softmax temperature (> 0).

    Returns:
        A 0-dim tensor.

    Raises:
        ValueError: bad shapes, NaN or inf, fewer than 2 samples, or ``temperature <= 0``.
    """
    _check_2d(z1, "z1")
    _check_2d(z2, "z2", n=z1.shape[0])
    check_positive(temperature, "temperature")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, target)


def _instance_contrast(z1: Tensor, z2: Tensor) -> Tensor:
    # z (B, T, C): at each time step, the other view of the same series is the positive among 2B
    b = z1.shape[0]
    if b == 1:
        return z1.new_zeros(())
    z = torch.cat([z1, z2]).transpose(0, 1)  # (T, 2B, C)
    sim = z @ z.transpose(1, 2)  # (T, 2B, 2B)
    logits = torch.tril(sim, diagonal=-1)[:, :, :-1] + torch.triu(sim, diagonal=1)[:, :, 1:]
    logits = -F.log_softmax(logits, dim=-1)  # row i drops column i
    i = torch.arange(b, device=z1.device)
    return (logits[:, i, b + i - 1].mean() + logits[:, b + i, i].mean()) / 2


def _temporal_contrast(z1: Tensor, z2: Tensor) -> Tensor:
    # z (B, T, C): for each series, the same time step in the other view is the positive among 2T
    t = z1.shape[1]
    if t == 1:
        return z1.new_zeros(())
    z = torch.cat([z1, z2], dim=1)  # (B, 2T, C)
    sim = z @ z.transpose(1, 2)
    logits = torch.tril(sim, diagonal=-1)[:, :, :-1] + torch.triu(sim, diagonal=1)[:, :, 1:]
    logits = -F.log_softmax(logits, dim=-1)
    i = torch.arange(t, device=z1.device)
    return (logits[:, i, t + i - 1].mean() + logits[:, t + i, i].mean()) / 2


def ts2vec_hierarchical_loss(z1: Tensor, z2: Tensor, alpha: float = 0.5) -> Tensor:
    """TS2Vec's hierarchical contrastive loss of two views' per-step representations ``(B, T, C)``.

    At every scale (time max-pooled by 2 until one step remains) it adds ``alpha`` times the
    instance-wise contrast and ``1 - alpha`` times the temporal contrast (the latter skipped at the
    last, single-step scale), averaged over the scales.

    Args:
        z1: ``(B, T, C)`` per-step representations of the first view.
        z2: ``(B, T, C)`` of the second view.
        alpha: the weight of the instance-wise contrast.

    Returns:
        A 0-dim tensor.

    Raises:
        ValueError: ``z1`` and ``z2`` are not of one ``(B, T, C)`` shape.
    """
    if z1.shape != z2.shape or z1.ndim != 3:
        raise ValueError(
            f"z1 and z2 must share a (B, T, C) shape, got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    loss = z1.new_zeros(())
    depth = 0
    while z1.shape[1] > 1:
        loss = loss + alpha * _instance_contrast(z1, z2) + (1 - alpha) * _temporal_contrast(z1, z2)
        depth += 1
        z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2).transpose(1, 2)
    loss = loss + alpha * _instance_contrast(z1, z2)
    return loss / (depth + 1)
