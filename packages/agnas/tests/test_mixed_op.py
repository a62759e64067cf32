"""The attention mixed op, the cell and the supernet: the spec's correctness tests 1-3 and 6."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ballroom.agnas import (
    DARTS_PRIMITIVES,
    AttentionMixedOp,
    AttentionSupernet,
    ChannelAttention,
    DartsMixedOp,
    ImportanceAccumulator,
    SearchCell,
    attention_weighted_sum,
    load_official_state_dict,
    official_to_ours,
    op_importance,
)
from ballroom.agnas.ops import OPS, FactorizedReduce, build_op


def _op(C: int = 4, stride: int = 1) -> AttentionMixedOp:
    torch.manual_seed(0)
    return AttentionMixedOp(C, stride).double()


def _reference(op: AttentionMixedOp, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The official formulation: concat all outputs (none included), SE over the concat, chunk sums."""
    outs = [m(x) for m in op.ops]
    Z = torch.cat(outs, 1)
    a = torch.sigmoid(op.attention.fc2(torch.relu(op.attention.fc1(Z.mean((2, 3))))))
    weighted = Z * a[:, :, None, None]
    C = op.C
    y = sum(weighted[:, k * C : (k + 1) * C] for k in range(len(outs)))
    imp = torch.stack([a[:, k * C : (k + 1) * C].sum() for k in range(len(outs))])
    return y, imp


