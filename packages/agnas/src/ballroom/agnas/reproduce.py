"""Reproduce AGNAS offline on digits: attention importances pick good cells without bi-level search.

``python -m ballroom.agnas.reproduce [--smoke|--quick|--full] [--out results/agnas] [--space darts|nb201mini|macro]``
runs the spec's offline plan through :class:`ballroom.core.runner.Reproduction` on scikit-learn's digits
(16x16, 3 channels; train 900 / selection 450 / test 447):

1. ``darts``: AGNAS search on a DARTS-space supernet (train split), importances summed over the
   selection split after every epoch, per-cell genotypes, the stage-wise network retrained from
   scratch: >= 95 % test accuracy, ``none`` never selected.
2. ``nb201mini``: the NB201 cell on a 1-cell-per-stage skeleton (C = 8): AGNAS, DARTS first order
   (same budget) and random search; every picked architecture trained from scratch. Claims: AGNAS >=
   the median random architecture and >= DARTS-1st. The per-edge Kendall tau of the importance
   (AGNAS' attention, DARTS' alpha) against the selection-accuracy drop when the op is masked is
   reported (``nb201mini.csv``, ``nb201mini_tau.csv``); it is a claim (AGNAS > DARTS, mean over
   ``tau_seeds`` searches) only where more than one search is run (``--full``: 8), because the mean
   tau of one search is noise.
3. ``macro``: a tiny macro (MBConv chain) search; reports the chosen block per layer (no claim).

``--smoke`` takes seconds (the tests); ``--quick`` (default) a few minutes on 2 CPU cores, where the
claims must hold; ``--full`` the spec's sizes (5-cell C = 8 supernet, 10 search epochs, 30 random
architectures x 3 seeds x 15 epochs, DARTS-1st also in the DARTS space), for a GPU.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ballroom.agnas.baselines import DartsSupernet
from ballroom.agnas.data import AgnasDigitsDataModule, TensorBatches
from ballroom.agnas.evalnet import EvalNetwork
from ballroom.agnas.functional import derive_genotype, derive_macro, kendall_tau, stage_genotypes
from ballroom.agnas.macro import MacroSupernet
from ballroom.agnas.nb201 import NB201Cell, NB201Network, NB201SearchSpace, NB201Supernet
from ballroom.agnas.nn import AttentionSupernet
from ballroom.agnas.search import accuracy, collect_importance, masked_op_drops, train_network, train_supernet
from ballroom.core.report import Claim
from ballroom.core.runner import Context, Outcome, Reproduction, write_csv


@dataclass(frozen=True)
class Settings:
    """Sizes of one mode."""

    size: int  # image side
    max_train: int  # training images used (900 = all)
    max_eval: int  # selection / test images used (450 / 447 = all)
    darts_C: int
    darts_layers: int
    darts_reductions: tuple[int, ...]
    search_epochs: int
    eval_C: int
    eval_layers: int
    eval_reductions: tuple[int, ...]
    eval_epochs: int
    auxiliary: bool
    darts_baseline_in_darts_space: bool
    nb_C: int
    nb_N: int
    nb_epochs: int
    n_random: int
    gt_epochs: int
    gt_seeds: int  # seeds for the searched architectures
    gt_seeds_random: int
    macro_epochs: int
    #: NB201-mini searches (seeds ``seed .. seed + tau_seeds - 1``) whose per-edge Kendall tau is averaged;
    #: the tau claim is checked only with more than one (one search's tau is noise, see the README)
    tau_seeds: int


SETTINGS = {
    "smoke": Settings(8, 128, 60, 2, 3, (1,), 1, 4, 3, (1,), 1, False, False, 4, 1, 1, 2, 1, 1, 1, 1, 2),
    "quick": Settings(16, 900, 450, 4, 3, (1,), 3, 8, 3, (1,), 8, False, False, 8, 1, 6, 24, 15, 3, 1, 1, 1),
    "full": Settings(
        16, 900, 450, 8, 5, (1, 3), 10, 16, 8, (2, 5), 15, True, True, 8, 1, 10, 30, 15, 3, 3, 5, 8
    ),
}

LR, LR_MIN, BATCH = 0.05, 0.001, 64


def _data(ctx: Context) -> tuple[TensorBatches, TensorBatches, TensorBatches]:
    s = ctx.settings
    dm = AgnasDigitsDataModule(size=s.size, seed=ctx.seed)
    dm.setup()
    xt, yt = dm.tensors("train")
    train = TensorBatches(xt[: s.max_train], yt[: s.max_train], BATCH, shuffle=True, seed=ctx.seed)
    xv, yv = dm.tensors("val")
    xs, ys = dm.tensors("test")
    n = s.max_eval
    return train, TensorBatches(xv[:n], yv[:n], 150), TensorBatches(xs[:n], ys[:n], 150)


def _reshuffled(batches: TensorBatches, seed: int) -> TensorBatches:
    """The same images in batches of ``BATCH`` with a fresh order seeded by ``seed``."""
    return TensorBatches(batches.x, batches.y, BATCH, shuffle=True, seed=seed)


def _alpha_batches(val: TensorBatches, seed: int) -> TensorBatches:
    """DARTS' architecture-step batches: full batches of ``BATCH`` selection images, reshuffled every
    pass (DARTS draws a fresh batch of the training batch size per step)."""
    return TensorBatches(val.x, val.y, min(BATCH, len(val.y)), shuffle=True, seed=seed, drop_last=True)


def _retrain(
    net: torch.nn.Module, train: TensorBatches, test: TensorBatches, epochs: int, drop: float = 0.0
) -> float:
    train_network(net, train, epochs, lr=LR, drop_path_prob=drop)
    return accuracy(net, test)


def darts(ctx: Context) -> Outcome:
    """AGNAS in the DARTS space: search, derive per-cell genotypes, retrain the stage-wise network."""
    s = ctx.settings
    train, val, test = _data(ctx)
    torch.manual_seed(ctx.seed)
    sup = AttentionSupernet(C=s.darts_C, layers=s.darts_layers, reductions=s.darts_reductions)
    rows: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    def after_epoch(epoch: int, model: torch.nn.Module) -> None:
        imp = collect_importance(model, val)
        genos = [derive_genotype(t, sup.primitives) for t in imp]
        with_none = [derive_genotype(t, sup.primitives, exclude=None) for t in imp]
        state.update(importance=imp, genotypes=genos)
        rows.append({
            "stage": "search", "epoch": epoch + 1, "selection_acc": round(accuracy(model, val), 4),
            "none_selected": sum(op == "none" for g in genos for op, _ in g.gene),
            "none_if_not_excluded": sum(op == "none" for g in with_none for op, _ in g.gene),
            "conv_edges_cell0": sum("conv" in op for op, _ in genos[0].gene), "test_acc": "",
        })  # fmt: skip

    train_supernet(sup, train, s.search_epochs, lr=LR, lr_min=LR_MIN, on_epoch=after_epoch)
    genos = state["genotypes"]
    stages = stage_genotypes(genos, s.darts_reductions)
    torch.manual_seed(ctx.seed)
    net = EvalNetwork(
        stages, C=s.eval_C, layers=s.eval_layers, reductions=s.eval_reductions, auxiliary=s.auxiliary
    )
    acc = _retrain(net, train, test, s.eval_epochs, 0.2 if s.auxiliary else 0.0)
    rows.append({"stage": "retrain AGNAS", "epoch": s.eval_epochs, "test_acc": round(acc, 4)})
    accs = {"AGNAS": acc}
    if s.darts_baseline_in_darts_space:
        torch.manual_seed(ctx.seed)
        dsup = DartsSupernet(C=s.darts_C, layers=s.darts_layers, reductions=s.darts_reductions)
        train_supernet(dsup, _reshuffled(train, ctx.seed), s.search_epochs, lr=LR, lr_min=LR_MIN,
                       val=_alpha_batches(val, ctx.seed))  # fmt: skip
        dgenos = [derive_genotype(t, dsup.primitives) for t in torch.softmax(dsup.alpha.detach(), -1)]
        torch.manual_seed(ctx.seed)
        dnet = EvalNetwork(stage_genotypes(dgenos, s.darts_reductions), C=s.eval_C, layers=s.eval_layers,
                           reductions=s.eval_reductions, auxiliary=s.auxiliary)  # fmt: skip
        accs["DARTS-1st"] = _retrain(dnet, train, test, s.eval_epochs, 0.2 if s.auxiliary else 0.0)
        rows.append(
            {"stage": "retrain DARTS-1st", "epoch": s.eval_epochs, "test_acc": round(accs["DARTS-1st"], 4)}
        )
    n_none = rows[len(rows) - 1 - len(accs)]["none_selected"]
    claims = [
        Claim("derived DARTS-space network retrains to >= 95 % test accuracy", "97.54 % (CIFAR-10, 600 ep)",
              f"{100 * acc:.2f} %", acc >= 0.95),
        Claim("'none' is never selected (all derived cells)", "never", f"{n_none} of "
              f"{sum(len(g.gene) for g in genos)} edges", n_none == 0),
    ]  # fmt: skip
    return Outcome(rows=rows, claims=claims, data={"importance": state["importance"], "genotypes": genos,
                                                   "primitives": sup.primitives, "accs": accs})  # fmt: skip


def _taus(importance: torch.Tensor, drops: torch.Tensor, primitives: Sequence[str]) -> list[float]:
    keep = [k for k, p in enumerate(primitives) if p != "none"]
    taus = [kendall_tau(importance[e, keep], drops[e, keep]) for e in range(len(drops))]
    return [t for t in taus if t == t]  # drop undefined (all drops tied)


def _pick_margin(table: torch.Tensor, primitives: Sequence[str]) -> tuple[float, float]:
    """How clear the per-edge picks of ``table (E, K)`` are: the relative gap ``(best - second) / best``
    between the chosen op and the runner-up (``none`` left out), smallest and mean over the edges."""
    keep = [k for k, p in enumerate(primitives) if p != "none"]
    top = table[:, keep].double().topk(2, dim=1).values
    gap = (top[:, 0] - top[:, 1]) / top[:, 0].abs().clamp_min(1e-300)
    return float(gap.min()), float(gap.mean())


def _from_scratch(
    arch: Sequence[str], seed: int, ctx: Context, splits: tuple[TensorBatches, TensorBatches, TensorBatches]
) -> tuple[float, float]:
    """Train one NB201-mini architecture from scratch: ``torch.manual_seed(seed)`` for the
    initialisation and a data order of its own seeded by ``seed`` (every architecture sees the same
    orders, so seeds vary the same things for all); returns ``(test accuracy, selection accuracy)``."""
    s = ctx.settings
    train, val, test = splits
    torch.manual_seed(seed)
    net = NB201Network(arch, C=s.nb_C, N=s.nb_N)
    return _retrain(net, _reshuffled(train, seed), test, s.gt_epochs), accuracy(net, val)


class _FromLayer(torch.nn.Module):
    """A NB201 supernet run from its ``start``-th layer: ``h (B, C_l, H_l, W_l) -> logits (B, classes)``
    (masking an op of cell ``start`` leaves everything before it unchanged, so the masked-op
    experiment starts from that cell's cached input)."""

    def __init__(self, sup: NB201Supernet, start: int) -> None:
        super().__init__()
        self.sup, self.start = sup, start
        self.train(sup.training)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        weights = None if self.sup.alpha is None else torch.softmax(self.sup.alpha, -1)
        for layer in self.sup.layers[self.start :]:
            h = layer(h, weights)[0] if isinstance(layer, NB201Cell) else layer(h)
        return self.sup._head(h)


@torch.no_grad()
def _cell_drops(sup: NB201Supernet, batches: TensorBatches) -> list[torch.Tensor]:
    """:func:`masked_op_drops` of every cell of ``sup`` (``(6, K)`` each), every cell fed from its
    cached input (the same numbers as masking in the whole supernet)."""
    was = sup.training
    sup.eval()
    inputs: list[tuple[int, list[tuple[torch.Tensor, torch.Tensor]]]] = []
    feats = [(sup.stem(x), y) for x, y in batches]
    for i, layer in enumerate(sup.layers):
        if isinstance(layer, NB201Cell):
            inputs.append((i, feats))
        feats = [(layer(h, None if sup.alpha is None else torch.softmax(sup.alpha, -1))[0]
                  if isinstance(layer, NB201Cell) else layer(h), y) for h, y in feats]  # fmt: skip
    drops = [masked_op_drops(_FromLayer(sup, i), edges, cached)
             for (i, cached), edges in zip(inputs, sup.cell_edges())]  # fmt: skip
    sup.train(was)
    return drops


def _search_nb201(
    ctx: Context, mixed: str, seed: int, train: TensorBatches, val: TensorBatches
) -> tuple[NB201Supernet, torch.Tensor]:
    """One NB201-mini search (``mixed`` ``"attention"``: AGNAS, ``"darts"``: DARTS-1st) seeded by ``seed``
    (initialisation, training order, alpha batches); returns the supernet and its importance table
    ``(cells, 6, K)``: attention summed over the whole selection split in eval mode, or softmax(alpha)
    repeated for every cell."""
    s = ctx.settings
    torch.manual_seed(seed)
    sup = NB201Supernet(C=s.nb_C, N=s.nb_N, mixed=mixed)
    # both searches see the same training-batch order; alpha steps on full selection batches
    alpha_val = _alpha_batches(val, seed) if mixed == "darts" else None
    train_supernet(sup, _reshuffled(train, seed), s.nb_epochs, lr=LR, lr_min=LR_MIN, val=alpha_val)
    if mixed == "attention":
        return sup, collect_importance(sup, val)
    assert sup.alpha is not None
    alpha = torch.softmax(sup.alpha.detach(), -1)
    return sup, alpha.expand(len(sup.cell_edges()), -1, -1)


def _edge_taus(
    sup: NB201Supernet, imp: torch.Tensor, val: TensorBatches, primitives: Sequence[str]
) -> list[float]:
    """The defined per-edge Kendall taus of ``imp`` against the masked-op drops, over every cell."""
    taus: list[float] = []
    for c, drops in enumerate(_cell_drops(sup, val)):
        taus += _taus(imp[c], drops, primitives)
    return taus


def nb201mini(ctx: Context) -> Outcome:
    """AGNAS vs DARTS-1st vs random search on NB201-mini; ground truth by training from scratch."""
    s = ctx.settings
    train, val, test = _data(ctx)
    space = NB201SearchSpace()
    prims = space.primitives
    found: dict[str, tuple[str, ...]] = {}
    taus: dict[str, list[float]] = {}
    margins: dict[str, tuple[float, float]] = {}
    seed_taus: dict[str, list[float]] = {"AGNAS": [], "DARTS-1st": []}  # mean tau of each search seed
    for method, mixed in (("AGNAS", "attention"), ("DARTS-1st", "darts")):
        for i in range(s.tau_seeds):
            sup, imp = _search_nb201(ctx, mixed, ctx.seed + i, train, val)
            edge_taus = _edge_taus(sup, imp, val, prims)
            seed_taus[method].append(statistics.fmean(edge_taus) if edge_taus else float("nan"))
            if i == 0:  # the search whose architecture is trained and compared
                found[method] = space.derive(imp)
                margins[method] = _pick_margin(imp.sum(0), prims)
                taus[method] = edge_taus
    gen = torch.Generator().manual_seed(ctx.seed + 1)
    randoms = space.sample(s.n_random, gen)

    # ground truth: seed i of every architecture uses the same init seed and the same data order
    seeds = [1000 + 100 * ctx.seed + i for i in range(max(s.gt_seeds, s.gt_seeds_random))]
    archs = [(m, a, s.gt_seeds) for m, a in found.items()]
    archs += [(f"random {i}", a, s.gt_seeds_random) for i, a in enumerate(randoms)]
    jobs = [(a, seed) for _, a, n in archs for seed in seeds[:n]]
    scores = iter([_from_scratch(arch, seed, ctx, (train, val, test)) for arch, seed in jobs])
    rows: list[dict[str, Any]] = []
    results: dict[str, float] = {}
    per_seed: dict[str, list[float]] = {}
    rand_scores: list[tuple[float, float]] = []
    for name, arch, n in archs:
        got = [next(scores) for _ in range(n)]
        t, v = statistics.fmean(g[0] for g in got), statistics.fmean(g[1] for g in got)
        tau, margin = taus.get(name), margins.get(name)
        rows.append({"method": name, "arch": space.to_arch_str(arch), "test_acc": round(t, 4),
                     "selection_acc": round(v, 4), "mean_tau": round(statistics.fmean(tau), 4) if tau else "",
                     "seeds": n, "test_acc_per_seed": " ".join(f"{g[0]:.4f}" for g in got),
                     "pick_margin": "" if margin is None else f"{margin[0]:.4f} / {margin[1]:.4f}"})  # fmt: skip
        if name in found:
            results[name] = t
            per_seed[name] = [g[0] for g in got]
        else:
            rand_scores.append((t, v))
    first8 = rand_scores[:8]
    rs_test = max(first8, key=lambda tv: tv[1])[0]
    rows.append({"method": f"random search (best of {len(first8)} by selection acc)", "arch": "",
                 "test_acc": round(rs_test, 4), "selection_acc": "", "mean_tau": "", "seeds": "",
                 "test_acc_per_seed": "", "pick_margin": ""})  # fmt: skip
    median = statistics.median(t for t, _ in rand_scores)
    ag, da = results["AGNAS"], results["DARTS-1st"]
    claims = [
        Claim(f"NB201-mini: AGNAS >= median of {len(rand_scores)} random architectures", "finds the NB201 optimum "
              "(94.37 % C10)", f"{100 * ag:.2f} % vs {100 * median:.2f} %", ag >= median),
        Claim("NB201-mini: AGNAS >= DARTS-1st (same budget)", "AGNAS > DARTS (collapses to skip)",
              f"{100 * ag:.2f} % vs {100 * da:.2f} %", ag >= da),
    ]  # fmt: skip
    tau_rows = [{"search_seed": ctx.seed + i, "AGNAS": round(a, 4), "DARTS-1st": round(d, 4)}
                for i, (a, d) in enumerate(zip(seed_taus["AGNAS"], seed_taus["DARTS-1st"]))]  # fmt: skip
    write_csv(ctx.out / "nb201mini_tau.csv", tau_rows)
    if s.tau_seeds > 1:  # one search's mean tau is noise (per-edge taus over 4 ops span -1..1)
        tau_a, tau_d = (statistics.fmean(v) for v in seed_taus.values())
        wins = sum(a > d for a, d in zip(seed_taus["AGNAS"], seed_taus["DARTS-1st"]))
        claims.append(Claim(
            f"per-edge Kendall tau (importance vs masked-op accuracy drop): AGNAS > DARTS alpha, mean of "
            f"{s.tau_seeds} searches", "attention reflects importance better than alpha",
            f"{tau_a:.3f} vs {tau_d:.3f} (AGNAS higher in {wins} of {s.tau_seeds})", tau_a > tau_d))  # fmt: skip
    return Outcome(rows=rows, claims=claims, data={"results": results, "random": [t for t, _ in rand_scores],
                                                   "median": median, "rs": rs_test, "taus": taus,
                                                   "seed_taus": seed_taus, "per_seed": per_seed})  # fmt: skip


def macro(ctx: Context) -> Outcome:
    """A tiny macro search: a chain of attention super-blocks on 8x8 digits; argmax per layer."""
    s = ctx.settings
    dm = AgnasDigitsDataModule(size=8, seed=ctx.seed)
    dm.setup()
    xt, yt = dm.tensors("train")
    xv, yv = dm.tensors("val")
    train = TensorBatches(xt[: s.max_train], yt[: s.max_train], BATCH, shuffle=True, seed=ctx.seed)
    val = TensorBatches(xv[: s.max_eval], yv[: s.max_eval], 150)
    torch.manual_seed(ctx.seed)
    net = MacroSupernet(widths=[(8, 2, 1), (16, 2, 2)], num_classes=10, first_channels=8, mb1_channels=8,
                        last_channels=64, first_stride=1)  # fmt: skip
    train_network(net, train, s.macro_epochs, lr=LR)
    net.eval()
    total: list[torch.Tensor] | None = None
    with torch.no_grad():
        for x, _ in val:
            _, imps = net(x, return_importance=True)
            total = imps if total is None else [a + b for a, b in zip(total, imps)]
    assert total is not None
    chosen = derive_macro(total, net.candidates)
    rows = [{"layer": i, "chosen": c, "candidates": len(net.candidates[i])} for i, c in enumerate(chosen)]
    rows.append({"layer": "supernet selection acc", "chosen": round(accuracy(net, val), 4), "candidates": ""})
    return Outcome(rows=rows, claims=[])


def plot(outcomes: Mapping[str, Outcome], plt: Any) -> Any:
    """Heat map + derived cell (DARTS space), NB201-mini accuracies and Kendall tau."""
    from ballroom.agnas.plotting import draw_cell, importance_heatmap

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    if "darts" in outcomes:
        d = outcomes["darts"].data
        importance_heatmap(d["importance"][0], d["primitives"], plt, title="DARTS space: cell 0 importance "
                           "(selection split)", ax=axes[0, 0])  # fmt: skip
        draw_cell(d["genotypes"][0].gene, axes[0, 1], title="derived cell 0 (stage 1); retrained test acc "
                  + ", ".join(f"{k} {100 * v:.1f} %" for k, v in d["accs"].items()) + " (>= 95 % asserted)")  # fmt: skip
    if "nb201mini" in outcomes:
        n = outcomes["nb201mini"].data
        ax = axes[1, 0]
        ax.scatter(
            [0] * len(n["random"]), [100 * v for v in n["random"]], color="gray", label="random architectures"
        )
        ax.axhline(100 * n["median"], color="gray", ls="--", label="median random (AGNAS >= asserted)")
        for i, (m, v) in enumerate(n["results"].items(), 1):
            ax.scatter([i], [100 * v], s=80, label=f"{m} (mean of seeds)")
            seeds = n.get("per_seed", {}).get(m, [])
            ax.scatter([i + 0.15] * len(seeds), [100 * a for a in seeds], s=12, color="k", marker="x",
                       label="single seeds" if i == 1 else None)  # fmt: skip
        ax.scatter([3], [100 * n["rs"]], s=80, marker="s", label="random search (best of 8)")
        ax.set(xticks=[0, 1, 2, 3], xticklabels=["random", "AGNAS", "DARTS-1st", "RS"], ylabel="test accuracy (%)",
               title="NB201-mini on digits: trained from scratch")  # fmt: skip
        shown = [100 * v for v in [*n["random"], *n["results"].values()] if v >= 0.5]
        broken = sum(v < 0.5 for v in n["random"])
        if shown:  # zoom on the working architectures; broken ones (no input-output path) noted
            ax.set_ylim(min(shown) - 0.5, min(100.0, max(shown) + 0.5))
        if broken:
            ax.text(0.02, 0.02, f"{broken} random architecture(s) below 50 % (no path) not shown",
                    transform=ax.transAxes, fontsize=7)  # fmt: skip
        ax.legend(fontsize=7)
        ax = axes[1, 1]
        names = list(n["taus"])
        ax.boxplot([n["taus"][k] for k in names])
        ax.set_xticks(range(1, len(names) + 1), names)  # (boxplot's tick_labels= needs matplotlib 3.9)
        ax.axhline(0, color="k", lw=0.5)
        seed_taus = n.get("seed_taus", {})
        several = all(len(v) > 1 for v in seed_taus.values()) and bool(seed_taus)
        if several:
            for i, k in enumerate(names, 1):
                ax.scatter([i + 0.25] * len(seed_taus[k]), seed_taus[k], color="C3", marker="d", s=18,
                           label="mean of one search (seed)" if i == 1 else None)  # fmt: skip
            ax.legend(fontsize=7)
        ax.set(
            ylabel="Kendall tau per edge (importance vs masked-op acc drop)",
            title="AGNAS attention vs DARTS alpha\n(boxes: edges of the first search; "
            + (
                "AGNAS > DARTS asserted on the mean of the searches)"
                if several
                else "reported, not asserted)"
            ),
        )
    fig.tight_layout()
    return fig


REPRODUCTION = Reproduction("agnas", __doc__ or "", [darts, nb201mini, macro], SETTINGS, plot=plot, threads=1)


def main(args: Sequence[str] | None = None) -> int:
    """The command line; ``--space X`` is ``--only X`` (``darts``, ``nb201mini`` or ``macro``)."""
    argv = list(sys.argv[1:] if args is None else args)
    if "--space" in argv:
        i = argv.index("--space")
        if i + 1 >= len(argv) or argv[i + 1] not in ("darts", "nb201mini", "macro"):
            raise SystemExit("--space must be one of darts, nb201mini, macro")
        argv[i : i + 2] = ["--only", argv[i + 1]]
    return REPRODUCTION.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
