"""One Trainer factory for tests, reproductions and notebooks.

Every ``reproduce.py`` and every package test builds its ``pl.Trainer`` here, so the quiet,
deterministic settings live in one place::

    from ballroom.core.training import make_trainer
    trainer = make_trainer(max_steps=200, max_epochs=-1)

Lightning is imported inside the function: importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytorch_lightning as pl

__all__ = ["QUIET", "make_trainer", "torch_threads"]

#: the keyword arguments that make a Trainer silent and reproducible
QUIET: dict[str, Any] = {
    "deterministic": True,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


def make_trainer(root_dir: str | os.PathLike[str] | None = None, **overrides: Any) -> pl.Trainer:
    """A ``pl.Trainer``: CPU, 2 epochs, deterministic, no logger, checkpoints, bar or summary.

    Args:
        root_dir: becomes ``default_root_dir`` (where checkpoints and logs would go).
        **overrides: replace any default, e.g. ``accelerator="auto"``, ``max_steps=500``,
            ``callbacks=[...]``. Unknown names raise ``TypeError`` from ``pl.Trainer``.

    Returns:
        the configured ``pl.Trainer``.
    """
    import pytorch_lightning as pl

    opts: dict[str, Any] = {"accelerator": "cpu", "max_epochs": 2, **QUIET}
    if root_dir is not None:
        opts["default_root_dir"] = os.fspath(root_dir)
    opts.update(overrides)
    return pl.Trainer(**opts)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``; the previous count is restored after.

    Loops over tiny tensors run many times faster on one intra-op thread on a small, shared machine
    (13-40x measured on 2 cores); :class:`ballroom.core.runner.Reproduction` applies it to every
    experiment with ``threads=1``.
    """
    import torch

    from ballroom.core.validate import check_int

    check_int(n, "n", min=1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
