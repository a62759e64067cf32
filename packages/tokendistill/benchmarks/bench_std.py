"""STD's cost against the baselines on the same host, side by side in one run.

* training step (forward + backward + AdamW, teacher excluded: its argmax labels are precomputed):
  ``base`` (host, CE), ``kd_head`` (DeiT-style second head, no tokens), ``std`` (one 2-layer module
  after the last block). Target: ``std <= 1.25 x kd_head``.
* saved-activation bytes of one training forward (what autograd keeps: the CPU stand-in for peak
  memory; on CUDA ``torch.cuda.max_memory_allocated`` is reported as well).
* inference: ``STDStudent.predict`` (averaged heads) against the plain host's forward.

``nox -s "bench(tokendistill, cpu)"`` -> ``.benchmarks/tokendistill-cpu.json``; or
``python packages/tokendistill/benchmarks/bench_std.py`` prints the ratio table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from ballroom.core.profiling import round_robin, saved_tensor_bytes
from ballroom.tokendistill.mixer import MLPMixer
from ballroom.tokendistill.nn import KDHeadStudent, STDStudent

HOSTS: dict[str, dict[str, Any]] = {
    # the reproduction's digits host (P = 16, N = 64, depth 4) and a CIFAR-size one (P = 64, N = 128, depth 8)
    "digits": {"img_size": 8, "patch_size": 2, "in_chans": 1, "num_classes": 10, "dim": 64, "depth": 4,
               "token_hidden": 32, "channel_hidden": 128},
    "cifar": {"img_size": 32, "patch_size": 4, "in_chans": 3, "num_classes": 100, "dim": 128, "depth": 8,
              "token_hidden": 64, "channel_hidden": 512},
    # the spec's host, Mixer-S/16 at 224 x 224 (P = 196, N = 512, depth 8): the size its cost estimate
    # (a 2-layer module ~0.46 GMACs on ~3.8 G) is stated for
    "s16": {"img_size": 224, "patch_size": 16, "in_chans": 3, "num_classes": 1000, "dim": 512, "depth": 8,
            "token_hidden": 256, "channel_hidden": 2048},
}  # fmt: skip
BATCH = {"digits": 64, "cifar": 32, "s16": 4}
#: hosts timed by pytest-benchmark (the S/16 step takes seconds on a CPU: ``main`` only, ``--hosts s16``)
BENCH_HOSTS = ("cifar", "digits")
VARIANTS = ("base", "kd_head", "std")


def build(variant: str, host: str, device: torch.device, modules: int = 1) -> torch.nn.Module:
    """``modules = 1``: one STD module after the last block (one teacher); ``2``: the paper's two-teacher
    layout, modules after block ``floor(2 depth / 3)`` and the last one, against a two-head ``kd_head``."""
    torch.manual_seed(0)
    mixer = MLPMixer(**HOSTS[host])
    taps = (STDStudent.two_thirds(mixer.depth), -1) if modules == 2 else (-1,)
    if variant == "base":
        net: torch.nn.Module = mixer
    elif variant == "kd_head":
        net = KDHeadStudent(mixer, num_teachers=modules)
    else:
        net = STDStudent(mixer, tap_blocks=taps, num_teachers=modules)
    return net.to(device)


def train_step(net: torch.nn.Module, device: torch.device, host: str) -> Callable[[], None]:
    """One optimizer step on a fixed batch; the teacher's hard labels are given (excluded from the time)."""
    cfg = HOSTS[host]
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH[host], cfg["in_chans"], cfg["img_size"], cfg["img_size"], generator=gen).to(device)
    y = torch.randint(0, cfg["num_classes"], (BATCH[host],), generator=gen).to(device)
    y_teacher = torch.randint(0, cfg["num_classes"], (BATCH[host],), generator=gen).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)

    def step() -> None:
        out = net(x)
        if isinstance(out, torch.Tensor):
            loss = F.cross_entropy(out, y)
        else:
            dist = [F.cross_entropy(d, y_teacher) for d in out.dist_logits]
            loss = 0.5 * F.cross_entropy(out.cls_logits, y) + 0.5 * sum(dist) / len(dist)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def saved_bytes(net: torch.nn.Module, device: torch.device, host: str) -> int:
    """Bytes of the activations autograd saves for backward in one training forward (weights excluded)."""
    cfg = HOSTS[host]
    x = torch.randn(BATCH[host], cfg["in_chans"], cfg["img_size"], cfg["img_size"], device=device)
    return saved_tensor_bytes(lambda: net(x), exclude=net.parameters())


