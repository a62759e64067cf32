"""Reproduce Bregman networks offline: deep Bregman MLPs train where plain sigmoid/tanh MLPs of the same depth do not.

``python -m ballroom.bregman.reproduce [--smoke|--quick|--full] [--out results/bregman]`` runs the
experiments below through :class:`ballroom.core.runner.Reproduction`: it prints each table and the
claims, writes one CSV per experiment, ``claims.json`` and ``bregman.png``.

1. ``digits_depth`` (the spec's offline plan): 8x8 digits scaled into the activation's range, width-64
   MLPs of depth 3/10/20, standard (random init) vs Bregman (random and zero init), sigmoid and
   tanh, Adam 1e-3, batch 32, 20 epochs, 2 seeds. Claims: at depth 20 every Bregman variant reaches
   >= 0.90 test accuracy and beats the standard net by >= 0.3; at depth 3 (tanh) all are within 0.05.
2. ``spiral`` (the official toy): atan, hidden [2, 2, 2], plain SGD 1e-2, batch 16; train accuracy
   of Bregman vs standard (reported).
3. ``cifar10_resnet20`` (``--full`` only, needs CIFAR-10 in ``--data-dir`` or a network): Bregman vs
   standard ResNet-20, SGD 0.1 momentum 0.9 wd 1e-4, 182 epochs, lr x0.1 at 91 and 136 (reported).

``--smoke`` takes seconds (the tests); ``--quick`` (default) minutes on 2 CPU cores, where the claims
must hold; ``--full`` adds depth 50, 5 seeds, 500 spiral epochs and the CIFAR-10 run (a GPU).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ballroom.bregman.data import load_digits_split
from ballroom.bregman.functional import scale_to_range
from ballroom.bregman.nn import BregmanMLP
from ballroom.bregman.synthetic import two_spirals
from ballroom.core.report import Claim
from ballroom.core.runner import Context, Outcome, Reproduction

#: the spec's calibration table (independent implementation, mean of 2 seeds): (act, depth) -> variants
SPEC = {
    ("sigmoid", 3): (0.79, 0.95, 0.95),
    ("sigmoid", 10): (0.10, 0.97, 0.97),
    ("sigmoid", 20): (0.10, 0.97, 0.96),
    ("tanh", 3): (0.97, 0.97, 0.97),
    ("tanh", 10): (0.88, 0.97, 0.97),
    ("tanh", 20): (0.34, 0.97, 0.97),
}
VARIANTS = (("standard", "random"), ("bregman", "random"), ("bregman", "zero"))


@dataclass(frozen=True)
class Settings:
    """Sizes of one mode."""

    depths: tuple[int, ...]
    activations: tuple[str, ...]
    epochs: int
    seeds: int
    spiral_epochs: int
    spiral_seeds: int
    cifar_epochs: int = 0


SETTINGS = {
    "smoke": Settings((3,), ("tanh",), 1, 1, 2, 1),
    "quick": Settings((3, 10, 20), ("sigmoid", "tanh"), 20, 2, 60, 3),
    "full": Settings((3, 10, 20, 50), ("sigmoid", "tanh"), 20, 5, 500, 3, cifar_epochs=182),
}


def _fit(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer,
    epochs: int,
    batch: int,
    seed: int,
) -> None:
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(batch):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()


@torch.no_grad()
def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    return float((net(x).argmax(-1) == y).float().mean())


def train_digits_mlp(activation: str, depth: int, version: str, init: str, epochs: int, seed: int) -> float:
    """One run of the depth study: test accuracy of a width-64 ``depth``-layer MLP on digits."""
    parts = load_digits_split()
    (x_tr, y_tr), (x_te, y_te) = parts["train"], parts["test"]
    x_tr, x_te = scale_to_range(x_tr, activation), scale_to_range(x_te, activation)
    torch.manual_seed(seed)
    net = BregmanMLP(64, [64] * depth, 10, activation, version, init)
    _fit(net, x_tr, y_tr, torch.optim.Adam(net.parameters(), lr=1e-3), epochs, 32, seed)
    return _accuracy(net, x_te, y_te)


def digits_depth(ctx: Context) -> Outcome:
    """The spec's depth study; rows: one per (activation, depth, variant) with the mean over seeds."""
    s: Settings = ctx.settings
    rows, acc = [], {}
    for act in s.activations:
        for depth in s.depths:
            for k, (version, init) in enumerate(VARIANTS):
                runs = [
                    train_digits_mlp(act, depth, version, init, s.epochs, ctx.seed + i)
                    for i in range(s.seeds)
                ]
                mean = sum(runs) / len(runs)
                acc[act, depth, version, init] = mean
                spec = SPEC.get((act, depth))
                rows.append({
                    "activation": act, "depth": depth, "variant": f"{version} ({init})",
                    "test_acc": round(mean, 4), "seeds": " ".join(f"{r:.3f}" for r in runs),
                    "spec": "" if spec is None else spec[k],
                })  # fmt: skip
    claims = []
    for act in s.activations:
        if 20 not in s.depths:
            break
        std = acc[act, 20, "standard", "random"]
        for init in ("random", "zero"):
            b = acc[act, 20, "bregman", init]
            spec = SPEC[act, 20]
            claims.append(Claim(f"depth 20, {act}: Bregman ({init}) test acc >= 0.90", f"{spec[1 if init == 'random' else 2]:.2f} (spec calib.)", f"{b:.3f}", b >= 0.90))  # fmt: skip
            claims.append(Claim(f"depth 20, {act}: Bregman ({init}) - standard >= 0.3", f"{spec[1 if init == 'random' else 2] - spec[0]:.2f} (spec calib.)", f"{b - std:.3f}", b - std >= 0.3))  # fmt: skip
    if "tanh" in s.activations and 3 in s.depths:
        vals = [acc["tanh", 3, v, i] for v, i in VARIANTS]
        spread = max(vals) - min(vals)
        claims.append(Claim("depth 3, tanh: all variants within 0.05", "0.00 (spec calib.)", f"{spread:.3f}", spread <= 0.05))  # fmt: skip
    return Outcome(rows=rows, claims=claims, data={"acc": acc})


