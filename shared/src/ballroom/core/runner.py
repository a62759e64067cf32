"""The experiment runner behind every ``reproduce.py``.

A package's reproduction is a list of experiment functions and the settings of each mode; the
runner owns everything else (the command line, timing, CSV, the printed tables, ``claims.json``,
the plot)::

    SETTINGS = {"smoke": Sizes(steps=5), "quick": Sizes(steps=800), "full": Sizes(steps=5000)}

    def listops(ctx: Context) -> Outcome:
        acc = train(steps=ctx.settings.steps, seed=ctx.seed)
        return Outcome(rows=[{"attention": "flow", "acc": acc}],
                       claims=[Claim("Flow >= 2x majority", "0.387", f"{acc:.3f}", acc >= 0.24)])

    def plot(outcomes: dict[str, Outcome], plt) -> Figure: ...

    REPRODUCTION = Reproduction("flowformer", __doc__, [listops], SETTINGS, plot=plot)
    main = REPRODUCTION.main          # python -m ballroom.flowformer.reproduce [--smoke|--quick|--full]

What the runner guarantees:

- ``--smoke`` (seconds, for tests) says that claims are not checked and shows them as ``n/a``;
  ``--quick`` (default) and ``--full`` exit 1 when a claim does not hold.
- matplotlib is looked for *before* any computing: without it the run still writes every table and
  ``claims.json``, and says which extra draws the plot.
- each experiment's rows go to ``<out>/<experiment>.csv`` through :mod:`csv` (a real writer); the
  seconds of each experiment go to ``<out>/timings.csv`` and the printed summary.
- ``--only a,b`` runs a subset of the experiments (by function name).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballroom.core.report import Claim, Mode, finish, format_table, reproduce_parser
from ballroom.core.training import torch_threads

__all__ = ["Context", "Experiment", "Outcome", "Reproduction", "write_csv"]

MODES: tuple[Mode, ...] = ("smoke", "quick", "full")


@dataclass
class Outcome:
    """What an experiment returns.

    Attributes:
        rows: table rows (dicts with the same keys); written to ``<experiment>.csv`` and printed.
        claims: the claims this experiment checks.
        data: anything else the plot needs (curves, arrays); not written.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What an experiment is given: the mode, its settings, the seed, the output folder, the options.

    Attributes:
        mode: ``"smoke"``, ``"quick"`` or ``"full"``.
        settings: the settings object of that mode.
        seed: the base random seed (``--seed``).
        out: the output folder (``--out``, created before the experiments run).
        opts: the whole parsed command line, package options included.
    """

    mode: Mode
    settings: Any
    seed: int
    out: Path
    opts: argparse.Namespace

    def trainer(self, **overrides: Any) -> Any:
        """A quiet, deterministic ``pl.Trainer`` (:func:`ballroom.core.training.make_trainer`) on the
        best available accelerator (one device); ``overrides`` replace any default.

        Unlike a bare ``pl.Trainer`` it runs no sanity-check validation batches
        (``num_sanity_val_steps=0``). Those batches draw from torch's global RNG, so a run that must
        reproduce numbers measured with Lightning's default passes ``num_sanity_val_steps=2``.
        """
        from ballroom.core.training import make_trainer

        opts: dict[str, Any] = {"accelerator": "auto", "devices": 1, "num_sanity_val_steps": 0}
        opts.update(overrides)
        return make_trainer(**opts)


Experiment = Callable[[Context], Outcome]
Plot = Callable[[Mapping[str, Outcome], Any], Any]


def write_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts; the union of their keys in first-seen order is the header) as CSV.

    Args:
        path: the CSV file (overwritten).
        rows: one mapping per row; a missing key gives an empty cell.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


@dataclass(frozen=True)
class Reproduction:
    """A package's reproduction: experiments, per-mode settings and an optional plot.

    Args:
        package: the package name (``"flowformer"``): the program name, the default ``--out``
            (``results/<package>``) and the extra named when matplotlib is missing.
        description: the first line is the ``--help`` text.
        experiments: functions ``(Context) -> Outcome``, run in order; their ``__name__`` names
            the CSV file and ``--only``.
        settings: the settings object of each mode (``smoke``, ``quick``, ``full``).
        plot: ``(outcomes by experiment name, matplotlib.pyplot) -> Figure``, saved as ``figure``.
        figure: the plot's file name in ``--out`` (default ``<package>.png``).
        add_arguments: adds package options to the parser (read back from ``Context.opts``).
        threads: run every experiment with this many torch intra-op threads (restored after);
            ``1`` suits loops over small tensors. ``None`` leaves torch's setting alone.
    """

    package: str
    description: str
    experiments: Sequence[Experiment]
    settings: Mapping[str, Any]
    plot: Plot | None = None
    figure: str | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        missing = [m for m in MODES if m not in self.settings]
        if missing:
            raise ValueError(f"settings: no settings for mode(s) {missing}")
        names = [e.__name__ for e in self.experiments]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"experiments: need at least one, with distinct names; got {names}")

    def parser(self) -> argparse.ArgumentParser:
        """The command line: the shared modes, ``--out``, ``--seed``, ``--only`` and the package's options."""
        first = (self.description or self.package).strip().splitlines()[0]
        parser = reproduce_parser(self.package, first)
        parser.add_argument(
            "--only",
            type=lambda s: [p for p in s.split(",") if p],
            default=None,
            help=f"comma-separated experiments to run (default: all of {','.join(e.__name__ for e in self.experiments)})",
        )
        if self.add_arguments is not None:
            self.add_arguments(parser)
        return parser

    def run(self, opts: argparse.Namespace) -> tuple[dict[str, Outcome], dict[str, float]]:
        """Run the selected experiments; returns their outcomes and seconds by name (no files but CSVs)."""
        experiments = list(self.experiments)
        if opts.only:
            known = {e.__name__ for e in experiments}
            unknown = [n for n in opts.only if n not in known]
            if unknown:
                raise SystemExit(f"--only: unknown experiment(s) {unknown}; known: {sorted(known)}")
            experiments = [e for e in experiments if e.__name__ in opts.only]
        out: Path = opts.out
        out.mkdir(parents=True, exist_ok=True)
        ctx = Context(opts.mode, self.settings[opts.mode], opts.seed, out, opts)
        outcomes: dict[str, Outcome] = {}
        seconds: dict[str, float] = {}
        for i, experiment in enumerate(experiments, 1):
            name = experiment.__name__
            print(f"[{i}/{len(experiments)}] {name} ...", flush=True)
            start = time.perf_counter()
            with torch_threads(self.threads) if self.threads is not None else contextlib.nullcontext():
                outcome = experiment(ctx)
            seconds[name] = time.perf_counter() - start
            if not isinstance(outcome, Outcome):
                raise TypeError(f"experiment {name!r} must return an Outcome, got {type(outcome).__name__}")
            outcomes[name] = outcome
            if outcome.rows:
                write_csv(out / f"{name}.csv", outcome.rows)
            print(f"[{i}/{len(experiments)}] {name}: {seconds[name]:.1f} s", flush=True)
        write_csv(
            out / "timings.csv", [{"experiment": n, "seconds": round(s, 2)} for n, s in seconds.items()]
        )
        return outcomes, seconds

    def main(self, args: Sequence[str] | None = None) -> int:
        """Parse ``args``, run, print the tables, write ``claims.json`` and the plot; the exit status."""
        opts = self.parser().parse_args(args)
        can_plot = self.plot is not None and _has_matplotlib()
        if self.plot is not None and not can_plot:
            print(
                f"note: matplotlib is not installed, so the plot will not be drawn (tables and claims are "
                f"written): pip install 'ballroom-{self.package}[plot]'",
                file=sys.stderr,
            )
        start = time.perf_counter()
        outcomes, seconds = self.run(opts)
        total = time.perf_counter() - start
        for name, outcome in outcomes.items():
            if outcome.rows:
                print(f"\n## {name}\n\n{format_table(outcome.rows)}")
        parts = ", ".join(f"{n} {s:.1f} s" for n, s in seconds.items())
        print(f"\nballroom-{self.package} reproduction ({opts.mode}): {total:.1f} s ({parts})\n")
        if can_plot:
            assert self.plot is not None
            from ballroom.core.report import require_matplotlib

            plt = require_matplotlib(self.package)
            fig = self.plot(outcomes, plt)
            path = opts.out / (self.figure or f"{self.package}.png")
            fig.savefig(path, dpi=120, bbox_inches="tight")
            plt.close(fig)
            print(f"plot written to {path}")
        claims = [c for o in outcomes.values() for c in o.claims]
        return finish(opts.out, claims, opts.mode)
