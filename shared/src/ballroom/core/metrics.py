"""Representation similarity between two sets of features of the same ``n`` points.

Every function takes ``X`` of shape ``(n, d1)`` and ``Y`` of shape ``(n, d2)`` (tensors or NumPy
arrays; row ``i`` of both describes the same input), computes in float64 and returns a 0-dim float64
tensor on the inputs' device. Definitions follow the specs of ballroom-rtd and ballroom-stir:

- ``hsic(K, L)``: biased estimator ``sum((HKH) * (HLH)) / (n-1)^2`` with ``H = I - 11^T/n``, or with
  ``debiased=True`` the unbiased estimator of Song et al. (2012)::

      [tr(Kt Lt) + (1^T Kt 1)(1^T Lt 1)/((n-1)(n-2)) - 2/(n-2) 1^T Kt Lt 1] / (n(n-3)),

  ``Kt``, ``Lt`` the Gram matrices with zeroed diagonal.
- ``cka = hsic(K, L) / sqrt(hsic(K, K) hsic(L, L))`` with linear Grams (``linear_cka``) or RBF
  Grams (``rbf_cka``), bandwidth ``sigma = sigma_frac * sqrt(median of the non-zero squared
  distances)``, computed separately for ``X`` and ``Y``.
- ``svcca(keep=0.99)``: centre, keep the fewest top singular directions whose singular values sum to
  more than ``keep`` of the total, CCA between the reduced sets, mean canonical correlation.
- ``pwcca``: projection-weighted CCA (Morcos et al., 2018), weights from ``X``'s side.

The torchmetrics ``Metric`` classes (:class:`LinearCKA`, :class:`RBFCKA`, :class:`SVCCA`, :class:`PWCCA`,
defined in :mod:`ballroom.core.metric_modules` and re-exported here lazily, so that the functions
import without torchmetrics' own import cost of several seconds) accumulate both representations over batches (and across DDP ranks) and compute on the whole set;
:class:`MinibatchCKA` keeps only three running sums (Nguyen et al., 2021).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import Tensor

from ballroom.core.lazy import lazy_exports
from ballroom.core.validate import check_positive

if TYPE_CHECKING:
    from ballroom.core.metric_modules import PWCCA, RBFCKA, SVCCA, LinearCKA, MinibatchCKA

__all__ = [
    "PWCCA",
    "RBFCKA",
    "SVCCA",
    "LinearCKA",
    "MinibatchCKA",
    "cca",
    "center_gram",
    "cka_from_grams",
    "gram_linear",
    "gram_rbf",
    "hsic",
    "linear_cka",
    "minibatch_cka",
    "pwcca",
    "rbf_cka",
    "svcca",
]

ArrayLike = Tensor | np.ndarray


def _as_matrix(name: str, x: ArrayLike) -> Tensor:
    """Validate a representation ``(n, d)`` and return it as a float64 tensor."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor or numpy.ndarray of shape (n, d), got {type(x).__name__}"
        )
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d) (points x features), got shape {tuple(x.shape)}")
    if x.is_complex() or not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"{name} must be a real floating-point or integer tensor, got dtype {x.dtype}")
    x = x.detach().to(torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _pair(x: ArrayLike, y: ArrayLike, min_n: int = 2) -> tuple[Tensor, Tensor]:
    X, Y = _as_matrix("X", x), _as_matrix("Y", y)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y must describe the same points: got {X.shape[0]} rows in X and {Y.shape[0]} in Y"
        )
    if X.shape[0] < min_n:
        raise ValueError(f"need at least {min_n} points, got n={X.shape[0]}")
    if X.device != Y.device:
        raise ValueError(f"X and Y must be on the same device, got {X.device} and {Y.device}")
    return X, Y


def _check_gram(name: str, K: Tensor) -> Tensor:
    if not isinstance(K, Tensor) or K.ndim != 2 or K.shape[0] != K.shape[1]:
        shape = tuple(K.shape) if isinstance(K, Tensor) else type(K).__name__
        raise ValueError(f"{name} must be a square (n, n) Gram matrix, got {shape}")
    return K.to(torch.float64)