@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_equals_the_hand_computed_sum(stride: int) -> None:
    op = _op(4, stride).train()
    x = torch.randn(3, 4, 8, 8, dtype=torch.float64)
    y, imp = op(x)
    ref_y, ref_imp = _reference(op, x)
    torch.testing.assert_close(y, ref_y, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(imp, ref_imp, rtol=1e-12, atol=1e-12)
    assert y.shape == (3, 4, 8 // stride, 8 // stride)


def test_zero_attention_weights_give_half_the_plain_sum() -> None:
    op = _op().eval()
    nn.init.zeros_(op.attention.fc1.weight)
    nn.init.zeros_(op.attention.fc2.weight)
    x = torch.randn(5, 4, 6, 6, dtype=torch.float64)
    y, imp = op(x)
    plain = sum(m(x) for m in op.ops)
    torch.testing.assert_close(y, 0.5 * plain, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(imp, torch.full((8,), 0.5 * 5 * 4, dtype=torch.float64))


def test_importance_stays_a_detached_tensor_on_the_input_device(device: torch.device) -> None:
    op = AttentionMixedOp(4, 1).to(device)
    y, imp = op(torch.randn(2, 4, 8, 8, device=device))
    assert isinstance(imp, torch.Tensor) and imp.device.type == device.type
    assert imp.shape == (8,) and not imp.requires_grad and y.requires_grad


def test_none_gets_no_gradient_through_its_chunk() -> None:
    op = _op()
    x = torch.randn(4, 4, 8, 8, dtype=torch.float64)
    a_grad = {}

    def hook(a: torch.Tensor) -> None:
        a.register_hook(lambda g: a_grad.setdefault("g", g))

    original = op.attention.forward
    op.attention.forward = lambda g: (lambda a: (hook(a), a)[1])(original(g))  # type: ignore[method-assign]
    y, _ = op(x)
    (y**2).sum().backward()
    C, k = op.C, DARTS_PRIMITIVES.index("none")
    g = a_grad["g"]
    assert torch.count_nonzero(g[:, k * C : (k + 1) * C]) == 0
    assert torch.count_nonzero(g[:, : k * C]) > 0
    # the W2 rows of the none chunk and the W1 columns reading it get exactly zero loss gradient
    assert torch.count_nonzero(op.attention.fc2.weight.grad[k * C : (k + 1) * C]) == 0
    assert torch.count_nonzero(op.attention.fc1.weight.grad[:, k * C : (k + 1) * C]) == 0
    assert torch.count_nonzero(op.attention.fc2.weight.grad[: k * C]) > 0


def test_weighted_sum_matches_concat_and_skips_none() -> None:
    outs = [torch.randn(2, 3, 4, 4) for _ in range(3)]
    a = torch.rand(2, 9)
    ref = sum(a[:, 3 * k : 3 * k + 3, None, None] * o for k, o in enumerate(outs))
    torch.testing.assert_close(attention_weighted_sum(outs, a), ref)
    torch.testing.assert_close(
        attention_weighted_sum([outs[0], None, outs[2]], a), ref - a[:, 3:6, None, None] * outs[1]
    )
    torch.testing.assert_close(op_importance(a, 3), a.view(2, 3, 3).sum((0, 2)))


def test_channel_attention_formula() -> None:
    att = ChannelAttention(16, 2).double()
    g = torch.randn(3, 16, dtype=torch.float64)
    ref = torch.sigmoid(torch.relu(g @ att.fc1.weight.T) @ att.fc2.weight.T)
    torch.testing.assert_close(att(g), ref)
    assert att.fc1.bias is None and att.fc2.bias is None
    assert AttentionMixedOp(16, 1).attention.fc1.weight.shape == (16, 128)  # hidden = C (ratio 8)


def test_gradcheck_through_the_mixed_op() -> None:
    op = AttentionMixedOp(
        2, 1, primitives=("sep_conv_3x3", "skip_connect", "avg_pool_3x3", "none"), pool_bn=False
    )
    op = op.double().eval()
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: op(t)[0], (x,))


def test_ops_shapes_and_bn_layout() -> None:
    x = torch.randn(2, 6, 8, 8)
    for name in DARTS_PRIMITIVES:
        for stride in (1, 2):
            op = build_op(name, 6, stride)
            assert op(x).shape == (2, 6, 8 // stride, 8 // stride), name
            for m in op.modules():
                if isinstance(m, nn.BatchNorm2d):
                    assert not m.affine
            if "conv" in name:
                assert all(m.bias is None for m in op.modules() if isinstance(m, nn.Conv2d))
    assert isinstance(build_op("avg_pool_3x3", 6, 1)[1], nn.BatchNorm2d)
    fr = FactorizedReduce(6, 6, affine=False)
    xr = torch.randn(1, 6, 4, 4)
    direct = fr.bn(torch.cat([fr.conv_1(xr.relu()), fr.conv_2(xr.relu()[:, :, 1:, 1:])], 1))
    fr.eval()
    torch.testing.assert_close(
        fr(xr), fr.bn(torch.cat([fr.conv_1(xr.relu()), fr.conv_2(xr.relu()[:, :, 1:, 1:])], 1))
    )
    assert direct.shape == (1, 6, 2, 2)
    # avg pool excludes padding: a constant image stays constant at the border
    pool = OPS["avg_pool_3x3"](1, 1, False)
    torch.testing.assert_close(pool(torch.ones(1, 1, 4, 4)), torch.ones(1, 1, 4, 4))


@pytest.mark.parametrize("reduction", [False, True])
def test_cell_shapes(reduction: bool) -> None:
    cell = SearchCell(4, 12, 12, 4, reduction=reduction, reduction_prev=False)
    out, imp = cell(torch.randn(2, 12, 8, 8), torch.randn(2, 12, 8, 8))
    side = 4 if reduction else 8
    assert out.shape == (2, 16, side, side) and imp.shape == (14, 8)
    assert [e.stride for e in cell.edges][:2] == ([2, 2] if reduction else [1, 1])


def test_supernet_shapes_and_per_cell_attention() -> None:
    torch.manual_seed(0)
    net = AttentionSupernet(C=4, layers=5, reductions=[1, 3])
    logits, imp = net(torch.randn(3, 3, 16, 16), return_importance=True)
    assert logits.shape == (3, 10) and imp.shape == (5, 14, 8) == net.importance_shape
    assert AttentionSupernet(C=16, layers=8).reductions == (2, 5)
    # every cell has its own attention: no parameter is shared between cells
    ids = [{id(p) for p in c.parameters()} for c in net.cells]
    assert all(not (a & b) for a, b in itertools.combinations(ids, 2))


def test_importance_accumulation_is_order_independent_and_equals_batch_sums() -> None:
    torch.manual_seed(1)
    net = AttentionSupernet(C=4, layers=2, reductions=[1])
    x = torch.randn(12, 3, 8, 8)
    batches = [x[:5], x[5:9], x[9:]]
    total = ImportanceAccumulator().collect(net, batches)
    rev = ImportanceAccumulator().collect(net, batches[::-1])
    assert net.training  # collect() restores the mode
    torch.testing.assert_close(total, rev, rtol=1e-12, atol=1e-9)
    net.eval()
    with torch.no_grad():
        by_hand = sum(net(b, return_importance=True)[1].double() for b in batches)
        whole = net(x, return_importance=True)[1].double()
    torch.testing.assert_close(total, by_hand)
    torch.testing.assert_close(total, whole, rtol=1e-5, atol=1e-5)  # eval BN: batching does not matter
    acc = ImportanceAccumulator()
    acc.update(torch.ones(2, 3))
    other = ImportanceAccumulator()
    other.update(2 * torch.ones(2, 3))
    acc.merge(other)
    assert torch.equal(acc.total, 3 * torch.ones(2, 3, dtype=torch.float64)) and acc.batches == 2


def test_darts_mixed_op_is_a_softmax_weighted_sum() -> None:
    op = DartsMixedOp(4, 1).double().eval()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    w = torch.softmax(torch.randn(8, dtype=torch.float64), 0)
    y, imp = op(x, w)
    torch.testing.assert_close(y, sum(w[k] * m(x) for k, m in enumerate(op.ops)))
    assert torch.equal(imp, w)


def test_masked_op_is_removed_from_the_sum() -> None:
    op = _op().eval()
    nn.init.zeros_(op.attention.fc1.weight)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    full, _ = op(x)
    op.masked = 0
    masked, _ = op(x)
    # attention is constant (fc1 = 0) so removing op 0 subtracts exactly a_0 * o_0
    a0 = torch.sigmoid(op.attention.fc2(torch.zeros(1, 4, dtype=torch.float64)))[0, :4]
    torch.testing.assert_close(full - masked, a0[None, :, None, None] * op.ops[0](x))


def test_official_layout_loads_by_name_and_gives_the_same_outputs() -> None:
    torch.manual_seed(2)
    net = AttentionSupernet(C=4, layers=2, reductions=[1]).eval()
    to_official = {}
    for k in net.state_dict():
        off = k.replace(".edges.", "._ops.").replace(".ops.", "._ops.")
        off = off.replace("attention.fc1.", "attention.fc.0.").replace("attention.fc2.", "attention.fc.2.")
        to_official[k] = off
    assert all(official_to_ours(v) == k for k, v in to_official.items())
    official = {"module." + to_official[k]: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(3)
    other = AttentionSupernet(C=4, layers=2, reductions=[1]).eval()
    x = torch.randn(2, 3, 8, 8)
    assert not torch.allclose(other(x), net(x))
    load_official_state_dict(other, official)
    assert torch.equal(other(x), net(x))
    assert "cells.0._ops.3._ops.0.op.1.weight" in {v for v in to_official.values()}


def test_supernet_loss_drops_within_two_epochs_and_noise_op_ranks_low(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ballroom.agnas.data import AgnasDigitsDataModule, TensorBatches
    from ballroom.agnas.search import collect_importance, train_supernet

    class Noise(nn.Module):
        def __init__(self, stride: int) -> None:
            super().__init__()
            self.stride = stride

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.randn_like(x[:, :, :: self.stride, :: self.stride])

    monkeypatch.setitem(OPS, "noise", lambda C, stride, affine: Noise(stride))
    prims = ("sep_conv_3x3", "dil_conv_3x3", "noise", "none")
    dm = AgnasDigitsDataModule(size=8)
    dm.setup()
    torch.manual_seed(0)
    net = AttentionSupernet(C=8, layers=2, steps=2, primitives=prims, reductions=[1])
    train = TensorBatches(*dm.tensors("train"), 64, shuffle=True)
    with torch.no_grad():
        before = F.cross_entropy(net.eval()(dm.tensors("train")[0]), dm.tensors("train")[1]).item()
    losses = train_supernet(net, train, epochs=2, lr=0.1)
    assert losses[-1] < 0.6 * before
    imp = collect_importance(net, TensorBatches(*dm.tensors("val"), 150))
    per_op = imp.sum((0, 1))
    assert per_op[2] < per_op[0] and per_op[2] < per_op[1]
