"""RTDLoss: same value as rtd_sym, exact gradients, learning that reduces RTD."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("gph", reason="RTDLoss needs giotto-ph's critical edges")

from ballroom.rtd import RTDLoss, rtd_1, rtd_sym
from ballroom.rtd.functional import cross_matrix
from ballroom.rtd.nn import cross_matrix_torch, torch_distances


def _pair(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randn(
        n, 4, generator=g, dtype=torch.float64
    )


def test_torch_cross_matrix_equals_numpy() -> None:
    P, Pt = _pair(20, 0)
    M = cross_matrix(P.numpy(), Pt.numpy(), fast=True)
    Mt = cross_matrix_torch(torch_distances(P), torch_distances(Pt)).numpy()
    assert np.array_equal(np.isfinite(M), np.isfinite(Mt))
    np.testing.assert_allclose(Mt[np.isfinite(M)], M[np.isfinite(M)], atol=1e-12)


@pytest.mark.parametrize("norm", ["quantile", "median", "mean"])
def test_loss_value_matches_rtd(norm: str) -> None:
    P, Pt = _pair(40, 1)
    assert float(RTDLoss(norm=norm)(P, Pt)) == pytest.approx(rtd_sym(P, Pt, norm=norm), rel=1e-6)  # type: ignore[arg-type]
    assert float(RTDLoss(norm=norm, symmetric=False)(P, Pt)) == pytest.approx(
        rtd_1(P, Pt, norm=norm), rel=1e-6
    )  # type: ignore[arg-type]


def test_gradcheck_float64() -> None:
    P, Pt = _pair(10, 2)
    loss = RTDLoss()
    assert torch.autograd.gradcheck(
        lambda a, b: loss(a, b), (P.requires_grad_(), Pt.requires_grad_()), eps=1e-7, atol=1e-5
    )


def test_gradient_descent_reduces_rtd() -> None:
    P, _ = _pair(30, 3)
    Z = torch.randn(
        30, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64, requires_grad=True
    )
    loss_fn = RTDLoss()
    opt = torch.optim.Adam([Z], lr=0.05)
    start = float(loss_fn(P, Z).detach())
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn(P, Z)
        loss.backward()
        opt.step()
    end = rtd_sym(P.numpy(), Z.detach().numpy())
    assert end < 0.6 * start


def test_loss_on_device(device: torch.device) -> None:
    P, Pt = _pair(25, 5)
    P, Pt = P.to(device).requires_grad_(), Pt.to(device)
    value = RTDLoss()(P, Pt)
    value.backward()
    assert value.device.type == device.type and P.grad is not None and bool(torch.isfinite(P.grad).all())
    assert float(value) == pytest.approx(rtd_sym(P.detach().cpu(), Pt.cpu()), rel=1e-6)


def test_bad_inputs() -> None:
    P, Pt = _pair(10, 6)
    with pytest.raises(ValueError, match="same points"):
        RTDLoss()(P, Pt[:9])
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        RTDLoss()(P[0], Pt)
    with pytest.raises(TypeError, match="floating"):
        RTDLoss()(P.long(), Pt)
    with pytest.raises(ValueError, match="NaN"):
        RTDLoss()(P * float("nan"), Pt)
    with pytest.raises(ValueError, match="norm"):
        RTDLoss(norm="max")  # type: ignore[arg-type]


def test_adaptive_cut_keeps_the_critical_edges() -> None:
    from ballroom.rtd import clusters_experiment, cross_matrix
    from ballroom.rtd.backends import critical_edges, truncated_critical_edges
    from ballroom.rtd.functional import a_first_order, cross_threshold, search_cut

    base, clouds = clusters_experiment()
    for P, Q in ((base[:80], clouds[3][:80]), (clouds[3][:80], base[:80])):  # rigid groups: many ties
        M = cross_matrix(P, Q, fast=True)
        order = a_first_order(80)
        Mo = M[np.ix_(order, order)]
        cuts: list[float] = []

        def run(cut: float, Mo: np.ndarray = Mo, cuts: list[float] = cuts) -> tuple[np.ndarray, bool]:
            cuts.append(cut)
            found, alive = truncated_critical_edges(Mo, 1, None, cut)
            return found, alive > 0

        adaptive = search_cut(M, run)
        full = critical_edges(Mo)
        assert len(full) > 0 and cuts[-1] < cross_threshold(M)
        assert sorted(map(tuple, adaptive.tolist())) == sorted(map(tuple, full.tolist()))