def spiral(ctx: Context) -> Outcome:
    """Two-spiral toy: train accuracy of atan MLPs [2, 2, 2], Bregman vs standard, plain SGD 1e-2."""
    s: Settings = ctx.settings
    x, y = two_spirals(1000, seed=0)
    rows, means = [], {}
    for version in ("standard", "bregman"):
        runs = []
        for i in range(s.spiral_seeds):
            torch.manual_seed(ctx.seed + i)
            net = BregmanMLP(2, [2, 2, 2], 2, "atan", version)
            _fit(net, x, y, torch.optim.SGD(net.parameters(), lr=1e-2), s.spiral_epochs, 16, ctx.seed + i)
            runs.append(_accuracy(net, x, y))
        means[version] = sum(runs) / len(runs)
        rows.append({"version": version, "epochs": s.spiral_epochs, "train_acc": round(means[version], 4),
                     "seeds": " ".join(f"{r:.3f}" for r in runs)})  # fmt: skip
    claim = Claim(
        f"spiral, {s.spiral_epochs} epochs: Bregman train acc > standard",
        "0.91 vs 0.71 at 60 epochs (spec addendum)",
        f"{means['bregman']:.3f} vs {means['standard']:.3f}",
        means["bregman"] > means["standard"],
    )
    return Outcome(rows=rows, claims=[claim])


def cifar10_resnet20(ctx: Context) -> Outcome:
    """``--full`` only: Bregman vs standard ResNet-20 on CIFAR-10 through Lightning (reported, not asserted)."""
    s: Settings = ctx.settings
    if not s.cifar_epochs:
        return Outcome()
    import pytorch_lightning as pl

    from ballroom.bregman.data import BregmanVisionDataModule
    from ballroom.bregman.lit import BregmanClassifier

    rows = []
    for standard in (False, True):
        pl.seed_everything(ctx.seed, workers=True, verbose=False)
        dm = BregmanVisionDataModule(
            "cifar10", ctx.opts.data_dir, download=True, batch_size=128, seed=ctx.seed
        )
        model = BregmanClassifier(
            "bregman-resnet20-cifar10", {"standard": standard}, optimizer="sgd", lr=0.1,
            momentum=0.9, weight_decay=1e-4, milestones=[91, 136],
        )  # fmt: skip
        trainer = ctx.trainer(max_epochs=s.cifar_epochs)
        trainer.fit(model, datamodule=dm)
        acc = trainer.test(model, datamodule=dm, verbose=False)[0]["test/acc"]
        rows.append({"model": "standard" if standard else "bregman", "test_acc": round(acc, 4)})
    return Outcome(rows=rows)


def plot(outcomes: Mapping[str, Outcome], plt: Any) -> Any:
    """Test accuracy against depth, one panel per activation, one line per variant."""
    acc = outcomes["digits_depth"].data["acc"]
    acts = sorted({k[0] for k in acc})
    depths = sorted({k[1] for k in acc})
    fig, axes = plt.subplots(1, len(acts), figsize=(4.5 * len(acts), 3.6), squeeze=False)
    for ax, act in zip(axes[0], acts):
        for (version, init), style in zip(VARIANTS, ("o-", "s-", "^--")):
            ax.plot(
                depths, [acc[act, d, version, init] for d in depths], style, label=f"{version} ({init} init)"
            )
        ax.axhline(0.90, color="gray", ls=":", label="claim: Bregman >= 0.90 at depth 20")
        ax.axhline(0.10, color="lightgray", ls="--", label="chance")
        ax.set(xlabel="depth (hidden layers of width 64)", ylabel="test accuracy (mean of seeds)",
               title=f"digits, {act}", ylim=(0, 1.02), xticks=depths)  # fmt: skip
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Bregman vs standard MLPs on 8x8 digits (Adam 1e-3, 20 epochs)")
    fig.tight_layout()
    return fig


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", default="data", help="CIFAR-10 folder for --full (downloaded if missing)"
    )


REPRODUCTION = Reproduction(
    "bregman",
    __doc__ or "",
    [digits_depth, spiral, cifar10_resnet20],
    SETTINGS,
    plot=plot,
    add_arguments=_options,
)
main = REPRODUCTION.main

if __name__ == "__main__":
    raise SystemExit(main())
