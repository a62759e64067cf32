"""Reproduce the (non-)convergence results offline: a Neimark-Sacker bifurcation in a derived PCN
counterexample, sound convergence certificates on a trained PCN, and PCN vs backprop on digits.

``python -m ballroom.pcn.reproduce [--smoke|--quick|--full] [--out results/pcn]`` runs the
experiments below through :class:`ballroom.core.runner.Reproduction`: it prints each table and the
claims, writes one CSV per experiment, ``claims.json`` and ``pcn.png``.

1. ``ns``: the derived counterexample (:class:`~ballroom.pcn.toys.NSToy`, and the linear one) is stable
   below ``v_c``, carries a bounded invariant orbit above it; the crossing is a complex pair with
   nonzero first Lyapunov coefficient; simultaneous-schedule spectra are real.
2. ``certificate``: a 64-64-10 PCN trained on digits, weights scaled by ``c``: certified => converged,
   ``rho < 0.98`` => converged, ``rho > 1`` => not converged (prediction stage from zeros).
3. ``digits``: the same PCN reaches >= 0.90 test accuracy, within 0.05 of the backprop MLP.

``--smoke`` takes seconds (the tests); ``--quick`` (default) well under a minute's work per
experiment on 2 CPU cores, where the claims must hold; ``--full`` the same at the spec's sizes
(20 test inputs, 2000 steps, 60 000 iterations; ``--quick`` already uses them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch

from ballroom.core.report import Claim
from ballroom.core.runner import Context, Outcome, Reproduction
from ballroom.pcn.analysis import (
    certify_local,
    classify_crossing,
    eigenvalues,
    find_bifurcation,
    first_lyapunov_coefficient,
    iterate,
    jacobian,
    prediction_jacobian_closed_form,
    spectral_radius,
    training_map,
)
from ballroom.pcn.data import PCNDigitsDataModule
from ballroom.pcn.lit import BackpropClassifier, PCNClassifier
from ballroom.pcn.toys import LinearNSToy, NSToy

DT = torch.float64
#: the spec's reference numbers (measured when the counterexample was constructed)
V_C = 1.941425306188497
ORBIT_REF = {0.005: (0.0229, 0.0972), 0.01: (0.0319, 0.1401), 0.02: (0.0441, 0.2032), 0.04: (0.0592, 0.2948), 0.08: (0.0758, 0.4477)}  # fmt: skip
CERT_REF = {
    (0.5, 0.25): "certified (beta 0.82), rho 0.77, 20/20",
    (0.5, 0.5): "rho >= 1.18, 0/20",
    (0.1, 1.0): "rho <= 0.991, 19/20",
    (0.1, 1.5): "rho 1.22, 0/20",
}


@dataclass(frozen=True)
class Settings:
    """Sizes of one mode."""

    ns_iters: int  # iterations of the tanh toy (the spec: 60 000)
    ns_window: int  # the distance statistics read the last ``ns_window`` iterations
    lin_iters: int  # iterations of the linear toy (the spec: 20 000)
    grid: int  # parameter values of the bifurcation diagram and the |lambda| curves
    epochs: int  # digits training epochs (the spec: 30)
    inputs: int  # test inputs of the certificate experiment (the spec: 20)
    steps: int  # prediction-stage steps (the spec: 2000)
    batches: int | float = 1.0  # limit_train_batches of each epoch (1.0: all)


SETTINGS = {
    "smoke": Settings(600, 200, 300, 6, 1, 3, 100, 5),
    "quick": Settings(60_000, 10_000, 20_000, 16, 30, 20, 2000),
    "full": Settings(60_000, 10_000, 20_000, 40, 30, 20, 2000),
}
SCALES = (0.25, 0.5, 1.0, 1.5, 2.0)
GAMMAS = (0.5, 0.1)
_TRAINED: dict[tuple[int, int], Any] = {}


def _orbits(
    toy: Any, params: list[float], n: int, window: int, kick: float = 0.01
) -> tuple[list[tuple[float, float]], torch.Tensor]:
    """Min/max distance to the fixed point over the last ``window`` of ``n`` iterations, all params at once."""
    p = torch.tensor(params, dtype=DT)
    fps = torch.stack([toy.fixed_point(v) for v in params])
    z0 = fps + torch.tensor([kick, 0.0], dtype=DT)
    orbit = iterate(lambda z: toy.step(z, p), z0, n)
    d = torch.linalg.vector_norm(orbit[n - window + 1 :] - fps, dim=-1)  # (window, K)
    return [(float(d[:, k].min()), float(d[:, k].max())) for k in range(len(params))], orbit


def ns(ctx: Context) -> Outcome:
    """The derived Neimark-Sacker counterexamples: critical values, multipliers, l1, orbits, both schedules."""
    s = ctx.settings
    toy, lin = NSToy(), LinearNSToy()
    t0 = time.perf_counter()
    vc = find_bifurcation(toy.jacobian, 0.6, 3.0)
    t_bif = time.perf_counter() - t0

    def pcn_family(v: float) -> torch.Tensor:
        net, learned, x0, y = toy.as_pcn(v)
        tmap = training_map(net, x0, y, toy.gamma, toy.alpha, "alternating", learned)
        return jacobian(tmap, tmap.initial_state())

    vc_pcn = find_bifurcation(pcn_family, 1.5, 2.5, tol=1e-11)
    eig = eigenvalues(toy.jacobian(vc))
    lead = eig[int(torch.argmax(eig.imag))]
    h = 1e-5
    fd = (spectral_radius(toy.jacobian(vc + h)) - spectral_radius(toy.jacobian(vc - h))) / (2 * h)
    l1 = first_lyapunov_coefficient(lambda z: toy.step(z, vc), toy.fixed_point(vc))
    yc = find_bifurcation(lin.jacobian, 4.0, 5.0)
    l1_lin = first_lyapunov_coefficient(lambda z: lin.step(z, yc), lin.fixed_point(yc))
    kind = classify_crossing(eig)
    # orbits: below v_c, and the spec's offsets above it
    offsets = sorted(ORBIT_REF)
    params = [vc - 0.05, *(vc + o for o in offsets)]
    stats, orbit = _orbits(toy, params, s.ns_iters, s.ns_window)
    lin_stats, _ = _orbits(lin, [yc + 0.05], s.lin_iters, min(s.ns_window, s.lin_iters // 2))
    # bifurcation diagram and |lambda| of both schedules along v
    grid = [vc - 0.08 + 0.2 * i / max(s.grid - 1, 1) for i in range(s.grid)]
    diag, _ = _orbits(toy, grid, s.ns_iters, s.ns_window)
    vs = [0.6 + 1.8 * i / (4 * s.grid - 1) for i in range(4 * s.grid)]
    curves: dict[str, list[float]] = {"alternating": [], "simultaneous": []}
    max_imag_sim = 0.0
    for v in vs:
        net, learned, x0, y = toy.as_pcn(v)
        for sched in curves:
            tmap = training_map(net, x0, y, toy.gamma, toy.alpha, sched, learned)
            e = eigenvalues(jacobian(tmap, tmap.initial_state()))
            curves[sched].append(spectral_radius(e))
            if sched == "simultaneous":
                max_imag_sim = max(max_imag_sim, float(e.imag.abs().max()))
    rows = [
        {"quantity": "v_c (bisection on rho - 1)", "spec": f"{V_C:.15f}", "ours": f"{vc:.15f}"},
        {"quantity": "v_c via the PCN's training map", "spec": f"{V_C:.15f}", "ours": f"{vc_pcn:.12f}"},
        {"quantity": "multipliers at v_c", "spec": "-0.725 +- 0.688749i", "ours": f"{lead.real:.6f} +- {lead.imag:.6f}i"},
        {"quantity": "angle / pi", "spec": "0.75816", "ours": f"{math.atan2(lead.imag, lead.real) / math.pi:.5f}"},
        {"quantity": "d|lambda|/dv (finite difference)", "spec": "0.6765", "ours": f"{fd:.4f}"},
        {"quantity": "first Lyapunov coefficient", "spec": "-1.49", "ours": f"{l1:.4f}"},
        {"quantity": "crossing", "spec": "neimark-sacker", "ours": kind},
        {"quantity": "linear toy y_c", "spec": f"2 sqrt 5 = {2 * math.sqrt(5):.12f}", "ours": f"{yc:.12f}"},
        {"quantity": "linear toy l1", "spec": "-0.675", "ours": f"{l1_lin:.4f}"},
        {"quantity": "linear y_c + 0.05 distance", "spec": "[0.0358, 0.2890]", "ours": f"[{lin_stats[0][0]:.4f}, {lin_stats[0][1]:.4f}]"},
        {"quantity": "v_c - 0.05 max distance", "spec": "< 1e-10", "ours": f"{stats[0][1]:.2e}"},
        *({"quantity": f"v_c + {o} distance", "spec": f"[{ORBIT_REF[o][0]}, {ORBIT_REF[o][1]}]",
           "ours": f"[{st[0]:.4f}, {st[1]:.4f}]"} for o, st in zip(offsets, stats[1:])),
        {"quantity": "simultaneous max |Im lambda|", "spec": "0 (real spectrum)", "ours": f"{max_imag_sim:.1e}"},
        {"quantity": "bisection seconds", "spec": "< 1", "ours": f"{t_bif:.3f}"},
    ]  # fmt: skip
    above = [st for o, st in zip(offsets, stats[1:]) if o >= 0.02]
    claims = [
        Claim(
            "v_c of the derived counterexample (bisection)", f"{V_C:.9f}", f"{vc:.9f}", abs(vc - V_C) < 1e-9
        ),
        Claim(
            "stable below v_c: distance at v_c - 0.05", "< 1e-10", f"{stats[0][1]:.1e}", stats[0][1] < 1e-10
        ),
        Claim(
            "bounded invariant orbit at v_c + 0.02..0.08: min > 0.01, max < 0.5",
            "[0.0441, 0.4477]",
            f"[{min(a for a, _ in above):.4f}, {max(b for _, b in above):.4f}]",
            all(a > 0.01 and b < 0.5 for a, b in above),
        ),
        Claim(
            "complex-pair crossing (Neimark-Sacker), |lambda| = 1",
            "-0.725 +- 0.6887i",
            f"{lead.real:.4f} +- {lead.imag:.4f}i",
            kind == "neimark-sacker" and abs(float(lead.abs()) - 1) < 1e-9,
        ),
        Claim(
            "first Lyapunov coefficient nonzero (supercritical)", "-1.49", f"{l1:.3f}", abs(l1 + 1.49) < 0.01
        ),
        Claim(
            "simultaneous schedule: real spectra (max |Im|)", "0", f"{max_imag_sim:.1e}", max_imag_sim < 1e-9
        ),
    ]
    data = {"vc": vc, "orbit": orbit[-min(4000, s.ns_iters) :, -2].clone(), "orbit_v": params[-2],
            "fp": toy.fixed_point(params[-2]), "grid": grid, "diag": diag, "vs": vs, "curves": curves}  # fmt: skip
    return Outcome(rows=rows, claims=claims, data=data)


def _train(ctx: Context) -> tuple[PCNClassifier, BackpropClassifier, PCNDigitsDataModule, float, float]:
    key = (ctx.seed, ctx.settings.epochs)
    if key not in _TRAINED:
        dm = PCNDigitsDataModule(batch_size=32, seed=ctx.seed)
        out = []
        for cls in (PCNClassifier, BackpropClassifier):
            pl.seed_everything(ctx.seed, workers=True, verbose=False)
            model = cls(layer_sizes=[64, 64, 10], activation="tanh", lr=0.05, momentum=0.9)
            trainer = ctx.trainer(
                max_epochs=ctx.settings.epochs,
                accelerator="cpu",
                limit_val_batches=0,
                limit_train_batches=ctx.settings.batches,
            )
            t0 = time.perf_counter()
            trainer.fit(model, datamodule=dm)
            out.append((model.eval(), time.perf_counter() - t0))
        _TRAINED[key] = (out[0][0], out[1][0], dm, out[0][1], out[1][1])
    return _TRAINED[key]


def certificate(ctx: Context) -> Outcome:
    """Scale the trained PCN's weights by c; certificate, spectral radius and convergence from zeros."""
    s = ctx.settings
    pcn, _, dm, _, _ = _train(ctx)
    dm.setup()
    x = dm.datasets["test"].tensors[0][: s.inputs].to(DT)  # type: ignore[index]  # set: dm.setup() ran above
    rows, pairs = [], []
    for gamma in GAMMAS:
        for c in SCALES:
            net = type(pcn.net)(pcn.net.layer_sizes, pcn.net.activation).double()
            net.load_state_dict(pcn.net.state_dict())
            with torch.no_grad():
                for weight in net.weights:
                    weight.mul_(c)
            cert = certify_local(net, gamma)
            rhos = [
                spectral_radius(torch.linalg.eigvalsh(prediction_jacobian_closed_form(net, xi, gamma)))
                for xi in x
            ]
            ff = net.feedforward(x)
            xs = net.infer(x, None, steps=s.steps, gamma=gamma, init="zeros")
            dist = torch.stack([(a - b).abs().amax(1) for a, b in zip(xs[1:], ff[1:])]).amax(0)
            conv = [bool(d < 1e-6) for d in dist]
            pairs += [(cert.holds, r, cv) for r, cv in zip(rhos, conv)]
            rows.append({"gamma": gamma, "c": c, "beta": round(cert.beta, 3), "certified": cert.holds,
                         "rho_bound": round(cert.bound, 4) if math.isfinite(cert.bound) else "inf",
                         "rho_min": round(min(rhos), 4), "rho_max": round(max(rhos), 4),
                         "converged": f"{sum(conv)}/{len(conv)}", "spec": CERT_REF.get((gamma, c), "")})  # fmt: skip
    cert_ok = all(cv for h, _, cv in pairs if h)
    low_ok = all(cv for _, r, cv in pairs if r < 0.98)
    high_ok = all(not cv for _, r, cv in pairs if r > 1)
    n_cert = sum(h for h, _, _ in pairs)
    n_low = sum(r < 0.98 for _, r, _ in pairs)
    n_high = sum(r > 1 for _, r, _ in pairs)
    claims = [
        Claim("certified => converged (inputs x scales x gammas)", "gamma 0.5, c 0.25: 20/20", f"{n_cert} certified, all converged: {cert_ok}", cert_ok and n_cert > 0),
        Claim("rho < 0.98 => converged", "gamma 0.1, c <= 1 converge", f"{n_low} cases, all converged: {low_ok}", low_ok and n_low > 0),
        Claim("rho > 1 => not converged", "c >= 0.5 (gamma 0.5), 1.5 (0.1): 0/20", f"{n_high} cases, none converged: {high_ok}", high_ok and n_high > 0),
    ]  # fmt: skip
    return Outcome(rows=rows, claims=claims, data={"rows": rows})


