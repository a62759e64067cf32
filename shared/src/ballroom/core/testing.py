"""The ballroom pytest plugin, auto-loaded through the ``pytest11`` entry point of ballroom-core.

One marker vocabulary for every package:

- ``@pytest.mark.cuda``: needs a CUDA device. Skipped when none is present, **an error** when the
  environment variable ``BALLROOM_REQUIRE_CUDA=1`` is set (a GPU job that finds no GPU must fail).
- the ``device`` fixture: a :class:`torch.device` taken from ``--device cpu|cuda`` (default ``cpu``).
  Under ``--device cuda`` every test that takes the fixture is marked ``cuda`` as well, so
  ``pytest -m cuda --device cuda`` runs all device-generic tests on the GPU.
- ``@pytest.mark.slow``: longer than about 10 s on CPU; skipped unless ``--run-slow`` or
  ``BALLROOM_RUN_SLOW=1``.
- ``@pytest.mark.ddp``: spawns processes (2-process DDP on CPU with gloo).

It also sets ``torch.set_num_threads(BALLROOM_TORCH_THREADS or 1)`` for the run (small-tensor loops on
2-core machines run many times faster on one thread) and restores ``os.environ`` after every test
(seeding leaks ``PL_GLOBAL_SEED``, determinism ``CUBLAS_WORKSPACE_CONFIG``).

This module must not import torch at module level: it is imported by every pytest run.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import pytorch_lightning as pl
    import torch

REQUIRE_CUDA_ENV = "BALLROOM_REQUIRE_CUDA"
RUN_SLOW_ENV = "BALLROOM_RUN_SLOW"
THREADS_ENV = "BALLROOM_TORCH_THREADS"

_MARKERS = {
    "cuda": "needs a CUDA device; skipped without one, an error when BALLROOM_REQUIRE_CUDA=1",
    "slow": "takes more than ~10 s on CPU; runs only with --run-slow or BALLROOM_RUN_SLOW=1",
    "ddp": "spawns processes (2-process DDP on CPU/gloo)",
}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def cuda_required() -> bool:
    """Whether a missing GPU must be an error (``BALLROOM_REQUIRE_CUDA=1``)."""
    return _truthy(os.environ.get(REQUIRE_CUDA_ENV))


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (imports torch lazily)."""
    import torch

    return bool(torch.cuda.is_available())


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ballroom")
    group.addoption(
        "--device",
        action="store",
        default="cpu",
        choices=("cpu", "cuda"),
        help="device for tests that take the `device` fixture (default: cpu)",
    )
    group.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked `slow` (same as BALLROOM_RUN_SLOW=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in _MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_cuda = config.getoption("--device") == "cuda"
    run_slow = config.getoption("--run-slow") or _truthy(os.environ.get(RUN_SLOW_ENV))
    skip_slow = pytest.mark.skip(reason="slow test: pass --run-slow or set BALLROOM_RUN_SLOW=1")
    for item in items:
        if on_cuda and "device" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cuda)
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs_cuda = item.get_closest_marker("cuda") is not None
    if not needs_cuda:
        return
    if cuda_available():
        return
    if cuda_required():
        pytest.fail(
            f"{REQUIRE_CUDA_ENV}=1 but torch sees no CUDA device "
            "(is this the CUDA build of torch, and is a GPU visible?)",
            pytrace=False,
        )
    pytest.skip("needs a CUDA device (none visible)")


def run_quickstart(readme: str | os.PathLike[str]) -> str:
    """Execute the first fenced ```python block of ``readme`` as written (fresh globals) and return what
    it printed, for a package's "the README's quickstart runs" test to check."""
    path = Path(readme)
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    if not blocks:
        raise AssertionError(f"{path} has no ```python block")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], str(path), "exec"), {})
    return out.getvalue()


def quiet_trainer(root_dir: object = None, **overrides: object) -> pl.Trainer:
    """:func:`ballroom.core.training.make_trainer` under the name the tests have always used."""
    from ballroom.core.training import make_trainer

    return make_trainer(root_dir, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device chosen with ``--device`` (``cpu`` by default)."""
    import torch

    return torch.device(request.config.getoption("--device"))


@pytest.fixture(autouse=True)
def _ballroom_restore_environ() -> Iterator[None]:
    """Restore ``os.environ`` after each test (seeding and determinism flags leak otherwise)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True, scope="session")
def _ballroom_torch_threads() -> Iterator[None]:
    """Use ``BALLROOM_TORCH_THREADS`` (default 1) intra-op threads for the whole run."""
    raw = os.environ.get(THREADS_ENV, "1")
    try:
        threads = int(raw)
    except ValueError as err:
        raise pytest.UsageError(f"{THREADS_ENV} must be a positive integer, got {raw!r}") from err
    if threads < 1:
        raise pytest.UsageError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    try:
        import torch
    except ImportError:  # an environment without torch has nothing to configure
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    yield
    torch.set_num_threads(before)
