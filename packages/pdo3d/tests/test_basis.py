"""Groups, representations and the PDO basis: sizes, constraints for all elements, projector, cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ballroom.pdo3d import functional as fn
from ballroom.pdo3d.groups import icosahedral, klein4, octahedral, real_wigner_d, so3, tetrahedral
from ballroom.pdo3d.volumes import random_rotations

OCT, T, V = octahedral(), tetrahedral(), klein4()
REPS = {"trivial": OCT.trivial(), "regular": OCT.regular(), "qV": OCT.quotient(V), "qT": OCT.quotient(T)}
SPEC = [
    ("trivial", "regular", (1, 3, 6)), ("regular", "regular", (24, 72, 144)), ("regular", "trivial", (1, 3, 6)),
    ("trivial", "qV", (1, 0, 3)), ("qV", "qV", (6, 0, 18)), ("qV", "regular", (6, 18, 36)),
    ("trivial", "qT", (1, 0, 1)), ("qT", "qT", (2, 0, 2)), ("regular", "qT", (2, 6, 12)),
]  # fmt: skip


def _sizes(a: object, b: object) -> tuple[int, ...]:
    return tuple(v.shape[-1] for v in fn.solve_pdo_basis(a, b))  # type: ignore[arg-type]


def test_group_orders_closure_and_cayley() -> None:
    for group, n in [(V, 4), (T, 12), (OCT, 24), (icosahedral(), 60)]:
        assert group.order == n
        e = group.elements
        assert torch.allclose(e @ e.transpose(1, 2), torch.eye(3, dtype=e.dtype).expand(n, 3, 3), atol=1e-12)
        assert torch.allclose(torch.det(e), torch.ones(n, dtype=e.dtype))
        i, j = 1, n - 1
        assert torch.allclose(e[group.cayley[i, j]], e[i] @ e[j], atol=1e-9)
        # every row of the Cayley table is a permutation (a group)
        assert all(sorted(row.tolist()) == list(range(n)) for row in group.cayley)


@pytest.mark.parametrize("rep", ["regular", "qV", "qT"])
def test_representations_are_homomorphisms(rep: str) -> None:
    r = REPS[rep]
    for a in (1, 5, 17):
        for b in (2, 9, 23):
            ga, gb = OCT.elements[a], OCT.elements[b]
            assert torch.equal(r(ga @ gb), r(ga) @ r(gb))
    assert REPS["qV"].dim == 6 and REPS["qT"].dim == 2
    # T-quotient: elements of T act trivially, the others swap
    for g in OCT.elements:
        in_t = any(torch.allclose(g, h) for h in T.elements)
        assert torch.equal(
            REPS["qT"](g), torch.eye(2, dtype=torch.float64) if in_t else torch.eye(2).flip(0).double()
        )


def test_wigner_d_is_a_real_orthogonal_homomorphism_with_d1_equal_r() -> None:
    r = random_rotations(3, seed=4)
    assert torch.allclose(real_wigner_d(1, r[0]), r[0], atol=1e-12)
    for deg in range(5):
        d = [real_wigner_d(deg, g) for g in r]
        assert torch.allclose(real_wigner_d(deg, r[0] @ r[1]), d[0] @ d[1], atol=1e-10)
        assert torch.allclose(d[2] @ d[2].T, torch.eye(2 * deg + 1, dtype=torch.float64), atol=1e-10)


@pytest.mark.parametrize(("a", "b", "want"), SPEC)
def test_octahedral_basis_sizes_match_the_spec(a: str, b: str, want: tuple[int, int, int]) -> None:
    assert _sizes(REPS[a], REPS[b]) == want


def test_tetrahedral_and_klein_regular_sizes_follow_characters() -> None:
    # regular -> regular: |G| / |G|*3 / |G|*6 (the regular rep contains every irrep d times)
    for group in (T, V):
        n = group.order
        assert _sizes(group.regular(), group.regular()) == (n, 3 * n, 6 * n)
        assert _sizes(group.trivial(), group.regular()) == (1, 3, 6)


def test_so3_sizes_are_clebsch_gordan_multiplicities() -> None:
    g = so3()
    for li in range(4):
        for lo in range(4):
            m0 = int(lo == li)
            m1 = int(abs(li - 1) <= lo <= li + 1)
            m2 = int(lo == li) + int(abs(li - 2) <= lo <= li + 2)
            assert _sizes(g.irrep(li), g.irrep(lo)) == (m0, m1, m2), (li, lo)


def _residual(rho_in: object, rho_out: object, g: torch.Tensor, bases: tuple[torch.Tensor, ...]) -> float:
    worst = 0.0
    for order, b in enumerate(bases):
        if b.shape[-1] == 0:
            continue
        d_out, n, d_in, m = b.shape
        a = b.permute(3, 0, 1, 2).reshape(m, d_out, n * d_in)
        t = fn._t_matrix(order, g, rho_in(g))  # type: ignore[operator]
        res = rho_out(g) @ a - a @ t  # type: ignore[operator]
        worst = max(worst, float(res.abs().max()))
    return worst


@pytest.mark.parametrize(
    ("a", "b"), [("regular", "regular"), ("qV", "regular"), ("regular", "qT"), ("qV", "qV")]
)
def test_every_basis_element_satisfies_the_constraint_for_all_24_elements(a: str, b: str) -> None:
    bases = fn.solve_pdo_basis(REPS[a], REPS[b])
    assert max(_residual(REPS[a], REPS[b], g, bases) for g in OCT.elements) <= 1e-8


def test_so3_basis_satisfies_the_constraint_for_random_rotations() -> None:
    g = so3()
    for li, lo in [(0, 2), (1, 1), (2, 1), (2, 3), (3, 3)]:
        bases = fn.solve_pdo_basis(g.irrep(li), g.irrep(lo))
        for r in random_rotations(5, seed=li * 10 + lo):
            assert _residual(g.irrep(li), g.irrep(lo), r, bases) <= 1e-8


def test_a_wrong_second_order_transform_breaks_the_constraint() -> None:
    # the pitfall: g (x) g on 6 coordinates instead of M(g) = P+ (g (x) g) P
    r = random_rotations(1, seed=3)[0]
    m = fn.sym_second_order(r)
    p = fn.sym_embedding()
    assert torch.allclose(p @ m, torch.kron(r, r) @ p, atol=1e-12)  # exact on symmetric tensors
    assert torch.allclose(fn.sym_second_order(r @ r.T), torch.eye(6, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize(("a", "b"), [("qV", "qV"), ("trivial", "regular"), ("qT", "qT")])
def test_reynolds_projector_is_idempotent_with_rank_m_and_spans_the_basis(a: str, b: str) -> None:
    bases = fn.solve_pdo_basis(REPS[a], REPS[b])
    for order, basis in enumerate(bases):
        p = fn.reynolds_projector(REPS[a], REPS[b], order)
        assert torch.allclose(p @ p, p, atol=1e-10)
        m = basis.shape[-1]
        assert int(torch.linalg.matrix_rank(p)) == m
        if m:
            vec = basis.permute(1, 2, 0, 3).reshape(-1, m)  # column-major vec: (j, i, o)
            assert torch.allclose(p @ vec, vec, atol=1e-10)  # closed under the group action
            # the independent path (thin SVD of the stacked generator constraints) spans the same space
            system = torch.cat([fn.constraint_matrices(REPS[a], REPS[b], g, order) for g in OCT.generators])
            _, s, vh = torch.linalg.svd(system, full_matrices=False)
            null = vh[s <= 1e-10].T
            assert null.shape[1] == m
            assert torch.allclose(null @ (null.T @ vec), vec, atol=1e-9)


def test_basis_is_cached_on_disk_keyed_by_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fn._MEM.clear()
    first = fn.solve_pdo_basis(REPS["qV"], REPS["regular"], cache_dir=tmp_path)
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and f"v{fn.BASIS_VERSION}" in files[0].name and "O_quotient_V_" in files[0].name
    fn._MEM.clear()
    monkeypatch.setattr(fn, "_solve_order", lambda *a: pytest.fail("should load from the cache"))
    second = fn.solve_pdo_basis(REPS["qV"], REPS["regular"], cache_dir=tmp_path)
    assert all(torch.equal(u, v) for u, v in zip(first, second))
    fn._MEM.clear()
    monkeypatch.setenv("BALLROOM_PDO3D_CACHE", str(tmp_path))
    assert fn.default_cache_dir() == tmp_path
    third = fn.solve_pdo_basis(REPS["qV"], REPS["regular"])
    assert all(torch.equal(u, v) for u, v in zip(first, third))
    fn._MEM.clear()
