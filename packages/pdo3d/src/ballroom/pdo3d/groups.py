"""Rotation groups G <= SO(3) and their representations (float64, torch only).

Finite groups (``klein4``, ``tetrahedral``, ``octahedral``, ``icosahedral``) are closed from their
generators (the spec's generators); each has ``elements`` ``(|G|, 3, 3)``, a Cayley table, the
regular and quotient permutation representations and the restricted real Wigner-D matrices
``irrep(l)``. ``so3()`` has generators (1 rad about y and about x) and ``irrep(l)``.

Representations act by ``[pi(g) f](x) = rho(g) f(g^-1 x)``; ``rho(g)`` is looked up from the
rotation matrix ``g`` (for finite groups the matrix must be an element).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor

from ballroom.core.validate import check_int, check_tensor

__all__ = [
    "Group",
    "Rep",
    "icosahedral",
    "klein4",
    "octahedral",
    "real_wigner_d",
    "rotation_about",
    "so3",
    "tetrahedral",
]

_F64 = torch.float64


def rotation_about(axis: str | Tensor, angle: float) -> Tensor:
    """The ``(3, 3)`` float64 rotation by ``angle`` (radians, right hand) about ``axis`` ("x", "y",
    "z" or a 3-vector)."""
    if isinstance(axis, str):
        axis = {
            "x": torch.tensor([1.0, 0, 0]),
            "y": torch.tensor([0, 1.0, 0]),
            "z": torch.tensor([0, 0, 1.0]),
        }[axis]
    u = axis.to(_F64) / axis.to(_F64).norm()
    k = torch.tensor([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]], dtype=_F64)
    return torch.eye(3, dtype=_F64) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def _key(g: Tensor) -> tuple[int, ...]:
    return tuple(int(v) for v in torch.round(g.flatten() * 1e6).tolist())


def _monomials(deg: int) -> list[tuple[int, int, int]]:
    return [(a, b, deg - a - b) for a in range(deg, -1, -1) for b in range(deg - a, -1, -1)]


def _sphere_moment(a: int, b: int, c: int) -> float:
    """The integral of ``x^a y^b z^c`` over the unit sphere."""
    if a % 2 or b % 2 or c % 2:
        return 0.0
    g = math.gamma
    return 2 * g((a + 1) / 2) * g((b + 1) / 2) * g((c + 1) / 2) / g((a + b + c + 3) / 2)


@functools.cache
def _harmonic_basis(deg: int) -> Tensor:
    """Coefficients ``(n_monomials, 2l+1)`` of an orthonormal (on the sphere) basis of the
    degree-``deg`` harmonic polynomials, Gram-Schmidt of the monomials in a fixed order (so for
    ``deg = 1`` the basis is ``(x, y, z)`` up to one scale and ``D_1(R) = R``)."""
    mono = _monomials(deg)
    n = len(mono)
    gram = torch.tensor(
        [[_sphere_moment(*(p + q for p, q in zip(u, v))) for v in mono] for u in mono], dtype=_F64
    )
    if deg >= 2:
        low: dict[tuple[int, ...], int] = {m: i for i, m in enumerate(_monomials(deg - 2))}
        lap = torch.zeros(len(low), n, dtype=_F64)
        for j, (a, b, c) in enumerate(mono):
            for k, e in enumerate((a, b, c)):
                if e >= 2:
                    m = [a, b, c]
                    m[k] -= 2
                    lap[low[tuple(m)], j] += e * (e - 1)
        vh = torch.linalg.svd(lap, full_matrices=True)[2]
        harm = vh[len(low) :].T  # the null space (the Laplacian of degree deg is onto)
    else:
        harm = torch.eye(n, dtype=_F64)
    proj = harm @ torch.linalg.solve(harm.T @ gram @ harm, harm.T @ gram)
    basis: list[Tensor] = []
    for k in range(n):
        v = proj[:, k].clone()
        for u in basis:
            v = v - (u @ gram @ v) * u
        norm = float(v @ gram @ v) ** 0.5
        if norm > 1e-8:
            basis.append(v / norm)
    out = torch.stack(basis, 1)
    assert out.shape[1] == 2 * deg + 1
    return out


def _eval_monomials(deg: int, pts: Tensor) -> Tensor:
    cols = [pts[:, 0] ** a * pts[:, 1] ** b * pts[:, 2] ** c for a, b, c in _monomials(deg)]
    return torch.stack(cols, 1)


@functools.lru_cache(maxsize=1)
def _probe_points() -> Tensor:
    gen = torch.Generator().manual_seed(12345)
    pts = torch.randn(64, 3, generator=gen, dtype=_F64)
    return pts / pts.norm(dim=1, keepdim=True)


def real_wigner_d(deg: int, rotation: Tensor) -> Tensor:
    """The real Wigner-D matrix ``(2l+1, 2l+1)`` (float64, orthogonal) of ``rotation`` ``(3, 3)``.

    Defined on real harmonic polynomials ``Y`` by ``Y(R p) = D_l(R) Y(p)``, so ``D_l(R1 R2) =
    D_l(R1) D_l(R2)``, ``D_0 = 1`` and ``D_1(R) = R``.

    Args:
        deg: the degree ``l >= 0``.
        rotation: a rotation matrix ``(3, 3)``.
    """
    deg = check_int(deg, "l", min=0)
    check_tensor(rotation, "rotation", shape=(3, 3))
    if deg == 0:
        return torch.ones(1, 1, dtype=_F64)
    r = rotation.detach().to("cpu", _F64)
    coef = _harmonic_basis(deg)
    pts = _probe_points()
    y = _eval_monomials(deg, pts) @ coef
    y_rot = _eval_monomials(deg, pts @ r.T) @ coef
    return torch.linalg.lstsq(y, y_rot).solution.T.contiguous()


class Rep:
    """A real orthogonal representation ``rho`` of ``group``: ``rep(g) -> (dim, dim)`` float64.

    Attributes:
        name: unique within the group (``"trivial"``, ``"regular"``, ``"quotient[V]"``, ``"irrep2"``).
        dim: ``d_rho``.
        permutation: the matrices are permutations (pointwise ReLU and per-field BN are equivariant).
        deg: the SO(3) degree for ``irrep(l)`` (``None`` otherwise).

    Args:
        group: the ``Group`` it represents.
        name, dim, permutation, deg: the attributes above.
        fn: maps a float64 rotation ``(3, 3)`` (an element of ``group``) to ``rho(g)`` ``(dim, dim)``.
    """

    def __init__(
        self,
        group: Group,
        name: str,
        dim: int,
        fn: Callable[[Tensor], Tensor],
        permutation: bool,
        deg: int | None = None,
    ) -> None:
        self.group, self.name, self.dim, self._fn, self.permutation, self.deg = (
            group,
            name,
            dim,
            fn,
            permutation,
            deg,
        )

    def __call__(self, g: Tensor) -> Tensor:
        check_tensor(g, "g", shape=(3, 3))
        return self._fn(g.detach().to("cpu", _F64))

    @property
    def key(self) -> str:
        """``"<group>/<name>"``: the cache key part of this representation."""
        return f"{self.group.name}/{self.name}"

    @property
    def is_trivial(self) -> bool:
        return self.name in ("trivial", "irrep0")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rep) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Rep({self.key}, dim={self.dim})"


class Group:
    """A rotation group ``G <= SO(3)`` given by generators; finite groups are closed to their elements.

    Attributes:
        name: ``"V"``, ``"T"``, ``"O"``, ``"I"`` or ``"SO3"``.
        generators: ``(k, 3, 3)`` float64.
        elements: ``(|G|, 3, 3)`` float64 (identity first) or ``None`` for SO(3).
        cayley: ``(|G|, |G|)`` long, ``elements[cayley[i, j]] = elements[i] @ elements[j]`` (finite only).
    """

    def __init__(self, name: str, generators: Tensor, finite: bool = True) -> None:
        self.name = name
        self.generators = generators.to(_F64)
        self.elements: Tensor | None = None
        self.cayley: Tensor | None = None
        self._index: dict[tuple[int, ...], int] = {}
        if finite:
            elems = [torch.eye(3, dtype=_F64)]
            self._index[_key(elems[0])] = 0
            frontier = list(elems)
            while frontier:
                new = []
                for a in frontier:
                    for g in self.generators:
                        b = g @ a
                        k = _key(b)
                        if k not in self._index:
                            self._index[k] = len(elems)
                            elems.append(b)
                            new.append(b)
                if len(elems) > 200:
                    raise ValueError(f"the generators of {name} do not close to a small finite group")
                frontier = new
            self.elements = torch.stack(elems)
            n = len(elems)
            prod = torch.einsum("iab,jbc->ijac", self.elements, self.elements)
            self.cayley = torch.tensor([[self._index[_key(prod[i, j])] for j in range(n)] for i in range(n)])

    @property
    def finite(self) -> bool:
        return self.elements is not None

    @property
    def order(self) -> int | None:
        """``|G|`` (``None`` for SO(3))."""
        return None if self.elements is None else len(self.elements)

    def index(self, g: Tensor) -> int:
        """The index of the rotation matrix ``g`` in ``elements`` (ValueError if it is not one)."""
        if self.elements is None:
            raise ValueError("SO(3) has no element table")
        g = g.detach().to("cpu", _F64)
        dist = (self.elements - g).abs().flatten(1).amax(1)
        i = int(dist.argmin())
        if float(dist[i]) > 1e-6:
            raise ValueError(f"g must be an element of {self.name}, got {g.tolist()}")
        return i

    def __repr__(self) -> str:
        return f"Group({self.name}, order={self.order})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def trivial(self) -> Rep:
        """The 1-dim trivial representation."""
        return Rep(self, "trivial", 1, lambda g: torch.ones(1, 1, dtype=_F64), True, 0)

    def irrep(self, deg: int) -> Rep:
        """The real Wigner-D representation of degree ``deg`` (dim ``2l+1``; restricted for finite ``G``)."""
        deg = check_int(deg, "l", min=0)
        if deg == 0 and self.finite:
            return self.trivial()
        return Rep(self, f"irrep{deg}", 2 * deg + 1, functools.partial(real_wigner_d, deg), deg == 0, deg)

    def regular(self) -> Rep:
        """The left regular representation ``rho(g) e_h = e_{gh}`` (dim ``|G|``)."""
        if self.cayley is None:
            raise ValueError("SO(3) has no regular representation here; use irrep(deg)")
        table = self.cayley
        n = len(table)

        def fn(g: Tensor) -> Tensor:
            m = torch.zeros(n, n, dtype=_F64)
            m[table[self.index(g)], torch.arange(n)] = 1.0
            return m

        return Rep(self, "regular", n, fn, True)

    def quotient(self, subgroup: Group) -> Rep:
        """The permutation representation on the left cosets ``aH`` of ``subgroup`` ``H``:
        ``rho(g) e_{aH} = e_{gaH}`` (dim ``|G| / |H|``; cosets in order of their first element)."""
        if self.cayley is None or subgroup.elements is None:
            raise ValueError("quotient needs finite groups")
        sub = [self.index(h) for h in subgroup.elements]
        table = self.cayley
        coset_of: dict[int, int] = {}
        reps: list[int] = []
        for a in range(len(table)):
            if a not in coset_of:
                for h in sub:
                    coset_of[int(table[a, h])] = len(reps)
                reps.append(a)
        n = len(reps)
        if n * len(sub) != len(table):
            raise ValueError(f"{subgroup.name} is not a subgroup of {self.name}")

        def fn(g: Tensor) -> Tensor:
            gi = self.index(g)
            m = torch.zeros(n, n, dtype=_F64)
            for c, a in enumerate(reps):
                m[coset_of[int(table[gi, a])], c] = 1.0
            return m

        return Rep(self, f"quotient[{subgroup.name}]", n, fn, True)


_C4Z = torch.tensor([[0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=_F64)
_C4Y = torch.tensor([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=_F64)
_C2Z = torch.diag(torch.tensor([-1.0, -1.0, 1.0], dtype=_F64))
_C2X = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=_F64))
_C3 = torch.tensor([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=_F64)
_PHI = (1 + 5**0.5) / 2


@functools.cache
def octahedral() -> Group:
    """O (the 24 rotations of the cube), generated by 90 deg about z and 90 deg about y."""
    return Group("O", torch.stack([_C4Z, _C4Y]))


@functools.cache
def tetrahedral() -> Group:
    """T (12 elements), generated by 180 deg about z and the 3-cycle of the axes."""
    return Group("T", torch.stack([_C2Z, _C3]))


@functools.cache
def klein4() -> Group:
    """V (4 elements: the 180 deg rotations about the axes), generated by 180 deg about z and x."""
    return Group("V", torch.stack([_C2Z, _C2X]))


@functools.cache
def icosahedral() -> Group:
    """I (60 elements): T's generators and 72 deg about the icosahedron vertex ``(0, 1, phi)``."""
    c5 = rotation_about(torch.tensor([0.0, 1.0, _PHI], dtype=_F64), 2 * math.pi / 5)
    return Group("I", torch.stack([_C2Z, _C3, c5]))


@functools.cache
def so3() -> Group:
    """SO(3), given by rotations of 1 rad about y and about x (a dense subgroup)."""
    return Group("SO3", torch.stack([rotation_about("y", 1.0), rotation_about("x", 1.0)]), finite=False)


GROUPS: dict[str, Callable[[], Group]] = {
    "V": klein4, "T": tetrahedral, "O": octahedral, "I": icosahedral, "SO3": so3,
}  # fmt: skip
