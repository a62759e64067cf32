"""``ballroom-rtd fit|validate|test|predict``: train the probe classifier on digits with LightningCLI.

Defaults come from the packaged ``configs/fit.yaml`` (30 epochs of the spec's probe, seeded and
deterministic); any option can be overridden, e.g. ``ballroom-rtd fit --trainer.max_epochs 5``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytorch_lightning.cli import LightningCLI

from ballroom.rtd.data import DigitsProbeDataModule
from ballroom.rtd.lit import ProbeClassifier

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"


def main(args: Sequence[str] | None = None) -> LightningCLI:
    """Run the CLI; ``args`` replaces ``sys.argv[1:]`` (for tests and notebooks)."""
    return LightningCLI(
        ProbeClassifier,
        DigitsProbeDataModule,
        args=None if args is None else list(args),
        seed_everything_default=0,
        parser_kwargs={
            c: {"default_config_files": [str(CONFIG)]} for c in ("fit", "validate", "test", "predict")
        },
    )
