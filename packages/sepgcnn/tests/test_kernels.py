"""The kernel factorisations: one class per variant behind one interface, chosen once by name or alias."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ballroom.sepgcnn.groups import SE2, Sim2
from ballroom.sepgcnn.kernels import (
    ALIASES,
    FACTORISATIONS,
    IMPLEMENTATIONS,
    KernelFactorisation,
    Separable,
    factorisation_class,
)
from ballroom.sepgcnn.models import CKGResNet, build_model
from ballroom.sepgcnn.nn import GroupConv


def test_names_and_aliases_resolve_to_one_class_each() -> None:
    assert IMPLEMENTATIONS == (
        "nonseparable",
        "gseparable",
        "separable",
        "dseparable",
        "dgseparable",
        "separable+2d",
        "gseparable+2d",
    )
    assert ALIASES == {"none": "nonseparable", "g": "gseparable", "hc": "separable", "dw": "dseparable",
                       "dwg": "dgseparable", "hc2d": "separable+2d", "g2d": "gseparable+2d"}  # fmt: skip
    for cls in FACTORISATIONS:
        assert (
            factorisation_class(cls.name) is factorisation_class(cls.alias) is factorisation_class(cls) is cls
        )
    with pytest.raises(ValueError, match="implementation must be one of 'nonseparable'/'none'"):
        factorisation_class("lowrank")


@pytest.mark.parametrize("cls", FACTORISATIONS, ids=lambda c: c.name)
def test_the_layer_holds_its_factorisation_and_reads_its_attributes(cls: type[KernelFactorisation]) -> None:
    group = Sim2(4, 2, 1.5) if cls.name.endswith("+2d") else SE2(4)
    conv = GroupConv(group, 3, 2, 3, implementation=cls.alias, hidden=8)
    assert type(conv.factorisation) is cls and conv.implementation == cls.name
    names = {n.split(".")[1] for n, _ in conv.named_parameters()}
    for name in names:  # the SIRENs and the projection read through the layer
        assert getattr(conv, name) is getattr(conv.factorisation, name)
    assert ("projection" in names) == cls.name.startswith("d")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        conv.nothing  # noqa: B018


def test_a_new_variant_plugs_in_by_class() -> None:
    """A user-defined factorisation: separable with the 1x1 H-conv weights halved."""

    class HalfSeparable(Separable):
        name, alias = "half", "h"

        def kernel(self, in_el: torch.Tensor, out_el: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            w_h, w_r = super().kernel(in_el, out_el)
            return 0.5 * w_h, w_r

    torch.manual_seed(0)
    conv = GroupConv(SE2(4), 2, 3, 3, implementation=HalfSeparable, hidden=8).double()
    el = SE2(4).sample().double()
    x = torch.randn(2, 2, 4, 7, 7, dtype=torch.float64)
    ref = F.conv2d(x.reshape(2, 8, 7, 7), conv.full_kernel(el), padding=1).view(2, 3, 4, 7, 7)
    torch.testing.assert_close(conv(x, el)[0], ref, rtol=1e-10, atol=1e-10)
    torch.manual_seed(0)
    plain = GroupConv(SE2(4), 2, 3, 3, implementation="separable", hidden=8).double()
    torch.testing.assert_close(conv.full_kernel(el), 0.5 * plain.full_kernel(el))


def test_build_model_is_deprecated_and_builds_the_same_network() -> None:
    torch.manual_seed(1)
    with pytest.warns(DeprecationWarning, match="build_model is deprecated"):
        old = build_model("ckgresnet", n_rot=4, widths=(2, 2, 4), kernel_size=3, hidden=4, input_size=16)
    torch.manual_seed(1)
    new = CKGResNet("SE2", n_rot=4, widths=(2, 2, 4), kernel_size=3, hidden=4, input_size=16)
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))
    with pytest.raises(ValueError, match="only go with a group name"):
        CKGResNet(SE2(4), n_rot=8)
