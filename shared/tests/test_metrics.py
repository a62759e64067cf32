"""ballroom.core.metrics: the identities that pin CKA, HSIC, SVCCA and PWCCA."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ballroom.core import metrics as M


def _rand(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(_rand(d, d, seed))
    return q


def _naive_hsic(K: np.ndarray, L: np.ndarray) -> float:
    """trace(K H L H) / (n-1)^2 with explicit loops over the centring matrix entries."""
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    total = 0.0
    KH = K @ H
    LH = L @ H
    for i in range(n):
        for j in range(n):
            total += KH[i, j] * LH[j, i]
    return total / (n - 1) ** 2


def _naive_unbiased_hsic(K: np.ndarray, L: np.ndarray) -> float:
    """Song et al. (2012) as a quadruple-free but explicit sum over i != j, i != q, j != q."""
    n = K.shape[0]
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    term1 = sum(Kt[i, j] * Lt[i, j] for i in range(n) for j in range(n))
    term2 = Kt.sum() * Lt.sum() / ((n - 1) * (n - 2))
    term3 = sum(Kt[i, j] * Lt[j, q] for i in range(n) for j in range(n) for q in range(n)) * 2 / (n - 2)
    return (term1 + term2 - term3) / (n * (n - 3))


def test_linear_cka_of_itself_is_one() -> None:
    X = _rand(50, 7, 0)
    assert float(M.linear_cka(X, X)) == pytest.approx(1.0, abs=1e-12)
    assert float(M.linear_cka(X, X, debiased=True)) == pytest.approx(1.0, abs=1e-12)
    assert float(M.rbf_cka(X, X)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_linear_cka_invariances(debiased: bool) -> None:
    X, Y = _rand(60, 6, 1), _rand(60, 9, 2) + 0.5 * _rand(60, 9, 3)
    Y = torch.cat([X, _rand(60, 3, 4)], 1) @ _orthogonal(9, 5) + Y * 0.3
    base = float(M.linear_cka(X, Y, debiased))
    Q = _orthogonal(6, 6)
    assert float(M.linear_cka(X @ Q, Y, debiased)) == pytest.approx(base, abs=1e-10)  # orthogonal
    assert float(M.linear_cka(3.7 * X, Y / 11.0, debiased)) == pytest.approx(
        base, abs=1e-10
    )  # isotropic scale
    assert float(M.linear_cka(X + 5.0, Y - 2.0, debiased)) == pytest.approx(base, abs=1e-10)  # translation
    assert float(M.linear_cka(Y, X, debiased)) == pytest.approx(base, abs=1e-10)  # symmetric
    aniso = torch.diag(torch.tensor([10.0, 1, 1, 1, 1, 0.1], dtype=torch.float64))
    assert abs(float(M.linear_cka(X @ aniso, Y, debiased)) - base) > 1e-3  # not anisotropic scaling


def test_biased_hsic_matches_naive_formula_and_feature_space() -> None:
    X, Y = _rand(25, 4, 7), _rand(25, 30, 8)  # d > n takes the Gram path, transposed pair the feature path
    K, L = (X @ X.T), (Y @ Y.T)
    assert float(M.hsic(K, L)) == pytest.approx(_naive_hsic(K.numpy(), L.numpy()), rel=1e-12)
    naive_cka = _naive_hsic(K.numpy(), L.numpy()) / math.sqrt(
        _naive_hsic(K.numpy(), K.numpy()) * _naive_hsic(L.numpy(), L.numpy())
    )
    assert float(M.linear_cka(X, Y)) == pytest.approx(naive_cka, rel=1e-10)
    X2, Y2 = _rand(200, 3, 9), _rand(200, 5, 10)  # n > d: feature-space identity
    X2 = torch.cat([X2, X2[:, :1] ** 2], 1)
    K2, L2 = X2 @ X2.T, Y2 @ Y2.T
    assert float(M.linear_cka(X2, Y2)) == pytest.approx(float(M.cka_from_grams(K2, L2)), rel=1e-10)


def test_unbiased_hsic_matches_naive_sum() -> None:
    X, Y = _rand(9, 3, 11), _rand(9, 2, 12)
    K, L = (X @ X.T).numpy(), (Y @ Y.T).numpy()
    assert float(M.hsic(torch.from_numpy(K), torch.from_numpy(L), debiased=True)) == pytest.approx(
        _naive_unbiased_hsic(K, L), rel=1e-10
    )


def test_minibatch_cka_single_batch_equals_debiased_and_metric_accumulates() -> None:
    X, Y = _rand(40, 5, 13), _rand(40, 4, 14) + _rand(40, 5, 13)[:, :4]
    one = float(M.minibatch_cka([X], [Y]))
    assert one == pytest.approx(float(M.linear_cka(X, Y, debiased=True)), rel=1e-12)
    metric = M.MinibatchCKA()
    for i in range(4):
        metric.update(X[10 * i : 10 * i + 10], Y[10 * i : 10 * i + 10])
    expect = M.minibatch_cka(
        [X[10 * i : 10 * i + 10] for i in range(4)], [Y[10 * i : 10 * i + 10] for i in range(4)]
    )
    assert float(metric.compute()) == pytest.approx(float(expect), rel=1e-12)


def test_rbf_cka_with_huge_bandwidth_tends_to_linear() -> None:
    X, Y = _rand(40, 3, 15), _rand(40, 3, 16) + _rand(40, 3, 15)
    lin = float(M.linear_cka(X, Y))
    assert float(M.rbf_cka(X, Y, sigma_frac=1e3)) == pytest.approx(lin, abs=1e-4)
    assert abs(float(M.rbf_cka(X, Y, sigma_frac=0.3)) - lin) > 1e-3


def test_rbf_bandwidth_is_fraction_of_median_nonzero_distance() -> None:
    X = _rand(12, 2, 17)
    d2 = torch.cdist(X, X) ** 2
    sigma2 = float(d2[d2 > 0].median()) * 0.5**2
    expect = torch.exp(-d2 / (2 * sigma2))
    assert torch.allclose(M.gram_rbf(X, sigma_frac=0.5), expect, atol=1e-12)


def test_svcca_of_linear_transform_is_one() -> None:
    X = _rand(300, 8, 18)
    A = _rand(8, 8, 19) + 3 * torch.eye(8, dtype=torch.float64)
    assert float(M.svcca(X, X @ A, keep=1.0)) == pytest.approx(1.0, abs=1e-10)
    assert float(M.svcca(X, X @ A)) > 0.95  # the 0.99 truncation keeps nearly all of both spaces
    assert float(M.svcca(X, _rand(300, 8, 20))) < 0.3


def test_svcca_truncation_rule_and_feature_centring() -> None:
    # singular values 10, 1, 0.1 (not squared); cumulative fractions 0.901, 0.991, 1.0: the fewest
    # directions whose sum exceeds `keep` of the total
    U, _ = torch.linalg.qr(_rand(50, 3, 21) - _rand(50, 3, 21).mean(0))
    X = (U - U.mean(0)) * torch.tensor([10.0, 1.0, 0.1], dtype=torch.float64)
    assert M._svd_reduce(X, 0.8, "points").shape[1] == 1
    assert M._svd_reduce(X, 0.95, "points").shape[1] == 2
    assert M._svd_reduce(X, 0.995, "points").shape[1] == 3
    assert M._svd_reduce(X, 1.0, "points").shape[1] == 3
    Z = _rand(30, 5, 22)
    assert float(M.svcca(Z, Z, center="features")) == pytest.approx(1.0, abs=1e-10)
    assert float(M.svcca(Z, Z + 1.0, center="features")) == pytest.approx(1.0, abs=1e-10)


def test_cca_and_pwcca() -> None:
    X = _rand(200, 4, 23)
    Y = torch.cat([X[:, :2], _rand(200, 3, 24)], 1)  # two shared directions, three independent
    rho, Hx, Hy = M.cca(X, Y)
    assert rho.shape == (4,)
    assert rho[:2].tolist() == pytest.approx([1.0, 1.0], abs=1e-10)
    assert float(rho[2:].max()) < 0.35
    assert torch.allclose(Hx.T @ Hx, torch.eye(4, dtype=torch.float64), atol=1e-10)
    assert torch.allclose((Hx * Hy).sum(0), rho, atol=1e-10)  # correlation of the paired variates
    assert float(M.pwcca(X, X @ _orthogonal(4, 25))) == pytest.approx(1.0, abs=1e-10)
    value = float(M.pwcca(X, Y))
    assert float(rho.mean()) - 0.05 < value < 1.0


@pytest.mark.parametrize(
    ("metric", "fn"),
    [(M.LinearCKA(), M.linear_cka), (M.RBFCKA(), M.rbf_cka), (M.SVCCA(), M.svcca), (M.PWCCA(), M.pwcca)],
)
def test_metric_classes_accumulate_whole_set(metric: M._PairMetric, fn: object) -> None:
    X, Y = _rand(64, 2 * 3 * 2, 26), _rand(64, 5, 27) + _rand(64, 12, 26)[:, :5]
    for i in range(4):
        metric.update(X[16 * i : 16 * i + 16].reshape(16, 2, 3, 2), Y[16 * i : 16 * i + 16])
    assert float(metric.compute()) == pytest.approx(float(fn(X, Y)), rel=1e-12)  # type: ignore[operator]
    metric.reset()
    with pytest.raises(ValueError, match="same B"):
        metric.update(X[:3], Y[:4])


def test_numpy_inputs_and_float32_agree() -> None:
    X, Y = _rand(30, 4, 28), _rand(30, 6, 29)
    assert float(M.linear_cka(X.numpy(), Y.numpy())) == pytest.approx(float(M.linear_cka(X, Y)), rel=1e-12)
    assert float(M.linear_cka(X.float(), Y.float())) == pytest.approx(float(M.linear_cka(X, Y)), rel=1e-5)


def test_bad_inputs_raise_clear_errors() -> None:
    X = _rand(10, 3, 30)
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        M.linear_cka(X[0], X)
    with pytest.raises(ValueError, match="same points"):
        M.linear_cka(X, X[:9])
    with pytest.raises(ValueError, match="NaN"):
        M.linear_cka(X, torch.full((10, 2), float("nan")))
    with pytest.raises(ValueError, match="constant"):
        M.linear_cka(X, torch.ones(10, 2))
    with pytest.raises(ValueError, match="constant"):
        M.cka_from_grams(X @ X.T, torch.ones(10, 10))
    with pytest.raises(ValueError, match="at least 4 points"):
        M.linear_cka(X[:3], X[:3], debiased=True)
    with pytest.raises(ValueError, match="keep"):
        M.svcca(X, X, keep=0.0)
    with pytest.raises(TypeError, match="Tensor or numpy"):
        M.linear_cka([[1.0]], X)  # type: ignore[arg-type]


def test_metrics_on_device(device: torch.device) -> None:
    X, Y = _rand(32, 4, 31), _rand(32, 5, 32)
    on = M.linear_cka(X.to(device), Y.to(device))
    assert on.device.type == device.type
    assert float(on) == pytest.approx(float(M.linear_cka(X, Y)), rel=1e-10)
    assert float(M.svcca(X.to(device), Y.to(device))) == pytest.approx(float(M.svcca(X, Y)), rel=1e-8)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -1.0])
def test_rbf_bandwidth_is_validated_by_name(bad: float) -> None:
    X, Y = torch.randn(8, 3), torch.randn(8, 2)
    with pytest.raises(ValueError, match="sigma_frac must"):
        M.rbf_cka(X, Y, sigma_frac=bad)
    with pytest.raises(ValueError, match="sigma must"):
        M.gram_rbf(X, sigma=bad)
    with pytest.raises(ValueError, match="sigma_frac must"):
        M.RBFCKA(sigma_frac=bad)


def test_functions_import_without_torchmetrics() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ballroom.core.metrics as M; "
        "assert 'torchmetrics' not in sys.modules, 'functions pulled in torchmetrics'; "
        "M.LinearCKA; assert 'torchmetrics' in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_cca_family_warns_when_points_do_not_outnumber_features() -> None:
    g = torch.Generator().manual_seed(0)
    A, B = torch.randn(200, 10, generator=g), torch.randn(200, 10, generator=g)
    with pytest.warns(UserWarning, match=r"svcca: 10 points for 200 \+ 200 features"):
        assert float(M.svcca(A.T, B.T)) > 0.99  # the trivial 1.0 a transposed call gives
    with pytest.warns(UserWarning, match="pwcca"):
        M.pwcca(A[:15], B[:15])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(M.svcca(A, B)) < 0.5  # independent features, enough points: no warning
