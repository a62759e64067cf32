"""D_LSBD: oracle and entangled codes, separability, the official grid order, PCA vs sklearn, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ballroom.lsbd import dlsbd, dlsbd_per_factor, omega_grid
from ballroom.lsbd.metrics import _grid_score_reference, factor_deltas, pca2


def _torus(n1: int, n2: int, w1: int, w2: int, phase: float = 0.3) -> torch.Tensor:
    t1 = 2 * math.pi * torch.arange(n1, dtype=torch.float64) / n1
    t2 = 2 * math.pi * torch.arange(n2, dtype=torch.float64) / n2
    a, b = torch.meshgrid(t1, t2, indexing="ij")
    return torch.stack(
        [torch.cos(w1 * a + phase), torch.sin(w1 * a + phase), torch.cos(w2 * b), torch.sin(w2 * b)], -1
    )


@pytest.mark.parametrize("w", [(1, 1), (3, -2), (-7, 10), (0, 5)])
def test_oracle_torus_codes_score_zero_with_the_right_frequencies(w: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(sum(w) + 20)
    z = _torus(24, 23, *w)  # > 21 points per axis: no aliasing of |w| <= 10
    q, _ = torch.linalg.qr(torch.randn(8, 4, generator=gen, dtype=torch.float64))
    for codes in (z, z @ q.T + 1.5, z * torch.tensor([2.0, 0.5, 3.0, 0.1], dtype=torch.float64)):
        score, omega = dlsbd(codes)
        if w[0] == 0:  # a factor the code ignores cannot be un-rotated: not LSBD
            assert score > 0.1
            continue
        assert score < 1e-12
        assert tuple(abs(o) for o in omega) == tuple(abs(v) for v in w)


def test_entangled_codes_reach_the_maximum_and_noise_is_near_it() -> None:
    t1 = 2 * math.pi * torch.arange(16, dtype=torch.float64) / 16
    t2 = 2 * math.pi * torch.arange(12, dtype=torch.float64) / 12
    a, b = torch.meshgrid(t1, t2, indexing="ij")
    z = torch.stack([torch.cos(a + b), torch.sin(a + b), torch.cos(a - b), torch.sin(a - b)], -1)
    score, _ = dlsbd(z)
    assert score == pytest.approx(191 / 192, abs=1e-9)
    noise, _ = dlsbd(torch.randn(32, 32, 10, generator=torch.Generator().manual_seed(0)))
    assert 0.95 < noise < 1.0
    deltas = factor_deltas(torch.randn(8, 6, 5, dtype=torch.float64))
    assert float(deltas.min()) >= -1e-12 and float(deltas.max()) <= 47 / 48 + 1e-12


def test_score_separates_over_factors_and_matches_the_official_enumeration() -> None:
    gen = torch.Generator().manual_seed(1)
    z = _torus(10, 9, 1, 2) + 0.3 * torch.randn(10, 9, 4, generator=gen, dtype=torch.float64)
    omegas = range(-3, 4)
    score, omega = dlsbd(z, omegas)
    deltas = factor_deltas(z, omegas)
    assert score == pytest.approx(float(deltas.min(1).values.mean()), abs=1e-14)
    ref_score, ref_omega = _grid_score_reference(z, omegas)  # brute force over omega_grid order
    assert score == pytest.approx(ref_score, abs=1e-14) and omega == ref_omega
    total, omega_sum = dlsbd(z, omegas, reduction="sum")
    assert total == pytest.approx(2 * score, abs=1e-14) and omega_sum == omega
    per = dlsbd_per_factor(z, omega)
    assert float(per.mean()) == pytest.approx(score, abs=1e-14)


def test_omega_grid_is_the_official_meshgrid_order() -> None:
    g = omega_grid(-10, 10, 2)
    assert g.shape == (441, 2)
    assert g[0].tolist() == [-10, -10] and g[1].tolist() == [-10, -9] and g[21].tolist() == [-9, -10]
    assert omega_grid(0, 1, 3).tolist()[:3] == [[0, 0, 0], [0, 0, 1], [0, 1, 0]]


def test_pca_projection_and_normalisation_match_sklearn() -> None:
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(60, 6)) * np.array([3, 2, 1, 0.5, 0.2, 0.1])
    pca = PCA(n_components=2, svd_solver="full").fit(x)
    expected = pca.transform(x) / (np.sqrt(2) * np.sqrt(pca.singular_values_**2 / 59))
    np.testing.assert_allclose(pca2(torch.as_tensor(x)).numpy(), expected, atol=1e-12)
    assert float((pca2(torch.as_tensor(x)) ** 2).sum(1).mean()) == pytest.approx(59 / 60, abs=1e-12)


def test_cylinder_per_object_and_shared_frequency() -> None:
    gen = torch.Generator().manual_seed(3)
    n = 24
    theta = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    objs = []
    for o in range(6):
        w = 1 if o % 2 == 0 else -1  # mirrored objects: each one perfectly equivariant
        phase = float(torch.rand((), generator=gen)) * 2 * math.pi
        circle = torch.stack([torch.cos(w * theta + phase), torch.sin(w * theta + phase)], -1)
        rest = torch.randn(5, generator=gen, dtype=torch.float64).expand(n, 5)  # object identity in R^5
        objs.append(torch.cat([circle, rest], -1))
    z = torch.stack(objs)  # (6, 24, 7)
    per_object, omegas = dlsbd(z, manifold="cylinder", omega_per_object=True)
    assert per_object < 1e-12 and all(abs(w) == 1 for w in omegas)
    shared, (w,) = dlsbd(z, manifold="cylinder")
    assert shared >= per_object
    assert shared == pytest.approx(float(dlsbd_per_factor(z, [w], manifold="cylinder")[0]), abs=1e-14)


def test_numpy_torch_float32_agree(device: torch.device) -> None:
    z = _torus(12, 12, 2, 1) + 0.2 * torch.randn(
        12, 12, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    ref, w = dlsbd(z.numpy())
    got, w32 = dlsbd(z.float().to(device))
    assert got == pytest.approx(ref, abs=1e-5) and w == w32


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"Z": "codes"}, TypeError, "Z must be a tensor or an array"),
        ({"Z": torch.zeros(4, 4, 3, dtype=torch.int64)}, TypeError, "Z must have a floating-point"),
        ({"Z": torch.randn(8)}, ValueError, "Z must have rank >= 2"),
        ({"Z": torch.randn(8, 8, 1)}, ValueError, "d >= 2"),
        ({"Z": torch.randn(1, 8, 3)}, ValueError, ">= 2 points"),
        ({"Z": torch.full((4, 4, 3), float("nan"))}, ValueError, "Z must be finite"),
        ({"Z": torch.randn(0, 4, 3)}, ValueError, "Z must not be empty"),
        ({"Z": torch.randn(4, 4, 3), "reduction": "max"}, ValueError, "reduction must be one of"),
        ({"Z": torch.randn(4, 4, 3), "manifold": "sphere"}, ValueError, "manifold must be one of"),
        ({"Z": torch.randn(4, 4, 3), "omegas": [0.5]}, ValueError, "omegas must be a non-empty"),
        ({"Z": torch.randn(4, 4, 3), "omegas": []}, ValueError, "omegas must be a non-empty"),
        ({"Z": torch.randn(4, 4, 3), "omega_per_object": True}, ValueError, "omega_per_object applies"),
        ({"Z": torch.randn(4, 4), "manifold": "cylinder"}, ValueError, "n_objects, N, d"),
    ],
)
def test_bad_input_is_refused_clearly(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        dlsbd(**kwargs)


def test_per_factor_bad_omega() -> None:
    with pytest.raises(ValueError, match="omega must have 2 entries"):
        dlsbd_per_factor(torch.randn(4, 4, 3), [1])
