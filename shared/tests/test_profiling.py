"""``saved_tensor_bytes`` counts what autograd keeps, each storage once; ``round_robin`` times in turns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from ballroom.core.profiling import Timing, round_robin, saved_tensor_bytes


def test_saved_tensor_bytes() -> None:
    a = torch.randn(1000, requires_grad=True)
    b = torch.randn(1000, requires_grad=True)
    assert saved_tensor_bytes(lambda: (a * b).sum()) == 2 * 4000  # mul saves both float32 inputs
    assert saved_tensor_bytes(lambda: (a * a[:500].repeat(2)).sum()) == 2 * 4000  # a once, the copy once
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: (a * b).sum()) == 0


def test_saved_tensor_bytes_can_leave_out_the_weights() -> None:
    lin = torch.nn.Linear(100, 10, bias=False)
    x = torch.randn(7, 100, requires_grad=True)
    # mm saves the input (7x100) and the weight (10x100) for backward
    assert saved_tensor_bytes(lambda: lin(x)) == 4 * (7 * 100 + 10 * 100)
    assert saved_tensor_bytes(lambda: lin(x), exclude=lin.parameters()) == 4 * 7 * 100


class _FakeClock:
    """A clock that advances by the cost of the work done since the last reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_round_robin_interleaves_and_times_each_call() -> None:
    clock = _FakeClock()
    calls: list[str] = []

    def work(name: str, cost: float) -> Callable[[], None]:
        def fn() -> None:
            calls.append(name)
            clock.now += cost

        return fn

    t = round_robin({"a": work("a", 1.0), "b": work("b", 3.0)}, rounds=4, warmup=1, clock=clock)
    assert calls == ["a", "b"] + ["a", "b"] * 4  # warm-up of each, then one call of each per round
    assert list(t) == ["a", "b"]
    assert t["a"].samples == (1.0,) * 4 and t["b"].median == 3.0
    assert t["b"].median / t["a"].median == 3.0


def test_round_robin_statistics_drop_slow_outliers() -> None:
    timing = Timing((1.0, 1.0, 9.0, 1.0))
    assert timing.median == 1.0 and timing.min == 1.0 and timing.mean == 3.0
    assert timing.fastest_mean(0.5) == 1.0 and timing.fastest_mean(1.0) == 3.0


def test_round_robin_calls_sync_inside_the_timed_region() -> None:
    clock = _FakeClock()
    synced: list[float] = []

    def sync() -> None:  # a GPU sync: the queued work finishes here, inside the timing
        clock.now += 2.0
        synced.append(clock.now)

    t = round_robin({"a": lambda: None}, rounds=3, warmup=0, sync=sync, clock=clock)
    assert t["a"].samples == (2.0,) * 3 and len(synced) == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fns": [lambda: None]}, TypeError, "fns must be a mapping"),
        ({"fns": {}}, ValueError, "fns must not be empty"),
        ({"fns": {"a": 3}}, TypeError, r"fns\['a'\] must be a zero-argument callable"),
        ({"fns": {"a": lambda: None}, "rounds": 0}, ValueError, "rounds"),
        ({"fns": {"a": lambda: None}, "rounds": 2.5}, TypeError, "rounds"),
        ({"fns": {"a": lambda: None}, "warmup": -1}, ValueError, "warmup"),
    ],
)
def test_round_robin_rejects_bad_input(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    kwargs = {"rounds": 2, **kwargs}
    with pytest.raises(error, match=match):
        round_robin(**kwargs)
    with pytest.raises(ValueError, match="fraction"):
        Timing((1.0,)).fastest_mean(0.0)
