"""``ballroom-expclr fit|validate|test``: ExpCLR pretraining (or a baseline) with LightningCLI.

Defaults come from the packaged ``configs/fit.yaml`` (ExpCLR on SineBands, the reproduction's small
ResNet ``expclr-small``, 30 epochs). The module and the DataModule are chosen by class
(``subclass_mode``), so the baselines train from the same command::

    ballroom-expclr fit --data.source JapaneseVowels --data.resample 29 \\
        --model.model_kwargs '{"in_channels": 12}'
    ballroom-expclr fit --model SimCLRTSModule --model.model expclr-small
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ballroom.core.cli import build_cli, run_cli
from ballroom.expclr.data import ExpertDataModule
from ballroom.expclr.lit import ExpCLRModule, ExpertDecodingModule, SimCLRTSModule

if TYPE_CHECKING:
    from pytorch_lightning.cli import LightningCLI

__all__ = ["CONFIG", "MODULES", "cli", "main"]

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"
#: the LightningModules ``--model <name>`` chooses from (the config's default: ExpCLRModule)
MODULES = (ExpCLRModule, SimCLRTSModule, ExpertDecodingModule)


def cli(args: Sequence[str] | None = None) -> LightningCLI:
    """Build and run the CLI; ``args`` replaces ``sys.argv[1:]`` (tests and notebooks). The CLI object."""
    return build_cli(None, ExpertDataModule, CONFIG, args, subclass_mode=True)


def main(args: Sequence[str] | None = None) -> int:
    """The ``ballroom-expclr`` console script: exit status 0 after a successful run."""
    return run_cli(cli, args)