def gram_linear(x: ArrayLike) -> Tensor:
    """Linear Gram matrix ``X X^T``: ``(n, d) -> (n, n)`` float64.

    Args:
        x: the representation, ``(n, d)``, a real tensor or NumPy array.

    Returns:
        The Gram matrix, ``(n, n)`` float64.
    """
    X = _as_matrix("X", x)
    return X @ X.T


def _sq_dists(X: Tensor) -> Tensor:
    sq = (X * X).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * (X @ X.T)).clamp_min_(0.0).fill_diagonal_(0.0)


def gram_rbf(x: ArrayLike, sigma: float | None = None, sigma_frac: float = 1.0) -> Tensor:
    """RBF Gram matrix ``exp(-||x_i - x_j||^2 / (2 sigma^2))``: ``(n, d) -> (n, n)`` float64.

    With ``sigma=None`` the bandwidth is ``sigma_frac`` times the median distance between distinct
    points: ``sigma^2 = sigma_frac^2 * median(non-zero squared distances)``.

    Args:
        x: the representation, ``(n, d)``, a real tensor or NumPy array.
        sigma: the bandwidth; ``None`` takes it from the median distance.
        sigma_frac: the multiple of the median distance used when ``sigma`` is ``None``.

    Returns:
        The Gram matrix, ``(n, n)`` float64.

    Raises:
        ValueError: ``sigma`` or ``sigma_frac`` is not positive, or (``sigma=None``) all points
            coincide.
    """
    X = _as_matrix("X", x)
    D = _sq_dists(X)
    if sigma is None:
        check_positive(sigma_frac, "sigma_frac")
        nonzero = D[D > 0]
        if nonzero.numel() == 0:
            raise ValueError("all points of X coincide: the median distance (RBF bandwidth) is 0")
        sigma2 = sigma_frac**2 * float(nonzero.median())
    else:
        sigma2 = check_positive(sigma, "sigma") ** 2
    return torch.exp(-D / (2.0 * sigma2))


def center_gram(K: Tensor) -> Tensor:
    """Double centring ``H K H`` with ``H = I - 11^T/n``: ``(n, n) -> (n, n)``."""
    K = _check_gram("K", K)
    return K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()


def hsic(K: Tensor, L: Tensor, debiased: bool = False) -> Tensor:
    """HSIC between two ``(n, n)`` Gram matrices (biased, or unbiased with ``debiased=True``).

    Args:
        K: the first Gram matrix, ``(n, n)``.
        L: the second Gram matrix, ``(n, n)``, over the same points.
        debiased: use the unbiased estimator of Song et al. (2012) (needs ``n >= 4``).

    Returns:
        A 0-dim float64 tensor.

    Raises:
        ValueError: a matrix is not square, the sizes differ, or ``n`` is too small (2; 4 debiased).
    """
    K, L = _check_gram("K", K), _check_gram("L", L)
    n = K.shape[0]
    if L.shape[0] != n:
        raise ValueError(f"K and L must have the same size, got {n} and {L.shape[0]}")
    if not debiased:
        if n < 2:
            raise ValueError(f"the biased HSIC needs n >= 2, got n={n}")
        return (center_gram(K) * center_gram(L)).sum() / (n - 1) ** 2
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs n >= 4 points, got n={n}")
    Kt = K.clone().fill_diagonal_(0.0)
    Lt = L.clone().fill_diagonal_(0.0)
    trace = (Kt * Lt).sum()  # tr(Kt Lt), both symmetric
    sums = Kt.sum() * Lt.sum() / ((n - 1) * (n - 2))
    cross = 2.0 / (n - 2) * (Kt.sum(0) @ Lt.sum(1))  # 1^T Kt Lt 1
    return (trace + sums - cross) / (n * (n - 3))


def cka_from_grams(K: Tensor, L: Tensor, debiased: bool = False) -> Tensor:
    """CKA from two ``(n, n)`` Gram matrices: ``hsic(K, L) / sqrt(hsic(K, K) hsic(L, L))``.

    Args:
        K: the Gram matrix of ``X``, ``(n, n)``.
        L: the Gram matrix of ``Y``, ``(n, n)``.
        debiased: use the unbiased HSIC (see :func:`hsic`).

    Returns:
        A 0-dim float64 tensor.

    Raises:
        ValueError: as :func:`hsic`, or ``hsic(K, K)`` or ``hsic(L, L)`` is not positive.
    """
    kl = hsic(K, L, debiased)
    kk = hsic(K, K, debiased)
    ll = hsic(L, L, debiased)
    for name, value in (("X", kk), ("Y", ll)):
        if not bool(value > 0):
            raise ValueError(
                f"HSIC({name}, {name}) = {float(value):.3g} <= 0: the representation {name} is constant over "
                "the points (or too few points for the unbiased estimator); CKA is undefined"
            )
    return kl / torch.sqrt(kk * ll)


