"""The ballroom pytest plugin, exercised in child pytest runs (pytester, in-process)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import pytest

def test_plain():
    pass

@pytest.mark.slow
def test_slow():
    pass

@pytest.mark.cuda
def test_gpu():
    pass

def test_on_device(device):
    assert device.type in ("cpu", "cuda")

def test_env_leak_a():
    import os
    os.environ["BALLROOM_LEAK"] = "1"

def test_env_leak_b():
    import os
    assert "BALLROOM_LEAK" not in os.environ

def test_threads():
    import torch
    assert torch.get_num_threads() == 1
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("BALLROOM_REQUIRE_CUDA", raising=False)
    monkeypatch.delenv("BALLROOM_RUN_SLOW", raising=False)
    monkeypatch.delenv("BALLROOM_TORCH_THREADS", raising=False)
    monkeypatch.setattr("ballroom.core.testing.cuda_available", lambda: False)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_defaults_skip_slow_and_cuda(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=5, skipped=2)
    result.stdout.no_fnmatch_line("*BALLROOM_LEAK*")


def test_run_slow_flag_and_env(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    suite.runpytest_inprocess("--run-slow").assert_outcomes(passed=6, skipped=1)
    monkeypatch.setenv("BALLROOM_RUN_SLOW", "1")
    suite.runpytest_inprocess().assert_outcomes(passed=6, skipped=1)


def test_device_cuda_marks_device_tests_and_selects_them(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess("--device", "cuda", "-m", "cuda")
    result.assert_outcomes(skipped=2, deselected=5)  # test_gpu and test_on_device, both skipped (no GPU)


def test_require_cuda_turns_missing_gpu_into_error(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLROOM_REQUIRE_CUDA", "1")
    result = suite.runpytest_inprocess("--device", "cuda", "-m", "cuda")
    result.assert_outcomes(errors=2, deselected=5)
    result.stdout.fnmatch_lines(["*BALLROOM_REQUIRE_CUDA=1 but torch sees no CUDA device*"])


def test_bad_thread_count_is_a_usage_error(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALLROOM_TORCH_THREADS", "zero")
    result = suite.runpytest_inprocess()
    assert result.ret != 0
