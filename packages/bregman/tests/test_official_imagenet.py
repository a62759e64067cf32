"""Official ImageNet ``bresnet18/34/50`` weights load by name into ours and give the official logits.

The official forward (``bregmanet`` ``resnet_large.py``) is re-implemented here functionally, straight
from the state dict: stem ``maxpool(act(BN(conv7x7/2)))`` with the net's activation; blocks always
softplus (beta 1000, the official stable forms); the Bregman basic block adds
``inverse(clamp(pad_E(x), 2e-5, inf))`` and ignores its stored ``downsample``; the Bregman bottleneck
adds ``inverse(downsample(x) or x)`` with no clamp.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.bregman import (
    bregman_resnet18,
    bregman_resnet20,
    bregman_resnet50,
    load_official_state_dict,
    official_imagenet_state_dict,
)
from ballroom.bregman.resnet import BregmanBasicBlock, BregmanBottleneck, BregmanResNet

D = torch.float64
BETA = 1000.0


def _softplus(z: Tensor) -> Tensor:  # official: -(1/beta) log_sigmoid(-beta z), its own log_sigmoid
    v = -BETA * z
    m = torch.minimum(v, torch.zeros_like(v))
    return -(m - torch.log(torch.exp(m) + torch.exp(m - v))) / BETA


def _softplus_inverse(y: Tensor) -> Tensor:  # official: the threshold-5 switch, log(1 - exp) form
    return torch.where(
        y * BETA < math.exp(-5),
        torch.log(BETA * y) / BETA + y,
        torch.log(1 - torch.exp(-BETA * y)) / BETA + y,
    )


def _bn(sd: dict[str, Tensor], p: str, x: Tensor) -> Tensor:
    return F.batch_norm(
        x,
        sd[f"{p}.running_mean"],
        sd[f"{p}.running_var"],
        sd[f"{p}.weight"],
        sd[f"{p}.bias"],
        False,
        0.0,
        1e-5,
    )


def official_forward(
    sd: dict[str, Tensor], x: Tensor, layers: list[int], bottleneck: bool, stem_act
) -> Tensor:
    x = F.max_pool2d(stem_act(_bn(sd, "bn1", F.conv2d(x, sd["conv1.weight"], stride=2, padding=3))), 3, 2, 1)
    for k, n in enumerate(layers, start=1):
        for j in range(n):
            p = f"layer{k}.{j}"
            stride = 2 if k > 1 and j == 0 else 1
            if bottleneck:
                out = _softplus(_bn(sd, f"{p}.bn1", F.conv2d(x, sd[f"{p}.conv1.weight"])))
                out = _softplus(
                    _bn(sd, f"{p}.bn2", F.conv2d(out, sd[f"{p}.conv2.weight"], stride=stride, padding=1))
                )
                out = _bn(sd, f"{p}.bn3", F.conv2d(out, sd[f"{p}.conv3.weight"]))
                identity = x
                if f"{p}.downsample.0.weight" in sd:
                    identity = _bn(
                        sd, f"{p}.downsample.1", F.conv2d(x, sd[f"{p}.downsample.0.weight"], stride=stride)
                    )
                x = _softplus(out + _softplus_inverse(identity))
            else:
                planes = sd[f"{p}.conv1.weight"].shape[0]
                out = _softplus(
                    _bn(sd, f"{p}.bn1", F.conv2d(x, sd[f"{p}.conv1.weight"], stride=stride, padding=1))
                )
                out = _bn(sd, f"{p}.bn2", F.conv2d(out, sd[f"{p}.conv2.weight"], padding=1))
                shortcut = x
                if stride != 1 or x.shape[1] != planes:
                    value = float(_softplus(torch.zeros(1, dtype=x.dtype)))
                    shortcut = F.pad(
                        x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", value
                    )
                shortcut = torch.clamp(shortcut, min=0 + 1e-5 + 1e-5, max=math.inf)
                x = _softplus(out + _softplus_inverse(shortcut))
    return F.linear(F.adaptive_avg_pool2d(x, 1).flatten(1), sd["fc.weight"], sd["fc.bias"])


def _official_state_dict(template: BregmanResNet, positive: bool = False) -> dict[str, Tensor]:
    """Random weights in the official names: the standard net's conv + BN shortcuts become ``downsample``.

    ``positive``: every BN maps to ``3 +- 0.1``-ish (bias 3, running variance ~1e4), so every
    pre-activation stays well inside softplus's linear regime: the official bottleneck applies
    ``sigma^{-1}`` with no clamp, and where a softplus output underflows (to exactly 0 in the
    official ``log_sigmoid``, to a subnormal in ours) the two differ by ``-inf`` against a finite value.
    """
    torch.manual_seed(0)
    sd = {}
    for key, value in template.state_dict().items():
        key = key.replace(".shortcut.", ".downsample.")
        if key.endswith("running_var"):
            value = (torch.rand_like(value) + 0.5) * (1e4 if positive else 1.0)
        elif key.endswith(("running_mean", "bias")) or (key.endswith("weight") and value.ndim == 1):
            shift = 1.0 if key.endswith("weight") else (3.0 if positive and key.endswith("bias") else 0.0)
            value = torch.randn_like(value) * 0.2 + shift
        elif value.is_floating_point():
            value = torch.randn_like(value) * (2.0 / value[0].numel()) ** 0.5
        sd[key] = value.to(D) if value.is_floating_point() else value
    return sd


@pytest.mark.parametrize("stem", ["softplus", "sigmoid"])
def test_official_bresnet18_weights_give_the_official_logits(stem: str) -> None:
    sd = _official_state_dict(bregman_resnet18(standard=True, num_classes=7))
    assert any(".downsample." in k for k in sd)  # the official basic blocks store it (and never apply it)
    ours = bregman_resnet18(stem, num_classes=7, block_activation="softplus", offset="official").double()
    load_official_state_dict(ours, sd)
    x = torch.randn(2, 3, 48, 48, dtype=D)
    stem_act = torch.sigmoid if stem == "sigmoid" else _softplus
    expected = official_forward(sd, x, [2, 2, 2, 2], False, stem_act)
    assert bool(torch.isfinite(expected).all())
    torch.testing.assert_close(ours.eval()(x), expected, rtol=1e-9, atol=1e-9)


def test_official_bresnet50_weights_need_the_official_shortcut_and_give_the_official_logits() -> None:
    sd = _official_state_dict(bregman_resnet50(standard=True, num_classes=5), positive=True)
    with pytest.raises(KeyError, match="official_shortcut=True"):
        load_official_state_dict(bregman_resnet50(num_classes=5, block_activation="softplus"), sd)
    ours = bregman_resnet50(
        num_classes=5, block_activation="softplus", offset="official", official_shortcut=True
    )
    load_official_state_dict(ours.double(), sd)
    assert isinstance(ours.layer2[0], BregmanBottleneck) and "layer2.0.shortcut.0.weight" in ours.state_dict()
    x = torch.randn(2, 3, 40, 40, dtype=D)
    expected = official_forward(sd, x, [3, 4, 6, 3], True, _softplus)
    assert bool(torch.isfinite(expected).all())
    torch.testing.assert_close(ours.eval()(x), expected, rtol=1e-9, atol=1e-9)
    # the default (spec) block differs: option-E padded shortcut with the clamp
    with pytest.raises(ValueError, match="bottleneck nets only"):
        BregmanResNet(BregmanBasicBlock, [1, 1, 1, 1], official_shortcut=True)


def test_torchvision_resnet18_is_the_official_standard_net() -> None:
    models = pytest.importorskip("torchvision.models")
    tv = models.resnet18(num_classes=6).double().eval()
    with torch.no_grad():
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
    ours = bregman_resnet18("relu", num_classes=6, standard=True, offset="official").double()
    load_official_state_dict(ours, tv.state_dict())
    x = torch.randn(2, 3, 48, 48, dtype=D)
    torch.testing.assert_close(ours.eval()(x), tv(x), rtol=1e-9, atol=1e-9)


def test_official_imagenet_state_dict_bad_input() -> None:
    with pytest.raises(TypeError, match="model must be a BregmanResNet"):
        official_imagenet_state_dict(bregman_resnet20(), {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        official_imagenet_state_dict(bregman_resnet18(num_classes=2), [1, 2])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="Missing key"):
        load_official_state_dict(bregman_resnet18(num_classes=2), {"fc.weight": torch.zeros(2, 512)})
