"""ExpCLR's cost against SimCLR-TS (the augmentation baseline users would otherwise pick).

Run with ``nox -s "bench(expclr, cpu)"`` (JSON to ``.benchmarks/expclr-cpu.json``). Groups:

- ``step-b<N>``: one optimisation step (forward, loss, backward, Adam) of the same ResNet encoder
  on a batch of N SineBands series: ExpCLR (one encoder pass per sample) vs SimCLR-TS (two
  augmented views, two passes, projection head, NT-Xent).
- ``loss-only-b<N>``: the ExpCLR loss alone (forward + backward on fixed representations) at
  N = 64, 128, 256, to compare with the step time of the same group size (target < 10 %).
"""

from __future__ import annotations

import pytest
import torch

from ballroom.expclr import ExpCLRModule, SimCLRTSModule, expclr_loss, make_sine_bands

ENCODER = "expclr-resnet"  # the paper's encoder: 8 blocks, width 64, e = 100


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("batch", [64, 256])
@pytest.mark.parametrize("method", ["expclr", "simclr_ts"])
def test_step(benchmark: pytest.FixtureRequest, device: torch.device, method: str, batch: int) -> None:
    benchmark.group = f"step-b{batch}"  # type: ignore[attr-defined]
    torch.manual_seed(0)
    x, _ = make_sine_bands(batch, seed=0)
    x = x.to(device)
    f = torch.randn(batch, 18, device=device)
    mask = torch.ones(batch, 128, dtype=torch.bool, device=device)
    module = (ExpCLRModule(ENCODER) if method == "expclr" else SimCLRTSModule(ENCODER)).to(device)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    batch_t = (x, f, torch.full((batch,), -1, device=device), mask)

    def step() -> None:
        loss, _ = module._loss(batch_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        _sync(device)

    step()
    benchmark.pedantic(step, rounds=5 if device.type == "cpu" else 50, iterations=1, warmup_rounds=1)  # type: ignore[attr-defined]


@pytest.mark.parametrize("batch", [64, 128, 256])
def test_loss_only(benchmark: pytest.FixtureRequest, device: torch.device, batch: int) -> None:
    benchmark.group = f"loss-only-b{batch}"  # type: ignore[attr-defined]
    g = torch.Generator().manual_seed(0)
    z = torch.randn(batch, 100, generator=g).to(device).requires_grad_(True)
    f = torch.randn(batch, 18, generator=g).to(device)

    def run() -> None:
        expclr_loss(z, f).backward()
        _sync(device)

    benchmark(run)  # type: ignore[operator]
