"""Derivation (spec test 4), stage-wise genotypes, macro choice (test 5), NB201 strings, Kendall tau."""

from __future__ import annotations

import itertools

import pytest
import torch

from ballroom.agnas import (
    AGNAS_GENOTYPES,
    DARTS_PRIMITIVES,
    AttentionSuperBlock,
    DartsGenotype,
    EvalNetwork,
    MacroSupernet,
    MBConv,
    NB201Network,
    NB201SearchSpace,
    NB201Supernet,
    derive_genotype,
    derive_macro,
    kendall_tau,
    stage_genotypes,
)

P = DARTS_PRIMITIVES
NONE = P.index("none")


def _check_valid(g, steps: int = 4) -> None:
    assert len(g.gene) == 2 * steps and g.concat == tuple(range(2, steps + 2))
    for i in range(steps):
        (op_a, a), (op_b, b) = g.gene[2 * i], g.gene[2 * i + 1]
        assert a != b and 0 <= a < 2 + i and 0 <= b < 2 + i
        assert "none" not in (op_a, op_b)


def test_derive_on_a_hand_built_table_with_ties() -> None:
    t = torch.zeros(14, 8)
    t[:, NONE] = 100.0  # none is the largest everywhere and must never win
    t[0, 0] = 5.0  # node 0: edge 0 sep3 (5) vs edge 1 max pool (5): tie -> both kept, order j=0 first
    t[1, 6] = 5.0
    t[2, 1], t[3, 2], t[4, 4] = 1.0, 3.0, 3.0  # node 1: edges 1 and 2 tie at 3 -> lower j (1) first
    t[5:9, 3] = torch.tensor([1.0, 4.0, 2.0, 4.0])  # node 2: edges 1 and 3 tie -> (dil5, 1), (dil5, 3)
    t[9:14, 5] = torch.tensor([0.0, 0.0, 7.0, 0.0, 7.0])  # node 3: edges 2 and 4
    t[9, 0] = t[9, 1] = 0.5  # op tie on an edge that is not kept
    g = derive_genotype(t, P)
    assert g.gene == (
        ("sep_conv_3x3", 0), ("max_pool_3x3", 1),
        ("dil_conv_3x3", 1), ("skip_connect", 2),
        ("dil_conv_5x5", 1), ("dil_conv_5x5", 3),
        ("avg_pool_3x3", 2), ("avg_pool_3x3", 4),
    )  # fmt: skip
    _check_valid(g)
    # an op tie on a kept edge goes to the lower op index
    t2 = torch.zeros(14, 8)
    t2[0, 2] = t2[0, 3] = 1.0
    assert derive_genotype(t2, P).gene[0] == ("dil_conv_3x3", 0)
    # with nothing excluded, none wins wherever it is largest
    assert derive_genotype(t, P, exclude=None).gene[0][0] == "none"


def test_derive_is_invariant_to_scaling_and_always_valid() -> None:
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        t = torch.rand(14, 8, generator=gen)
        g = derive_genotype(t, P)
        _check_valid(g)
        assert derive_genotype(t * 37.5, P) == g == derive_genotype(t.double() / 3, P)
    # a 3-step cell
    _check_valid(derive_genotype(torch.rand(9, 8), P, steps=3), steps=3)


def test_stage_genotypes_follow_the_official_rule() -> None:
    cells = [derive_genotype(torch.rand(14, 8), P) for _ in range(8)]
    assert stage_genotypes(cells, (2, 5)) == [cells[i] for i in (0, 2, 3, 5, 6)]
    with pytest.raises(ValueError, match="per_cell"):
        stage_genotypes(cells[:3], (2, 5))
    d = DartsGenotype.from_cells(AGNAS_GENOTYPES[0], AGNAS_GENOTYPES[1])
    assert d.normal[1] == ("dil_conv_3x3", 1) and d.reduce_concat == [2, 3, 4, 5]


def test_eval_network_shapes_and_the_paper_network() -> None:
    net = EvalNetwork(C=4, layers=5, reductions=(1, 3), auxiliary=True).train()
    logits, aux = net.forward_with_aux(torch.randn(2, 3, 16, 16))
    assert logits.shape == (2, 10) and aux is not None and aux.shape == (2, 10)
    net.eval()
    assert net.forward_with_aux(torch.randn(2, 3, 16, 16))[1] is None
    assert [c.reduction for c in net.cells] == [False, True, False, True, False]
    paper = EvalNetwork(C=36, layers=20, auxiliary=True)
    assert paper.reductions == (6, 13) and paper.aux_index == 13
    # stage 2 of the paper's network uses the genotype of searched cell 3 (a skip on input 0 first)
    assert paper.cells[7].ops[0].__class__.__name__ == "Identity"


