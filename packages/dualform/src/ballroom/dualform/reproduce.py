"""Reproduce the dual-form analysis offline on scikit-learn's digits (the spec's plan).

``python -m ballroom.dualform.reproduce [--smoke|--quick|--full] [--setting single|multi|continual|all]``

- exactness: the dual output equals the trained layers' output, float64 (<= 1e-10) and float32
  (<= 1e-4 relative), for plain SGD and for momentum with global-norm clipping;
- single task (SGD lr 0.05, and momentum 0.9 lr 0.01; 1500 steps of batch 32 = 48 000 slots per
  layer): the class receiving most attention agrees with the prediction in every layer (>= 0.6);
- multi-task (digits + a pixel-permuted copy, 2000 steps): layer-0 queries attend mostly to their
  own dataset (>= 0.6);
- continual (1000 steps digits, then 1000 permuted): first-task accuracy drops by >= 0.2 while
  the upper layers' votes still follow the prediction (>= 0.6).

Writes ``claims.json``, ``dualform.csv`` and ``dualform.png`` into ``--out``. ``--full`` runs five
seeds per setting and reports mean and standard deviation.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from ballroom.core.report import Claim, finish, reproduce_parser, require_matplotlib
from ballroom.dualform.data import DigitsDataModule
from ballroom.dualform.metrics import (
    capture_layer_io,
    dual_primal_gap,
    same_dataset_share,
    spotlight_concentration,
    vote_agreement,
)
from ballroom.dualform.nn import DualFormMLP
from ballroom.dualform.recorder import DualFormRecorder

# the spec's measured table (independent float64 implementation, seed 0)
SPEC = {
    "single-sgd": {"acc": 0.976, "vote_pred": (0.87, 0.89, 0.79), "vote_target": (0.87, 0.88, 0.78)},
    "single-momentum": {"acc": 0.978, "vote_pred": (0.87, 0.91, 0.87), "vote_target": (0.87, 0.90, 0.86)},
    "multi": {
        "acc": 0.958,
        "vote_pred": (0.71, 0.82, 0.85),
        "vote_target": (0.70, 0.81, 0.84),
        "share": (0.73, 0.56, 0.51),
    },
    "continual": {
        "acc": 0.671,
        "vote_pred": (0.71, 0.83, 0.84),
        "vote_target": (0.71, 0.62, 0.58),
        "share": (0.73, 0.57, 0.51),
        "first_task": (0.97, 0.50),
    },
}


@dataclass
class Setting:
    """One training run of the plan."""

    name: str
    mode: str
    steps: int
    lr: float
    momentum: float = 0.0
    clip: float | None = None


@dataclass
class RunResult:
    name: str
    seed: int
    acc: float
    gaps: list[float]
    vote_pred: list[float]
    vote_target: list[float]
    share: list[float] = field(default_factory=list)
    top1: list[float] = field(default_factory=list)
    top1_cos: list[float] = field(default_factory=list)
    first_task: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _settings(steps: int) -> dict[str, Setting]:
    return {
        "single-sgd": Setting("single-sgd", "single", steps, 0.05),
        "single-momentum": Setting("single-momentum", "single", steps, 0.01, momentum=0.9, clip=1.0),
        "multi": Setting("multi", "multi", round(steps * 4 / 3), 0.05),
        "continual": Setting("continual", "continual", round(steps * 4 / 3), 0.05),
    }


def _batches(dm: DigitsDataModule, steps: int) -> Any:
    done = 0
    while True:
        for batch in dm.train_dataloader():
            if done == steps:
                return
            yield batch
            done += 1


def _task_accuracy(model: torch.nn.Module, x: Tensor, y: Tensor, d: Tensor) -> list[float]:
    with torch.no_grad():
        pred = model.eval()(x).argmax(1)
    model.train()
    return [float((pred[d == t] == y[d == t]).float().mean()) for t in range(int(d.max()) + 1)]


def train_recorded(
    setting: Setting,
    seed: int,
    dtype: torch.dtype = torch.float32,
    hidden: Sequence[int] = (128, 128),
    progress: bool = False,
) -> tuple[DualFormMLP, DualFormRecorder, DigitsDataModule, dict[str, Any]]:
    """Train the digits MLP with SGD under a recorder (plain loop); returns model, recorder, data, log."""
    dm = DigitsDataModule(mode=setting.mode, batch_size=32, steps_per_task=setting.steps // 2, seed=seed)  # type: ignore[arg-type]
    dm.setup()
    assert dm.datasets is not None
    torch.manual_seed(seed)
    model = DualFormMLP(64, hidden, 10).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=setting.lr, momentum=setting.momentum)
    rec = DualFormRecorder(model, opt, store_dtype=dtype)
    xt, yt, _, dt = dm.datasets["test"].tensors
    log: dict[str, Any] = {}
    it = _batches(dm, setting.steps)
    for step, (x, y, idx, d) in enumerate(
        tqdm(it, total=setting.steps, disable=not progress, desc=setting.name)
    ):
        if setting.mode == "continual" and step == setting.steps // 2:
            log["before_switch"] = _task_accuracy(model, xt.to(dtype), yt, dt)
        rec.set_batch_meta(index=idx, label=y, dataset=d)
        loss = F.cross_entropy(model(x.to(dtype)), y)
        opt.zero_grad()
        loss.backward()
        if setting.clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), setting.clip)
        opt.step()
    model.eval()
    log["after"] = _task_accuracy(model, xt.to(dtype), yt, dt)
    return model, rec, dm, log


def analyse(setting: Setting, seed: int, progress: bool = False) -> RunResult:
    """Train one setting (float32) and measure gaps, votes, dataset shares and spotlights."""
    model, rec, dm, log = train_recorded(setting, seed, progress=progress)
    assert dm.datasets is not None
    xt, yt, _, dt = dm.datasets["test"].tensors
    gaps = dual_primal_gap(model, rec, xt)
    with torch.no_grad():
        preds = model(xt).argmax(1)
    io = capture_layer_io(model, rec.layer_names, xt)
    res = RunResult(setting.name, seed, float((preds == yt).float().mean()), list(gaps.values()), [], [])
    for name in rec.layer_names:
        dual = rec.dual(name)
        q = io[name][0]
        va = vote_agreement(dual.vote(q, 10), preds, yt)
        res.vote_pred.append(va.vote_pred)
        res.vote_target.append(va.vote_target)
        scores = dual.scores(q)
        res.top1.append(float(spotlight_concentration(scores, 0.01).mean()))
        res.top1_cos.append(float(spotlight_concentration(dual.scores(q, normalize=True), 0.01).mean()))
        if setting.mode != "single":
            res.share.append(float(same_dataset_share(scores, dt, dual.dataset).mean()))
        if name == rec.layer_names[0]:
            res.extra["sorted_scores"] = scores[:8].sort(dim=1, descending=True).values[:, :500]
            res.extra["query"] = xt[0]
            best = dual.per_example_scores(q[:1], dm.num_train).squeeze(0).topk(3).indices
            res.extra["top_examples"] = dm.datasets["train"].tensors[0][best]
            res.extra["query_label"] = int(yt[0])
            res.extra["top_labels"] = dm.datasets["train"].tensors[1][best].tolist()
        if setting.mode == "continual" and name == rec.layer_names[-1]:
            # score mass per training step for first-task test queries the model now gets wrong
            wrong = (dt == 0) & (preds != yt)
            if bool(wrong.any()):
                mass = torch.zeros(rec.num_steps, dtype=torch.float64)
                mass.index_add_(0, dual.step, scores[wrong].double().sum(0))
                res.extra["forgotten_mass_by_step"] = mass / mass.sum()
    if "before_switch" in log:
        res.first_task = (log["before_switch"][0], log["after"][0])
    res.extra["memory_mb"] = rec.memory_bytes() / 2**20
    res.extra["slots"] = len(rec.dual(rec.layer_names[0]))
    return res


def exactness(steps: int, seed: int) -> list[dict[str, Any]]:
    """Dual/primal gaps in float64 (stored in float64) for plain SGD and momentum + clipping."""
    rows = []
    for setting in (
        Setting("sgd", "single", steps, 0.05),
        Setting("momentum+clip", "single", steps, 0.01, 0.9, 0.5),
    ):
        model, rec, dm, _ = train_recorded(setting, seed, dtype=torch.float64)
        assert dm.datasets is not None
        x = dm.datasets["test"].tensors[0].double()
        gaps = dual_primal_gap(model, rec, x)
        wgap = max(
            float((rec.dual(n).weight() - dict(model.named_modules())[n].weight.detach()).abs().max())
            for n in rec.layer_names
        )
        rows.append(
            {"optimizer": setting.name, "steps": steps, "max_gap": max(gaps.values()), "weight_gap": wgap}
        )
    return rows


def _fmt(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _mean(results: list[RunResult], attr: str) -> list[float]:
    cols = list(zip(*[getattr(r, attr) for r in results]))
    return [statistics.fmean(c) for c in cols]


def _plot(out: Path, by_name: dict[str, list[RunResult]]) -> Path:
    plt = require_matplotlib("dualform")
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    first = next(iter(by_name.values()))[0]
    ax = axes[0]
    for row in first.extra["sorted_scores"]:
        ax.plot(row.numpy(), lw=1)
    ax.set(title=f"{first.name}: top-500 |k.q|, layer 0", xlabel="rank", ylabel="score", yscale="log")
    ax = axes[1]
    names = list(by_name)
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        vp = _mean(by_name[n], "vote_pred")
        ax.bar([j + i * width for j in range(len(vp))], vp, width, label=n)
    ax.axhline(0.1, color="k", ls=":", lw=1)
    ax.set(title="vote = prediction", xticks=[j + 0.4 - width / 2 for j in range(3)], ylim=(0, 1))
    ax.set_xticklabels([f"layer {j}" for j in range(3)])
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[2]
    cont = by_name.get("continual")
    if cont and "forgotten_mass_by_step" in cont[0].extra:
        mass = cont[0].extra["forgotten_mass_by_step"].numpy()
        ax.plot(mass, lw=0.8)
        ax.axvline(len(mass) / 2, color="r", ls="--", lw=1, label="task switch")
        ax.set(title="continual: |score| of forgotten task-0 queries", xlabel="training step", ylabel="share")
        ax.legend(fontsize=7)
    else:
        ax.axis("off")
    ax = axes[3]
    imgs = [first.extra["query"], *first.extra["top_examples"]]
    canvas = torch.cat([i.reshape(8, 8) for i in imgs], dim=1)
    ax.imshow(canvas.numpy(), cmap="gray_r")
    ax.set(title=f"query ({first.extra['query_label']}) | top-3 examples {first.extra['top_labels']}")
    ax.axis("off")
    fig.tight_layout()
    path = out / "dualform.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(args: Sequence[str] | None = None) -> int:
    parser = reproduce_parser("dualform", __doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--fast", dest="mode", action="store_const", const="smoke", help="alias of --smoke")
    parser.add_argument(
        "--setting", choices=("single", "multi", "continual", "all"), default="all", help="which runs"
    )
    opts = parser.parse_args(args)
    mode, out = opts.mode, Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    steps = {"smoke": 60, "quick": 1500, "full": 1500}[mode]
    seeds = [opts.seed + i for i in range(5 if mode == "full" else 1)]
    t0 = time.perf_counter()
    settings = _settings(steps)
    wanted = [n for n in settings if opts.setting in ("all", settings[n].mode)]
    by_name: dict[str, list[RunResult]] = {}
    for n in wanted:
        by_name[n] = [analyse(settings[n], s, progress=mode != "smoke") for s in seeds]
    exact = exactness(30 if mode == "smoke" else 100, opts.seed)

    rows = []
    for n, results in by_name.items():
        spec = SPEC[n]
        accs = [r.acc for r in results]
        row = {
            "setting": n,
            "seeds": len(results),
            "test_acc": statistics.fmean(accs),
            "acc_std": statistics.pstdev(accs),
            "spec_acc": spec["acc"],
            "max_rel_gap_f32": max(max(r.gaps) for r in results),
            "vote_pred": _fmt(_mean(results, "vote_pred")),
            "spec_vote_pred": _fmt(spec["vote_pred"]),
            "vote_target": _fmt(_mean(results, "vote_target")),
            "spec_vote_target": _fmt(spec["vote_target"]),
            "own_share": _fmt(_mean(results, "share")) if results[0].share else "",
            "spec_own_share": _fmt(spec.get("share", ())),
            "top1pct_share": _fmt(_mean(results, "top1")),
            "top1pct_share_cos": _fmt(_mean(results, "top1_cos")),
            "memory_mb": results[0].extra["memory_mb"],
        }
        if results[0].first_task is not None:
            row["first_task_before_after"] = "/".join(
                f"{statistics.fmean(r.first_task[i] for r in results if r.first_task):.2f}" for i in (0, 1)
            )
        rows.append(row)
    from ballroom.core.report import format_table

    print(format_table(rows))
    print()
    print(format_table(exact))
    print()
    with (out / "dualform.csv").open("w", newline="") as fh:
        keys = sorted(
            {k for r in rows for k in r}, key=lambda k: list(rows[0]).index(k) if k in rows[0] else 99
        )
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    with (out / "exactness.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(exact[0]))
        writer.writeheader()
        writer.writerows(exact)
    plot = _plot(out, by_name)
    print(f"plot written to {plot}")

    claims = [
        Claim(
            f"float64 dual == primal, {r['optimizer']} ({r['steps']} steps): max rel gap <= 1e-10",
            "2e-14 (spec)",
            f"{r['max_gap']:.1e}",
            r["max_gap"] <= 1e-10,
        )
        for r in exact
    ]
    for n, results in by_name.items():
        gap = max(max(r.gaps) for r in results)
        claims.append(
            Claim(f"{n}: float32 max rel gap <= 1e-4", "2e-14 (float64)", f"{gap:.1e}", gap <= 1e-4)
        )
        vp = _mean(results, "vote_pred")
        layers = vp[1:] if n == "continual" else vp
        which = "upper layers" if n == "continual" else "every layer"
        claims.append(
            Claim(
                f"{n}: vote = prediction >= 0.6 in {which} (chance 0.1)",
                _fmt(SPEC[n]["vote_pred"]),
                _fmt(vp),
                min(layers) >= 0.6,
            )
        )
        if n == "multi":
            share = _mean(results, "share")
            claims.append(
                Claim(
                    "multi: own-dataset share in layer 0 >= 0.6 (chance 0.5)",
                    "0.73",
                    f"{share[0]:.2f}",
                    share[0] >= 0.6,
                )
            )
        if n == "continual":
            before = statistics.fmean(r.first_task[0] for r in results if r.first_task)
            after = statistics.fmean(r.first_task[1] for r in results if r.first_task)
            claims.append(
                Claim(
                    "continual: first-task accuracy drops by >= 0.2 after the switch",
                    "0.97 -> 0.50",
                    f"{before:.2f} -> {after:.2f}",
                    before - after >= 0.2,
                )
            )
    print(f"\ncompute time {time.perf_counter() - t0:.1f} s")
    return finish(out, claims, mode)


if __name__ == "__main__":
    raise SystemExit(main())
