"""Reproduce STIR's findings offline: robust models share more invariance, and STIR is directional.

``python -m ballroom.stir.reproduce [--smoke|--quick|--full] [--out results/stir]`` runs the
experiments below through :class:`ballroom.core.runner.Reproduction`: it prints each table and the
claims, writes one CSV per experiment, ``claims.json`` and ``stir.png``.

1. ``digits``: the spec's protocol. MLPs 64 -> 128 -> 16 -> 10 on 8x8 digits, A0/A1 standard
   (seeds 0/1), R0/R1 L2-PGD trained (eps 1.0, 7 steps); STIR with the official defaults
   (super-noise seeds, step 0.5, 1000 iterations, linear CKA) on 200 test probes. Claims:
   STIR(A0|A0) >= 0.97; min STIR of the robust pair - max STIR of the standard pair >= 0.02;
   STIR(A|R) > STIR(R|A) for both seed pairs with mean gap >= 0.01.
2. ``linear``: the exact linear check, ``r_i(x) = W_i x`` with the box clamp off: when
   ``rowspace(W2)`` lies in ``rowspace(W1)``, ``STIR(m2|m1) -> 1`` while ``STIR(m1|m2) < 1``.

``--smoke`` takes seconds (the tests); ``--quick`` (default) about a minute on 2 CPU cores, where the
claims must hold; ``--full`` the same protocol with 1000 probes and 5 seeds per draw (``n_draws``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ballroom.core.report import Claim
from ballroom.core.runner import Context, Outcome, Reproduction
from ballroom.stir.data import digits_split
from ballroom.stir.functional import stir
from ballroom.stir.nn import FeatureMLP, LinearFeatureModel, Normalizer
from ballroom.stir.train import train_classifier


@dataclass(frozen=True)
class Settings:
    """Sizes of one mode."""

    epochs: int
    n_probe: int
    iterations: int
    n_draws: int
    linear_iterations: int


SETTINGS = {
    "smoke": Settings(epochs=1, n_probe=20, iterations=10, n_draws=1, linear_iterations=50),
    "quick": Settings(epochs=40, n_probe=200, iterations=1000, n_draws=1, linear_iterations=2000),
    "full": Settings(epochs=40, n_probe=397, iterations=1000, n_draws=5, linear_iterations=5000),
}

# the spec's calibration run with the official code (digits, same recipe)
CALIBRATION = {
    ("A0", "A0"): (0.99, 0.99, None),
    ("A0", "A1"): (0.93, 0.93, 0.93),
    ("R0", "R1"): (0.98, 0.98, 0.97),
    # (STIR(m2|m1), STIR(m1|m2), CKA) for the pair (m1, m2): ("R0", "A0") is (STIR(A0|R0), STIR(R0|A0), CKA)
    ("R0", "A0"): (0.835, 0.817, 0.84),
    ("R1", "A1"): (0.884, 0.859, None),
}
PAIRS = [("A0", "A0"), ("A0", "A1"), ("R0", "R1"), ("R0", "A0"), ("R1", "A1")]


def _models(ctx: Context) -> tuple[dict[str, FeatureMLP], dict[str, float]]:
    data = digits_split(0)
    x, y = data["train"]
    xt, yt = data["test"]
    models, accs = {}, {}
    for name, seed, eps in (("A0", 0, 0.0), ("A1", 1, 0.0), ("R0", 0, 1.0), ("R1", 1, 1.0)):
        torch.manual_seed(seed)
        net = FeatureMLP(64, (128, 16), 10)
        train_classifier(
            net, x, y, epochs=ctx.settings.epochs, adv_eps=eps, seed=seed, normalizer=Normalizer()
        )
        with torch.inference_mode():
            accs[name] = float((net(xt).argmax(1) == yt).float().mean())
        models[name] = net
    return models, accs


def digits(ctx: Context) -> Outcome:
    """Train A0, A1, R0, R1 and measure STIR in both directions for the spec's pairs."""
    s = ctx.settings
    models, accs = _models(ctx)
    probe = digits_split(0)["test"][0][: s.n_probe]
    norm = Normalizer()
    rows, res = [], {}
    for k, (a, b) in enumerate(PAIRS):
        gen = torch.Generator().manual_seed(ctx.seed + k)
        r = stir(models[a], models[b], probe, normalizer1=norm, normalizer2=norm,
                 iterations=s.iterations, n_draws=s.n_draws, generator=gen)  # fmt: skip
        res[(a, b)] = r
        cal = CALIBRATION[(a, b)]
        rows.append({"m1": a, "m2": b, "stir_m2_given_m1": round(r.m2m1, 4), "stir_m1_given_m2": round(r.m1m2, 4),
                     "cka": round(r.rsm, 4), "paper_m2_given_m1": cal[0], "paper_m1_given_m2": cal[1],
                     "iri_rel_err_m1": round(r.rel_err1, 4), "iri_rel_err_m2": round(r.rel_err2, 4),
                     "acc_m1": round(accs[a], 4), "acc_m2": round(accs[b], 4)})  # fmt: skip
    self_stir = min(res[("A0", "A0")].m2m1, res[("A0", "A0")].m1m2)
    std_pair = max(res[("A0", "A1")].m2m1, res[("A0", "A1")].m1m2)
    rob_pair = min(res[("R0", "R1")].m2m1, res[("R0", "R1")].m1m2)
    # (R, A) pairs: m1 = R, m2 = A -> STIR(A|R) = m2m1, STIR(R|A) = m1m2
    gaps = [res[p].m2m1 - res[p].m1m2 for p in (("R0", "A0"), ("R1", "A1"))]
    claims = [
        Claim("STIR(A0|A0) >= 0.97 (both directions)", "0.99", f"{self_stir:.3f}", self_stir >= 0.97),
        Claim("robust pair - standard pair: min STIR(R) - max STIR(A) >= 0.02", "0.98 - 0.93 = 0.05",
              f"{rob_pair:.3f} - {std_pair:.3f} = {rob_pair - std_pair:.3f}", rob_pair - std_pair >= 0.02),
        Claim("STIR(A|R) > STIR(R|A) for both seed pairs, mean gap >= 0.01", "0.018, 0.025 (mean 0.022)",
              ", ".join(f"{g:.3f}" for g in gaps) + f" (mean {sum(gaps) / 2:.3f})",
              min(gaps) > 0 and sum(gaps) / 2 >= 0.01),
    ]  # fmt: skip
    return Outcome(rows=rows, claims=claims, data={"res": res, "accs": accs})


