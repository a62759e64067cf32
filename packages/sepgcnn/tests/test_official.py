"""Porting official checkpoints and element grids (names and shapes read from the official modules:
``ck_g_cnn/nn/ck/ck_net.py`` (``CKNetLinear``: ``net`` = ``SIREN``, ``final_linear``),
``ck_g_cnn/nn/ck/SIREN.py`` (``net.<j>.linear``), ``ck_g_cnn/nn/kernels/{SE2,Sim2}_kernel.py``
(``cknet``, ``cknet_H``, ``cknet_Rn``, ``cknet_SO2``, ``cknet_Rplus``), ``ck_g_cnn/nn/conv/*/`` (``kernel``,
``depthwise_projection`` = ``ChannelProjection.weight (C_in, C_out)``))."""

from __future__ import annotations

import math

import pytest
import torch

from ballroom.sepgcnn import CKGCNN, SE2, CKGResNet, GroupConv, LiftingConv, Sim2
from ballroom.sepgcnn.official import (
    elements_from_official,
    elements_to_official,
    load_official_model_state_dict,
    load_official_state_dict,
    official_key_map,
    official_module_paths,
    to_official_model_state_dict,
    to_official_state_dict,
)

H = 8  # SIREN width in these tests


def _cknet(prefix: str, d_in: int, d_out: int, num_hidden: int = 1) -> dict[str, tuple[int, ...]]:
    """The official CKNetLinear's keys and shapes (data, from ck_net.py / SIREN.py)."""
    keys = {f"{prefix}.net.net.0.linear.weight": (H, d_in), f"{prefix}.net.net.0.linear.bias": (H,)}
    for j in range(1, num_hidden + 1):
        keys |= {f"{prefix}.net.net.{j}.linear.weight": (H, H), f"{prefix}.net.net.{j}.linear.bias": (H,)}
    return keys | {f"{prefix}.final_linear.weight": (d_out, H), f"{prefix}.final_linear.bias": (d_out,)}


# official layer layouts for C_in = 3, C_out = 2 (SE(2): d = 1; Sim(2): d = 2)
OFFICIAL = {
    "nonseparable": _cknet("kernel.cknet", 3, 6),
    "gseparable": _cknet("kernel.cknet_H", 1, 6) | _cknet("kernel.cknet_Rn", 2, 6),
    "separable": _cknet("kernel.cknet_H", 1, 6) | _cknet("kernel.cknet_Rn", 2, 2),
    "dseparable": _cknet("kernel.cknet", 3, 2) | {"depthwise_projection.weight": (3, 2)},
    "dgseparable": _cknet("kernel.cknet_H", 1, 2)
    | _cknet("kernel.cknet_Rn", 2, 2)
    | {"depthwise_projection.weight": (3, 2)},
    "separable+2d": _cknet("kernel.cknet_SO2", 1, 6)
    | _cknet("kernel.cknet_Rplus", 1, 2)
    | _cknet("kernel.cknet_Rn", 2, 2),
    "gseparable+2d": _cknet("kernel.cknet_SO2", 1, 6)
    | _cknet("kernel.cknet_Rplus", 1, 6)
    | _cknet("kernel.cknet_Rn", 2, 6),
}


@pytest.mark.parametrize("implementation", sorted(OFFICIAL))
def test_layer_keys_and_shapes_are_the_official_ones_and_load_back(implementation: str) -> None:
    group = Sim2(4, 2, 1.5) if implementation.endswith("+2d") else SE2(4)
    torch.manual_seed(0)
    conv = GroupConv(group, 3, 2, 3, implementation=implementation, hidden=H).double()  # type: ignore[arg-type]
    official = to_official_state_dict(conv)
    expected = dict(OFFICIAL[implementation])
    if implementation == "nonseparable" and group.dim == 2:
        expected["kernel.cknet.net.net.0.linear.weight"] = (H, 4)
    assert {k: tuple(v.shape) for k, v in official.items()} == expected
    torch.manual_seed(1)
    fresh = GroupConv(group, 3, 2, 3, implementation=implementation, hidden=H).double()  # type: ignore[arg-type]
    el = group.sample().double()
    x = torch.randn(2, 3, group.size, 7, 7, dtype=torch.float64)
    assert not torch.allclose(fresh(x, el)[0], conv(x, el)[0])
    load_official_state_dict(fresh, official)
    torch.testing.assert_close(fresh(x, el)[0], conv(x, el)[0], rtol=0, atol=0)


def test_lifting_keys_are_official() -> None:
    lift = LiftingConv(SE2(4), 1, 4, 5, hidden=H, num_hidden=2)
    assert {k: tuple(v.shape) for k, v in to_official_state_dict(lift).items()} == _cknet(
        "kernel.cknet", 2, 4, num_hidden=2
    )