def digits(ctx: Context) -> Outcome:
    """Test accuracy of the PCN and of the backprop MLP (same data, epochs, optimiser)."""
    pcn, bp, dm, t_pcn, t_bp = _train(ctx)
    dm.setup()
    x, y = dm.datasets["test"].tensors  # type: ignore[index]  # set: dm.setup() ran above
    with torch.no_grad():
        acc = {n: float((m(x).argmax(1) == y).float().mean()) for n, m in (("pcn", pcn), ("backprop", bp))}
    rows = [
        {"model": "PCN (T=20, gamma=0.1)", "test_acc": round(acc["pcn"], 4), "fit_s": round(t_pcn, 1), "spec_acc": 0.959, "spec_s": 26},
        {"model": "backprop MLP", "test_acc": round(acc["backprop"], 4), "fit_s": round(t_bp, 1), "spec_acc": 0.972, "spec_s": 2},
    ]  # fmt: skip
    gap = acc["backprop"] - acc["pcn"]
    claims = [
        Claim("PCN test accuracy on digits >= 0.90", "0.959", f"{acc['pcn']:.3f}", acc["pcn"] >= 0.90),
        Claim("PCN within 0.05 of backprop", "0.972 - 0.959 = 0.013", f"{gap:.3f}", gap <= 0.05),
    ]
    return Outcome(rows=rows, claims=claims, data=acc)


