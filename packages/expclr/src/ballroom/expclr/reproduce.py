"""Reproduce ExpCLR's claim offline: expert features beat augmentations for contrastive pretraining.

``python -m ballroom.expclr.reproduce [--smoke|--quick|--full] [--out DIR] [--only sinebands,real]``

``sinebands`` (generated, the spec's protocol): 70/30 stratified split, pretraining without labels
on the training part, probes with 10 % of the training labels; a small ResNet (``expclr-small``:
3 blocks, width 32, 32-d representation), 30 epochs, batch 64, Adam 1e-3, seeds 0-2 (``--full``:
0-4). ExpCLR must beat SimCLR-TS and a random encoder by at least 10 points in linear-probe and
1-NN accuracy; expert-feature decoding and logistic regression on the features are reported.

``real`` (reported only): the same protocol (20 % labels) on sets that sktime ships. ``--quick``
runs JapaneseVowels and ItalyPowerDemand without SimCLR-TS; ``--full`` adds SimCLR-TS, PLAID and
five seeds (the budget of ``--quick`` is 6 minutes on 2 CPU cores).

Writes ``claims.json``, ``sinebands.csv`` and ``real.csv`` (every run: dataset, method, seed,
linear, knn, seconds), ``timings.csv`` and ``expclr.png`` into ``--out``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytorch_lightning as pl
from torch import nn

from ballroom.core.report import Claim, format_table
from ballroom.core.runner import Context, Outcome, Reproduction
from ballroom.expclr.data import ExpertDataModule
from ballroom.expclr.lit import ExpCLRModule, ExpertDecodingModule, SimCLRTSModule
from ballroom.expclr.probes import LinearProbe, embed, knn_probe
from ballroom.expclr.zoo import create

METHODS = ("expclr", "simclr_ts", "decoding", "random", "lr_on_features")
#: the spec's SineBands measurement (4 seeds), linear / 1-NN
SPEC_SINEBANDS = {
    "expclr": (0.73, 0.70),
    "decoding": (0.77, 0.71),
    "simclr_ts": (0.56, 0.53),
    "random": (0.56, 0.49),
    "lr_on_features": (0.97, 0.87),
}
#: sktime-bundled sets and the length they are resampled to (None: as they are)
REAL = {"JapaneseVowels": 29, "ItalyPowerDemand": None, "PLAID": 256}
ENCODER = "expclr-small"


@dataclass(frozen=True)
class Settings:
    """Sizes of one mode: SineBands seeds, epochs and series; which real sets, seeds and methods."""

    seeds: int
    epochs: int
    n: int
    real: tuple[str, ...] = ()
    real_seeds: int = 0
    real_methods: tuple[str, ...] = METHODS


SETTINGS = {
    "smoke": Settings(seeds=1, epochs=1, n=120),
    "quick": Settings(
        seeds=3,
        epochs=30,
        n=1200,
        real=("JapaneseVowels", "ItalyPowerDemand"),
        real_seeds=1,
        real_methods=tuple(m for m in METHODS if m != "simclr_ts"),
    ),
    "full": Settings(seeds=5, epochs=30, n=1200, real=tuple(REAL), real_seeds=5),
}


def _encoder(ctx: Context, method: str, dm: ExpertDataModule, seed: int) -> nn.Module:
    """The encoder of ``method``, pretrained on ``dm`` (seeded); ``random`` is left untrained."""
    pl.seed_everything(seed, verbose=False)
    kwargs = {"in_channels": dm.num_channels}
    if method == "random":
        return create(ENCODER, **kwargs)
    module: ExpCLRModule | SimCLRTSModule | ExpertDecodingModule
    if method == "expclr":
        module = ExpCLRModule(ENCODER, kwargs)
    elif method == "simclr_ts":
        module = SimCLRTSModule(ENCODER, kwargs)
    elif method == "decoding":
        module = ExpertDecodingModule(dm.feature_dim, ENCODER, kwargs)
    else:
        raise ValueError(f"unknown method {method!r}; known: {METHODS}")
    ctx.trainer(max_epochs=ctx.settings.epochs, limit_val_batches=0).fit(module, datamodule=dm)
    return module.net


def run_method(ctx: Context, method: str, dm: ExpertDataModule, seed: int) -> dict[str, float]:
    """Pretrain ``method`` on ``dm`` (seeded), then probe: ``{"linear": acc, "knn": acc, "seconds": s}``."""
    start = time.perf_counter()
    xtr, ftr, ytr, mtr = dm.tensors("train")
    xte, fte, yte, mte = dm.tensors("test")
    if method == "lr_on_features":
        ztr, zte = ftr.double().numpy(), fte.double().numpy()
    else:
        encoder = _encoder(ctx, method, dm, seed)
        ztr, zte = embed(encoder, xtr, mtr), embed(encoder, xte, mte)
    y_train, y_test = ytr.numpy(), yte.numpy()
    return {
        "linear": LinearProbe().fit(ztr, y_train).score(zte, y_test),
        "knn": knn_probe(ztr, y_train, zte, y_test),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _runs(ctx: Context, dataset: str, seeds: int, methods: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for s in range(seeds):
        seed = ctx.seed + s
        if dataset == "SineBands":
            dm = ExpertDataModule(
                "sinebands", label_fraction=0.1, n=ctx.settings.n, batch_size=64, seed=seed, split_seed=seed
            )
        else:
            dm = ExpertDataModule(
                dataset, label_fraction=0.2, resample=REAL[dataset], batch_size=64, seed=seed, split_seed=seed
            )
        dm.setup()
        for method in methods:
            rows.append(
                {"dataset": dataset, "method": method, "seed": seed, **run_method(ctx, method, dm, seed)}
            )
            r = rows[-1]
            print(
                f"{dataset} seed {seed} {method}: linear {r['linear']:.3f} 1-NN {r['knn']:.3f} ({r['seconds']} s)",
                flush=True,
            )
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds of each (dataset, method) of ``rows``."""
    table = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["dataset"] == ds):
            runs = [r for r in rows if r["dataset"] == ds and r["method"] == method]
            entry: dict[str, Any] = {"dataset": ds, "method": method, "seeds": len(runs)}
            for key in ("linear", "knn"):
                vals = [r[key] for r in runs]
                entry[key] = statistics.fmean(vals)
                entry[f"{key}_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
            spec = SPEC_SINEBANDS.get(method) if ds == "SineBands" else None
            entry["spec_linear/knn"] = f"{spec[0]:.2f}/{spec[1]:.2f}" if spec else ""
            table.append(entry)
    print(format_table(table), flush=True)
    return table


def sinebands(ctx: Context) -> Outcome:
    """The asserted claims: on SineBands, ExpCLR beats SimCLR-TS and a random encoder by >= 10 points."""
    rows = _runs(ctx, "SineBands", ctx.settings.seeds, METHODS)
    table = summarize(rows)
    mean = {(r["method"], probe): r[probe] for r in table for probe in ("linear", "knn")}
    claims = []
    for i, (probe, label) in enumerate((("linear", "linear probe"), ("knn", "1-NN"))):
        e = mean[("expclr", probe)]
        for base in ("simclr_ts", "random"):
            b = mean[(base, probe)]
            claims.append(
                Claim(
                    f"SineBands {label}: ExpCLR - {base} >= 0.10",
                    f"{SPEC_SINEBANDS['expclr'][i]:.2f} vs {SPEC_SINEBANDS[base][i]:.2f}",
                    f"{e:.3f} vs {b:.3f} ({e - b:+.3f})",
                    e - b >= 0.10,
                )
            )
    return Outcome(rows=rows, claims=claims, data={"summary": table})


def real(ctx: Context) -> Outcome:
    """Reported only: the same protocol on the sktime-bundled sets of this mode."""
    rows = [
        r
        for ds in ctx.settings.real
        for r in _runs(ctx, ds, ctx.settings.real_seeds, ctx.settings.real_methods)
    ]
    return Outcome(rows=rows, data={"summary": summarize(rows) if rows else []})


def plot(outcomes: Mapping[str, Outcome], plt: Any) -> Any:
    """Linear-probe and 1-NN test accuracy (mean and std over seeds), one panel per dataset."""
    table = [r for o in outcomes.values() for r in o.data.get("summary", [])]
    datasets = list(dict.fromkeys(r["dataset"] for r in table))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        rows = [r for r in table if r["dataset"] == ds]
        pos = np.arange(len(rows))
        ax.bar(
            pos - 0.2,
            [r["linear"] for r in rows],
            0.4,
            yerr=[r["linear_std"] for r in rows],
            label="linear probe",
        )
        ax.bar(pos + 0.2, [r["knn"] for r in rows], 0.4, yerr=[r["knn_std"] for r in rows], label="1-NN")
        ax.set_xticks(pos)
        ax.set_xticklabels([r["method"] for r in rows], rotation=30, ha="right", fontsize=8)
        ax.set(title=ds, ylim=(0, 1), ylabel="test accuracy")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


REPRODUCTION = Reproduction("expclr", __doc__ or "", [sinebands, real], SETTINGS, plot=plot)
main = REPRODUCTION.main

if __name__ == "__main__":
    raise SystemExit(main())
