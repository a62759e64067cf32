"""The mathematics of the building blocks: identities, shapes, gradients, bad input."""

from __future__ import annotations

import pytest
import torch

from ballroom.mgk import MgkNet, Standardize, standardize


def test_standardize_gives_zero_mean_unit_variance() -> None:
    x = torch.randn(8, 16, dtype=torch.float64) * 3 + 5
    y = standardize(x, eps=1e-12)
    torch.testing.assert_close(y.mean(-1), torch.zeros(8, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(
        y.var(-1, unbiased=False), torch.ones(8, dtype=torch.float64), atol=1e-9, rtol=0
    )
    # eps sits inside the square root: a constant row maps to exactly zero
    assert torch.equal(standardize(torch.ones(2, 4)), torch.zeros(2, 4))


def test_standardize_gradcheck() -> None:
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: standardize(t, dim=0), (x,))


def test_layer_and_net_shapes_and_dtype() -> None:
    assert Standardize()(torch.randn(2, 3, 7)).shape == (2, 3, 7)
    net = MgkNet(in_features=64, hidden=(16, 8), num_classes=5)
    out = net(torch.randn(4, 1, 8, 8))
    assert out.shape == (4, 5) and out.dtype == torch.float32


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        standardize(torch.arange(6).reshape(2, 3))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        standardize([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        standardize(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="eps"):
        standardize(torch.randn(2, 3), eps=0.0)
    with pytest.raises(ValueError, match="empty"):
        standardize(torch.randn(2, 0))
    with pytest.raises(ValueError, match="64 features"):
        MgkNet()(torch.randn(2, 10))
    with pytest.raises(ValueError, match="num_classes"):
        MgkNet(num_classes=1)