@pytest.mark.parametrize("cls", [CKGResNet, CKGCNN])
def test_a_whole_model_round_trips_through_the_official_names(cls: type[torch.nn.Module]) -> None:
    kw = dict(widths=(4, 4, 8), kernel_size=5, hidden=H, input_size=28, implementation="separable")
    torch.manual_seed(2)
    model = cls("SE2", n_rot=4, **kw).eval()  # type: ignore[call-arg]
    official = to_official_state_dict(model)
    renamed = [k for k, v in official_key_map(model).items() if k != v]
    assert renamed and all(".kernel.cknet" in official_key_map(model)[k] for k in renamed)
    assert not any(".factorisation." in k or "kernel_net" in k for k in official)
    torch.manual_seed(3)
    fresh = cls("SE2", n_rot=4, **kw).eval()  # type: ignore[call-arg]
    load_official_state_dict(fresh, official)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x), rtol=0, atol=0)


def test_unknown_and_missing_keys_are_named() -> None:
    conv = GroupConv(SE2(4), 3, 2, 3, hidden=H)
    official = to_official_state_dict(conv)
    bad = dict(official, **{"kernel.cknet_X.final_linear.weight": torch.zeros(1)})
    del bad["kernel.cknet_Rn.final_linear.bias"]
    with pytest.raises(KeyError, match=r"unexpected keys \['kernel.cknet_X.final_linear.weight'\]") as info:
        load_official_state_dict(conv, bad)
    assert "missing keys ['kernel.cknet_Rn.final_linear.bias']" in str(info.value)
    ours = conv.state_dict()  # our own names are not the official ones
    with pytest.raises(KeyError, match="factorisation.group_net.first.weight"):
        load_official_state_dict(conv, ours)
    wrong = dict(official, **{"kernel.cknet_Rn.final_linear.bias": torch.zeros(5)})
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_official_state_dict(conv, wrong)
    with pytest.raises(TypeError, match="mapping"):
        load_official_state_dict(conv, [1, 2])  # type: ignore[arg-type]


def test_official_elements_to_our_grid_and_back() -> None:
    sim2 = Sim2(8, 2, 1.5)
    ours = sim2.sample()
    rot = torch.arange(8) * (2 * math.pi / 8)
    scale = ours[:2, 1].clone()
    grid = elements_from_official((rot.float(), scale), sim2)
    torch.testing.assert_close(grid, ours)  # rotation-major rows (theta, s)
    back = elements_to_official(ours, sim2)
    assert isinstance(back, tuple)
    torch.testing.assert_close(back[0], rot.float())
    torch.testing.assert_close(back[1], scale)
    torch.testing.assert_close(elements_from_official(back), ours)
    se2 = SE2(4)
    angles = elements_to_official(se2.sample(), se2)
    assert isinstance(angles, torch.Tensor) and angles.shape == (4,)
    torch.testing.assert_close(elements_from_official(angles, se2), se2.sample())
    # the layer accepts the converted grid and gives what its own grid gives
    conv = GroupConv(sim2, 2, 2, 3, implementation="separable+2d", hidden=H)
    x = torch.randn(1, 2, 16, 6, 6)
    torch.testing.assert_close(conv(x, grid)[0], conv(x, ours)[0])


