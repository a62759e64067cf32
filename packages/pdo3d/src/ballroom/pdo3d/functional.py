"""PDO stencils, the equivariance constraint and its cached solution (torch only, float64).

- :func:`pdo_stencils` -- the 10 discretised derivatives ``1, x, y, z, xx, xy, xz, yy, yz, zz``
  as cross-correlation kernels ``[10, n, n, n]`` indexed ``[z, y, x]`` (the ``D, H, W`` axes).
- :func:`solve_pdo_basis` -- the basis ``(B0, B1, B2)`` of the equivariant second-order PDOs from
  ``rho_in`` to ``rho_out``: finite groups by the Reynolds (group-averaging) projector applied to a
  few random matrices plus a thin SVD; SO(3) by a thin SVD of the stacked generator constraints.
  Results are cached on disk (``cache_dir``, else ``$BALLROOM_PDO3D_CACHE``, else
  ``~/.cache/ballroom-pdo3d``) keyed by group, representations, method and :data:`BASIS_VERSION`.
- :func:`pdo_kernels` -- the normalised kernels ``K_b = sum_j B[o, j, i, b] S_j`` of one field pair.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import torch
from torch import Tensor

from ballroom.core.validate import check_choice, check_int, check_positive
from ballroom.pdo3d.groups import Rep

__all__ = [
    "BASIS_VERSION",
    "DERIVATIVES",
    "constraint_matrices",
    "default_cache_dir",
    "pdo_kernels",
    "pdo_stencils",
    "reynolds_projector",
    "solve_pdo_basis",
    "sym_embedding",
    "sym_second_order",
]

BASIS_VERSION = 1
#: the derivative order of the stencils: (exponent of x, y, z)
DERIVATIVES: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1),
    (2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 2, 0), (0, 1, 1), (0, 0, 2),
)  # fmt: skip
_ORDER_SLICES = (slice(0, 1), slice(1, 4), slice(4, 10))
_SYM_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
_F64 = torch.float64
_MEM: dict[str, tuple[Tensor, Tensor, Tensor]] = {}


def pdo_stencils(
    mode: str = "fd", sigma: float = 1.0, radius: int | None = None, convention: str = "ours"
) -> Tensor:
    """The 10 derivative stencils ``[10, n, n, n]`` (float64, indexed ``[z, y, x]``).

    ``conv3d`` (cross-correlation) of a volume with stencil ``j`` approximates derivative ``j`` of
    :data:`DERIVATIVES` (order ``1, x, y, z, xx, xy, xz, yy, yz, zz``; x is the last axis).

    Args:
        mode: ``"fd"`` -- central differences on 3^3 (h = 1; exact on polynomials of degree <= 2);
            ``"gaussian"`` -- derivatives of the Gaussian ``G`` (std ``sigma``) sampled on
            ``(2 radius + 1)^3`` offsets, first-order kernels mirrored so that the result is
            ``+d(G * f)``.
        sigma: the Gaussian's standard deviation (voxels).
        radius: the Gaussian's half width (default 2, i.e. 5^3); FD is always 3^3.
        convention: ``"ours"`` (one convention for both modes) or ``"official"`` (the official
            code's: FD mixed second derivatives negated; Gaussian indexed ``[x, y, z]`` with the
            first derivatives not mirrored, i.e. negated under cross-correlation).
    """
    check_choice(mode, "mode", ("fd", "gaussian"))
    check_choice(convention, "convention", ("ours", "official"))
    if mode == "fd":
        if radius is not None:
            raise ValueError(
                f"radius applies to mode='gaussian' only (finite differences are 3^3), got radius={radius!r}"
            )
        one = [torch.tensor([0.0, 1.0, 0.0]), torch.tensor([-0.5, 0.0, 0.5]), torch.tensor([1.0, -2.0, 1.0])]
    else:
        sigma = check_positive(sigma, "sigma")
        r = 2 if radius is None else check_int(radius, "radius", min=1)
        t = torch.arange(-r, r + 1, dtype=_F64)
        g = torch.exp(-(t**2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
        # k_a(t) = (d^a g)(-t): mirrored derivatives, so cross-correlation gives +d^a (g * f)
        one = [g, t / sigma**2 * g, (t**2 / sigma**2 - 1) / sigma**2 * g]
    one = [v.to(_F64) for v in one]
    out = torch.stack([torch.einsum("k,j,i->kji", one[c], one[b], one[a]) for a, b, c in DERIVATIVES])
    if convention == "official":
        if mode == "fd":
            out[[5, 6, 8]] = -out[[5, 6, 8]]
        else:
            out = out.permute(0, 3, 2, 1).contiguous()
            out[1:4] = -out[1:4]
    return out


def sym_embedding() -> Tensor:
    """``P`` ``(9, 6)``: the 6 symmetric second derivatives into the 9 ordered pairs (index 3d + e)."""
    p = torch.zeros(9, 6, dtype=_F64)
    for s, (d, e) in enumerate(_SYM_PAIRS):
        p[3 * d + e, s] = 1.0
        p[3 * e + d, s] = 1.0
    return p


def sym_second_order(g: Tensor) -> Tensor:
    """``M(g) = P^+ (g (x) g) P`` ``(6, 6)``: how the symmetric second derivatives transform."""
    p = sym_embedding()
    g = g.to(_F64)
    return torch.linalg.pinv(p) @ torch.kron(g, g) @ p


def _t_matrix(order: int, g: Tensor, rho_in: Tensor) -> Tensor:
    g = g.contiguous()
    if order == 0:
        return rho_in
    return torch.kron(g.to(_F64) if order == 1 else sym_second_order(g), rho_in)


def constraint_matrices(rho_in: Rep, rho_out: Rep, g: Tensor, order: int) -> Tensor:
    """``(T(g)^T (x) I_dout - I (x) rho_out(g))`` of one rotation ``g`` and ``order`` (0, 1, 2):
    ``C vec(A) = 0`` iff ``rho_out(g) A = A T(g)`` (``vec`` column-major).

    Args:
        rho_in, rho_out: representations of one group.
        g: a rotation ``(3, 3)`` (an element of the group).
        order: the derivative order: ``T = rho_in``, ``g (x) rho_in`` or ``M(g) (x) rho_in``.

    Returns:
        ``(n d_in d_out, n d_in d_out)`` float64 with ``n = 1, 3, 6``.
    """
    t = _t_matrix(order, g, rho_in(g))
    eye_out = torch.eye(rho_out.dim, dtype=_F64)
    return torch.kron(t.T.contiguous(), eye_out) - torch.kron(torch.eye(t.shape[0], dtype=_F64), rho_out(g))


def reynolds_projector(rho_in: Rep, rho_out: Rep, order: int) -> Tensor:
    """The group-averaging projector ``P vec(A) = vec(mean_g rho_out(g) A T(g^-1))`` of a finite
    group (``P^2 = P``; its range is the constraint's solution space). Dense; for tests and small reps.

    Args:
        rho_in, rho_out: representations of one finite group.
        order: the derivative order 0, 1 or 2.

    Returns:
        ``(n d_in d_out, n d_in d_out)`` float64 acting on column-major ``vec(A)``.
    """
    group = rho_in.group
    if not group.finite:
        raise ValueError("reynolds_projector needs a finite group")
    n_in = _t_matrix(order, torch.eye(3, dtype=_F64), torch.eye(rho_in.dim, dtype=_F64)).shape[0]
    eye = torch.eye(n_in * rho_out.dim, dtype=_F64).reshape(-1, n_in, rho_out.dim).transpose(1, 2)
    out = _reynolds(rho_in, rho_out, order, eye)
    return out.transpose(1, 2).reshape(len(eye), -1).T


def _reynolds(rho_in: Rep, rho_out: Rep, order: int, a: Tensor) -> Tensor:
    """``mean_g rho_out(g) A T(g^-1)`` for a batch ``a`` ``(k, d_out, n_in)``."""
    group = rho_in.group
    assert group.elements is not None
    acc = torch.zeros_like(a)
    for g in group.elements:
        gi = g.T  # the inverse rotation
        acc += rho_out(g) @ a @ _t_matrix(order, gi, rho_in(gi))
    return acc / len(group.elements)


def _solve_order(rho_in: Rep, rho_out: Rep, order: int) -> Tensor:
    """Orthonormal basis ``(n_in * d_out, m)`` of the solutions (vec index ``col * d_out + row``)."""
    group = rho_in.group
    d_out = rho_out.dim
    n_in = (1, 3, 6)[order] * rho_in.dim
    if group.finite:
        assert group.elements is not None
        trace = sum(
            float(torch.trace(rho_out(g)) * torch.trace(_t_matrix(order, g.T, rho_in(g.T))))
            for g in group.elements
        )
        m = round(trace / len(group.elements))
        if m == 0:
            return torch.zeros(n_in * d_out, 0, dtype=_F64)
        gen = torch.Generator().manual_seed(1000 * order + 7)
        omega = torch.randn(m + 8, d_out, n_in, generator=gen, dtype=_F64)
        y = _reynolds(rho_in, rho_out, order, omega)  # (k, d_out, n_in): in the solution space
        cols = y.transpose(1, 2).reshape(m + 8, -1).T  # vec column-major
        u, s, _ = torch.linalg.svd(cols, full_matrices=False)  # thin: (n_in*d_out, m+8)
        if float(s[m - 1]) < 1e-8 * float(s[0]) or (len(s) > m and float(s[m]) > 1e-8 * float(s[0])):
            raise RuntimeError(f"basis solve: rank of the projected matrices is not {m}")
        basis = u[:, :m]
    else:
        system = torch.cat([constraint_matrices(rho_in, rho_out, g, order) for g in group.generators])
        _, s, vh = torch.linalg.svd(system, full_matrices=False)  # thin (rows >= columns)
        basis = vh[s <= 1e-10].T
    # a canonical sign: the largest entry of each basis vector is positive
    idx = basis.abs().argmax(0)
    sign = torch.sign(basis[idx, torch.arange(basis.shape[1])])
    return basis * sign


def default_cache_dir() -> Path:
    """``$BALLROOM_PDO3D_CACHE`` or ``~/.cache/ballroom-pdo3d``."""
    env = os.environ.get("BALLROOM_PDO3D_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ballroom-pdo3d"


def solve_pdo_basis(
    rho_in: Rep, rho_out: Rep, group: object | None = None, cache_dir: str | os.PathLike[str] | None = None,
    cache: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """The bases of the equivariant PDO coefficients of order 0, 1, 2 (float64).

    Returns ``(B0, B1, B2)`` with ``B_o`` of shape ``(d_out, n_o, d_in, m_o)`` (``n = 1, 3, 6``):
    ``A_o = sum_b theta_b B_o[..., b]`` reshaped to ``(d_out, n_o * d_in)`` (derivative-major
    blocks) satisfies ``rho_out(g) A_o = A_o T_o(g)`` for all ``g``. Each basis is orthonormal as a
    vector ``vec(A_o)``.

    Args:
        rho_in, rho_out: representations of the same group.
        group: optional; when given it must be the representations' group.
        cache_dir: where the solution is stored (see :func:`default_cache_dir`).
        cache: read and write the on-disk cache (the in-process cache is always used).
    """
    if not isinstance(rho_in, Rep) or not isinstance(rho_out, Rep):
        raise TypeError(
            f"rho_in and rho_out must be Rep objects, got {type(rho_in).__name__}, {type(rho_out).__name__}"
        )
    if rho_in.group != rho_out.group:
        raise ValueError(
            f"rho_in and rho_out must belong to one group, got {rho_in.group.name} and {rho_out.group.name}"
        )
    if group is not None and group != rho_in.group:
        raise ValueError(f"group must be the representations' group {rho_in.group.name}, got {group!r}")
    key = f"v{BASIS_VERSION}-{rho_in.key}-{rho_out.key}"
    if key in _MEM:
        return _MEM[key]
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = path / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".pt")
    if cache and path.exists():
        data = torch.load(path, weights_only=True)
        out = (data["B0"], data["B1"], data["B2"])
    else:
        blocks = []
        for order, n in enumerate((1, 3, 6)):
            v = _solve_order(rho_in, rho_out, order)
            blocks.append(v.reshape(n, rho_in.dim, rho_out.dim, v.shape[1]).permute(2, 0, 1, 3).contiguous())
        out = (blocks[0], blocks[1], blocks[2])
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            torch.save({"B0": out[0], "B1": out[1], "B2": out[2], "key": key}, tmp)
            os.replace(tmp, path)
    _MEM[key] = out
    return out


def pdo_kernels(
    rho_in: Rep, rho_out: Rep, mode: str = "fd", sigma: float = 1.0, normalize: bool = True,
    cache_dir: str | os.PathLike[str] | None = None, convention: str = "ours", radius: int | None = None,
) -> Tensor:  # fmt: skip
    """The kernels ``(m, d_out, d_in, n, n, n)`` (float64) of one field pair, orders concatenated.

    ``K_b[o, i] = sum_j B[o, j, i, b] S_j``; with ``normalize`` each order's kernels are divided by
    ``mean_{o,i} ||K[o, i, all b, all voxels]||_2`` (the official normalisation).

    Args:
        rho_in, rho_out: the field pair's representations.
        mode, sigma, convention, radius: the stencils (see :func:`pdo_stencils`).
        normalize: apply the per-order normalisation.
        cache_dir: where the basis is cached (see :func:`solve_pdo_basis`).
    """
    stencils = pdo_stencils(mode, sigma, radius=radius, convention=convention)
    bases = solve_pdo_basis(rho_in, rho_out, cache_dir=cache_dir)
    parts = []
    for sl, b in zip(_ORDER_SLICES, bases):
        if b.shape[-1] == 0:
            continue
        k = torch.einsum("ojib,jzyx->boizyx", b, stencils[sl])
        if normalize:
            norm = k.permute(1, 2, 0, 3, 4, 5).flatten(2).norm(dim=2).mean()
            if float(norm) > 0:
                k = k / norm
        parts.append(k)
    n = stencils.shape[-1]
    if not parts:
        return torch.zeros(0, rho_out.dim, rho_in.dim, n, n, n, dtype=_F64)
    return torch.cat(parts)
