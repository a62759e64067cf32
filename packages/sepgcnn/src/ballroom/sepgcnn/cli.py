"""``ballroom-sepgcnn fit|validate|test``: G-CNN training with LightningCLI.

The packaged ``configs/fit.yaml`` is the default: protocol A of the spec (rotated digits, SE(2)
separable CKGResNet, widths 8,8,16, k=5, N=8, Adam 3e-3). Change anything on the command line, e.g.
``ballroom-sepgcnn fit --model.init_args.implementation nonseparable --trainer.max_epochs 40``; MNIST-rot:
``--data ballroom.sepgcnn.MNISTRotDataModule --data.root DIR --data.download true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.cli import LightningCLI

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"


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
