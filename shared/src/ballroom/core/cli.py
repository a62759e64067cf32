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

Defaults every console script shares (a package's YAML and the command line override them):

- ``fit`` always leaves a ``last.ckpt`` and prints the checkpoint paths at the end
  (:class:`ballroom.core.callbacks.CheckpointOnExit`, options under ``--checkpoint_on_exit.*``);
- ``trainer.log_every_n_steps`` is 5 (Lightning's 50 logged nothing on small datasets);
- Lightning's advertising tips and warnings a user cannot act on (tensorboardX, ``LeafSpec``,
  jsonargparse deprecations inside Lightning) are muted;
- ``--config NAME`` also takes the name of a YAML file packaged beside the defaults
  (``ballroom-flowformer fit --config charlm``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytorch_lightning as pl
    from pytorch_lightning.cli import LightningCLI

__all__ = ["CLI_DEFAULTS", "SUBCOMMANDS", "build_cli", "resolve_config_names", "run_cli"]

#: the subcommands that read the package's default config files
SUBCOMMANDS = ("fit", "validate", "test", "predict")

#: parser defaults shared by every console script (below the package's YAML and the command line)
CLI_DEFAULTS: dict[str, Any] = {"trainer.log_every_n_steps": 5}

_MUTED_WARNINGS = (
    r".*tensorboardX.*",
    r".*LeafSpec.*is deprecated.*",
    r".*args parameter is intended to run from within Python.*",  # we pass sys.argv[1:] on purpose
    r".*was deprecated in v4\.\d+\.\d+ and will be removed in v5.*",  # jsonargparse, called by Lightning
)


class _NoTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("\N{ELECTRIC LIGHT BULB} Tip")


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    loggers = [
        logging.getLogger(n)
        for n in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero")
    ]
    tips = _NoTips()
    for logger in loggers:
        logger.addFilter(tips)
    try:
        with warnings.catch_warnings():
            for message in _MUTED_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(tips)


def resolve_config_names(args: Sequence[str], folder: str | os.PathLike[str]) -> list[str]:
    """Replace ``--config NAME`` (or ``--config=NAME``) by ``folder/NAME.yaml`` when ``NAME`` is not an
    existing file but that packaged YAML is. Other arguments pass unchanged.

    Args:
        args: the command-line arguments (without the program name).
        folder: the folder of the packaged YAML configs.

    Returns:
        A new list of arguments; a ``NAME`` that contains a path separator is never replaced.
    """
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--config" and i + 1 < len(out):
            j, value, prefix = i + 1, out[i + 1], ""
        elif arg.startswith("--config="):
            j, value, prefix = i, arg.removeprefix("--config="), "--config="
        else:
            continue
        packaged = Path(folder) / f"{value.removesuffix('.yaml')}.yaml"
        if not os.path.exists(value) and os.sep not in value and packaged.is_file():
            out[j] = prefix + os.fspath(packaged)
    return out


def _cli_class() -> type[LightningCLI]:
    from pytorch_lightning.cli import LightningCLI

    from ballroom.core.callbacks import CheckpointOnExit

    class BallroomCLI(LightningCLI):
        """LightningCLI with the shared defaults of :data:`CLI_DEFAULTS` and ``CheckpointOnExit``."""

        def add_arguments_to_parser(self, parser: Any) -> None:
            parser.add_lightning_class_args(CheckpointOnExit, "checkpoint_on_exit")
            parser.set_defaults(CLI_DEFAULTS)

    return BallroomCLI


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
    if args is None:
        import sys

        args = sys.argv[1:]
    with _quiet_lightning():
        return _cli_class()(
            model_class,
            datamodule_class,
            subclass_mode_model=subclass_mode,
            subclass_mode_data=subclass_mode,
            args=resolve_config_names(args, Path(paths[0]).parent) if paths else list(args),
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
