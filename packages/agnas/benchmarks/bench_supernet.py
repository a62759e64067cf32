"""Supernet training-step time and activation memory: ours vs the official module formulation vs a
DARTS-1st supernet of the same size, side by side in one run.

``nox -s "bench(agnas, cpu)"`` -> ``.benchmarks/agnas-cpu.json`` (time); the memory table is printed
by ``python packages/agnas/benchmarks/bench_supernet.py`` (ratios for the README).

The official formulation (implemented here as the reference, checked equal to ours): every op's
output including ``none``'s zeros is concatenated into ``Z (B, 8C, H, W)``, SE runs on ``Z``,
``Z * a`` is materialised and its 8 chunks summed. Ours pools each op separately, multiplies each
output by its attention chunk and never builds ``Z`` nor ``Z * a``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.agnas import AttentionMixedOp, AttentionSupernet, DartsSupernet, op_importance
from ballroom.core.profiling import round_robin, saved_tensor_bytes

B, SIDE, C, LAYERS, REDUCTIONS = 32, 16, 4, 3, [1]


class OfficialMixedOp(AttentionMixedOp):
    """The official computation on our parameter layout (same weights, same outputs)."""

    def forward(self, x: Tensor, weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
        Z = torch.cat([op(x) for op in self.ops], dim=1)
        a = self.attention(Z.mean((2, 3)))
        out = Z * a[:, :, None, None]
        y = sum(out[:, k * self.C : (k + 1) * self.C] for k in range(len(self.ops)))
        return y, op_importance(a, len(self.ops))  # official: .item() per op; kept on device here


class OfficialSupernet(AttentionSupernet):
    def _mixed_factory(self):
        prims = self.primitives
        return lambda c, s: OfficialMixedOp(c, s, prims)


def _models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    ours = AttentionSupernet(C=C, layers=LAYERS, reductions=REDUCTIONS)
    official = OfficialSupernet(C=C, layers=LAYERS, reductions=REDUCTIONS)
    official.load_state_dict(ours.state_dict())
    darts = DartsSupernet(C=C, layers=LAYERS, reductions=REDUCTIONS)
    return {"agnas (ours)": ours, "official formulation": official, "darts-1st": darts}


def _batch() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, 3, SIDE, SIDE, generator=g), torch.randint(0, 10, (B,), generator=g)


def _step(model: torch.nn.Module, x: Tensor, y: Tensor) -> None:
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def saved_activation_bytes(model: torch.nn.Module, x: Tensor, y: Tensor) -> int:
    """Bytes of the distinct storages autograd saves for backward in one training step (core's count)."""
    return saved_tensor_bytes(lambda: F.cross_entropy(model(x), y))


def test_official_formulation_is_equal_to_ours() -> None:
    models = _models()
    x, _ = _batch()
    ours, official = models["agnas (ours)"].eval(), models["official formulation"].eval()
    lo, io = ours(x, return_importance=True)
    lr, ir = official(x, return_importance=True)
    torch.testing.assert_close(lo, lr, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(io, ir, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", ["agnas (ours)", "official formulation", "darts-1st"])
def test_supernet_step(benchmark: pytest.FixtureRequest, name: str) -> None:
    benchmark.group = "supernet-step"
    model = _models()[name].train()
    x, y = _batch()
    benchmark.pedantic(_step, args=(model, x, y), rounds=5, warmup_rounds=1)


def main() -> None:
    torch.set_num_threads(1)
    models = _models()
    x, y = _batch()
    mem = {name: saved_activation_bytes(m.train(), x, y) for name, m in models.items()}

    def three_steps(m: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            for _ in range(3):
                _step(m, x, y)

        return run

    # interleaved rounds (core's round_robin), best of each
    timed = round_robin({name: three_steps(m) for name, m in models.items()}, rounds=3, warmup=1)
    times = {name: t.min / 3 for name, t in timed.items()}
    ours = "agnas (ours)"
    print(f"supernet C={C}, {LAYERS} cells, batch {B}, {SIDE}x{SIDE}, 1 thread (CPU)")
    print("| model | step (ms) | saved activations (MiB) | ours / this (time) | ours / this (memory) |")
    print("|---|---|---|---|---|")
    for name in models:
        print(f"| {name} | {1000 * times[name]:.0f} | {mem[name] / 2**20:.1f} | "
              f"{times[ours] / times[name]:.2f} | {mem[ours] / mem[name]:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
