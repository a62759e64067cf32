"""ballroom.core.validate: every check accepts what it should and names the argument when it refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballroom.core.validate import (
    as_tensor,
    check_choice,
    check_in_range,
    check_int,
    check_number,
    check_positive,
    check_probability,
    check_same_size,
    check_tensor,
)


def test_check_tensor_accepts_and_returns_the_same_object() -> None:
    x = torch.randn(2, 3)
    assert check_tensor(x, "x", ndim=2, shape=(2, None)) is x


@pytest.mark.parametrize(
    ("value", "kwargs", "exc", "match"),
    [
        (np.zeros((2, 3)), {}, TypeError, r"^x must be a torch.Tensor, got ndarray \(convert"),
        ([1.0, 2.0], {}, TypeError, "x must be a torch.Tensor, got list"),
        (
            torch.zeros(2, 3, dtype=torch.long),
            {},
            TypeError,
            "x must have a floating-point dtype, got dtype torch.int64",
        ),
        (torch.zeros(2, 3), {"dtype": "integer"}, TypeError, "x must have an integer dtype"),
        (torch.zeros(2, 3), {"dtype": torch.float64}, TypeError, "x must have torch.float64"),
        (torch.zeros(2, 3), {"ndim": 3}, ValueError, r"x must have rank 3, got shape \(2, 3\)"),
        (torch.zeros(2, 3), {"ndim": (1, 3)}, ValueError, "rank 1 or 3"),
        (torch.zeros(2), {"min_ndim": 2}, ValueError, "rank >= 2"),
        (torch.zeros(2, 3), {"shape": (2, 4)}, ValueError, r"x must have shape \(2, 4\), got shape \(2, 3\)"),
        (torch.zeros(2, 3), {"shape": (None, 3, 1)}, ValueError, r"shape \(\*, 3, 1\)"),
        (torch.zeros(0, 3), {}, ValueError, "x must not be empty"),
        (torch.tensor([1.0, float("nan")]), {}, ValueError, "x must be finite"),
        (torch.tensor([1.0, float("inf")]), {}, ValueError, "x must be finite"),
        (torch.zeros(2), {"device": "meta"}, ValueError, "x must be on device meta, got cpu"),
    ],
)
def test_check_tensor_refuses_clearly(value, kwargs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        check_tensor(value, "x", **kwargs)


def test_check_tensor_switches() -> None:
    check_tensor(torch.tensor([float("nan")]), "x", finite=False)
    check_tensor(torch.zeros(0), "x", nonempty=False)
    check_tensor(torch.zeros(2, dtype=torch.long), "x", dtype="integer")
    check_tensor(torch.zeros(2, dtype=torch.bool), "x", dtype="bool")
    check_tensor(torch.zeros(2, dtype=torch.long), "x", dtype=None)
    with pytest.raises(ValueError, match="dtype must be"):
        check_tensor(torch.zeros(2), "x", dtype="float")


def test_as_tensor_converts_numpy_and_lists() -> None:
    a = np.arange(6.0).reshape(2, 3)
    t = as_tensor(a, "codes", ndim=2)
    assert t.dtype == torch.float64 and torch.equal(t, torch.from_numpy(a))
    t = as_tensor([[1, 2], [3, 4]], "codes", cast=torch.float32)
    assert t.dtype == torch.float32 and t.shape == (2, 2)
    with pytest.raises(TypeError, match="codes must be a tensor or an array of numbers, got str"):
        as_tensor("abc", "codes")
    with pytest.raises(TypeError, match="codes must be a tensor or an array of numbers"):
        as_tensor([[1.0, 2.0], [3.0]], "codes")
    with pytest.raises(TypeError, match="numeric"):
        as_tensor(np.ones(3, dtype=bool), "codes", cast=torch.float32)
    with pytest.raises(ValueError, match="codes must be finite"):
        as_tensor(np.array([1.0, np.nan]), "codes", cast=torch.float32)


def test_check_same_size() -> None:
    assert check_same_size(("x", torch.zeros(4, 3), 0), ("y", torch.zeros(4), 0)) == 4
    with pytest.raises(ValueError, match=r"x.shape\[0\] = 4, y.shape\[0\] = 5"):
        check_same_size(("x", torch.zeros(4, 3), 0), ("y", torch.zeros(5), 0))


def test_numbers() -> None:
    assert check_number(np.float32(0.5), "lr", lo=0) == 0.5
    assert check_number(torch.tensor(2.0), "lr") == 2.0
    assert check_positive(3, "sigma") == 3.0
    assert check_positive(0, "eps", strict=False) == 0.0
    assert check_probability(1.0, "p") == 1.0
    for bad, exc, match in [
        (True, TypeError, "lr must be a real number, got bool"),
        ("1", TypeError, "got str"),
        (float("nan"), ValueError, "finite"),
        (float("inf"), ValueError, "finite"),
    ]:
        with pytest.raises(exc, match=match):
            check_number(bad, "lr")
    with pytest.raises(ValueError, match=r"sigma must lie in \(0, inf\), got 0"):
        check_positive(0, "sigma")
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\), got 1.0"):
        check_probability(1.0, "p", open_high=True)


def test_check_int() -> None:
    assert check_int(np.int64(3), "k", min=1) == 3
    assert check_int(torch.tensor(3), "k") == 3
    for bad in (2.5, True, "3", 3.0):
        with pytest.raises(TypeError, match="k must be an integer"):
            check_int(bad, "k")
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, inf\), got 0"):
        check_int(0, "k", min=1)


def test_choice_and_range() -> None:
    assert check_choice("soft", "mode", ("soft", "hard")) == "soft"
    with pytest.raises(ValueError, match=r"mode must be one of \['soft', 'hard'\], got 'sof'"):
        check_choice("sof", "mode", ("soft", "hard"))
    x = torch.tensor([0.1, 0.9])
    assert check_in_range(x, "y", 0, 1) is x
    with pytest.raises(
        ValueError, match=r"y must lie in \[0, 1\] \(the range of sigmoid\), got values in \[0.1, 1.5\]"
    ):
        check_in_range(torch.tensor([0.1, 1.5]), "y", 0, 1, what="the range of sigmoid")
    with pytest.raises(ValueError, match="y must lie in"):
        check_in_range(torch.tensor([0.1, float("nan")]), "y", 0, 1)
