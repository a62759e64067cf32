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
table, writes ``claims.json``, ``accuracy_vs_angle.csv`` and ``core.png``.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch

from ballroom.core.data import DigitsDataModule, rotate_images
from ballroom.core.lit import ClassifierModule
from ballroom.core.metrics import linear_cka
from ballroom.core.report import Claim, finish, reproduce_parser, require_matplotlib

EPOCHS = {"smoke": 1, "quick": 30, "full": 100}


class _History(pl.Callback):
    def __init__(self) -> None:
        self.val_acc: list[float] = []

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and "val/acc" in trainer.callback_metrics:
            self.val_acc.append(float(trainer.callback_metrics["val/acc"]))


def _train(dm: DigitsDataModule, seed: int, epochs: int) -> tuple[ClassifierModule, list[float]]:
    pl.seed_everything(seed, workers=True)
    model = ClassifierModule(model="core-mlp", lr=3e-3)
    history = _History()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        callbacks=[history],
    )
    trainer.fit(model, datamodule=dm)
    return model.eval(), history.val_acc


@torch.no_grad()
def _accuracy(model: ClassifierModule, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(-1) == y).float().mean())


def main(args: Sequence[str] | None = None) -> int:
    """Run the sanity reproduction; returns 0 when every claim holds (always 0 with ``--smoke``)."""
    opts = reproduce_parser("core", __doc__.splitlines()[0]).parse_args(args)
    start = time.perf_counter()
    epochs = EPOCHS[opts.mode]
    dm = DigitsDataModule(seed=opts.seed)
    dm.setup()
    assert dm.datasets is not None
    x_tr, y_tr = dm.datasets["train"].tensors
    x_te, y_te = dm.datasets["test"].tensors

    from sklearn.linear_model import LogisticRegression

    logreg = LogisticRegression(max_iter=2000).fit(x_tr.flatten(1).numpy(), y_tr.numpy())
    acc_logreg = float(logreg.score(x_te.flatten(1).numpy(), y_te.numpy()))

    model_a, history = _train(dm, opts.seed, epochs)
    model_b, _ = _train(dm, opts.seed + 1, epochs)
    pl.seed_everything(opts.seed + 2)
    untrained = ClassifierModule(model="core-mlp").eval()

    acc = _accuracy(model_a, x_te, y_te)
    degrees = np.arange(0, 361, 15)
    angle_acc = [_accuracy(model_a, rotate_images(x_te, math.radians(d)), y_te) for d in degrees]
    acc90 = angle_acc[list(degrees).index(90)]
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
        Claim(
            "rotating the test digits by 90 deg costs > 30 points",
            "n/a (sanity)",
            f"{acc:.3f} -> {acc90:.3f}",
            acc - acc90 > 0.30,
        ),
        Claim(
            "linear CKA(trained seed a, seed b) > CKA(trained, untrained)",
            "n/a (sanity)",
            f"{cka_seeds:.3f} vs {cka_untrained:.3f}",
            cka_seeds > cka_untrained,
        ),
    ]

    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "accuracy_vs_angle.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["degrees", "test_accuracy"])
        writer.writerows(zip(degrees.tolist(), angle_acc))
    plt = require_matplotlib("core")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(range(1, len(history) + 1), history, marker=".")
    ax1.axhline(acc_logreg, color="gray", ls="--", label="logistic regression (test)")
    ax1.set(xlabel="epoch", ylabel="validation accuracy", title="core-mlp on digits")
    ax1.legend(loc="lower right")
    ax2.plot(degrees, angle_acc, marker=".")
    ax2.axhline(0.1, color="gray", ls=":", label="chance")
    ax2.set(
        xlabel="test rotation (degrees)",
        ylabel="test accuracy",
        title="upright-trained MLP",
        xticks=range(0, 361, 90),
    )
    ax2.legend(loc="upper center")
    fig.tight_layout()
    fig.savefig(out / "core.png", dpi=120)
    plt.close(fig)
    print(
        f"ballroom-core sanity reproduction ({opts.mode}, {epochs} epochs, {time.perf_counter() - start:.1f} s)\n"
    )
    return finish(out, claims, opts.mode)


if __name__ == "__main__":
    raise SystemExit(main())
