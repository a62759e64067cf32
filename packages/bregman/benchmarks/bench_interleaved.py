"""Load-robust step-time ratios: every variant timed in interleaved rounds, the median of the rounds reported.

A shared machine drifts by tens of percent between runs, so separate pytest-benchmark groups
(``bench_models.py``) give ratios that move with the load. Here every round times every variant
in turns of a few steps (the order rotates from round to round), each round gives one ratio per
variant (median step time of the variant / median step time of the standard net, both from the
same round) and the report is the median of those per-round ratios with their min and max.

Run it as a script (``python packages/bregman/benchmarks/bench_interleaved.py [--rounds 9]``) or
through ``nox -s "bench(bregman, cpu)"`` (a shorter run: ``test_interleaved_ratios``; the table
is printed and stored in the benchmark JSON's ``extra_info``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ballroom.bregman import BregmanMLP, bregman_resnet20, scale_to_range

# the official-formulation MLP lives beside us in bench_models.py (pytest's importlib mode puts no
# test folder on sys.path, so name it here)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import OfficialStyleMLP

Step = Callable[[], None]


def _standard_mlp(depth: int, width: int, act: str) -> nn.Module:
    layer = nn.Sigmoid if act == "sigmoid" else nn.Tanh
    layers: list[nn.Module] = [nn.Linear(64, width), layer()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), layer()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def _stepper(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Step:
    def step() -> None:
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        if x.is_cuda:
            torch.cuda.synchronize()

    return step


def mlp_variants(act: str, device: torch.device, depth: int = 20, width: int = 64) -> dict[str, Step]:
    """Standard MLP, ours (the default: fused stack, carried pre-activation), ours with the explicit
    inverse in every layer (``carry_preactivation=False``), plain autograd, the official formulation."""
    torch.manual_seed(0)
    x = scale_to_range(torch.rand(128, 64), act).to(device)
    y = torch.randint(0, 10, (128,)).to(device)
    ours = BregmanMLP(64, [width] * depth, 10, act, check_inputs=False).to(device)
    explicit = BregmanMLP(64, [width] * depth, 10, act, check_inputs=False, carry_preactivation=False)
    plain = BregmanMLP(64, [width] * depth, 10, act, check_inputs=False, fused_backward=False)
    for other in (explicit, plain):
        other.load_state_dict(ours.state_dict())
        other.to(device)
    official = OfficialStyleMLP(ours).to(device)
    reference = official(x)
    for net in (ours, explicit, plain):  # every variant is the same function
        torch.testing.assert_close(net(x), reference, rtol=1e-5, atol=1e-5)
    nets = {
        "standard": _standard_mlp(depth, width, act).to(device),
        "ours": ours,
        "ours (explicit inverse)": explicit,
        "ours (plain autograd)": plain,
        "official formulation": official,
    }
    return {k: _stepper(net, x, y) for k, net in nets.items()}


def resnet_variants(device: torch.device, batch: int = 32) -> dict[str, Step]:
    """ResNet-20 standard vs Bregman (carried pre-activations, the default) vs Bregman with the explicit
    inverse in every block (``carry_preactivation=False``, the block-by-block forward)."""
    torch.manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,)).to(device)
    ours = bregman_resnet20().to(device)
    explicit = bregman_resnet20(carry_preactivation=False)
    explicit.load_state_dict(ours.state_dict())
    explicit.to(device)
    torch.testing.assert_close(ours(x), explicit(x), rtol=1e-4, atol=1e-5)  # the same function
    nets = {
        "standard": bregman_resnet20(standard=True).to(device),
        "ours": ours,
        "ours (explicit inverse)": explicit,
    }
    return {k: _stepper(net, x, y) for k, net in nets.items()}


def interleaved(
    steps: dict[str, Step], rounds: int, per_round: int, warmup: int = 3, chunk: int = 5
) -> dict[str, list[float]]:
    """``{variant: [median step seconds of round r for r in rounds]}``.

    Inside a round the variants take turns in chunks of ``chunk`` timed steps (so a burst of load
    from other jobs hits every variant alike); the order of the turns rotates every round.
    """
    names = list(steps)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        samples: dict[str, list[float]] = {k: [] for k in names}
        for name in order:
            for _ in range(warmup):
                steps[name]()
        for _ in range(max(1, per_round // chunk)):
            for name in order:
                step = steps[name]
                for _ in range(chunk):
                    t0 = time.perf_counter()
                    step()
                    samples[name].append(time.perf_counter() - t0)
        for name in names:
            times[name].append(statistics.median(samples[name]))
    return times


def ratios(times: dict[str, list[float]], base: str = "standard") -> dict[str, tuple[float, float, float]]:
    """Per variant: (median, min, max) over rounds of (variant / ``base``) in the same round."""
    out = {}
    for name, ts in times.items():
        per_round = [t / b for t, b in zip(ts, times[base])]
        out[name] = (statistics.median(per_round), min(per_round), max(per_round))
    return out


def report(title: str, times: dict[str, list[float]]) -> str:
    lines = [f"{title}", f"{'variant':28s} {'median ms':>9s} {'ratio':>6s} {'min':>6s} {'max':>6s}"]
    for name, (med, lo, hi) in ratios(times).items():
        ms = statistics.median(times[name]) * 1e3
        lines.append(f"{name:28s} {ms:9.3f} {med:6.3f} {lo:6.3f} {hi:6.3f}")
    return "\n".join(lines)


def run(
    rounds: int, per_round: int, device: torch.device, resnet: bool = True
) -> dict[str, dict[str, list[float]]]:
    results = {}
    for act in ("sigmoid", "tanh"):
        results[f"MLP depth 20 width 64 batch 128, {act}"] = interleaved(
            mlp_variants(act, device), rounds, per_round
        )
    if resnet:
        batch = 128 if device.type == "cuda" else 32
        results[f"ResNet-20 batch {batch}"] = interleaved(
            resnet_variants(device, batch), rounds, max(2, per_round // 20), warmup=1, chunk=1
        )
    return results


@pytest.mark.benchmark(group="bregman-interleaved")
def test_interleaved_ratios(benchmark: pytest.FixtureRequest, device: torch.device) -> None:
    torch.set_num_threads(1)
    results = benchmark.pedantic(run, args=(5, 60, device), rounds=1, iterations=1)
    for title, times in results.items():
        print("\n" + report(title, times))
        benchmark.extra_info[title] = {k: list(v) for k, v in ratios(times).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--per-round", type=int, default=100, help="timed MLP steps per variant and round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-resnet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for title, times in run(args.rounds, args.per_round, device, not args.no_resnet).items():
        print(report(title, times) + "\n", flush=True)


if __name__ == "__main__":
    main()
