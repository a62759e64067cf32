"""``ballroom-dualform fit|validate|test|predict``: train the MLP on digits with SGD, recording its dual form.

Defaults come from the packaged ``configs/fit.yaml`` (the spec's offline protocol: the zoo's
``dualform-digits`` 64-128-128-10 MLP, SGD lr 0.01 momentum 0.9, batch 32, 1500 steps, with
:class:`~ballroom.dualform.DualFormCallback`); override anything, e.g.
``ballroom-dualform fit --data.mode multi --trainer.max_steps 2000``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ballroom.core.cli import build_cli, run_cli
from ballroom.dualform.data import TaskDigitsDataModule
from ballroom.dualform.lit import DualFormClassifier

if TYPE_CHECKING:
    from pytorch_lightning.cli import LightningCLI

__all__ = ["CONFIG", "cli", "main"]

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"


def cli(args: Sequence[str] | None = None) -> LightningCLI:
    """Build and run the CLI; ``args`` replaces ``sys.argv[1:]`` (for tests and notebooks)."""
    return build_cli(DualFormClassifier, TaskDigitsDataModule, CONFIG, args)


def main(args: Sequence[str] | None = None) -> int:
    """The console script: run the CLI and return the exit status (0 on success)."""
    return run_cli(cli, args)
