"""``ballroom-rtd fit|validate|test|predict``: train the probe classifier on digits with LightningCLI.

Defaults come from the packaged ``configs/fit.yaml`` (30 epochs of the spec's probe, seeded and
deterministic); any option can be overridden, e.g. ``ballroom-rtd fit --trainer.max_epochs 5``.
``cli(args)`` returns the ``LightningCLI`` object (for code); ``main(args)``, the console script,
returns the exit status (0 after a successful run).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ballroom.core.cli import build_cli, run_cli
from ballroom.rtd.data import DigitsProbeDataModule
from ballroom.rtd.lit import ProbeClassifier

if TYPE_CHECKING:
    from pytorch_lightning.cli import LightningCLI

__all__ = ["CONFIG", "cli", "main"]

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"


def cli(args: Sequence[str] | None = None) -> LightningCLI:
    """Build and run the CLI; ``args`` replaces ``sys.argv[1:]`` (for tests and notebooks)."""
    return build_cli(ProbeClassifier, DigitsProbeDataModule, CONFIG, args)


def main(args: Sequence[str] | None = None) -> int:
    """The ``ballroom-rtd`` console script: run :func:`cli` and return the exit status (0)."""
    return run_cli(cli, args)
