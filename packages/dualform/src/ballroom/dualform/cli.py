"""``ballroom-dualform fit|validate|test|predict``: train the MLP on digits with SGD, recording its dual form.

Defaults come from the packaged ``configs/fit.yaml`` (the spec's offline protocol: 64-128-128-10,
SGD lr 0.01 momentum 0.9, batch 32, 1500 steps, with :class:`~ballroom.dualform.DualFormCallback`);
override anything, e.g. ``ballroom-dualform fit --data.mode multi --trainer.max_steps 2000``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytorch_lightning.cli import LightningCLI

from ballroom.dualform.data import DigitsDataModule
from ballroom.dualform.lit import DualFormClassifier

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"


def main(args: Sequence[str] | None = None) -> LightningCLI:
    """Run the CLI; ``args`` replaces ``sys.argv[1:]`` (for tests and notebooks)."""
    return LightningCLI(
        DualFormClassifier,
        DigitsDataModule,
        args=None if args is None else list(args),
        seed_everything_default=0,
        parser_kwargs={
            c: {"default_config_files": [str(CONFIG)]} for c in ("fit", "validate", "test", "predict")
        },
    )
