"""ballroom-core's sanity reproduction: the shared data, zoo, Lightning module and metrics, end to end.

There is no paper behind ballroom-core; this run checks that the pieces every method package
builds on do what they say, on scikit-learn's digits (no download):

1. an MLP (``core-mlp``) trained through :class:`~ballroom.core.lit.ClassifierModule` on
   :class:`~ballroom.core.data.DigitsDataModule` matches a logistic regression fitted on the same
   split (measured side by side) and exceeds 93 % test accuracy;
2. :func:`~ballroom.core.data.rotate_images` really rotates: the upright-trained MLP loses more than
   30 points on the test digits turned by 90 degrees;
3. the metrics see learning: linear CKA between the hidden layers of two differently seeded trained
   MLPs is higher than between a trained and an untrained one.

``python -m ballroom.core.reproduce [--smoke|--quick|--full] [--out results/core]`` prints the
tables, writes ``claims.json``, one CSV per experiment and ``core.png`` (through
:class:`ballroom.core.runner.Reproduction`, the runner every package's ``reproduce.py`` uses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from ballroom.core.data import DigitsDataModule, rotate_images
from ballroom.core.lit import ClassifierModule
from ballroom.core.metrics import linear_cka
from ballroom.core.report import Claim
from ballroom.core.runner import Context, Outcome, Reproduction


@dataclass(frozen=True)
class Settings:
    """Sizes of one mode."""

    epochs: int


SETTINGS = {"smoke": Settings(1), "quick": Settings(30), "full": Settings(100)}


class _History(pl.Callback):
    def __init__(self) -> None:
        self.val_acc: list[float] = []

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and "val/acc" in trainer.callback_metrics:
            self.val_acc.append(float(trainer.callback_metrics["val/acc"]))


def _data(seed: int) -> tuple[DigitsDataModule, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    dm = DigitsDataModule(seed=seed)
    dm.setup()
    assert dm.datasets is not None
    x_tr, y_tr = dm.datasets["train"].tensors
    x_te, y_te = dm.datasets["test"].tensors
    return dm, x_tr, y_tr, x_te, y_te


def _train(ctx: Context, dm: DigitsDataModule, seed: int) -> tuple[ClassifierModule, list[float]]:
    pl.seed_everything(seed, workers=True, verbose=False)
    model = ClassifierModule(model="core-mlp", lr=3e-3)
    history = _History()
    trainer = ctx.trainer(accelerator="cpu", max_epochs=ctx.settings.epochs, callbacks=[history],
                          num_sanity_val_steps=2)  # fmt: skip
    trainer.fit(model, datamodule=dm)
    return model.eval(), history.val_acc


@torch.no_grad()
def _accuracy(model: ClassifierModule, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(-1) == y).float().mean())


def training(ctx: Context) -> Outcome:
    """Claims 1-3: the MLP against logistic regression, rotation costs accuracy, CKA sees learning."""
    from sklearn.linear_model import LogisticRegression

    dm, x_tr, y_tr, x_te, y_te = _data(ctx.seed)
    logreg = LogisticRegression(max_iter=2000).fit(x_tr.flatten(1).numpy(), y_tr.numpy())
    acc_logreg = float(logreg.score(x_te.flatten(1).numpy(), y_te.numpy()))
    model_a, history = _train(ctx, dm, ctx.seed)
    model_b, _ = _train(ctx, dm, ctx.seed + 1)
    pl.seed_everything(ctx.seed + 2, verbose=False)
    untrained = ClassifierModule(model="core-mlp").eval()

    acc = _accuracy(model_a, x_te, y_te)
    degrees = np.arange(0, 361, 15)
    angle_acc = [_accuracy(model_a, rotate_images(x_te, math.radians(d)), y_te) for d in degrees]
    acc90 = angle_acc[degrees.tolist().index(90)]
    with torch.no_grad():
        h_a = model_a.net.representations(x_te)[-1]
        h_b = model_b.net.representations(x_te)[-1]
        h_u = untrained.net.representations(x_te)[-1]
    cka_seeds = float(linear_cka(h_a, h_b))
    cka_untrained = float(linear_cka(h_a, h_u))
    claims = [
        Claim(
            "digits MLP test accuracy >= 0.93 and >= logistic regression - 0.02",
            f"logistic regression, same split: {acc_logreg:.3f}",
            f"{acc:.3f}",
            acc >= 0.93 and acc >= acc_logreg - 0.02,
        ),
        Claim("rotating the test digits by 90 deg costs > 30 points", "n/a (sanity)",
              f"{acc:.3f} -> {acc90:.3f}", acc - acc90 > 0.30),
        Claim("linear CKA(trained seed a, seed b) > CKA(trained, untrained)", "n/a (sanity)",
              f"{cka_seeds:.3f} vs {cka_untrained:.3f}", cka_seeds > cka_untrained),
    ]  # fmt: skip
    rows = [{"degrees": int(d), "test_accuracy": a} for d, a in zip(degrees, angle_acc, strict=True)]
    return Outcome(rows=rows, claims=claims, data={"history": history, "logreg": acc_logreg})


def plot(outcomes: Mapping[str, Outcome], plt: Any) -> Any:
    """Validation accuracy per epoch (vs logistic regression) and test accuracy against rotation."""
    result = outcomes["training"]
    history, acc_logreg = result.data["history"], result.data["logreg"]
    degrees = [r["degrees"] for r in result.rows]
    angle_acc = [r["test_accuracy"] for r in result.rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(range(1, len(history) + 1), history, marker=".")
    ax1.axhline(acc_logreg, color="gray", ls="--", label="logistic regression (test)")
    ax1.set(xlabel="epoch", ylabel="validation accuracy", title="core-mlp on digits")
    ax1.legend(loc="lower right")
    ax2.plot(degrees, angle_acc, marker=".")
    ax2.axhline(0.1, color="gray", ls=":", label="chance")
    ax2.set(xlabel="test rotation (degrees)", ylabel="test accuracy", title="upright-trained MLP",
            xticks=range(0, 361, 90))  # fmt: skip
    ax2.legend(loc="upper center")
    fig.tight_layout()
    return fig


REPRODUCTION = Reproduction("core", __doc__ or "", [training], SETTINGS, plot=plot)
main = REPRODUCTION.main

if __name__ == "__main__":
    raise SystemExit(main())
