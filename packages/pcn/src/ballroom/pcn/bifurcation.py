"""Bifurcations of the PCN maps: the kind of an eigenvalue crossing, the search for the critical
parameter, the first Lyapunov coefficient of a Neimark-Sacker point (Kuznetsov's formula for maps),
orbits and their statistics. Re-exported by :mod:`ballroom.pcn.analysis`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ballroom.core.validate import check_int, check_number, check_positive, check_tensor
from ballroom.pcn.spectral import spectral_radius

__all__ = ["classify_crossing", "find_bifurcation", "first_lyapunov_coefficient", "iterate", "orbit_stats"]

DT = torch.float64
Map = Callable[[Tensor], Tensor]


def classify_crossing(eigs: Tensor, tol: float = 1e-9) -> str:
    """How the leading multiplier(s) ``eigs (D,)`` sit: ``"neimark-sacker"`` (a complex pair leads),
    ``"flip"`` (real, negative: -1 crossing) or ``"fold"`` (real, positive: +1 crossing)."""
    eigs = check_tensor(eigs, "eigs", ndim=1, dtype=None)
    tol = check_positive(tol, "tol")
    eigs = eigs.to(torch.complex128)
    lead = eigs[eigs.abs().argmax()]
    if abs(float(lead.imag)) > tol:
        return "neimark-sacker"
    return "flip" if float(lead.real) < 0 else "fold"


def find_bifurcation(
    family: Callable[[float], Tensor | float], lo: float, hi: float, tol: float = 1e-13, max_iter: int = 200
) -> float:
    """The parameter where ``rho - 1`` changes sign, by bisection on ``[lo, hi]``.

    ``family(v)`` returns the Jacobian ``(D, D)`` at the fixed point for parameter ``v`` (or its
    spectral radius as a float); ``rho(lo) - 1`` and ``rho(hi) - 1`` must differ in sign.
    """
    lo = check_number(lo, "lo")
    hi = check_number(hi, "hi")
    if not lo < hi:
        raise ValueError(f"lo must be < hi, got lo={lo}, hi={hi}")
    tol = check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter", min=1)

    def g(v: float) -> float:
        out = family(v)
        return (spectral_radius(out) if isinstance(out, Tensor) else float(out)) - 1.0

    glo, ghi = g(lo), g(hi)
    if glo * ghi > 0:
        raise ValueError(
            f"family: rho - 1 has the same sign at lo ({glo:+.3g}) and hi ({ghi:+.3g}); no crossing bracketed"
        )
    for _ in range(max_iter):
        if hi - lo <= tol:
            break
        mid = 0.5 * (lo + hi)
        gm = g(mid)
        if gm == 0.0:
            return mid
        if (gm < 0) == (glo < 0):
            lo, glo = mid, gm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _bilinear(H: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return torch.einsum("kij,i,j->k", H, x, y)


def first_lyapunov_coefficient(F: Map, z: Tensor) -> float:
    """Kuznetsov's first Lyapunov coefficient of a map at a Neimark-Sacker fixed point ``z (D,)``.

    With ``A = dF/dz`` having ``A q = e^{i theta} q`` (``||q|| = 1``, ``0 < theta < pi``),
    ``A^T p = e^{-i theta} p``, ``<p, q> = conj(p)^T q = 1``, ``B``, ``C`` the second and third
    derivatives: ``d = 1/2 Re{e^{-i theta} [<p, C(q,q,qbar)> + 2 <p, B(q, (I - A)^{-1} B(q, qbar))>
    + <p, B(qbar, (e^{2 i theta} I - A)^{-1} B(q, q))>]}``. Negative: supercritical (an attracting
    invariant curve appears).
    """
    z = check_tensor(torch.as_tensor(z), "z", ndim=1).to(DT)
    A = torch.func.jacrev(F)(z)
    H = torch.func.jacfwd(torch.func.jacrev(F))(z)  # (D, D, D)
    T = torch.func.jacfwd(torch.func.jacfwd(torch.func.jacrev(F)))(z)  # (D, D, D, D)
    evals, evecs = torch.linalg.eig(A)
    k = int(torch.argmax(evals.imag))
    lam = evals[k]
    if float(lam.imag) <= 1e-12:
        raise ValueError(
            "z: the Jacobian has no complex pair of multipliers there (not a Neimark-Sacker point)"
        )
    theta = torch.angle(lam)
    q = evecs[:, k] / torch.linalg.vector_norm(evecs[:, k])
    ev2, evecs2 = torch.linalg.eig(A.T.to(torch.complex128))
    j = int(torch.argmin((ev2 - lam.conj()).abs()))
    p = evecs2[:, j]
    p = p / torch.vdot(p, q).conj()
    Hc, Tc, Ac = H.to(torch.complex128), T.to(torch.complex128), A.to(torch.complex128)
    eye = torch.eye(A.shape[0], dtype=torch.complex128)
    qb = q.conj()
    c3 = torch.einsum("kijl,i,j,l->k", Tc, q, q, qb)
    b1 = _bilinear(Hc, q, torch.linalg.solve(eye - Ac, _bilinear(Hc, q, qb)))
    b2 = _bilinear(Hc, qb, torch.linalg.solve(torch.exp(2j * theta) * eye - Ac, _bilinear(Hc, q, q)))
    inner = torch.vdot(p, c3) + 2 * torch.vdot(p, b1) + torch.vdot(p, b2)
    return float(0.5 * (torch.exp(-1j * theta) * inner).real)


@torch.no_grad()
def iterate(F: Map, z0: Tensor, n: int) -> Tensor:
    """The orbit ``(n + 1, *z0.shape)`` of ``z0`` under ``F`` (``z0`` first); batched states work when
    ``F`` maps batches."""
    z0 = check_tensor(torch.as_tensor(z0), "z0", min_ndim=1)
    n = check_int(n, "n", min=0)
    out = z0.new_empty((n + 1, *z0.shape))
    out[0] = z0
    z = z0
    for t in range(n):
        z = F(z)
        out[t + 1] = z
    return out


def orbit_stats(orbit: Tensor, z_star: Tensor, tail: int | None = None) -> dict[str, float]:
    """Distances of ``orbit (T, *S)`` to ``z_star`` (``S`` or broadcastable; the last axis is the state):
    ``min``/``max``/``mean`` over the last ``tail`` points (default: the last half) and ``final``."""
    orbit = check_tensor(orbit, "orbit", min_ndim=2, finite=False)
    z_star = check_tensor(torch.as_tensor(z_star, dtype=orbit.dtype), "z_star", min_ndim=1)
    T = orbit.shape[0]
    tail = T // 2 if tail is None else check_int(tail, "tail", min=1, max=T)
    d = torch.linalg.vector_norm(orbit[T - tail :] - z_star, dim=-1)
    if not bool(torch.isfinite(d).all()):
        return {"min": math.inf, "max": math.inf, "mean": math.inf, "final": math.inf}
    return {
        "min": float(d.min()),
        "max": float(d.max()),
        "mean": float(d.mean()),
        "final": float(d[-1].max()),
    }
