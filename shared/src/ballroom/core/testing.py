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
- :func:`check_checkpoint_and_resume` and :func:`check_ddp_fit`: the checkpoint (zoo model, hparams,
  optimizer state and step on resume) and DDP contracts of a LightningModule, one call each.

It also sets ``torch.set_num_threads(BALLROOM_TORCH_THREADS or 1)`` for the run (small-tensor loops on
2-core machines run many times faster on one thread) and restores ``os.environ`` after every test
(seeding leaks ``PL_GLOBAL_SEED``, determinism ``CUBLAS_WORKSPACE_CONFIG``).

This module must not import torch at module level: it is imported by every pytest run.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def check_checkpoint_and_resume(
    make_module: Callable[[], pl.LightningModule],
    make_datamodule: Callable[[], pl.LightningDataModule],
    example: Any,
    root_dir: str | os.PathLike[str],
    *,
    seed: int = 2,
    epochs: int = 1,
    net_type: type | None = None,
    outputs: Callable[[Any, Any], Any] | None = None,
    **trainer_kwargs: Any,
) -> tuple[torch.nn.Module, pl.LightningModule]:
    """The checkpoint contract every ballroom LightningModule meets, asserted in one call.

    1. A seeded ``fit`` of ``epochs`` epochs writes ``last.ckpt`` (``ModelCheckpoint(save_last=True)``).
    2. :func:`ballroom.core.checkpoint.load_zoo_model` turns it into the plain network (``weights_only``
       inside), of type ``net_type`` when given, whose outputs on ``example`` equal the trained
       module's network's bitwise (both in eval mode).
    3. ``type(module).load_from_checkpoint(last, weights_only=True)`` restores the hyperparameters.
    4. Resuming with ``ckpt_path=last`` to ``2 * epochs`` epochs restores the optimizer state exactly
       (every tensor of ``optimizer.state_dict()`` as saved, checked when training starts) and the
       step count continues (``global_step == 2 * saved global_step``).

    Args:
        make_module: builds a fresh module (the same configuration each call).
        make_datamodule: builds a fresh DataModule.
        example: an input batch for the network (a tensor, or what ``outputs`` takes).
        root_dir: a scratch folder (``tmp_path``).
        seed: the seed of the first fit.
        epochs: epochs before the checkpoint.
        net_type: the class the zoo model must be.
        outputs: ``(net, example) -> output`` to compare, default ``net(example)``.
        **trainer_kwargs: passed to :func:`ballroom.core.training.make_trainer` for both fits.

    Returns:
        ``(zoo network, trained module)`` for further checks.
    """
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import Callback, ModelCheckpoint

    from ballroom.core.checkpoint import load_zoo_model
    from ballroom.core.training import make_trainer

    root = Path(root_dir)
    run = outputs or (lambda net, x: net(x))
    pl.seed_everything(seed, workers=True)
    module = make_module()
    ckpt = ModelCheckpoint(dirpath=root / "ckpt", save_last=True)
    trainer = make_trainer(
        root, max_epochs=epochs, enable_checkpointing=True, callbacks=[ckpt], **trainer_kwargs
    )
    trainer.fit(module, datamodule=make_datamodule())
    last = root / "ckpt" / "last.ckpt"
    assert last.is_file(), f"no last.ckpt in {root / 'ckpt'}"

    net = load_zoo_model(last)
    if net_type is not None:
        assert isinstance(net, net_type), (
            f"load_zoo_model built {type(net).__name__}, expected {net_type.__name__}"
        )
    trained = getattr(module, "net", module).cpu().eval()
    with torch.no_grad():
        got, want = run(net, example), run(trained, example)
    assert _flat(got), "outputs returned no tensor to compare"
    for a, b in zip(_flat(got), _flat(want), strict=True):
        assert torch.equal(a, b), "the zoo model's outputs differ from the trained module's"

    restored = type(module).load_from_checkpoint(last, weights_only=True)
    assert dict(restored.hparams) == dict(module.hparams), (dict(restored.hparams), dict(module.hparams))

    saved = torch.load(last, weights_only=True)
    seen: dict[str, Any] = {}

    class _OptimizerAtStart(Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            seen["optimizers"] = [copy.deepcopy(opt.state_dict()) for opt in trainer.optimizers]

    resumed_trainer = make_trainer(
        root,
        max_epochs=2 * epochs,
        enable_checkpointing=True,
        callbacks=[_OptimizerAtStart(), ModelCheckpoint(dirpath=root / "ckpt", save_last=True)],
        **trainer_kwargs,
    )
    with warnings.catch_warnings():  # the resumed run writes beside the checkpoint it resumes from
        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        resumed_trainer.fit(make_module(), datamodule=make_datamodule(), ckpt_path=str(last))
    assert saved["global_step"] > 0
    assert resumed_trainer.global_step == 2 * saved["global_step"], (
        resumed_trainer.global_step,
        saved["global_step"],
    )
    for i, (now, then) in enumerate(zip(seen["optimizers"], saved["optimizer_states"], strict=True)):
        assert now["state"].keys() == then["state"].keys() and now["state"], (
            f"optimizer {i}: state not restored"
        )
        for key, state in then["state"].items():
            for name, value in state.items():
                if isinstance(value, torch.Tensor):
                    assert torch.equal(now["state"][key][name].cpu(), value.cpu()), (
                        f"optimizer {i}: {name} differs"
                    )
    return net, module


def check_ddp_fit(
    make_module: Callable[[], pl.LightningModule],
    make_datamodule: Callable[[], pl.LightningDataModule],
    root_dir: str | os.PathLike[str],
    *,
    metric: str = "val/acc",
    above: float = 0.5,
    epochs: int = 2,
    seed: int = 0,
    strategy: str = "ddp_fork",
    **trainer_kwargs: Any,
) -> pl.Trainer:
    """A 2-process ``ddp_fork`` fit on CPU (gloo): world size 2 and ``metric`` above ``above`` on rank 0.

    Mark the test ``@pytest.mark.ddp``. ``strategy`` may name another fork strategy, e.g.
    ``"ddp_fork_find_unused_parameters_true"`` for a network with parameters a batch may not use.
    Returns the trainer for further checks.
    """
    import pytorch_lightning as pl

    from ballroom.core.training import make_trainer

    pl.seed_everything(seed, workers=True)
    trainer = make_trainer(root_dir, max_epochs=epochs, devices=2, strategy=strategy, **trainer_kwargs)
    trainer.fit(make_module(), datamodule=make_datamodule())
    assert trainer.world_size == 2
    value = trainer.callback_metrics[metric].item()
    assert value > above, f"{metric} = {value:.4f} after a 2-process fit, expected > {above}"
    return trainer


def _flat(out: Any) -> list[torch.Tensor]:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _flat(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _flat(v)]
    raise TypeError(f"outputs: expected tensors (or tuples/lists/dicts of them), got {type(out).__name__}")


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