def infer(net: torch.nn.Module, device: torch.device, host: str) -> Callable[[], None]:
    cfg = HOSTS[host]
    x = torch.randn(BATCH[host], cfg["in_chans"], cfg["img_size"], cfg["img_size"], device=device)
    net.eval()
    fn = net.predict if hasattr(net, "predict") else net

    def run() -> None:
        with torch.no_grad():
            fn(x)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return run


@pytest.mark.parametrize("host", BENCH_HOSTS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_train_step(benchmark: Any, device: torch.device, host: str, variant: str) -> None:
    benchmark.group = f"train-step-{host}"
    net = build(variant, host, device)
    benchmark.extra_info["saved_activation_bytes"] = saved_bytes(net, device, host)
    benchmark(train_step(net, device, host))


@pytest.mark.parametrize("host", BENCH_HOSTS)
@pytest.mark.parametrize("variant", ["base", "std"])
def test_inference(benchmark: Any, device: torch.device, host: str, variant: str) -> None:
    benchmark.group = f"inference-{host}"
    benchmark(infer(build(variant, host, device), device, host))


def main(argv: list[str] | None = None) -> None:
    """Print the ratio table (one thread, CPU unless a GPU is present)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="digits,cifar,s16", help="comma-separated names of HOSTS")
    parser.add_argument("--rounds", type=int, default=0, help="timed rounds (default: 40, 20, 7 by host)")
    parser.add_argument("--modules", type=int, default=1, choices=(1, 2), help="STD modules (teachers)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for host in args.hosts.split(","):
        if host not in HOSTS:
            raise SystemExit(f"--hosts: unknown host {host!r}; expected some of {sorted(HOSTS)}")
        rounds = args.rounds or {"digits": 40, "cifar": 20}.get(host, 7)
        nets = {v: build(v, host, device, args.modules) for v in VARIANTS}
        mem = {v: saved_bytes(nets[v], device, host) for v in VARIANTS}
        peak: dict[str, int] = {}
        steps = {v: train_step(nets[v], device, host) for v in VARIANTS}
        if device.type == "cuda":
            for v in VARIANTS:
                steps[v]()
                torch.cuda.reset_peak_memory_stats(device)
                steps[v]()
                peak[v] = torch.cuda.max_memory_allocated(device)
        times = {v: t.median for v, t in round_robin(steps, rounds).items()}
        infs = {v: infer(build(v, host, device, args.modules), device, host) for v in ("base", "std")}
        inf = {v: t.median for v, t in round_robin(infs, rounds).items()}
        print(
            f"\n{host} host, batch {BATCH[host]}, {args.modules} module(s), {device}, median of {rounds} rounds:"
        )
        for v in VARIANTS:
            print(f"  train step {v:8s} {1e3 * times[v]:8.2f} ms  ({times[v] / times['kd_head']:.2f}x kd_head, "
                  f"{times[v] / times['base']:.2f}x base)  saved activations {mem[v] / 2**20:7.2f} MiB "
                  f"({mem[v] / mem['kd_head']:.2f}x kd_head)")  # fmt: skip
            if v in peak:
                print(
                    f"    CUDA peak memory {peak[v] / 2**20:.1f} MiB ({peak[v] / peak['kd_head']:.2f}x kd_head)"
                )
        print(f"  inference: predict (averaged heads) {1e3 * inf['std']:.2f} ms vs host {1e3 * inf['base']:.2f} ms "
              f"({inf['std'] / inf['base']:.2f}x; throughput {BATCH[host] / inf['std']:.0f} vs "
              f"{BATCH[host] / inf['base']:.0f} images/s)")  # fmt: skip


if __name__ == "__main__":
    main()
