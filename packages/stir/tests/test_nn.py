"""Adapters: a logits-only network wrapped by naming a layer; torchvision-style ResNet and VGG layouts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ballroom.stir import (
    FeatureMLP,
    FeatureModel,
    HookedFeatureModel,
    Normalizer,
    official_uses_fake_relu,
    representations,
    torchvision_feature_model,
)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock layout: one ``relu`` module called twice."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.bn1, self.bn2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


class ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(4), BasicBlock(4))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.layer1(self.conv1(x))), 1))


class VGG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Dropout(), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


def test_resnet_adapter_takes_the_fc_input_and_fakes_only_the_last_relu_call() -> None:
    torch.manual_seed(0)
    net = ResNet().eval()
    fm = torchvision_feature_model(net)
    assert isinstance(fm, FeatureModel) and official_uses_fake_relu(fm)
    assert fm.relu == "layer1.1.relu" and fm.relu_call == 1
    x = torch.rand(5, 1, 6, 6, requires_grad=True)
    logits, rep = fm(x, with_latent=True)
    assert torch.equal(logits, net(x))
    last = net.layer1[1]
    z = last.bn2(last.conv2(last.relu(last.bn1(last.conv1(net.layer1[0](net.conv1(x))))))) + net.layer1[0](
        net.conv1(x)
    )
    torch.testing.assert_close(rep, torch.relu(z).mean((2, 3)))
    w = torch.randn_like(rep)
    (g_true,) = torch.autograd.grad((rep * w).sum(), x)
    _, rep_fake = fm(x, with_latent=True, fake_relu=True)
    assert torch.equal(rep_fake, rep)  # same value
    (g_fake,) = torch.autograd.grad((rep_fake * w).sum(), x)
    # the gradient through the final ReLU is the identity: equals the gradient of mean(z) directly
    (g_ref,) = torch.autograd.grad((z.mean((2, 3)) * w).sum(), x)
    torch.testing.assert_close(g_fake, g_ref)
    assert not torch.allclose(g_fake, g_true)


def test_vgg_adapter_has_no_fake_relu_by_the_official_rule() -> None:
    torch.manual_seed(0)
    net = VGG().eval()
    fm = torchvision_feature_model(net)
    assert not official_uses_fake_relu(fm)
    x = torch.rand(3, 1, 6, 6)
    _, rep = fm(x, with_latent=True)
    assert rep.shape == (3, 8)
    torch.testing.assert_close(rep, net.classifier[1](net.classifier[0](net.features(x).flatten(1))))
    with pytest.raises(ValueError, match="relu="):
        fm(x, with_latent=True, fake_relu=True)


def test_hooked_layer_override_and_representations_helper() -> None:
    torch.manual_seed(0)
    net = ResNet()
    net.train()
    fm = HookedFeatureModel(net, "fc")
    x = torch.rand(4, 1, 6, 6)
    rep = representations(fm, x, normalizer=Normalizer())
    assert net.training and rep.shape == (4, 4)  # eval inside, mode restored
    _, early = fm(x, with_latent=True, layer="conv1")
    assert early.shape == (4, 36)  # the input of conv1: the image
    with pytest.raises(ValueError, match="layer must name a module"):
        HookedFeatureModel(net, "head")


def test_feature_mlp_layer_selection() -> None:
    torch.manual_seed(0)
    net = FeatureMLP(64, (20, 10), 5)
    x = torch.rand(3, 64)
    _, first = net(x, with_latent=True, layer=0)
    _, last = net(x, with_latent=True)
    torch.testing.assert_close(first, torch.relu(net.hidden[0](x)))
    torch.testing.assert_close(last, torch.relu(net.hidden[1](first)))
    assert torch.equal(net(x, with_latent=True, layer=-1)[1], last)


def test_official_checkpoint_layout_loads() -> None:
    from ballroom.stir import load_official_state_dict

    torch.manual_seed(0)
    net = FeatureMLP(64, (16, 8), 10)
    sd = {f"module.model.{k}": v for k, v in net.state_dict().items()}
    sd |= {f"module.attacker.model.{k}": v + 1 for k, v in net.state_dict().items()}
    sd |= {
        "module.normalizer.new_mean": torch.full((1, 1, 1), 0.5),
        "module.normalizer.new_std": torch.full((1, 1, 1), 0.25),
    }
    sd |= {"module.attacker.normalizer.new_mean": torch.zeros(1, 1, 1)}
    state, norm = load_official_state_dict({"model": sd, "epoch": 3})
    other = FeatureMLP(64, (16, 8), 10)
    other.load_state_dict(state)  # strict: exactly the network's keys
    x = torch.rand(3, 64)
    assert torch.equal(other(x), net(x))
    torch.testing.assert_close(norm(x), (x - 0.5) / 0.25)
    with pytest.raises(ValueError, match="not an official"):
        load_official_state_dict({"model": {"weight": torch.zeros(1)}})
