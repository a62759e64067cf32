"""The one way every package builds its ``ballroom-<name>`` console script on LightningCLI.

A package's ``cli.py`` is three lines of substance::

    CONFIG = Path(__file__).parent / "configs" / "fit.yaml"

    def cli(args=None) -> LightningCLI:          # for code that wants the CLI object
        return build_cli(MyModule, MyDataModule, CONFIG, args)

    def main(args=None) -> int:                  # the console script: an exit status
        return run_cli(cli, args)

``main`` returns 0 after a successful run, so the console-script wrapper's ``sys.exit(main())``
exits 0 (returning the CLI object made every script exit 1). LightningCLI itself exits with status
2 on a bad argument and re-raises errors from training, as it always did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytorch_lightning as pl
    from pytorch_lightning.cli import LightningCLI

__all__ = ["SUBCOMMANDS", "build_cli", "run_cli"]

#: the subcommands that read the package's default config files
SUBCOMMANDS = ("fit", "validate", "test", "predict")

ConfigPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def build_cli(
    model_class: type[pl.LightningModule] | None,
    datamodule_class: type[pl.LightningDataModule] | None,
    configs: ConfigPaths,
    args: Sequence[str] | None = None,
    *,
    subclass_mode: bool = False,
    seed: int | bool = 0,
    **cli_kwargs: Any,
) -> LightningCLI:
    """Build (and run) a ``LightningCLI`` whose subcommands default to ``configs``.

    Args:
        model_class: the package's LightningModule; with ``subclass_mode=True`` any subclass of it
            (``None`` means any ``pl.LightningModule``) is chosen in the config's ``class_path``.
        datamodule_class: likewise for the DataModule.
        configs: one YAML path or several, read in order by every subcommand of
            :data:`SUBCOMMANDS` (later files override earlier ones; the command line overrides all).
        args: replaces ``sys.argv[1:]`` (tests and notebooks); ``None`` reads the command line.
        subclass_mode: let the config pick subclasses (packages with several modules).
        seed: ``seed_everything_default`` (``True`` = random, ``False`` = do not seed).
        **cli_kwargs: passed to ``LightningCLI`` (e.g. ``trainer_defaults``).

    Returns:
        the ``LightningCLI`` object, after it ran the subcommand (``run=True``, the default).
    """
    import pytorch_lightning as pl
    from pytorch_lightning.cli import LightningCLI

    paths = (
        [os.fspath(configs)] if isinstance(configs, str | os.PathLike) else [os.fspath(c) for c in configs]
    )
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"configs: default config file {path!r} does not exist")
    if subclass_mode:
        model_class = model_class or pl.LightningModule
        datamodule_class = datamodule_class or pl.LightningDataModule
    parser_kwargs = {c: {"default_config_files": paths} for c in SUBCOMMANDS}
    parser_kwargs.update(cli_kwargs.pop("parser_kwargs", {}))
    return LightningCLI(
        model_class,
        datamodule_class,
        subclass_mode_model=subclass_mode,
        subclass_mode_data=subclass_mode,
        args=None if args is None else list(args),
        seed_everything_default=seed,
        parser_kwargs=parser_kwargs,
        **cli_kwargs,
    )


def run_cli(factory: Callable[[Sequence[str] | None], object], args: Sequence[str] | None = None) -> int:
    """Run ``factory(args)`` (a package's ``cli``) and return the process exit status: 0 on success.

    Errors keep their meaning: LightningCLI's ``SystemExit`` (``--help``, bad arguments) propagates,
    exceptions from training propagate.
    """
    factory(args)
    return 0
