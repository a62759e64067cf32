"""``ballroom-flowformer fit|validate|test``: Flowformer training with LightningCLI.

The packaged ``configs/fit.yaml`` is the default (ListOps-mini, Flow-Attention); any of the
package's modules and data modules can be chosen, e.g. ``ballroom-flowformer fit
--model.init_args.attention softmax`` or ``ballroom-flowformer fit --config
$(python -c "import ballroom.flowformer.cli as c; print(c.CHARLM)")`` for the character LM.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.cli import LightningCLI

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"
CHARLM = Path(__file__).parent / "configs" / "charlm.yaml"


def main(args: Sequence[str] | None = None) -> LightningCLI:
    """Run the CLI; ``args`` replaces ``sys.argv[1:]`` (for tests and notebooks)."""
    return LightningCLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=None if args is None else list(args),
        parser_kwargs={c: {"default_config_files": [str(CONFIG)]} for c in ("fit", "validate", "test")},
    )