def plot(outcomes: Mapping[str, Any], plt: Any) -> Any:
    """Phase portrait, bifurcation diagram, |lambda| vs v, the certificate grid, digits accuracies."""
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    ax = axes.flat
    if "ns" in outcomes:
        d = outcomes["ns"].data
        orb, fp = d["orbit"].numpy(), d["fp"].numpy()
        ax[0].plot(orb[:, 0], orb[:, 1], ".", ms=1.5, label="orbit (last iterations)")
        ax[0].plot(fp[0], fp[1], "rx", ms=8, label="unstable fixed point")
        ax[0].set(xlabel="hidden node h", ylabel="learned weight w",
                  title=f"Invariant curve of the derived counterexample, v = v_c + {d['orbit_v'] - d['vc']:.2f}")  # fmt: skip
        ax[0].legend()
        g = [v - d["vc"] for v in d["grid"]]
        ax[1].plot(g, [a for a, _ in d["diag"]], "o-", label="min distance")
        ax[1].plot(g, [b for _, b in d["diag"]], "s-", label="max distance")
        ax[1].axvline(0, color="gray", ls=":", label="v_c")
        ax[1].axvspan(0.02, 0.08, color="green", alpha=0.1, label="asserted range v_c + 0.02..0.08")
        ax[1].axhline(0.01, color="r", ls="--", lw=0.8, label="asserted min > 0.01")
        ax[1].axhline(0.5, color="r", ls="-.", lw=0.8, label="asserted max < 0.5")
        ax[1].set(xlabel="v - v_c (output weight, dimensionless)", ylabel="distance to fixed point",
                  title="Bifurcation diagram (distance over the last iterations)")  # fmt: skip
        ax[1].legend(fontsize=8)
        for sched, ys in d["curves"].items():
            ax[2].plot(d["vs"], ys, label=f"{sched} schedule")
        ax[2].axhline(1, color="gray", ls=":", label="|lambda| = 1")
        ax[2].axvline(d["vc"], color="r", ls="--", lw=0.8, label=f"v_c = {d['vc']:.4f}")
        ax[2].set(xlabel="output weight v", ylabel="spectral radius max |lambda|",
                  title="Training-map multipliers at the fixed point")  # fmt: skip
        ax[2].legend(fontsize=8)
    if "certificate" in outcomes:
        rows = outcomes["certificate"].data["rows"]
        for gamma, mk in zip(GAMMAS, ("o", "s")):
            rs = [r for r in rows if r["gamma"] == gamma]
            ax[3].plot(
                [r["c"] for r in rs], [r["rho_max"] for r in rs], mk + "-", label=f"max rho, gamma = {gamma}"
            )
            conv = [int(r["converged"].split("/")[0]) / int(r["converged"].split("/")[1]) for r in rs]
            ax[4].plot([r["c"] for r in rs], conv, mk + "-", label=f"gamma = {gamma}")
        ax[3].set_yscale("log")
        ax[3].axhline(1, color="r", ls="--", label="rho = 1")
        ax[3].axhline(0.98, color="orange", ls=":", label="rho = 0.98")
        ax[3].set(xlabel="weight scale c", ylabel="spectral radius of the prediction map (log)",
                  title="Prediction stage of the trained PCN, weights x c")  # fmt: skip
        ax[3].legend(fontsize=8)
        ax[4].set(xlabel="weight scale c", ylabel="fraction of test inputs converged",
                  title="Prediction stage from zeros reaches the feedforward pass", ylim=(-0.05, 1.05))  # fmt: skip
        ax[4].legend(fontsize=8)
    if "digits" in outcomes:
        acc = outcomes["digits"].data
        ax[5].bar(["PCN", "backprop"], [acc["pcn"], acc["backprop"]], color=["C0", "C1"])
        ax[5].axhline(0.90, color="r", ls="--", label="asserted PCN >= 0.90")
        ax[5].set(
            ylabel="test accuracy (fraction)",
            ylim=(0.0, 1.0),
            title="Digits test accuracy, 64-64-10 tanh, same epochs",
        )
        ax[5].legend(loc="lower center")
    fig.tight_layout()
    return fig


# tiny tensors: one thread is 20-40x faster than two on 2-core machines (spec "Performance")
REPRODUCTION = Reproduction("pcn", __doc__ or "", [ns, certificate, digits], SETTINGS, plot=plot, threads=1)
main = REPRODUCTION.main

if __name__ == "__main__":
    raise SystemExit(main())
