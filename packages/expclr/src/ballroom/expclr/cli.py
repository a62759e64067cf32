"""``ballroom-expclr fit|validate|test``: ExpCLR pretraining with LightningCLI.

Defaults come from the packaged ``configs/fit.yaml`` (SineBands, the reproduction's small ResNet,
30 epochs); e.g. ``ballroom-expclr fit --data.source JapaneseVowels --data.resample 29
--model.in_channels 12``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytorch_lightning.cli import LightningCLI

from ballroom.expclr.data import ExpertDataModule
from ballroom.expclr.lit import ExpCLRModule

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"


def main(args: Sequence[str] | None = None) -> LightningCLI:
    """Run the CLI; ``args`` replaces ``sys.argv[1:]`` (for tests and notebooks)."""
    return LightningCLI(
        ExpCLRModule,
        ExpertDataModule,
        args=None if args is None else list(args),
        seed_everything_default=0,
        parser_kwargs={c: {"default_config_files": [str(CONFIG)]} for c in ("fit", "validate", "test")},
    )