def test_bad_official_elements() -> None:
    with pytest.raises(ValueError, match=r"tuple \(rot \(R,\), scale \(S,\)\)"):
        elements_from_official((torch.zeros(2, 1), torch.ones(2)))
    with pytest.raises(ValueError, match=r"\(N,\), \(N, 1\) or \(N, 2\)"):
        elements_from_official(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="tensor or a"):
        elements_from_official([0.0, 1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scales"):
        elements_from_official((torch.zeros(2), torch.tensor([1.0, -1.0])), Sim2(2, 2, 1.5))
    with pytest.raises(ValueError, match="product grid"):
        elements_to_official(Sim2(4, 2, 1.5).sample()[[1, 0, 2, 3, 4, 5, 6, 7]], Sim2(4, 2, 1.5))


# whole official models (ck_g_resnet.py, ck_g_cnn.py, ck_g_cnn_base.py, group_conv_block.py,
# normalisation.py): their module prefixes for widths (4, 4, 8), kernels "separable"
_RES_BLOCK = ("gconv_1.kernel.cknet_H", "gconv_1.kernel.cknet_Rn", "normalisation_1.bn")
_RES_BLOCK += ("gconv_2.kernel.cknet_H", "gconv_2.kernel.cknet_Rn", "normalisation_2.bn")
_SEP = ("kernel.cknet_H", "kernel.cknet_Rn")
_HEAD = {"final_linear.0", "final_linear.1", "final_linear.4"}
OFFICIAL_RESNET = (
    {"lifting.kernel.cknet", "layers.0.bn", "layers.3.bn", "layers.7.bn", "layers.11.bn"}
    | {f"layers.2.{m}" for m in _RES_BLOCK}  # layers.1: ReLU
    | {f"layers.6.{m}" for m in (*_RES_BLOCK, "skip_align.kernel.cknet_H", "skip_align.kernel.cknet_Rn")}
    | {f"layers.10.{m}" for m in _SEP}  # 4, 5 / 8, 9: pool, ReLU; 10: the final gconv
    | _HEAD
)
OFFICIAL_RESNET_DROPOUT = (  # a Dropout after the lifting BN and after every block's pooling
    {"lifting.kernel.cknet", "layers.0.bn", "layers.4.bn", "layers.9.bn", "layers.14.bn"}
    | {f"layers.3.{m}" for m in _RES_BLOCK}
    | {f"layers.8.{m}" for m in (*_RES_BLOCK, "skip_align.kernel.cknet_H", "skip_align.kernel.cknet_Rn")}
    | {f"layers.13.{m}" for m in _SEP}
    | _HEAD
)
OFFICIAL_CNN = (  # BN, pool, ReLU, then (gconv, BN, pool, ReLU) per width pair, the final gconv
    {"lifting.kernel.cknet", "layers.0.bn", "layers.4.bn", "layers.8.bn"}
    | {f"layers.{i}.{m}" for i in (3, 7, 11) for m in _SEP}
    | _HEAD
)


def _prefixes(keys: object) -> set[str]:
    out = set()
    for key in keys:  # type: ignore[attr-defined]
        if ".kernel.cknet" in key:
            head, _, rest = key.partition(".kernel.")
            out.add(f"{head}.kernel.{rest.split('.')[0]}")
        else:
            out.add(key.rpartition(".")[0])
    return out


@pytest.mark.parametrize(
    ("cls", "dropout", "expected"),
    [
        (CKGResNet, False, OFFICIAL_RESNET),
        (CKGResNet, True, OFFICIAL_RESNET_DROPOUT),
        (CKGCNN, False, OFFICIAL_CNN),
    ],
)
def test_a_whole_model_under_the_official_model_names_loads_back(
    cls: type[torch.nn.Module], dropout: bool, expected: set[str]
) -> None:
    kw = dict(widths=(4, 4, 8), kernel_size=5, hidden=H, input_size=28, implementation="separable")
    torch.manual_seed(4)
    model = cls("SE2", n_rot=4, **kw)  # type: ignore[call-arg]
    model.train()
    with torch.no_grad():  # move the batch-norm statistics off their defaults
        model(torch.randn(4, 1, 28, 28))
    model.eval()
    official = to_official_model_state_dict(model, dropout=dropout)  # type: ignore[arg-type]
    assert _prefixes(official) == expected
    layer_level = to_official_state_dict(model)  # the layer-internal names are the same ones
    assert sorted(k.rpartition(".kernel.")[2] for k in official if ".kernel." in k) == sorted(
        k.rpartition(".kernel.")[2] for k in layer_level if ".kernel." in k
    )
    torch.manual_seed(5)
    fresh = cls("SE2", n_rot=4, **kw).eval()  # type: ignore[call-arg]
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert not torch.allclose(fresh(x), model(x))
        load_official_model_state_dict(fresh, official, dropout=dropout)  # type: ignore[arg-type]
        torch.testing.assert_close(fresh(x), model(x), rtol=0, atol=0)


def test_official_model_names_refuse_what_does_not_match() -> None:
    kw = dict(widths=(4, 4, 8), kernel_size=5, hidden=H, input_size=28)
    cnn = CKGCNN("SE2", n_rot=4, **kw)  # type: ignore[arg-type]
    official = to_official_model_state_dict(cnn)
    # the official CKGCNN has a batch norm after its final gconv; ours (the spec's) has none
    final_bn = {f"layers.12.bn.{p}": torch.ones(8) for p in ("weight", "bias", "running_mean", "running_var")}
    with pytest.raises(KeyError, match=r"unexpected keys \['layers.12.bn.bias'"):
        load_official_model_state_dict(cnn, dict(official, **final_bn))
    res = CKGResNet("SE2", n_rot=4, **kw)  # type: ignore[arg-type]
    with_dropout = to_official_model_state_dict(res, dropout=True)
    with pytest.raises(KeyError, match="missing keys"):  # built with dropout, loaded as without
        load_official_model_state_dict(res, with_dropout)
    with pytest.raises(KeyError, match="lift.kernel.cknet"):  # the layer-level names are not enough
        load_official_model_state_dict(res, to_official_state_dict(res))
    with pytest.raises(ValueError, match="no dropout"):
        official_module_paths(cnn, dropout=True)
    with pytest.raises(TypeError, match="CKGResNet or a CKGCNN"):
        official_module_paths(GroupConv(SE2(4), 2, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping"):
        load_official_model_state_dict(res, [1])  # type: ignore[arg-type]