def test_drop_path_keeps_the_expectation() -> None:
    from ballroom.agnas.evalnet import drop_path

    torch.manual_seed(0)
    x = torch.ones(20000, 1, 1, 1)
    y = drop_path(x, 0.2)
    assert set(y.unique().tolist()) == {0.0, 1.25}
    assert abs(y.mean().item() - 1.0) < 0.03


def test_macro_identity_only_when_shapes_allow_and_argmax_choice() -> None:
    assert AttentionSuperBlock(8, 8, 1).candidates[-1] == "identity"
    assert "identity" not in AttentionSuperBlock(8, 16, 1).candidates
    assert "identity" not in AttentionSuperBlock(8, 8, 2).candidates
    assert len(AttentionSuperBlock(8, 8, 1).candidates) == 7
    assert MBConv(8, 8, 3, 1, 3).residual and not MBConv(8, 16, 3, 1, 3).residual
    imps = [torch.tensor([0.1, 0.9, 0.3]), torch.tensor([2.0, 2.0, 1.0])]
    names = [["a", "b", "identity"], ["c", "d", "e"]]
    assert derive_macro(imps, names) == ["b", "c"]
    block = AttentionSuperBlock(4, 4, 1).eval()
    x = torch.randn(3, 4, 6, 6)
    y, imp = block(x)
    outs = [op(x) for op in block.ops]
    a = block.attention(torch.cat([o.mean((2, 3)) for o in outs], 1))
    ref = sum(a[:, 4 * k : 4 * k + 4, None, None] * o for k, o in enumerate(outs))
    torch.testing.assert_close(y, ref)
    torch.testing.assert_close(
        imp, torch.stack([a[:, 4 * k : 4 * k + 4].mean(1).sum() for k in range(len(outs))])
    )
    assert block.attention.fc1.weight.shape == (7 * 4 // 16 or 1, 28)


def test_macro_supernet_default_is_the_proxyless_chain() -> None:
    net = MacroSupernet(widths=[(8, 2, 1), (16, 2, 2)], first_channels=8, mb1_channels=8, last_channels=32,
                        first_stride=1, num_classes=10)  # fmt: skip
    logits, imps = net(torch.randn(2, 3, 8, 8), return_importance=True)
    assert logits.shape == (2, 10) and [len(i) for i in imps] == [7, 7, 6, 7]
    from ballroom.agnas.macro import PROXYLESS_STAGES

    assert sum(n for _, n, _ in PROXYLESS_STAGES) == 21


def test_nb201_arch_strings_round_trip_and_space_size() -> None:
    space = NB201SearchSpace()
    assert len(space) == 15625
    ops = ("nor_conv_3x3", "skip_connect", "nor_conv_1x1", "none", "avg_pool_3x3", "nor_conv_3x3")
    arch = space.to_arch_str(ops)
    assert arch == "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    assert space.from_arch_str(arch) == ops
    assert space.all()[space.index(ops)] == ops
    samples = space.sample(50, torch.Generator().manual_seed(0))
    assert len(set(samples)) == 50 and all(space.from_arch_str(space.to_arch_str(s)) == s for s in samples)
    imp = torch.zeros(6, 5)
    imp[:, 0] = 10.0
    imp[:, 3] = 1.0
    assert space.derive(imp) == ("nor_conv_3x3",) * 6
    net = NB201Network(arch, C=4, N=1)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    sup = NB201Supernet(C=4, N=1)
    logits, imps = sup(torch.randn(2, 3, 16, 16), return_importance=True)
    assert logits.shape == (2, 10) and imps.shape == (3, 6, 5)
    assert NB201Supernet(C=4, N=1, mixed="darts").alpha.shape == (6, 5)


def test_kendall_tau_matches_a_brute_force_count() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    x, y = [1.0, 2.0, 2.0, 3.0, 5.0], [2.0, 1.0, 4.0, 4.0, 3.0]
    pairs = list(itertools.combinations(range(5), 2))
    s = sum((x[i] > x[j]) - (x[i] < x[j]) for i, j in pairs) and None
    num = sum(((x[i] > x[j]) - (x[i] < x[j])) * ((y[i] > y[j]) - (y[i] < y[j])) for i, j in pairs)
    n0 = len(pairs)
    tx = sum(x[i] == x[j] for i, j in pairs)
    ty = sum(y[i] == y[j] for i, j in pairs)
    assert s is None and kendall_tau(x, y) == pytest.approx(num / ((n0 - tx) * (n0 - ty)) ** 0.5)
    assert kendall_tau([1, 1, 1], [1, 2, 3]) != kendall_tau([1, 1, 1], [1, 2, 3])  # NaN
