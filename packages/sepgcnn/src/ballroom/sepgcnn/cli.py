"""``ballroom-sepgcnn fit|validate|test|predict``: G-CNN training with LightningCLI.

The packaged ``configs/fit.yaml`` is the default: protocol A of the spec (rotated digits) with the zoo's
``sepgcnn-digits-se2`` (SE(2) separable CKGResNet, widths 8,8,16, k=5, N=8), Adam 3e-3. Change anything
on the command line, e.g. ``ballroom-sepgcnn fit --model.init_args.model_kwargs.implementation nonseparable
--trainer.max_epochs 40``; MNIST-rot: ``--model.init_args.model sepgcnn-mnist-rot-se2 --data
ballroom.sepgcnn.MNISTRotDataModule --data.root DIR --data.download true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ballroom.core.cli import build_cli, run_cli
from ballroom.sepgcnn.lit import SepGCNNClassifier

if TYPE_CHECKING:
    from pytorch_lightning.cli import LightningCLI

__all__ = ["CONFIG", "cli", "main"]

CONFIG = Path(__file__).parent / "configs" / "fit.yaml"


def cli(args: Sequence[str] | None = None) -> LightningCLI:
    """Build and run the CLI; returns the ``LightningCLI`` object (``args`` replaces ``sys.argv[1:]``).

    Subclass mode: the config names the module (``SepGCNNClassifier``) and the data module
    (ballroom-core's ``RotatedDigitsDataModule``, or ``MNISTRotDataModule``) by ``class_path``.
    """
    return build_cli(SepGCNNClassifier, None, CONFIG, args, subclass_mode=True)


def main(args: Sequence[str] | None = None) -> int:
    """The console script: run the CLI, return the exit status (0 on success)."""
    return run_cli(cli, args)
