"""Reproduce the headline claim of Mgk offline: <the claim, in one line>.

``python -m ballroom.mgk.reproduce [--smoke|--quick|--full] [--out results/mgk]`` runs the
experiments below through :class:`ballroom.core.runner.Reproduction`: it prints each table and the
claims, writes one CSV per experiment, ``claims.json`` and ``mgk.png``.

1. ``digits``: the tiny standardised MLP on 8x8 digits reaches >= 90 % test accuracy (untrained: chance).

``--smoke`` takes seconds (the tests); ``--quick`` (default) minutes on 2 CPU cores, where the claims
must hold; ``--full`` paper-scale settings, for a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl

from ballroom.core.report import Claim
from ballroom.core.runner import Context, Outcome, Reproduction
from ballroom.mgk.data import MgkDataModule
from ballroom.mgk.lit import MgkClassifier


@dataclass(frozen=True)
class Settings:
    """Sizes of one mode."""

    epochs: int


SETTINGS = {"smoke": Settings(1), "quick": Settings(10), "full": Settings(30)}


def digits(ctx: Context) -> Outcome:
    """Train ``mgk-tiny`` on digits; test accuracy before and after."""
    dm = MgkDataModule(seed=ctx.seed)
    pl.seed_everything(ctx.seed, workers=True, verbose=False)
    model = MgkClassifier(model="mgk-tiny", lr=3e-3)
    trainer = ctx.trainer(max_epochs=ctx.settings.epochs)
    before = trainer.test(model, datamodule=dm, verbose=False)[0]["test/acc"]
    trainer.fit(model, datamodule=dm)
    after = trainer.test(model, datamodule=dm, verbose=False)[0]["test/acc"]
    rows = [{"model": "mgk-tiny", "stage": "untrained", "test_acc": before},
            {"model": "mgk-tiny", "stage": "trained", "test_acc": after}]  # fmt: skip
    claim = Claim(
        "tiny model test accuracy on digits >= 0.90", "n/a (template)", f"{after:.3f}", after >= 0.90
    )
    return Outcome(rows=rows, claims=[claim])


def plot(outcomes: dict[str, Outcome], plt: Any) -> Any:
    """Test accuracy before and after training."""
    rows = outcomes["digits"].rows
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar([r["stage"] for r in rows], [r["test_acc"] for r in rows])
    ax.axhline(0.1, color="gray", ls=":", label="chance")
    ax.set(ylabel="test accuracy", ylim=(0, 1), title="mgk-tiny on digits")
    ax.legend()
    fig.tight_layout()
    return fig


REPRODUCTION = Reproduction("mgk", __doc__ or "", [digits], SETTINGS, plot=plot)
main = REPRODUCTION.main

if __name__ == "__main__":
    raise SystemExit(main())
