"""D_LSBD (ours: one PCA per subgroup, closed-form dispersion for all 21 frequencies) against the
official numpy formulation (sklearn PCA refitted for each of the 441 frequency combinations), and
the LSBD-VAE training step against a plain VAE of the same backbone, side by side.

``nox -s "bench(lsbd, cpu)"`` -> ``.benchmarks/lsbd-cpu.json``. Report ratios, not CPU seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from ballroom.lsbd import dlsbd
from ballroom.lsbd.zoo import create


def official_dlsbd(z: np.ndarray, lo: int = -10, hi: int = 10) -> tuple[float, tuple[int, ...]]:
    """The official metric's formulation, written here from the spec: for every omega combination
    (meshgrid "ij" order) and every subgroup, remove the factor's mean, fit sklearn PCA(2), normalise
    by sqrt(2) * std, un-rotate, take the dispersion; mean over subgroups; first minimum."""
    from sklearn.decomposition import PCA

    shape = z.shape[:-1]
    k_count = len(shape)
    combos = np.stack(np.meshgrid(*[np.arange(lo, hi + 1)] * k_count, indexing="ij"), -1).reshape(-1, k_count)
    best, arg = np.inf, None
    for omega in combos:
        total = 0.0
        for k in range(k_count):
            zk = (z - z.mean(axis=k, keepdims=True)).reshape(-1, z.shape[-1])
            pca = PCA(n_components=2, svd_solver="full").fit(zk)
            y = pca.transform(zk) / (np.sqrt(2) * np.sqrt(pca.singular_values_**2 / (len(zk) - 1)))
            theta = np.broadcast_to(
                (2 * np.pi * np.arange(shape[k]) / shape[k]).reshape(
                    [-1 if a == k else 1 for a in range(k_count)]
                ),
                shape,
            ).reshape(-1)
            a = -omega[k] * theta
            p = np.stack(
                [np.cos(a) * y[:, 0] - np.sin(a) * y[:, 1], np.sin(a) * y[:, 0] + np.cos(a) * y[:, 1]], 1
            )
            total += np.mean(np.sum((p - p.mean(0)) ** 2, 1))
        score = total / k_count
        if score < best:
            best, arg = score, tuple(int(o) for o in omega)
    return float(best), arg  # type: ignore[return-value]


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    t1, t2 = np.meshgrid(2 * np.pi * np.arange(64) / 64, 2 * np.pi * np.arange(64) / 64, indexing="ij")
    z = np.stack([np.cos(t1), np.sin(t1), np.cos(2 * t2), np.sin(2 * t2)], -1)
    rng = np.random.default_rng(0)
    return np.concatenate([z, 0.1 * rng.normal(size=(64, 64, 6))], -1)  # d = 10


def test_dlsbd_ours(benchmark: pytest.FixtureRequest, codes: np.ndarray) -> None:
    benchmark.group = "dlsbd-64x64-d10"
    score, omega = benchmark(dlsbd, codes)
    ref_score, ref_omega = official_dlsbd(codes)
    assert score == pytest.approx(ref_score, abs=1e-10) and tuple(map(abs, omega)) == tuple(
        map(abs, ref_omega)
    )


def test_dlsbd_official_formulation(benchmark: pytest.FixtureRequest, codes: np.ndarray) -> None:
    benchmark.group = "dlsbd-64x64-d10"
    benchmark.pedantic(official_dlsbd, (codes,), rounds=1, iterations=1)


def _step(model: str, supervised: bool) -> tuple[object, tuple]:
    torch.manual_seed(0)
    net = create(model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7, fused=True)
    x = torch.rand(32, 2, 1, 16, 16)
    angles = torch.rand(32, 2, 2) * 6.28

    def run() -> None:
        out = (
            net.supervised_loss(x, angles, 100.0, recon="sse")
            if supervised
            else net.unsupervised_loss(x.flatten(0, 1), "sse")
        )
        opt.zero_grad()
        out["loss"].backward()
        opt.step()

    return run, ()


@pytest.mark.parametrize(
    ("name", "model", "supervised"),
    [
        ("lsbd-supervised", "lsbd-square16", True),
        ("lsbd-unsupervised", "lsbd-square16", False),
        ("plain-vae", "lsbd-vae-square16", False),
    ],
)
def test_train_step_64_images(
    benchmark: pytest.FixtureRequest, name: str, model: str, supervised: bool
) -> None:
    benchmark.group = "train-step-64-images"
    run, args = _step(model, supervised)
    benchmark(run, *args)


def test_train_step_ratios_round_robin(benchmark: pytest.FixtureRequest) -> None:
    """The three steps timed in alternation (core's ``round_robin``: 20 rounds of a chunk of 20 steps
    each, after two warm-up chunks), so the machine's load hits them alike; medians and the ratios to
    the plain VAE go to ``extra_info``."""
    from ballroom.core.profiling import round_robin

    benchmark.group = "train-step-64-images-round-robin"
    runs = {
        "lsbd-supervised": _step("lsbd-square16", True)[0],
        "lsbd-unsupervised": _step("lsbd-square16", False)[0],
        "plain-vae": _step("lsbd-vae-square16", False)[0],
    }

    def chunk(run: Callable[[], None]) -> Callable[[], None]:
        def twenty_steps() -> None:
            for _ in range(20):
                run()

        return twenty_steps

    def timed() -> dict[str, float]:
        timings = round_robin({k: chunk(run) for k, run in runs.items()}, rounds=20, warmup=2)  # type: ignore[arg-type]
        return {k: t.median / 20 for k, t in timings.items()}

    med = benchmark.pedantic(timed, rounds=1, iterations=1)
    for key, value in med.items():
        benchmark.extra_info[f"{key}_ms"] = round(1e3 * value, 3)
        benchmark.extra_info[f"{key}_over_plain_vae"] = round(value / med["plain-vae"], 3)
    print({k: round(v / med["plain-vae"], 3) for k, v in med.items()})
