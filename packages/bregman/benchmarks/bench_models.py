"""Forward+backward step time: Bregman MLP / ResNet-20 against the standard net of the same size and the official formulation.

``nox -s "bench(bregman, cpu)"`` -> ``.benchmarks/bregman-cpu.json`` (``cuda`` for the ResNet on a GPU).
Ours is ``BregmanMLP`` as users get it (the fused stack backward, ``ballroom.bregman.fused``).
The official formulation (``bregmanet``'s forward: ``nn.Identity`` skip module, ``torch.clamp`` with the
range, the offset function, the linear part) is re-implemented here as the reference and checked equal.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ballroom.bregman import BregmanMLP, bregman_resnet20, get_activation, scale_to_range

EPS = 1e-5


class OfficialStyleMLP(nn.Module):
    """The official ``MLP`` forward (bregman version), equal widths: clamp(Id(x)) -> offset -> + lin(x) -> sigma."""

    def __init__(self, ours: BregmanMLP) -> None:
        super().__init__()
        act = get_activation(ours.act.name)
        self.sigma, self.offset, self.range = act.sigma, act.inverse, (act.lo + EPS, act.hi - EPS)
        self.lin = nn.ModuleList(nn.Linear(layer.in_features, layer.out_features) for layer in ours.layers)
        self.reparametrization = nn.ModuleList(nn.Identity() for _ in ours.layers)
        for lin, layer in zip(self.lin, ours.layers):
            lin.load_state_dict({"weight": layer.weight.detach(), "bias": layer.bias.detach()})
        self.output = nn.Linear(ours.output.in_features, ours.output.out_features)
        self.output.load_state_dict(ours.output.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for rep, lin in zip(self.reparametrization, self.lin):
            x = self.sigma(self.offset(torch.clamp(rep(x), self.range[0], self.range[1])) + lin(x))
        return self.output(x)


def _standard_mlp(depth: int, width: int, act: nn.Module) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(64, width), act]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), act]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def _step(net: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> None:
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    if device.type == "cuda":
        torch.cuda.synchronize()


MLP_KINDS = ["bregman", "official", "standard"]


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
@pytest.mark.parametrize("kind", MLP_KINDS)
def test_mlp_depth20_width64(
    benchmark: pytest.FixtureRequest, device: torch.device, kind: str, act: str
) -> None:
    benchmark.group = f"mlp-d20-w64-{act}-{device.type}"
    torch.manual_seed(0)
    ours = BregmanMLP(64, [64] * 20, 10, act, check_inputs=False)
    x = scale_to_range(torch.rand(128, 64), act).to(device)
    y = torch.randint(0, 10, (128,), device=device)
    if kind == "official":
        net: nn.Module = OfficialStyleMLP(ours).to(device)
        torch.testing.assert_close(net(x), ours.to(device)(x))  # the reference is the same function
    elif kind == "standard":
        net = _standard_mlp(20, 64, nn.Sigmoid() if act == "sigmoid" else nn.Tanh()).to(device)
    else:
        net = ours.to(device)
    for _ in range(3):
        _step(net, x, y, device)
    benchmark(_step, net, x, y, device)


@pytest.mark.parametrize("kind", ["bregman", "standard"])
def test_resnet20_cifar_batch(benchmark: pytest.FixtureRequest, device: torch.device, kind: str) -> None:
    benchmark.group = f"resnet20-b128-{device.type}"
    torch.manual_seed(0)
    net = bregman_resnet20(standard=kind == "standard").to(device)
    batch = 128 if device.type == "cuda" else 32
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    for _ in range(2):
        _step(net, x, y, device)
    benchmark.pedantic(
        _step, args=(net, x, y, device), rounds=5 if device.type == "cpu" else 30, warmup_rounds=1
    )
