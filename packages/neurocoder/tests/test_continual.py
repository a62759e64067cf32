"""Streams, agents, the accuracy matrix, learning on digits, and the bad-input table."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ballroom.neurocoder import (
    NeurocoderConv2d,
    NeurocoderLinear,
    NeurocoderMLP,
    OnlineEWCAgent,
    SIAgent,
    attach_neurocoder,
    average_final_accuracy,
    fisher_diagonal,
    load_digits_flat,
    low_rank_apply,
    make_agent,
    neurocoder_regularizer,
    permuted_tasks,
    program_similarity,
    remap_labels,
    run_stream,
    split_tasks,
)
from ballroom.neurocoder.data import stratified_split


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, ...]:
    return load_digits_flat()


def test_digits_scaling_and_stratified_split(digits: tuple[torch.Tensor, ...]) -> None:
    xtr, ytr, xte, yte = digits
    assert float(xtr.min()) == -1.0 and float(xtr.max()) == 1.0 and len(xtr) + len(xte) == 1797
    for c in range(10):
        frac = float((yte == c).sum()) / float((torch.cat([ytr, yte]) == c).sum())
        assert abs(frac - 0.3) < 0.01
    a, b = stratified_split(ytr, 0.3, seed=1)
    assert len(set(a.tolist()) & set(b.tolist())) == 0 and len(a) + len(b) == len(ytr)


def test_split_and_permuted_streams(digits: tuple[torch.Tensor, ...]) -> None:
    tasks = split_tasks(*digits)
    assert [t.classes for t in tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    for t in tasks:
        assert set(t.train.tensors[1].tolist()) == {0, 1}
    assert sum(len(t.test) for t in tasks) == len(digits[2])
    perm = permuted_tasks(*digits, num_tasks=3, seed=0)
    assert torch.equal(perm[0].train.tensors[0], digits[0])
    x1 = perm[1].train.tensors[0]
    assert not torch.equal(x1, digits[0]) and torch.equal(x1.sort(1).values, digits[0].sort(1).values)
    assert torch.equal(remap_labels(torch.tensor([4, 5, 5]), (4, 5)), torch.tensor([0, 1, 1]))


def test_learning_on_digits_01_with_and_without_the_orthogonality_term(
    digits: tuple[torch.Tensor, ...],
) -> None:
    task = split_tasks(*digits)[0]
    torch.set_num_threads(1)
    ces = {}
    for with_reg, steps in ((False, 100), (True, 300)):
        torch.manual_seed(0)
        net = NeurocoderMLP()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(0)
        step, best = 0, float("inf")
        while step < steps:
            for x, y in DataLoader(task.train, batch_size=32, shuffle=True, generator=gen):
                ce = F.cross_entropy(net(x), y)
                loss = ce + neurocoder_regularizer(net) if with_reg else ce
                opt.zero_grad()
                loss.backward()
                opt.step()
                best = min(best, float(ce.detach()))
                step += 1
                if step == steps:
                    break
        ces[with_reg] = best
    assert ces[False] < 0.05, ces
    assert ces[True] < 0.6, ces


def test_l2_penalty_and_online_ewc_fisher_cover_every_parameter(digits: tuple[torch.Tensor, ...]) -> None:
    torch.manual_seed(0)
    net = NeurocoderMLP(hidden=(8,), layer_kwargs={"num_programs": 5, "key_dim": 2, "rank": 2})
    task = split_tasks(*digits)[0]
    loader = DataLoader(task.train, batch_size=64)
    l2 = make_agent("l2", 0.5)
    assert l2.penalty(net) is None
    l2.end_task(net, loader, None)
    assert float(l2.penalty(net)) == 0.0
    with torch.no_grad():
        net.layers[0].memory.M_U.add_(0.1)
    expect = 0.5 * 0.01 * net.layers[0].memory.M_U.numel()
    assert abs(float(l2.penalty(net)) - expect) < 1e-6
    fisher = fisher_diagonal(net, loader, neurocoder_regularizer)
    names = {n for n, _ in net.named_parameters()}
    assert set(fisher) == names and float(fisher["layers.0.memory.M_U"].sum()) > 0
    assert float(fisher["layers.0.query_u.weight"].sum()) > 0
    ewc = OnlineEWCAgent(10.0)
    ewc.end_task(net, loader, None)
    first = ewc.terms[0][0]["layers.0.memory.M_U"].clone()
    ewc.end_task(net, loader, None)
    assert len(ewc.terms) == 1
    torch.testing.assert_close(ewc.terms[0][0]["layers.0.memory.M_U"], 2 * first)


def test_stream_matrix_is_deterministic_and_agents_run(digits: tuple[torch.Tensor, ...]) -> None:
    tasks = split_tasks(*digits)[:3]
    accs = []
    for _ in range(2):
        torch.manual_seed(0)
        accs.append(run_stream(NeurocoderMLP(neurocoder=False), tasks, epochs=4, seed=0))
    assert torch.equal(accs[0], accs[1]) and accs[0].shape == (3, 3)
    assert float(accs[0].diagonal().min()) > 0.9
    assert average_final_accuracy(accs[0]) == pytest.approx(float(accs[0][-1].mean()))
    torch.manual_seed(0)
    si = SIAgent(1.0)
    acc = run_stream(NeurocoderMLP(neurocoder=False), tasks, si, epochs=1, optimizer="sgd", lr=0.05)
    assert not bool(torch.isnan(acc).any())
    omega = si.terms[0][0]
    assert (
        all(bool((v >= -1e-6).all()) for v in omega.values())
        and sum(float(v.sum()) for v in omega.values()) > 0
    )


def test_attach_neurocoder_replaces_named_linears() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    attach_neurocoder(model, ["2"], num_programs=5, key_dim=2, rank=2)
    assert (
        isinstance(model[2], NeurocoderLinear) and model[2].has_bias and isinstance(model[0], torch.nn.Linear)
    )
    assert model(torch.randn(4, 8)).shape == (4, 3)
    assert float(neurocoder_regularizer(model)) == pytest.approx(float(model[2].orthogonality_loss()))
    assert float(neurocoder_regularizer(torch.nn.Linear(2, 2))) == 0.0


LAYER = NeurocoderLinear(6, 4, num_programs=7, key_dim=3, rank=2)
CTX = NeurocoderLinear(6, 4, num_programs=7, key_dim=3, rank=2, controller_features=5)
BAD = [
    (lambda: LAYER(torch.randn(2, 5)), ValueError, r"x must have shape \(\*, 6\)"),
    (lambda: LAYER(torch.randn(2, 3, 6)), ValueError, r"x must have shape"),
    (lambda: LAYER(torch.ones(2, 6, dtype=torch.int64)), TypeError, "x must have a floating-point dtype"),
    (lambda: LAYER(np.ones((2, 6))), TypeError, r"x must be a torch.Tensor.*as_tensor"),
    (lambda: LAYER(torch.tensor([[float("nan")] * 6])), ValueError, "x must be finite"),
    (lambda: LAYER(torch.randn(0, 6)), ValueError, "x must not be empty"),
    (lambda: CTX(torch.randn(2, 6)), ValueError, "context: .*controller_features"),
    (lambda: CTX(torch.randn(2, 6), context=torch.randn(3, 5)), ValueError, "context must have batch size 2"),
    (lambda: LAYER(torch.randn(2, 6), residual_program=torch.randn(4, 6)), ValueError, "residual_program must have shape"),
    (lambda: NeurocoderLinear(6, 4, composition="fancy"), ValueError, "composition must be one of"),
    (lambda: NeurocoderLinear(6, 4, steps=3), ValueError, "steps and top_lu"),
    (lambda: NeurocoderLinear(6, 4, composition="recurrent", top_lu=50), ValueError, "top_lu must be < num_programs"),
    (lambda: NeurocoderLinear(0, 4), ValueError, "in_features must be"),
    (lambda: NeurocoderLinear(6, 4, rank=2.5), TypeError, "rank must be an integer"),
    (lambda: NeurocoderLinear(6, 4, key_mode="svd"), ValueError, "key_mode must be one of"),
    (lambda: program_similarity(torch.randn(2, 3, 4), torch.randn(5, 3)), ValueError, "keys must have key size 4"),
    (lambda: program_similarity(torch.randn(2, 3, 4), torch.randn(5, 4), eps=-1.0), ValueError, "eps must lie in"),
    (lambda: NeurocoderConv2d(3, 4, 3)(torch.randn(2, 2, 5, 5)), ValueError, "x must have 3 channels"),
    (lambda: attach_neurocoder(torch.nn.Sequential(torch.nn.ReLU()), ["0"]), ValueError, "is not an nn.Linear"),
    (lambda: low_rank_apply(torch.randn(2, 5), torch.randn(2, 3, 6), torch.rand(2, 3), torch.randn(2, 3, 4)), ValueError, r"x must have shape \(B, \[L,\] n\)"),
    (lambda: low_rank_apply(torch.randn(2, 6), torch.randn(2, 3, 6), torch.rand(2, 4), torch.randn(2, 3, 4)), ValueError, "sigma must have shape"),
    (lambda: make_agent("ewc2"), ValueError, "name must be one of"),
    (lambda: split_tasks(torch.randn(4, 2), torch.tensor([0, 1, 2]), torch.randn(2, 2), torch.tensor([0, 1])), ValueError, "x_train"),
    (lambda: split_tasks(torch.randn(3, 2), torch.tensor([0, 1, 2]), torch.randn(2, 2), torch.tensor([0, 1])), ValueError, "do not split"),
    (lambda: remap_labels(torch.tensor([0, 3]), (0, 1)), ValueError, "labels outside classes"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "exc", "match"), BAD, ids=[b[2][:30] for b in BAD])
def test_bad_input_is_refused_clearly(call: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call()  # type: ignore[operator]


def test_si_without_a_start_point_says_what_to_do() -> None:
    net = NeurocoderMLP(hidden=(4,), layer_kwargs={"num_programs": 3, "key_dim": 2, "rank": 2})
    with pytest.raises(RuntimeError, match="set agent.start"):
        SIAgent(1.0).importance(net, DataLoader([]), None)
