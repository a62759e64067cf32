"""``ballroom-mgk fit|validate|test|predict``: training with LightningCLI.

Defaults come from the packaged ``configs/fit.yaml`` (the ``mgk-tiny`` classifier on procedural
ListOps); override anything, e.g. ``ballroom-mgk fit --trainer.max_epochs 5 --model.lr 0.001``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ballroom.core.cli import build_cli, run_cli
from ballroom.mgk.data import ListOpsDataModule
from ballroom.mgk.lit import MGKClassifierModule

if TYPE_CHECKING:
    from pytorch_lightning.cli import LightningCLI

__all__ = ["CONFIG", "cli", "main"]

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"


def cli(args: Sequence[str] | None = None) -> LightningCLI:
    """Build and run the CLI; returns the ``LightningCLI`` object (``args`` replaces ``sys.argv[1:]``)."""
    return build_cli(MGKClassifierModule, ListOpsDataModule, CONFIG, args)


def main(args: Sequence[str] | None = None) -> int:
    """The console script: run the CLI, return the exit status (0 on success)."""
    return run_cli(cli, args)
