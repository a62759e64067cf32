"""What every ``reproduce.py`` shares: the command line, the claims file, the table and the plot.

A package's ``reproduce.main(args)`` parses with :func:`reproduce_parser`, runs its experiments,
and finishes with :func:`finish`, which prints the claims as a table, writes
``<out>/claims.json`` (a list of ``{"claim", "paper", "ours", "holds"}`` objects, read by
``nox -s reproduce``) and returns the process exit status (0 when every claim holds, or in
``--smoke`` mode, where settings are too small for claims to be meaningful).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Claim",
    "Mode",
    "finish",
    "format_table",
    "read_claims",
    "reproduce_parser",
    "require_matplotlib",
    "write_claims",
]

Mode = Literal["smoke", "quick", "full"]


@dataclass(frozen=True)
class Claim:
    """One line of the reproduction report: what is claimed, the paper's number, ours, and whether it holds.

    Args:
        claim: what is claimed, in words.
        paper: the paper's number (as text).
        ours: our number (as text).
        holds: whether our number supports the claim.
    """

    claim: str
    paper: str
    ours: str
    holds: bool


def reproduce_parser(package: str, description: str) -> argparse.ArgumentParser:
    """The shared command line: ``--smoke | --quick (default) | --full``, ``--out``, ``--seed``.

    The parsed namespace has ``mode`` (``"smoke"``, ``"quick"`` or ``"full"``), ``out`` (a
    :class:`~pathlib.Path`, default ``results/<package>``) and ``seed``.

    Args:
        package: the package's short name (``"rtd"``), used in the program name and the default
            ``--out``.
        description: the parser's description, shown by ``--help``.

    Returns:
        The parser (not yet parsed).
    """
    parser = argparse.ArgumentParser(prog=f"python -m ballroom.{package}.reproduce", description=description)
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument(
        "--smoke", dest="mode", action="store_const", const="smoke", help="seconds; used by the tests"
    )
    modes.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="minutes on 2 CPU cores (default); the claims must hold",
    )
    modes.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="paper-scale settings, for a GPU"
    )
    parser.set_defaults(mode="quick")
    parser.add_argument(
        "--out", type=Path, default=Path("results") / package, help="folder for claims.json, CSV and plots"
    )
    parser.add_argument("--seed", type=int, default=0, help="base random seed")
    return parser


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A Markdown table of ``rows`` (dicts); floats are shown with 4 significant digits.

    Args:
        rows: one dict per row; a missing key gives an empty cell.
        columns: the columns, in order; default: the keys of the first row.

    Returns:
        The table as text (``"(no rows)"`` when ``rows`` is empty); bools show as yes/no.
    """
    if not rows:
        return "(no rows)"
    cols = list(columns or rows[0].keys())

    def cell(v: Any) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def write_claims(out: str | os.PathLike[str], claims: Sequence[Claim], checked: bool = True) -> Path:
    """Write ``claims.json`` into ``out`` (created) and return its path.

    ``checked=False`` (``--smoke``) marks every claim ``"checked": false``: the settings were too
    small for ``holds`` to mean anything, and ``nox -s reproduce`` shows it as n/a.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "claims.json"
    path.write_text(json.dumps([{**asdict(c), "checked": checked} for c in claims], indent=2) + "\n")
    return path


def read_claims(path: str | os.PathLike[str]) -> list[Claim]:
    """Read a ``claims.json`` written by :func:`write_claims`, validating its fields.

    Args:
        path: the ``claims.json`` file.

    Returns:
        The claims, in file order.

    Raises:
        ValueError: the file is not a JSON list, or a claim lacks one of ``claim``, ``paper``,
            ``ours``, ``holds``.
    """
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of claims")
    claims = []
    for i, item in enumerate(data):
        missing = {"claim", "paper", "ours", "holds"} - set(item)
        if missing:
            raise ValueError(f"{path}: claim {i} lacks {sorted(missing)}")
        claims.append(Claim(str(item["claim"]), str(item["paper"]), str(item["ours"]), bool(item["holds"])))
    return claims


def finish(out: str | os.PathLike[str], claims: Sequence[Claim], mode: Mode) -> int:
    """Print the claims table, write ``claims.json`` and return the exit status for ``main``.

    In ``smoke`` mode the claims are shown with ``holds = n/a`` under a line saying they are not
    checked, and the status is 0.

    Args:
        out: the folder for ``claims.json`` (created).
        claims: the claims of the run.
        mode: ``"smoke"``, ``"quick"`` or ``"full"``.

    Returns:
        0 when every claim holds or in ``smoke`` mode, else 1.
    """
    smoke = mode == "smoke"
    if smoke:
        print(
            "smoke run: settings are far too small for the claims to mean anything; they are NOT checked.\n"
        )
    rows = [{**asdict(c), "holds": "n/a" if smoke else c.holds} for c in claims]
    print(format_table(rows, ["claim", "paper", "ours", "holds"]))
    path = write_claims(out, claims, checked=not smoke)
    print(f"\nclaims written to {path}")
    failed = [c.claim for c in claims if not c.holds]
    if failed and not smoke:
        print("claims that do not hold:\n  - " + "\n  - ".join(failed))
        return 1
    return 0


def require_matplotlib(package: str) -> Any:
    """Import ``matplotlib.pyplot`` with the non-interactive Agg backend, or explain which extra to install.

    Args:
        package: the package's short name, named in the ``pip install 'ballroom-<package>[plot]'`` hint.

    Returns:
        The ``matplotlib.pyplot`` module.

    Raises:
        ImportError: matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError(f"plotting needs matplotlib: pip install 'ballroom-{package}[plot]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
