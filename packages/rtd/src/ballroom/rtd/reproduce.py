"""Reproduce RTD's headline claims offline: clusters, rings and digits training dynamics.

``python -m ballroom.rtd.reproduce [synthetic|digits|all] [--smoke|--quick|--full] [--out DIR]``

- synthetic (the paper's exact recipes): RTD between a base cloud and its k-cluster variants grows
  strictly with k (Kendall tau 1.00 in the paper) while linear CKA and SVCCA do not (paper 0.24 /
  0.14); on concentric rings RTD follows the true ordering (paper tau 0.8; CKA and SVCCA -0.2).
- digits: an MLP probe trained on scikit-learn's digits; RTD between the penultimate representation
  of 300 held-out images at epoch t and at the final epoch falls as t grows (Spearman <= -0.8), and
  two seeds' final models differ by RTD > 1 even where CKA calls them near-identical.

Writes ``claims.json``, ``synthetic.csv`` / ``digits.csv`` and ``rtd.png`` into ``--out``.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from scipy.stats import kendalltau, spearmanr

from ballroom.core.metrics import linear_cka, svcca
from ballroom.core.report import Claim, finish, reproduce_parser, require_matplotlib
from ballroom.rtd.baselines import imd, imd_available
from ballroom.rtd.data import DigitsProbeDataModule
from ballroom.rtd.functional import rtd_sym, rtd_sym_batch
from ballroom.rtd.lit import ProbeClassifier
from ballroom.rtd.synthetic import CLUSTER_COUNTS, clusters_experiment, rings_experiment

SNAPSHOT_EPOCHS = (1, 2, 3, 5, 8, 12, 18, 25, 30)
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"counts": (6, 10, 12), "ring_points": 8, "epochs": (1, 2), "probe": 40, "imd_seeds": 2},
    "quick": {
        "counts": CLUSTER_COUNTS,
        "ring_points": 100,
        "epochs": SNAPSHOT_EPOCHS,
        "probe": 300,
        "imd_seeds": 10,
    },
    "full": {
        "counts": CLUSTER_COUNTS,
        "ring_points": 100,
        "epochs": SNAPSHOT_EPOCHS,
        "probe": 397,
        "imd_seeds": 30,
    },
}


def _tau(values: Sequence[float], order: Sequence[float]) -> float:
    return float(kendalltau(order, values).statistic)


def _measures(base: np.ndarray, others: dict[int, np.ndarray]) -> dict[int, dict[str, float]]:
    """RTD (all comparisons' barcodes in parallel worker processes), linear CKA and SVCCA per cloud."""
    rtds = rtd_sym_batch([(base, other) for other in others.values()])
    return {
        k: {
            "rtd": value,
            "cka": float(linear_cka(base, other)),
            "svcca": float(svcca(base, other, center="features")),
        }
        for (k, other), value in zip(others.items(), rtds)
    }


def synthetic(mode: str) -> tuple[list[dict[str, Any]], list[Claim]]:
    """The clusters and rings experiments: rows for the CSV and the claims."""
    cfg = SETTINGS[mode]
    rows: list[dict[str, Any]] = []
    base, clouds = clusters_experiment(counts=cfg["counts"])
    for k, values in _measures(base, clouds).items():
        rows.append({"experiment": "clusters", "k": k, **values})
    ring_base, variants = rings_experiment(points=cfg["ring_points"])
    for k, values in _measures(ring_base, variants).items():
        rows.append({"experiment": "rings", "k": k, **values})
    claims = []
    for name, paper in (
        ("clusters", {"rtd": "1.00", "cka": "0.24", "svcca": "0.14"}),
        ("rings", {"rtd": "0.8", "cka": "-0.2", "svcca": "-0.2"}),
    ):
        sub = [r for r in rows if r["experiment"] == name]
        ks = [r["k"] for r in sub]
        # the paper's taus are of each raw measure: RTD a divergence, CKA and SVCCA similarities
        tau = {m: _tau([r[m] for r in sub], ks) for m in ("rtd", "cka", "svcca")}
        need = 1.0 if name == "clusters" else 0.8
        claims.append(
            Claim(
                f"{name}: Kendall tau(k, RTD) >= {need}",
                paper["rtd"],
                f"{tau['rtd']:.2f}",
                tau["rtd"] >= need - 1e-9,
            )
        )
        for m in ("cka", "svcca"):
            label = "linear CKA" if m == "cka" else "SVCCA"
            claims.append(
                Claim(
                    f"{name}: |Kendall tau(k, {label})| <= 0.3", paper[m], f"{tau[m]:.2f}", abs(tau[m]) <= 0.3
                )
            )
    if imd_available():  # optional (ballroom-rtd[imd]): a stochastic estimate, so taus over several seeds
        seeds = range(cfg["imd_seeds"])
        for name, paper_tau, b, others in (
            ("clusters", "0.43", base, clouds),
            ("rings", "0.8", ring_base, variants),
        ):
            per_seed = np.array([[imd(b, other, seed=s) for other in others.values()] for s in seeds])
            for r, mean in zip([r for r in rows if r["experiment"] == name], per_seed.mean(0)):
                r["imd"] = float(mean)
            taus = np.array([_tau(v, list(others)) for v in per_seed])
            claims.append(
                Claim(
                    f"{name} (report): Kendall tau(k, IMD), mean +- sd over {len(taus)} seeds",
                    paper_tau,
                    f"{taus.mean():.2f} +- {taus.std():.2f}",
                    True,
                )
            )
    return rows, claims


class _Snapshots(pl.Callback):
    """Penultimate representation and predictions of the probe images after selected epochs."""

    def __init__(self, probe: torch.Tensor, epochs: Sequence[int]) -> None:
        self.probe, self.epochs = probe, set(epochs)
        self.reps: dict[int, np.ndarray] = {}
        self.preds: dict[int, np.ndarray] = {}

    @torch.no_grad()
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch in self.epochs:
            pl_module.eval()
            rep = pl_module.representations(self.probe)[-1]  # type: ignore[operator]
            self.reps[epoch] = rep.double().numpy()
            self.preds[epoch] = pl_module.net.head(rep).argmax(-1).numpy()  # type: ignore[union-attr]
            pl_module.train()


def _train(seed: int, epochs: Sequence[int], probe: torch.Tensor) -> _Snapshots:
    pl.seed_everything(seed, workers=True)
    snap = _Snapshots(probe, epochs)
    trainer = pl.Trainer(
        max_epochs=max(epochs), accelerator="cpu", deterministic=True, logger=False, enable_checkpointing=False,
        enable_model_summary=False, enable_progress_bar=False, callbacks=[snap],
    )  # fmt: skip
    trainer.fit(ProbeClassifier(lr=1e-3), datamodule=DigitsProbeDataModule(seed=0, batch_size=64))
    return snap


def digits(mode: str, seed: int) -> tuple[list[dict[str, Any]], list[Claim]]:
    """Training dynamics of the digits probe: rows for the CSV and the claims."""
    cfg = SETTINGS[mode]
    dm = DigitsProbeDataModule(seed=0)
    dm.setup()
    assert dm.datasets is not None
    probe = dm.datasets["val"].tensors[0][: cfg["probe"]]
    run = _train(seed, cfg["epochs"], probe)
    other = _train(seed + 1, cfg["epochs"], probe)
    last = max(cfg["epochs"])
    final, final_pred = run.reps[last], run.preds[last]
    rows = []
    for epoch in cfg["epochs"]:
        rep = run.reps[epoch]
        rows.append({
            "epoch": epoch,
            "rtd_to_final": rtd_sym(rep, final),
            "one_minus_cka": 1.0 - float(linear_cka(rep, final)),
            "disagreement": float(np.mean(run.preds[epoch] != final_pred)),
        })  # fmt: skip
    earlier = rows[:-1]  # the final epoch compared with itself is 0 by definition
    rho_t = float(spearmanr([r["epoch"] for r in earlier], [r["rtd_to_final"] for r in earlier]).statistic)
    rho_dis_rtd = float(
        spearmanr([r["disagreement"] for r in earlier], [r["rtd_to_final"] for r in earlier]).statistic
    )
    rho_dis_cka = float(
        spearmanr([r["disagreement"] for r in earlier], [r["one_minus_cka"] for r in earlier]).statistic
    )
    rtd_seeds = rtd_sym(final, other.reps[last])
    cka_seeds = float(linear_cka(final, other.reps[last]))
    self_rtd = rtd_sym(final, final)
    rows.append(
        {
            "epoch": f"seed {seed + 1} final",
            "rtd_to_final": rtd_seeds,
            "one_minus_cka": 1 - cka_seeds,
            "disagreement": float(np.mean(other.preds[last] != final_pred)),
        }
    )
    claims = [
        Claim(
            "digits: Spearman(epoch, RTD to final) <= -0.8",
            "-0.98 (official code, calibration run)",
            f"{rho_t:.2f}",
            rho_t <= -0.8,
        ),
        Claim("digits: RTD(final model, itself) == 0", "0", f"{self_rtd:.3g}", self_rtd == 0.0),
        Claim(
            "digits: RTD(seed a, seed b) > 1 (CKA near 1)",
            "RTD 3.75, CKA 0.98",
            f"RTD {rtd_seeds:.2f}, CKA {cka_seeds:.2f}",
            rtd_seeds > 1.0,
        ),
        Claim(
            "digits (report): Spearman with disagreement, RTD vs 1 - CKA",
            "0.98 vs 1.0",
            f"{rho_dis_rtd:.2f} vs {rho_dis_cka:.2f}",
            True,
        ),
    ]
    return rows, claims


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def _plot(out: Path, syn: list[dict[str, Any]], dig: list[dict[str, Any]]) -> None:
    plt = require_matplotlib("rtd")
    panels = [p for p in (("clusters", syn), ("rings", syn), ("digits", dig)) if p[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (name, rows) in zip(axes[0], panels):
        if name == "digits":
            pts = [r for r in rows if isinstance(r["epoch"], int)]
            ep = [r["epoch"] for r in pts]
            ax.plot(ep, [r["rtd_to_final"] for r in pts], marker="o", label="RTD to final")
            ax2 = ax.twinx()
            ax2.plot(ep, [r["one_minus_cka"] for r in pts], marker="s", color="C1", label="1 - CKA")
            ax2.plot(ep, [r["disagreement"] for r in pts], marker="^", color="C2", label="disagreement")
            ax2.set_ylabel("1 - CKA, disagreement")
            ax.set(xlabel="epoch", ylabel="RTD", title="digits: distance to the final model")
            lines = ax.get_lines() + ax2.get_lines()
            ax.legend(lines, [ln.get_label() for ln in lines], loc="upper right")
            continue
        sub = [r for r in rows if r["experiment"] == name]
        ks = [r["k"] for r in sub]
        for m, label in (
            ("rtd", "RTD"),
            ("cka", "1 - linear CKA"),
            ("svcca", "1 - SVCCA"),
            ("imd", "IMD (seed mean)"),
        ):
            if m not in sub[0]:
                continue
            vals = np.array([r[m] if m == "rtd" else 1 - r[m] for r in sub])
            span = vals.max() - vals.min()
            ax.plot(ks, (vals - vals.min()) / (span if span > 0 else 1), marker="o", label=label)
        ax.set(
            xlabel="k (clusters)" if name == "clusters" else "k (coincident rings)",
            ylabel="min-max scaled",
            title=name,
        )
        ax.legend(loc="best", fontsize=8, framealpha=0.6)
    fig.tight_layout()
    fig.savefig(out / "rtd.png", dpi=120)
    plt.close(fig)


def main(args: Sequence[str] | None = None) -> int:
    """Run the reproduction; returns 0 when every claim holds (always 0 with ``--smoke``)."""
    parser = reproduce_parser("rtd", "Reproduce RTD's headline claims (clusters, rings, digits dynamics).")
    parser.add_argument("experiment", nargs="?", default="all", choices=("all", "synthetic", "digits"))
    opts = parser.parse_args(args)
    out: Path = opts.out
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    syn: list[dict[str, Any]] = []
    dig: list[dict[str, Any]] = []
    claims: list[Claim] = []
    if opts.experiment in ("all", "synthetic"):
        syn, c = synthetic(opts.mode)
        claims += c
        _write_csv(out / "synthetic.csv", syn)
        print(f"synthetic done ({time.perf_counter() - start:.0f} s)", flush=True)
    if opts.experiment in ("all", "digits"):
        dig, c = digits(opts.mode, opts.seed)
        claims += c
        _write_csv(out / "digits.csv", dig)
    _plot(out, syn, dig)
    print(
        f"\nballroom-rtd reproduction ({opts.mode}, {opts.experiment}, {time.perf_counter() - start:.0f} s)\n"
    )
    return finish(out, claims, opts.mode)


if __name__ == "__main__":
    raise SystemExit(main())