def linear(ctx: Context) -> Outcome:
    """Exact linear check: ``W2 = A W1`` (row space of W2 inside W1's, rank 3 of W1's 6), 16-dim inputs."""
    gen = torch.Generator().manual_seed(ctx.seed)
    W1 = torch.randn(6, 16, generator=gen, dtype=torch.float64)
    W2 = torch.randn(3, 6, generator=gen, dtype=torch.float64) @ W1
    X = torch.rand(100, 16, generator=gen, dtype=torch.float64)
    m1, m2 = LinearFeatureModel(W1), LinearFeatureModel(W2)
    r = stir(m1, m2, X, normalizer1=None, normalizer2=None, box=None, fake_relu=False,
             iterations=ctx.settings.linear_iterations, step_size=0.01, generator=gen)  # fmt: skip
    rows = [{"case": "rowspace(W2) in rowspace(W1)", "stir_m2_given_m1": round(r.m2m1, 6),
             "stir_m1_given_m2": round(r.m1m2, 6), "cka": round(r.rsm, 6)}]  # fmt: skip
    claims = [Claim("linear: STIR(m2|m1) >= 0.999 and STIR(m1|m2) <= 0.95", "exact: 1 and < 1",
                    f"{r.m2m1:.4f} and {r.m1m2:.4f}", r.m2m1 >= 0.999 and r.m1m2 <= 0.95)]  # fmt: skip
    return Outcome(rows=rows, claims=claims, data={"res": r})


def plot(outcomes: Mapping[str, Outcome], plt: Any) -> Any:
    """STIR(column | row) heat map for the four digits models and the directional bars."""
    names = ["A0", "A1", "R0", "R1"]
    res = outcomes["digits"].data["res"] if "digits" in outcomes else {}
    mat = torch.full((4, 4), float("nan"))
    for (a, b), r in res.items():
        i, j = names.index(a), names.index(b)
        mat[i, j], mat[j, i] = r.m2m1, r.m1m2
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    im = ax.imshow(mat.numpy(), vmin=0.7, vmax=1.0, cmap="viridis")
    for i in range(4):
        for j in range(4):
            if not torch.isnan(mat[i, j]):
                ax.text(j, i, f"{mat[i, j]:.3f}", ha="center", va="center", color="w", fontsize=9)
    ax.set(xticks=range(4), yticks=range(4), xticklabels=names, yticklabels=names,
           xlabel="m2 (model measured)", ylabel="m1 (model whose IRIs are used)",
           title="STIR(m2 | m1) on digits (blank: not computed)")  # fmt: skip
    fig.colorbar(im, ax=ax, label="STIR (linear CKA, 1 = shared)")
    labels, vals = [], []
    for a, b in (("R0", "A0"), ("R1", "A1")):
        if (a, b) in res:
            labels += [f"STIR({b}|{a})", f"STIR({a}|{b})"]
            vals += [res[(a, b)].m2m1, res[(a, b)].m1m2]
    if ("A0", "A1") in res:
        labels.append("standard pair (max)")
        vals.append(max(res[("A0", "A1")].m2m1, res[("A0", "A1")].m1m2))
    if ("R0", "R1") in res:
        labels.append("robust pair (min)")
        vals.append(min(res[("R0", "R1")].m2m1, res[("R0", "R1")].m1m2))
        if ("A0", "A1") in res:
            bx.axhline(
                vals[-2] + 0.02, color="tab:green", ls="--", label="claim: robust min >= standard max + 0.02"
            )
    bx.bar(range(len(vals)), vals, color=["tab:blue", "tab:orange"] * 2 + ["tab:gray", "tab:green"])
    if ("A0", "A0") in res:
        bx.axhline(0.97, color="k", ls=":", label="STIR(A0|A0) threshold 0.97")
    bx.set(xticks=range(len(vals)), ylim=(0.7, 1.0), ylabel="STIR (linear CKA)",
           title="directional: STIR(A|R) > STIR(R|A); robust pair > standard pair")  # fmt: skip
    bx.set_xticklabels(labels, rotation=30, ha="right")
    bx.legend(loc="lower right")
    fig.tight_layout()
    return fig


# small MLPs: one thread is about 10x faster on a shared 2-core machine (spec)
REPRODUCTION = Reproduction("stir", __doc__ or "", [digits, linear], SETTINGS, plot=plot, threads=1)
main = REPRODUCTION.main

if __name__ == "__main__":
    raise SystemExit(main())
