"""``ballroom-flowformer fit|validate|test|predict``: Flowformer training with LightningCLI.

The packaged ``configs/fit.yaml`` is the default (ListOps-mini, Flow-Attention: the zoo entry
``flowformer-listops-mini``); any of the package's modules and data modules can be chosen, e.g.
``ballroom-flowformer fit --model.init_args.model_kwargs '{attention: softmax}'`` for the baseline
or ``ballroom-flowformer fit --config $(python -c "import ballroom.flowformer.cli as c; print(c.CHARLM)")``
for the character LM.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ballroom.core.cli import build_cli, run_cli

if TYPE_CHECKING:
    from pytorch_lightning.cli import LightningCLI

__all__ = ["CHARLM", "CONFIG", "cli", "main"]

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"
CHARLM = Path(__file__).parent / "configs" / "charlm.yaml"


def cli(args: Sequence[str] | None = None) -> LightningCLI:
    """Build and run the CLI; ``args`` replaces ``sys.argv[1:]`` (tests, notebooks). The CLI object.

    Two LightningModules (classifier, LM) and three data modules (ListOps, char-LM, ballroom-core's
    UEA), so the config's ``class_path`` picks them (``subclass_mode``).
    """
    return build_cli(None, None, CONFIG, args, subclass_mode=True)


def main(args: Sequence[str] | None = None) -> int:
    """The ``ballroom-flowformer`` console script: 0 after a successful run."""
    return run_cli(cli, args)