def linear_cka(x: ArrayLike, y: ArrayLike, debiased: bool = False) -> Tensor:
    """Linear CKA between ``X (n, d1)`` and ``Y (n, d2)``: a 0-dim float64 tensor in ``[0, 1]``.

    Invariant to orthogonal transforms and isotropic scaling of either side and to translations;
    not to anisotropic scaling. The biased version uses the feature-space identity
    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` when that is cheaper than the ``(n, n)`` Grams.

    Args:
        x: the representation ``X``, ``(n, d1)``, a real tensor or NumPy array (row ``i`` is point ``i``).
        y: the representation ``Y``, ``(n, d2)``, of the same ``n`` points.
        debiased: use the unbiased HSIC (needs ``n >= 4``; the value can then fall slightly below 0).

    Returns:
        A 0-dim float64 tensor on the inputs' device.

    Raises:
        TypeError: ``x`` or ``y`` is not a real tensor or array.
        ValueError: wrong rank, NaN or inf, different numbers of points or devices, too few points.
            A constant representation makes CKA undefined (``ValueError``).
    """
    X, Y = _pair(x, y, min_n=4 if debiased else 2)
    n, d = X.shape[0], X.shape[1] + Y.shape[1]
    if debiased or n <= d:
        return cka_from_grams(X @ X.T, Y @ Y.T, debiased)
    Xc, Y_c = X - X.mean(0), Y - Y.mean(0)
    xx = torch.linalg.matrix_norm(Xc.T @ Xc)
    yy = torch.linalg.matrix_norm(Y_c.T @ Y_c)
    for name, value in (("X", xx), ("Y", yy)):
        if not bool(value > 0):
            raise ValueError(f"the representation {name} is constant over the points; CKA is undefined")
    cka: Tensor = torch.linalg.matrix_norm(Y_c.T @ Xc) ** 2 / (xx * yy)
    return cka


def rbf_cka(
    x: ArrayLike,
    y: ArrayLike,
    sigma_frac: float = 1.0,
    debiased: bool = False,
    sigma_x: float | None = None,
    sigma_y: float | None = None,
) -> Tensor:
    """RBF-kernel CKA between ``X (n, d1)`` and ``Y (n, d2)``: a 0-dim float64 tensor.

    Each side's bandwidth is ``sigma_frac`` times its median distance between distinct points,
    unless given explicitly (``sigma_x``, ``sigma_y``). As the bandwidth grows, RBF CKA tends to
    linear CKA.

    Args:
        x: the representation ``X``, ``(n, d1)``, a real tensor or NumPy array (row ``i`` is point ``i``).
        y: the representation ``Y``, ``(n, d2)``, of the same ``n`` points.
        sigma_frac: the multiple of each side's median distance used as its bandwidth.
        debiased: use the unbiased HSIC (needs ``n >= 4``).
        sigma_x: the bandwidth of ``X``'s kernel; ``None`` takes it from ``sigma_frac``.
        sigma_y: the bandwidth of ``Y``'s kernel; ``None`` takes it from ``sigma_frac``.

    Returns:
        A 0-dim float64 tensor on the inputs' device.

    Raises:
        TypeError: ``x`` or ``y`` is not a real tensor or array.
        ValueError: wrong rank, NaN or inf, different numbers of points or devices, too few points.
            A non-positive bandwidth or a constant representation also raise ``ValueError``.
    """
    X, Y = _pair(x, y, min_n=4 if debiased else 2)
    K = gram_rbf(X, sigma=sigma_x, sigma_frac=sigma_frac)
    L = gram_rbf(Y, sigma=sigma_y, sigma_frac=sigma_frac)
    return cka_from_grams(K, L, debiased)


