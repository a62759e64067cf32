"""Time per inversion iteration: ours against the official loop formulation, side by side in one group.

The reference below restates the official loop (robustness-library style: an attacker step object with
``step``/``project``, a ``replace_best`` helper, the loss recomputed by a ``calc_loss`` closure, the
model called through an attacker wrapper that normalises) from the spec's description; it is checked
equal to ours to 1e-4 after 5 iterations (same model, same seeds). Digits MLP, 200 probes.

``nox -s "bench(stir, cpu)"`` -> ``.benchmarks/stir-cpu.json``. Report ratios, not CPU seconds.
"""

from __future__ import annotations

import pytest
import torch

from ballroom.stir import FeatureMLP, Normalizer, invert_representation, seed_images


class _UnconstrainedStep:
    def __init__(self, step_size: float) -> None:
        self.step_size = step_size

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, 0, 1)

    def step(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        l = len(x.shape) - 1  # noqa: E741
        g_norm = torch.norm(g.view(g.shape[0], -1), dim=1).view(-1, *([1] * l))
        return x + g / (g_norm + 1e-10) * self.step_size


def _replace_best(loss, bloss, x, bx, m):  # type: ignore[no-untyped-def]
    if bloss is None:
        return loss.clone().detach(), x.clone().detach()
    replace = m * bloss < m * loss
    bx[replace] = x[replace].clone().detach()
    bloss[replace] = loss[replace]
    return bloss, bx


def official_invert(model, normalizer, x_target, x_seed, step_size=0.5, iterations=1000):  # type: ignore[no-untyped-def]
    """The official loop formulation (reference for the benchmark)."""

    def forward(inp, fake):  # type: ignore[no-untyped-def]
        return model(normalizer(inp), with_latent=True, fake_relu=fake)[1]

    with torch.no_grad():
        target = forward(x_target, False)

    def calc_loss(inp):  # type: ignore[no-untyped-def]
        rep = forward(inp, True)
        return torch.div(torch.norm(rep - target, dim=1), torch.norm(target, dim=1))

    step, m = _UnconstrainedStep(step_size), -1
    x = x_seed.clone().detach().requires_grad_(True)
    best_loss = best_x = None
    for _ in range(iterations):
        x = x.clone().detach().requires_grad_(True)
        losses = calc_loss(x)
        loss = torch.mean(losses)
        (grad,) = torch.autograd.grad(m * loss, [x])
        with torch.no_grad():
            best_loss, best_x = _replace_best(losses, best_loss, x, best_x, m)
            x = step.step(x, grad)
            x = step.project(x)
    losses = calc_loss(x)
    best_loss, best_x = _replace_best(losses.detach(), best_loss, x.detach(), best_x, m)
    return best_x, best_loss


def _setup():  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = FeatureMLP(64, (128, 16), 10).eval()
    x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    x0 = seed_images("super-noise", x, torch.Generator().manual_seed(2))
    return net, Normalizer(), x, x0


def test_ours_agrees_with_the_official_loop_after_5_iterations() -> None:
    net, norm, x, x0 = _setup()
    ours, err = invert_representation(net, x, x0, normalizer=norm, iterations=5)
    ref, ref_err = official_invert(net, norm, x, x0, iterations=5)
    assert float((ours - ref).abs().max()) <= 1e-4 and float((err - ref_err).abs().max()) <= 1e-4


@pytest.mark.parametrize("impl", ["ours", "official"])
def test_inversion_50_iterations(benchmark: pytest.FixtureRequest, impl: str) -> None:
    net, norm, x, x0 = _setup()
    benchmark.group = "inversion-digits-mlp-200x50"
    if impl == "ours":
        benchmark(lambda: invert_representation(net, x, x0, normalizer=norm, iterations=50))
    else:
        benchmark(lambda: official_invert(net, norm, x, x0, iterations=50))
