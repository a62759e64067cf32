"""Dual-form costs, ours against plain training / the primal layer / the official analysis formulation.

Run with ``nox -s "bench(dualform, cpu)"`` (JSON to ``.benchmarks/dualform-cpu.json``; add
``-- --run-slow`` for the MNIST-size memory run). Groups:

- ``train-step-<model>``: one SGD step (momentum 0.9, clip 1.0) of the paper's 784-800-800-10 MLP
  (batch 128) and of the digits 64-128-128-10 MLP (batch 32), plain vs under the recorder.
- ``forward-48k``: 256 queries through one 128->128 layer: the primal ``nn.Linear`` vs the dual
  form over 48 000 stored slots (1500 steps x batch 32, the reproduction's size).
- ``votes-48k``: class votes for 256 queries, ours (chunked ``class_scores``) vs the official
  analysis formulation (``abs(keys @ q)`` materialised, then per-class ``index_add``); scores agree
  to float tolerance and votes to > 99 % (asserted).
- ``mnist-size-fp16`` (slow): 5000 steps x batch 128 = 640 000 slots per layer of the 784-800-800-10
  MLP on 28x28 digits, stored in float16; memory and the measured dual/primal gap go to ``extra_info``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from ballroom.core.data import load_digits_images
from ballroom.dualform import DualFormMLP, DualFormRecorder, dual_primal_gap


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _step_fn(
    model: DualFormMLP, x: torch.Tensor, y: torch.Tensor, record: bool, device: torch.device
) -> Callable[[], None]:
    opt = torch.optim.SGD(model.parameters(), lr=3e-3, momentum=0.9)
    rec = DualFormRecorder(model, opt, device=device) if record else None

    def step() -> None:
        if rec is not None:
            rec.set_batch_meta(label=y)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        _sync(device)

    return step


@pytest.mark.parametrize("record", [False, True], ids=["plain", "recorded"])
@pytest.mark.parametrize("size", ["mnist-784-800-800-10-b128", "digits-64-128-128-10-b32"])
def test_train_step(benchmark: pytest.FixtureRequest, device: torch.device, size: str, record: bool) -> None:
    benchmark.group = f"train-step-{size}"  # type: ignore[attr-defined]
    torch.manual_seed(0)
    d_in, hidden, batch = (784, (800, 800), 128) if size.startswith("mnist") else (64, (128, 128), 32)
    model = DualFormMLP(d_in, hidden, 10).to(device)
    x, y = torch.randn(batch, d_in, device=device), torch.randint(0, 10, (batch,), device=device)
    step = _step_fn(model, x, y, record, device)
    for _ in range(5):
        step()
    benchmark.pedantic(step, rounds=200, iterations=1, warmup_rounds=5)  # type: ignore[attr-defined]


def _recorded_layer(
    device: torch.device, steps: int = 1500, batch: int = 32
) -> tuple[DualFormMLP, DualFormRecorder]:
    torch.manual_seed(0)
    model = DualFormMLP(64, (128, 128), 10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rec = DualFormRecorder(model, opt, device=device)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x, y = (
            torch.randn(batch, 64, generator=gen).to(device),
            torch.randint(0, 10, (batch,), generator=gen).to(device),
        )
        rec.set_batch_meta(label=y)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model, rec


@pytest.fixture(scope="module")
def recorded(request: pytest.FixtureRequest) -> tuple[DualFormMLP, DualFormRecorder]:
    return _recorded_layer(torch.device(request.config.getoption("--device")))


@pytest.mark.parametrize("path", ["primal", "dual"])
def test_forward_48k(
    benchmark: pytest.FixtureRequest,
    device: torch.device,
    recorded: tuple[DualFormMLP, DualFormRecorder],
    path: str,
) -> None:
    benchmark.group = "forward-48k"  # type: ignore[attr-defined]
    model, rec = recorded
    layer, dual = model.layers[2], rec.dual("layers.2")
    assert len(dual) == 48_000
    q = torch.relu(torch.randn(256, 128, device=device))

    def primal() -> torch.Tensor:
        with torch.no_grad():
            out = layer(q)
        _sync(device)
        return out

    def dual_fwd() -> torch.Tensor:
        out = dual.forward(q)
        _sync(device)
        return out

    out = benchmark(primal if path == "primal" else dual_fwd)  # type: ignore[operator]
    assert torch.allclose(out, primal(), rtol=1e-4, atol=1e-4 * float(primal().abs().max()))


def _official_scores_and_votes(
    keys: torch.Tensor, labels: torch.Tensor, q: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The official analysis: materialise |K q| for all slots, then sum per class with index_add."""
    scores = torch.abs(q @ keys.T)
    per_class = torch.zeros(q.shape[0], 10, device=q.device).index_add_(1, labels, scores)
    return scores, per_class.argmax(1)


@pytest.mark.parametrize("impl", ["ours", "official-formulation"])
def test_votes_48k(
    benchmark: pytest.FixtureRequest,
    device: torch.device,
    recorded: tuple[DualFormMLP, DualFormRecorder],
    impl: str,
) -> None:
    benchmark.group = "votes-48k"  # type: ignore[attr-defined]
    _, rec = recorded
    dual = rec.dual("layers.2")
    q = torch.relu(torch.randn(256, 128, device=device))
    keys, labels = dual.keys.to(device), dual.label.to(device)

    def ours() -> torch.Tensor:
        out = dual.vote(q, 10)
        _sync(device)
        return out

    def official() -> torch.Tensor:
        out = _official_scores_and_votes(keys, labels, q)[1]
        _sync(device)
        return out

    votes = benchmark(ours if impl == "ours" else official)  # type: ignore[operator]
    ref_scores, ref_votes = _official_scores_and_votes(keys, labels, q)
    torch.testing.assert_close(dual.scores(q), ref_scores, rtol=1e-5, atol=1e-5)  # |q.k| identical
    assert float((votes == ref_votes).float().mean()) > 0.99
    benchmark.extra_info["queries_per_s"] = 256 / benchmark.stats.stats.mean  # type: ignore[attr-defined]


@pytest.mark.slow
def test_mnist_size_fp16(benchmark: pytest.FixtureRequest, device: torch.device) -> None:
    benchmark.group = "mnist-size-fp16"  # type: ignore[attr-defined]
    images, labels = load_digits_images(size=28, pad=2)
    x_all = ((images.flatten(1) - images.mean()) / images.std()).to(device)
    y_all = labels.to(device)
    torch.manual_seed(0)
    model = DualFormMLP(784, (800, 800), 10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=3e-3, momentum=0.9)
    rec = DualFormRecorder(model, opt, store_dtype=torch.float16, device="cpu")
    gen = torch.Generator().manual_seed(0)

    def run() -> None:
        for _ in range(5000):
            idx = torch.randint(0, len(y_all), (128,), generator=gen).to(device)
            opt.zero_grad()
            F.cross_entropy(model(x_all[idx]), y_all[idx]).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        _sync(device)

    benchmark.pedantic(run, rounds=1, iterations=1)  # type: ignore[attr-defined]
    gaps = dual_primal_gap(model, rec, x_all[:64])
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        slots_per_layer=rec.num_patterns("layers.0"),
        memory_gib=rec.memory_bytes() / 2**30,
        max_rel_gap_fp16=max(gaps.values()),
    )
    assert rec.num_patterns("layers.0") == 640_000
    assert max(gaps.values()) < 5e-2