def _orthonormal_basis(Xc: Tensor, rtol: float) -> Tensor:
    """Orthonormal basis ``(n, r)`` of the column space of ``Xc``, rank ``r`` at relative ``rtol``."""
    U, S, _ = torch.linalg.svd(Xc, full_matrices=False)
    if S.numel() == 0 or not bool(S[0] > 0):
        raise ValueError("a representation is constant over the points; CCA is undefined")
    rank = int((S > rtol * S[0]).sum())
    basis: Tensor = U[:, :rank]
    return basis


def _warn_if_transposed(X: Tensor, Y: Tensor, what: str) -> None:
    """CCA needs more points than features: with ``n <= d1 + d2`` every correlation is trivially 1."""
    n, d1, d2 = X.shape[0], X.shape[1], Y.shape[1]
    if n <= d1 + d2:
        warnings.warn(
            f"{what}: {n} points for {d1} + {d2} features: with n <= d1 + d2 the canonical correlations "
            "are trivially 1. Pass (n points, d features); the Google SVCCA code's (neurons, points) "
            "layout needs .T",
            UserWarning,
            stacklevel=3,
        )


def cca(x: ArrayLike, y: ArrayLike, rtol: float = 1e-10) -> tuple[Tensor, Tensor, Tensor]:
    """Canonical correlation analysis between ``X (n, d1)`` and ``Y (n, d2)`` (each centred over points).

    Returns ``(rho, Hx, Hy)``: the ``k = min(rank X, rank Y)`` canonical correlations in decreasing
    order ``(k,)`` and the unit-norm canonical variates ``(n, k)`` of each side (orthonormal columns).
    Directions whose singular value is below ``rtol`` times the largest are treated as rank deficiency.

    Args:
        x: the representation ``X``, ``(n, d1)``, a real tensor or NumPy array (row ``i`` is point ``i``).
        y: the representation ``Y``, ``(n, d2)``, of the same ``n`` points.
        rtol: the relative singular-value threshold of each side's rank.

    Returns:
        ``(rho, Hx, Hy)``: ``(k,)``, ``(n, k)``, ``(n, k)`` float64.

    Raises:
        TypeError: ``x`` or ``y`` is not a real tensor or array.
        ValueError: wrong rank, NaN or inf, different numbers of points or devices, too few points.
            A constant representation also raises ``ValueError``; ``n <= d1 + d2`` warns
            (``UserWarning``: every correlation is then trivially 1).
    """
    X, Y = _pair(x, y)
    _warn_if_transposed(X, Y, "cca")
    Qx = _orthonormal_basis(X - X.mean(0), rtol)
    Qy = _orthonormal_basis(Y - Y.mean(0), rtol)
    U, rho, Vh = torch.linalg.svd(Qx.T @ Qy, full_matrices=False)
    k = min(Qx.shape[1], Qy.shape[1])
    return rho[:k].clamp(0.0, 1.0), Qx @ U[:, :k], Qy @ Vh[:k].T


def _svd_reduce(X: Tensor, keep: float, center: Literal["points", "features"]) -> Tensor:
    if center == "points":
        Xc = X - X.mean(0, keepdim=True)
    elif center == "features":
        Xc = X - X.mean(1, keepdim=True)
    else:
        raise ValueError(f"center must be 'points' or 'features', got {center!r}")
    U, S, _ = torch.linalg.svd(Xc, full_matrices=False)
    total = S.sum()
    if not bool(total > 0):
        raise ValueError("a representation is constant over the points; SVCCA is undefined")
    frac = torch.cumsum(S, 0) / total
    r = min(
        int(torch.searchsorted(frac, torch.tensor(keep, dtype=frac.dtype, device=frac.device), right=True))
        + 1,
        S.numel(),
    )
    directions: Tensor = U[:, :r] * S[:r]
    return directions


