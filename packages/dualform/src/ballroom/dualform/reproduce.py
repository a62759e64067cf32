"""Reproduce the dual-form analysis offline on scikit-learn's digits (the spec's plan).

``python -m ballroom.dualform.reproduce [--smoke|--quick|--full] [--only exactness,single,multi,continual]``

- ``exactness``: the dual output equals the trained layers' output in float64 (<= 1e-10 relative)
  for plain SGD and for momentum with global-norm clipping;
- ``single`` (SGD lr 0.05, and momentum 0.9 lr 0.01 with clipping; 1500 steps of batch 32 = 48 000
  slots per layer): float32 gap <= 1e-4, and the class receiving most attention agrees with the
  prediction in every layer (>= 0.6);
- ``multi`` (digits + a pixel-permuted copy, 2000 steps): layer-0 queries attend mostly to their
  own dataset (>= 0.6);
- ``continual`` (1000 steps digits, then 1000 permuted): first-task accuracy drops by >= 0.2 while
  the upper layers' votes still follow the prediction (>= 0.6).

Writes ``claims.json``, one CSV per experiment (``exactness.csv``, ``single.csv``, ``multi.csv``,
``continual.csv``) and ``dualform.png`` into ``--out`` (through :class:`ballroom.core.runner.Reproduction`).
``--full`` runs five seeds per setting and reports mean and standard deviation.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from ballroom.core.report import Claim
from ballroom.core.runner import Context, Outcome, Reproduction
from ballroom.dualform.data import TaskDigitsDataModule
from ballroom.dualform.functional import same_dataset_share, spotlight_concentration, vote_agreement
from ballroom.dualform.metrics import capture_layer_io, dual_primal_gap
from ballroom.dualform.nn import DualFormMLP
from ballroom.dualform.recorder import DualFormRecorder


@dataclass(frozen=True)
class Sizes:
    """The sizes of one mode."""

    steps: int  #: training steps of the single-task runs (multi and continual: 4/3 of it)
    seeds: int  #: seeds per setting (mean and standard deviation over them)
    exact_steps: int  #: steps of the float64 exactness runs


SETTINGS = {"smoke": Sizes(60, 1, 30), "quick": Sizes(1500, 1, 100), "full": Sizes(1500, 5, 100)}

# the spec's measured table (independent float64 implementation, seed 0)
SPEC: dict[str, dict[str, Any]] = {
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


def _batches(dm: TaskDigitsDataModule, steps: int) -> Any:
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
) -> tuple[DualFormMLP, DualFormRecorder, TaskDigitsDataModule, dict[str, Any]]:
    """Train the digits MLP with SGD under a recorder (plain loop); returns model, recorder, data, log."""
    dm = TaskDigitsDataModule(mode=setting.mode, batch_size=32, steps_per_task=setting.steps // 2, seed=seed)  # type: ignore[arg-type]
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


def _exactness_row(setting: Setting, seed: int) -> dict[str, Any]:
    """Dual/primal gaps of one float64 run (stored in float64): outputs and weights."""
    model, rec, dm, _ = train_recorded(setting, seed, dtype=torch.float64)
    assert dm.datasets is not None
    x = dm.datasets["test"].tensors[0].double()
    gaps = dual_primal_gap(model, rec, x)
    modules = dict(model.named_modules())
    wgap = max(
        float((rec.dual(n).weight() - modules[n].weight.detach()).abs().max()) for n in rec.layer_names
    )
    return {
        "optimizer": setting.name,
        "steps": setting.steps,
        "max_gap": max(gaps.values()),
        "weight_gap": wgap,
    }


def exactness(ctx: Context) -> Outcome:
    """float64 dual == primal for plain SGD and for momentum + clipping."""
    steps = ctx.settings.exact_steps
    runs = (Setting("sgd", "single", steps, 0.05), Setting("momentum+clip", "single", steps, 0.01, 0.9, 0.5))
    rows = [_exactness_row(setting, ctx.seed) for setting in runs]
    claims = [
        Claim(
            f"float64 dual == primal, {r['optimizer']} ({r['steps']} steps): max rel gap <= 1e-10",
            "2e-14 (spec)",
            f"{r['max_gap']:.1e}",
            r["max_gap"] <= 1e-10,
        )
        for r in rows
    ]
    return Outcome(rows=rows, claims=claims)


def _fmt(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _mean(results: list[RunResult], attr: str) -> list[float]:
    cols = list(zip(*[getattr(r, attr) for r in results]))
    return [statistics.fmean(c) for c in cols]


def _first_task(results: list[RunResult], i: int) -> float:
    """Mean first-task accuracy before (``i=0``) or after (``i=1``) the task switch."""
    return statistics.fmean(r.first_task[i] for r in results if r.first_task)


def _row(name: str, results: list[RunResult]) -> dict[str, Any]:
    """One line of the settings table: ours (mean over seeds) beside the spec's numbers."""
    spec = SPEC[name]
    accs = [r.acc for r in results]
    row = {
        "setting": name,
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
        row["first_task_before_after"] = f"{_first_task(results, 0):.2f}/{_first_task(results, 1):.2f}"
    return row


def _claims(name: str, results: list[RunResult]) -> list[Claim]:
    """The float32 gap and vote claims of a setting, plus multi's dataset share and continual's forgetting."""
    gap = max(max(r.gaps) for r in results)
    vp = _mean(results, "vote_pred")
    upper = name == "continual"  # after the switch only the upper layers' votes follow the prediction
    claims = [
        Claim(f"{name}: float32 max rel gap <= 1e-4", "2e-14 (float64)", f"{gap:.1e}", gap <= 1e-4),
        Claim(
            f"{name}: vote = prediction >= 0.6 in {'upper layers' if upper else 'every layer'} (chance 0.1)",
            _fmt(SPEC[name]["vote_pred"]),
            _fmt(vp),
            min(vp[1:] if upper else vp) >= 0.6,
        ),
    ]
    if name == "multi":
        share = _mean(results, "share")[0]
        claims.append(
            Claim(
                "multi: own-dataset share in layer 0 >= 0.6 (chance 0.5)",
                "0.73",
                f"{share:.2f}",
                share >= 0.6,
            )
        )
    if name == "continual":
        before, after = _first_task(results, 0), _first_task(results, 1)
        claims.append(
            Claim(
                "continual: first-task accuracy drops by >= 0.2 after the switch",
                "0.97 -> 0.50",
                f"{before:.2f} -> {after:.2f}",
                before - after >= 0.2,
            )
        )
    return claims


def _settings_outcome(ctx: Context, names: Sequence[str]) -> Outcome:
    """Train and analyse each named setting for every seed of the mode."""
    runs = _settings(ctx.settings.steps)
    seeds = [ctx.seed + i for i in range(ctx.settings.seeds)]
    by_name = {n: [analyse(runs[n], s, progress=ctx.mode != "smoke") for s in seeds] for n in names}
    return Outcome(
        rows=[_row(n, results) for n, results in by_name.items()],
        claims=[c for n, results in by_name.items() for c in _claims(n, results)],
        data={"results": by_name},
    )


def single(ctx: Context) -> Outcome:
    """One task: plain SGD, and momentum with clipping."""
    return _settings_outcome(ctx, ("single-sgd", "single-momentum"))


def multi(ctx: Context) -> Outcome:
    """Two tasks shuffled together."""
    return _settings_outcome(ctx, ("multi",))


def continual(ctx: Context) -> Outcome:
    """Two tasks in sequence."""
    return _settings_outcome(ctx, ("continual",))


def _plot_exactness(outcomes: Mapping[str, Outcome], plt: Any) -> Any:
    """The figure when no setting was trained (``--only exactness``): the float64 gaps."""
    rows = outcomes["exactness"].rows if "exactness" in outcomes else []
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.bar([r["optimizer"] for r in rows], [r["max_gap"] for r in rows])
    ax.set(title="float64 dual/primal max rel gap", yscale="log")
    fig.tight_layout()
    return fig


def plot(outcomes: Mapping[str, Outcome], plt: Any) -> Any:
    """Sorted top-500 scores, votes per layer, forgotten-query mass by step, a query and its top examples."""
    by_name: dict[str, list[RunResult]] = {}
    for outcome in outcomes.values():
        by_name.update(outcome.data.get("results", {}))
    if not by_name:
        return _plot_exactness(outcomes, plt)
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    first = next(iter(by_name.values()))[0]
    ax = axes[0]
    for q, row in enumerate(first.extra["sorted_scores"]):
        ax.plot(row.numpy(), lw=1, label=f"test query {q}")
    ax.set(title=f"{first.name}: top-500 |k.q|, layer 0", xlabel="rank of the training pattern",
           ylabel="attention score |k.q|", yscale="log")  # fmt: skip
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[1]
    names = list(by_name)
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        vp = _mean(by_name[n], "vote_pred")
        ax.bar([j + i * width for j in range(len(vp))], vp, width, label=n)
    ax.axhline(0.1, color="k", ls=":", lw=1, label="chance (0.1)")
    ax.set(title="vote = prediction", xticks=[j + 0.4 - width / 2 for j in range(3)], ylim=(0, 1),
           ylabel="share of test queries")  # fmt: skip
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
    return fig


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", dest="mode", action="store_const", const="smoke", help="alias of --smoke")


REPRODUCTION = Reproduction(
    "dualform",
    __doc__ or "",
    [exactness, single, multi, continual],
    SETTINGS,
    plot=plot,
    add_arguments=_add_arguments,
)
main = REPRODUCTION.main

if __name__ == "__main__":
    raise SystemExit(main())