def svcca(
    x: ArrayLike,
    y: ArrayLike,
    keep: float = 0.99,
    center: Literal["points", "features"] = "points",
) -> Tensor:
    """SVCCA between ``X (n, d1)`` and ``Y (n, d2)``: mean canonical correlation, a 0-dim float64 tensor.

    Each side is centred (``center="points"``: every feature over the points, the definition;
    ``center="features"``: every point over its features, the quirk of the RTD repository's copy),
    reduced to its fewest top singular directions whose singular values (not squared) sum to more
    than ``keep`` of the total, and the two reduced sets are compared by CCA.

    Args:
        x: the representation ``X``, ``(n, d1)``, a real tensor or NumPy array (row ``i`` is point ``i``).
        y: the representation ``Y``, ``(n, d2)``, of the same ``n`` points.
        keep: the fraction of the singular-value sum to keep, in ``(0, 1]``.
        center: ``"points"`` or ``"features"`` (above).

    Returns:
        A 0-dim float64 tensor on the inputs' device.

    Raises:
        TypeError: ``x`` or ``y`` is not a real tensor or array.
        ValueError: wrong rank, NaN or inf, different numbers of points or devices, too few points.
            ``keep`` outside ``(0, 1]``, an unknown ``center`` or a constant representation also
            raise ``ValueError``; ``n <= d1 + d2`` warns (``UserWarning``).
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must lie in (0, 1], got {keep}")
    X, Y = _pair(x, y)
    _warn_if_transposed(X, Y, "svcca")
    with warnings.catch_warnings():  # the reduced sets are checked above, on the inputs
        warnings.simplefilter("ignore", UserWarning)
        rho, _, _ = cca(_svd_reduce(X, keep, center), _svd_reduce(Y, keep, center))
    return rho.mean()


def pwcca(x: ArrayLike, y: ArrayLike, rtol: float = 1e-10) -> Tensor:
    """Projection-weighted CCA (Morcos et al., 2018) between ``X (n, d1)`` and ``Y (n, d2)``.

    ``sum_i a_i rho_i / sum_i a_i`` with ``a_i = sum_j |<h_i, x_j>|``: how much of ``X``'s centred
    neurons ``x_j`` each canonical variate ``h_i`` of ``X`` accounts for. Asymmetric by design.

    Args:
        x: the representation ``X``, ``(n, d1)``, a real tensor or NumPy array (row ``i`` is point ``i``).
        y: the representation ``Y``, ``(n, d2)``, of the same ``n`` points.
        rtol: the relative singular-value threshold of each side's rank (see :func:`cca`).

    Returns:
        A 0-dim float64 tensor on the inputs' device.

    Raises:
        TypeError: ``x`` or ``y`` is not a real tensor or array.
        ValueError: wrong rank, NaN or inf, different numbers of points or devices, too few points.
            A constant representation also raises ``ValueError``; ``n <= d1 + d2`` warns
            (``UserWarning``).
    """
    X, Y = _pair(x, y)
    _warn_if_transposed(X, Y, "pwcca")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        rho, Hx, _ = cca(X, Y, rtol)
    weights = (Hx.T @ (X - X.mean(0))).abs().sum(1)
    return (weights * rho).sum() / weights.sum()


def minibatch_cka(xs: Sequence[ArrayLike], ys: Sequence[ArrayLike]) -> Tensor:
    """Minibatch linear CKA (Nguyen et al., 2021) from paired batches ``xs[b] (n_b, d1)``, ``ys[b] (n_b, d2)``.

    ``mean_b hsic1(K_b, L_b) / sqrt(mean_b hsic1(K_b, K_b) * mean_b hsic1(L_b, L_b))`` with the
    unbiased HSIC; with a single batch it equals the debiased full-set linear CKA.
    """
    if len(xs) != len(ys) or len(xs) == 0:
        raise ValueError(f"need the same, non-zero number of X and Y batches, got {len(xs)} and {len(ys)}")
    return _cka_from_triplet(torch.stack([_hsic_triplet(x, y) for x, y in zip(xs, ys)]).mean(0))


def _hsic_triplet(x: ArrayLike, y: ArrayLike) -> Tensor:
    X, Y = _pair(x, y, min_n=4)
    K, L = X @ X.T, Y @ Y.T
    return torch.stack([hsic(K, L, True), hsic(K, K, True), hsic(L, L, True)])


def _cka_from_triplet(t: Tensor) -> Tensor:
    if not bool(t[1] > 0 and t[2] > 0):
        raise ValueError("a representation is constant over the batches; CKA is undefined")
    return t[0] / torch.sqrt(t[1] * t[2])


_METRIC_CLASSES = ("LinearCKA", "MinibatchCKA", "PWCCA", "RBFCKA", "SVCCA")
__getattr__, __dir__ = lazy_exports(
    __name__, dict.fromkeys(_METRIC_CLASSES, "ballroom.core.metric_modules"), _METRIC_CLASSES
)
