"""The dual form is exact: recorder + DualLinear against the live layers, closed forms and a shadow optimizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ballroom.dualform import DualFormRecorder, dual_primal_gap, linear_layer_names, sgd_coefficients

OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.05, "momentum": 0.9},
    "momentum-dampening-wd": {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-2},
    "nesterov-wd": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
    "wd": {"lr": 0.05, "weight_decay": 0.1},
    "maximize-momentum": {"lr": 0.05, "momentum": 0.5, "maximize": True},
}


def _mlp(seed: int = 0, dtype: torch.dtype = torch.float64, inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(5, 7), nn.ReLU(inplace=inplace), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3)
    ).to(dtype)


def _train(
    model: nn.Module,
    opt_kwargs: dict[str, Any],
    steps: int = 40,
    sched: bool = False,
    clip: float | None = None,
    batch: int = 8,
    seed: int = 1,
    **rec_kwargs: Any,
) -> tuple[DualFormRecorder, torch.optim.SGD, list[float]]:
    dtype = next(model.parameters()).dtype
    opt = torch.optim.SGD(model.parameters(), **opt_kwargs)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, 10, 0.5) if sched else None
    rec = DualFormRecorder(model, opt, store_dtype=rec_kwargs.pop("store_dtype", dtype), **rec_kwargs)
    gen = torch.Generator().manual_seed(seed)
    sign = -1.0 if opt_kwargs.get("maximize") else 1.0
    rhos = []
    for _ in range(steps):
        x = torch.randn(batch, 5, generator=gen, dtype=dtype)
        y = torch.randint(0, 3, (batch,), generator=gen)
        loss = sign * F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        rho = 1.0
        if clip is not None:
            norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
            rho = min(1.0, clip / (norm + 1e-6))
        rhos.append(rho)
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return rec, opt, rhos


def _queries(n: int = 20, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(n, 5, generator=torch.Generator().manual_seed(99), dtype=dtype)


@pytest.mark.parametrize("clip", [None, 0.05], ids=["noclip", "clip"])
@pytest.mark.parametrize("sched", [False, True], ids=["const", "steplr"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_dual_equals_primal_float64(opt: str, sched: bool, clip: float | None) -> None:
    model = _mlp()
    rec, _, rhos = _train(model, OPTIMIZERS[opt], sched=sched, clip=clip)
    if clip is not None:
        assert min(rhos) < 0.5, "the clip must actually trigger"
    gaps = dual_primal_gap(model, rec, _queries())
    assert max(gaps.values()) < 1e-10
    for name in rec.layer_names:
        layer = dict(model.named_modules())[name]
        dual = rec.dual(name)
        w = layer.weight.detach()
        assert (dual.weight() - w).abs().max() <= 1e-10 * w.abs().max()
        assert torch.allclose(dual.bias(), layer.bias.detach(), rtol=0, atol=1e-10 * float(w.abs().max()))


def test_plain_sgd_values_are_minus_lr_times_grads() -> None:
    model = _mlp()
    rec, _, _ = _train(model, {"lr": 0.1}, steps=15)
    dual = rec.dual("0")
    assert dual.a_T == 1.0
    assert torch.equal(dual.coef, torch.full((15,), -0.1, dtype=torch.float64))
    assert torch.equal(dual.values, -0.1 * dual.grads)
    assert len(dual) == 15 * 8 and dual.step.tolist() == [t for t in range(15) for _ in range(8)]


def test_momentum_closed_form() -> None:
    eta, m, steps = 0.05, 0.9, 25
    rec, _, _ = _train(_mlp(), {"lr": eta, "momentum": m}, steps=steps)
    dual = rec.dual("2")
    t = torch.arange(steps, dtype=torch.float64)
    expected = -eta * (1 - m ** (steps - t)) / (1 - m)
    assert dual.a_T == 1.0
    torch.testing.assert_close(dual.coef, expected, rtol=1e-13, atol=0)


def test_weight_decay_closed_form_with_schedule() -> None:
    lam, steps = 0.1, 30
    rec, _, _ = _train(_mlp(), {"lr": 0.05, "weight_decay": lam}, steps=steps, sched=True)
    dual = rec.dual("4")
    lrs = torch.tensor([0.05 * 0.5 ** (s // 10) for s in range(steps)], dtype=torch.float64)
    decay = 1 - lrs * lam
    expected = torch.stack([-lrs[t] * decay[t + 1 :].prod() for t in range(steps)])
    assert dual.a_T == pytest.approx(float(decay.prod()), rel=1e-13)
    torch.testing.assert_close(dual.coef, expected, rtol=1e-12, atol=0)


def _shadow_optimizer(opt_kwargs: dict[str, Any], rhos: list[float], sched: bool) -> torch.Tensor:
    """The spec's recipe: SGD on s in R^(T+1), s_0 = e_0, gradient rho_t e_{t+1} at step t."""
    steps = len(rhos)
    s = torch.zeros(steps + 1, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        s[0] = 1.0
    shadow = torch.optim.SGD([s], **{k: v for k, v in opt_kwargs.items() if k != "maximize"})
    scheduler = torch.optim.lr_scheduler.StepLR(shadow, 10, 0.5) if sched else None
    for t, rho in enumerate(rhos):
        s.grad = torch.zeros_like(s)
        s.grad[t + 1] = rho
        shadow.step()
        if scheduler is not None:
            scheduler.step()
    return s.detach()


def _naive_span(opt_kwargs: dict[str, Any], rhos: list[float], sched: bool) -> torch.Tensor:
    """PyTorch's SGD rule written out on explicit span coordinates (param p, buffer b)."""
    steps = len(rhos)
    lr0, m = opt_kwargs["lr"], opt_kwargs.get("momentum", 0.0)
    damp, wd, nest = (
        opt_kwargs.get("dampening", 0.0),
        opt_kwargs.get("weight_decay", 0.0),
        opt_kwargs.get("nesterov", False),
    )
    p = [1.0] + [0.0] * steps
    b: list[float] | None = None
    for t, rho in enumerate(rhos):
        lr = lr0 * (0.5 ** (t // 10) if sched else 1.0)
        g = [0.0] * (steps + 1)
        g[t + 1] = rho
        d = [gi + wd * pi for gi, pi in zip(g, p)]
        if m:
            b = list(d) if b is None else [m * bi + (1 - damp) * di for bi, di in zip(b, d)]
            d = [di + m * bi for di, bi in zip(d, b)] if nest else list(b)
        p = [pi - lr * di for pi, di in zip(p, d)]
    return torch.tensor(p, dtype=torch.float64)


@pytest.mark.parametrize("opt", ["momentum-dampening-wd", "nesterov-wd", "wd", "momentum"])
def test_coefficients_match_shadow_optimizer_and_naive_span(opt: str) -> None:
    kwargs = OPTIMIZERS[opt]
    rec, _, rhos = _train(_mlp(), kwargs, steps=30, sched=True, clip=0.1)
    dual = rec.dual("2")
    ours = torch.cat([torch.tensor([dual.a_T], dtype=torch.float64), dual.coef])
    torch.testing.assert_close(ours, _shadow_optimizer(kwargs, rhos, sched=True), rtol=1e-10, atol=1e-15)
    torch.testing.assert_close(ours, _naive_span(kwargs, rhos, sched=True), rtol=1e-10, atol=1e-15)


def test_skipped_step_is_the_identity() -> None:
    # a skipped step (parameter without gradient) is the identity
    rows = torch.tensor([[1, 0.1, 0.0, 0, 0, 0, 0, 1.0], [0, 0, 0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    a, c = sgd_coefficients(rows)
    assert a == 1.0 and c.tolist() == [-0.1, 0.0]


def test_gradient_accumulation_and_discarded_forwards() -> None:
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rec = DualFormRecorder(model, opt, store_dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    for _ in range(12):
        opt.zero_grad()
        for _ in range(2):  # two micro-batches per step
            x, y = (
                torch.randn(4, 5, generator=gen, dtype=torch.float64),
                torch.randint(0, 3, (4,), generator=gen),
            )
            (F.cross_entropy(model(x), y) / 2).backward()
        model(torch.randn(3, 5, dtype=torch.float64))  # train-mode forward, never backpropagated: discarded
        opt.step()
    model.eval()
    model(torch.randn(2, 5, dtype=torch.float64))  # eval mode: nothing recorded
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 5, dtype=torch.float64))  # no grad: nothing recorded
    assert rec.num_patterns("0") == 12 * 8
    assert max(dual_primal_gap(model, rec, _queries()).values()) < 1e-10


def test_sequence_inputs_give_one_slot_per_position_and_stay_exact() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    rec = DualFormRecorder(model, opt, store_dtype=torch.float64)
    for step in range(6):
        x = torch.randn(4, 7, 5, dtype=torch.float64)  # (B, T, d)
        rec.set_batch_meta(index=torch.arange(4) + 4 * step, label=torch.tensor([0, 1, 2, 0]))
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    dual = rec.dual("0")
    assert len(dual) == 6 * 4 * 7
    assert dual.index[:14].tolist() == [0] * 7 + [1] * 7  # metadata repeats over positions
    q = torch.randn(2, 3, 5, dtype=torch.float64)
    assert dual.forward(q).shape == (2, 3, 6)
    assert max(dual_primal_gap(model, rec, q).values()) < 1e-10


def test_inplace_relu_after_linear_is_exact() -> None:
    model = _mlp(inplace=True)
    rec, _, _ = _train(model, {"lr": 0.1, "momentum": 0.9}, steps=10)
    assert max(dual_primal_gap(model, rec, _queries()).values()) < 1e-10


def test_explicit_penalty_on_the_weight_is_detected() -> None:
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    DualFormRecorder(model, opt, check_every=1)
    x, y = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 3, (8,))
    loss = F.cross_entropy(model(x), y) + 1e-2 * model[0].weight.pow(2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="extra loss term"):
        opt.step()


def test_weight_used_outside_forward_is_detected() -> None:
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = DualFormRecorder(model, opt, layers=["4"])
    model.eval()  # the recorded layer runs in eval mode, yet its weight gets a gradient (tied use)
    out = F.linear(
        torch.relu(model[2](torch.relu(model[0](torch.randn(4, 5, dtype=torch.float64))))), model[4].weight
    )
    out.sum().backward()
    opt.step()
    with pytest.raises(RuntimeError, match="no recorded pattern"):
        rec.dual("4")  # the checks run every check_every steps and before a dual form is built


def test_adam_refuses_the_dual_form_but_scores_work() -> None:
    model = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rec = DualFormRecorder(model, opt, store_dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        rec.set_batch_meta(label=torch.randint(0, 3, (8,), generator=gen))
        F.cross_entropy(
            model(torch.randn(8, 5, generator=gen, dtype=torch.float64)), torch.randint(0, 3, (8,))
        ).backward()
        opt.step()
        opt.zero_grad()
    dual = rec.dual("0")
    q = _queries(3)
    for call in (lambda: dual.forward(q), dual.weight, lambda: dual.values):
        with pytest.raises(NotImplementedError, match="not torch.optim.SGD"):
            call()
    assert dual.scores(q).shape == (3, 40) and dual.vote(q, 3).shape == (3,)


def test_adam_approximate_mode_reports_a_finite_gap() -> None:
    model = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rec = DualFormRecorder(model, opt, store_dtype=torch.float64, approximate=True)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        x, y = torch.randn(8, 5, generator=gen, dtype=torch.float64), torch.randint(0, 3, (8,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    gaps = dual_primal_gap(model, rec, _queries())
    assert all(0 < g < 1 for g in gaps.values())  # approximate: nonzero, but the right order of magnitude


def test_per_example_scores_votes_and_contributions() -> None:
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rec = DualFormRecorder(model, opt, store_dtype=torch.float64, chunk_size=7)
    gen = torch.Generator().manual_seed(0)
    for step in range(10):
        x, y = torch.randn(8, 5, generator=gen, dtype=torch.float64), torch.randint(0, 3, (8,), generator=gen)
        rec.set_batch_meta(index=torch.arange(8) + 8 * (step % 5), label=y, dataset=step % 2)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    dual = rec.dual("2")
    with torch.no_grad():
        q = torch.relu(model[0](_queries(4)))
    scores = dual.scores(q)
    per_ex = dual.per_example_scores(q, 40)
    torch.testing.assert_close(per_ex.sum(1), scores.sum(1))
    torch.testing.assert_close(per_ex[:, 3], scores[:, dual.index == 3].sum(1))
    torch.testing.assert_close(dual.class_scores(q, 3).sum(1), scores.sum(1))
    assert torch.equal(dual.attention(q).abs(), scores)
    assert set(dual.dataset.tolist()) == {0, 1}
    contrib = dual.contributions(q)
    torch.testing.assert_close(
        contrib.vectors.sum(1), dual.forward(q) - dual.initial_output(q), rtol=1e-10, atol=1e-12
    )
    top = dual.contributions(q, top_k=5)
    norms = contrib.vectors.norm(dim=2)
    torch.testing.assert_close(top.vectors.norm(dim=2), norms.topk(5, dim=1).values)
    vals, slots = dual.top_k(q, 3)
    torch.testing.assert_close(vals, scores.gather(1, slots))
    # chunked (7 slots per chunk) and unchunked evaluation agree
    dual.chunk_size = 10_000
    torch.testing.assert_close(dual.forward(q), rec.dual("2").forward(q), rtol=1e-12, atol=1e-14)


def test_vote_on_a_hand_built_example() -> None:
    model = nn.Linear(2, 1, bias=False).double()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    rec = DualFormRecorder(model, opt, store_dtype=torch.float64)
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -3.0], [2.0, 0.0]], dtype=torch.float64)
    rec.set_batch_meta(label=torch.tensor([0, 1, 1, 2]))
    model(keys).sum().backward()
    opt.step()
    dual = rec.dual("")
    q = torch.tensor([[1.0, 1.0], [1.0, 0.1]], dtype=torch.float64)
    # |k.q|: query 0 -> [1, 1, 3, 2]: class 1 gets 4; query 1 -> [1, .1, .3, 2]: class 2 gets 2
    torch.testing.assert_close(
        dual.class_scores(q, 3), torch.tensor([[1.0, 4.0, 2.0], [1.0, 0.4, 2.0]], dtype=torch.float64)
    )
    assert dual.vote(q).tolist() == [1, 2]
    torch.testing.assert_close(dual.attention(q[0]), torch.tensor([1.0, 1.0, -3.0, 2.0], dtype=torch.float64))
    cos = dual.scores(q[:1], normalize=True)
    torch.testing.assert_close(cos, (keys @ q[0]).abs().unsqueeze(0) / (keys.norm(dim=1) * q[0].norm()))


def test_bias_in_another_param_group_is_exact() -> None:
    model = _mlp()
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": 0.05}, {"params": biases, "weight_decay": 0.0, "lr": 0.02}],
        lr=0.05,
        momentum=0.9,
    )
    rec = DualFormRecorder(model, opt, store_dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        x, y = torch.randn(8, 5, generator=gen, dtype=torch.float64), torch.randint(0, 3, (8,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert max(dual_primal_gap(model, rec, _queries()).values()) < 1e-10
    assert rec.dual("0").a_T != rec.dual("0").a_T_bias


def test_float32_and_float16_storage() -> None:
    model = _mlp(dtype=torch.float32)
    rec32, _, _ = _train(model, {"lr": 0.05, "momentum": 0.9}, steps=30, store_dtype=torch.float32)
    gap32 = max(dual_primal_gap(model, rec32, _queries(dtype=torch.float32)).values())
    assert gap32 < 1e-4
    model16 = _mlp(dtype=torch.float32)
    rec16, _, _ = _train(model16, {"lr": 0.05, "momentum": 0.9}, steps=30, store_dtype=torch.float16)
    gap16 = max(dual_primal_gap(model16, rec16, _queries(dtype=torch.float32)).values())
    assert 1e-6 < gap16 < 2e-2
    assert rec16.memory_bytes() < 0.75 * rec32.memory_bytes()


def test_state_round_trip_and_resumed_recording(tmp_path: Path) -> None:
    kwargs = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3}
    full = _mlp()
    rec_full, _, _ = _train(full, kwargs, steps=20)

    model = _mlp()
    rec, opt, _ = _train(model, kwargs, steps=10)
    rec.save(tmp_path / "rec.pt")
    state = {"model": model.state_dict(), "opt": opt.state_dict()}
    rec.remove()
    # a fresh process: new model/optimizer restored from their states, recorder from its file
    model2 = _mlp(seed=5)
    model2.load_state_dict(state["model"])
    opt2 = torch.optim.SGD(model2.parameters(), **kwargs)
    opt2.load_state_dict(state["opt"])
    rec2 = DualFormRecorder(model2, opt2, store_dtype=torch.float64)
    rec2.load(tmp_path / "rec.pt")
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):  # replay the same data stream; the first 10 batches are already in the recorder
        x, y = torch.randn(8, 5, generator=gen, dtype=torch.float64), torch.randint(0, 3, (8,), generator=gen)
        if rec2.num_steps < 10 or _ < 10:
            continue
        opt2.zero_grad()
        F.cross_entropy(model2(x), y).backward()
        opt2.step()
    assert rec2.num_steps == 20
    for name in rec_full.layer_names:
        torch.testing.assert_close(rec2.dual(name).keys, rec_full.dual(name).keys)
        torch.testing.assert_close(rec2.dual(name).coef, rec_full.dual(name).coef, rtol=1e-13, atol=0)
    assert max(dual_primal_gap(model2, rec2, _queries()).values()) < 1e-10


def test_optimizer_with_momentum_history_is_refused() -> None:
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 5, dtype=torch.float64)).sum().backward()
    opt.step()
    DualFormRecorder(model, opt)
    model(torch.randn(2, 5, dtype=torch.float64)).sum().backward()
    with pytest.raises(RuntimeError, match="before the recorder was attached"):
        opt.step()


def test_seeded_recording_is_deterministic() -> None:
    recs = [_train(_mlp(), {"lr": 0.05, "momentum": 0.9}, steps=8)[0] for _ in range(2)]
    for name in recs[0].layer_names:
        assert torch.equal(recs[0].dual(name).keys, recs[1].dual(name).keys)
        assert torch.equal(recs[0].dual(name).coef, recs[1].dual(name).coef)


def test_bad_inputs_raise_clear_errors() -> None:
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(
        KeyError, match=r"no nn.Linear layer matches 'nope'; the nn.Linear layers are \['0', '2', '4'\]"
    ):
        DualFormRecorder(model, opt, layers=["nope"])
    with pytest.raises(TypeError, match="expected nn.Linear"):
        DualFormRecorder(model, opt, layers=["1"])
    with pytest.raises(ValueError, match="no nn.Linear"):
        DualFormRecorder(nn.Sequential(nn.ReLU()), opt)
    with pytest.raises(ValueError, match="not in the optimizer"):
        DualFormRecorder(model, torch.optim.SGD(model[0].parameters(), lr=0.1))
    with pytest.raises(TypeError, match="store_dtype must be a floating torch.dtype"):
        DualFormRecorder(model, opt, store_dtype=torch.int64)
    rec, _, _ = _train(model, {"lr": 0.1}, steps=2)
    dual = rec.dual("0")
    with pytest.raises(ValueError, match=r"\(\.\.\., d_in=5\)"):
        dual.forward(torch.randn(3, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating point"):
        dual.scores(torch.ones(3, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN or inf"):
        dual.forward(torch.full((1, 5), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="empty"):
        dual.forward(torch.zeros(0, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="ids must lie in"):
        dual.class_scores(torch.randn(1, 5, dtype=torch.float64), 3)  # labels were never set (-1)
    with pytest.raises(KeyError, match="not recorded"):
        rec.dual("1")
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        rec.set_batch_meta(index=torch.arange(4), label=torch.arange(3))
    rec.set_batch_meta(label=torch.arange(3))
    with pytest.raises(ValueError, match="batch 8"):
        model(torch.randn(8, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="finite and >= 0"):
        rec.note_clip(float("nan"))


def test_dual_form_on_device(device: torch.device) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rec = DualFormRecorder(model, opt, device=device)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        x, y = (
            torch.randn(8, 5, generator=gen).to(device),
            torch.randint(0, 3, (8,), generator=gen).to(device),
        )
        rec.set_batch_meta(label=y)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
    q = torch.randn(10, 5, generator=gen).to(device)
    assert max(dual_primal_gap(model, rec, q).values()) < 1e-4
    dual = rec.dual("0")
    assert dual.keys.device.type == device.type and dual.vote(q, 3).device.type == device.type


def test_linear_layer_names_and_globs() -> None:
    model = nn.ModuleDict(
        {"enc": nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4)), "head": nn.Linear(4, 2)}
    ).double()
    assert linear_layer_names(model) == ["enc.0", "enc.2", "head"]
    assert linear_layer_names(model, "enc.*") == ["enc.0", "enc.2"]
    assert linear_layer_names(model, ["head", "enc.2"]) == ["enc.2", "head"]  # model order, not call order
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert DualFormRecorder(model, opt, layers="enc.*").layer_names == ["enc.0", "enc.2"]
    with pytest.raises(KeyError, match="'enc.1' is Tanh, not nn.Linear"):
        linear_layer_names(model, ["enc.1"])
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        linear_layer_names("enc")  # type: ignore[arg-type]


def test_slot_order_is_steps_then_calls_then_row_major() -> None:
    """The documented slot order, against inputs built by hand: 2 steps; per step 2 micro-batches of
    (B=2, T=3, d) inputs (gradient accumulation), the layer called twice per forward."""
    torch.manual_seed(0)
    lin = nn.Linear(4, 4).double()
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    rec = DualFormRecorder(lin, opt)
    expect = []
    for step in range(2):
        opt.zero_grad()
        for micro in range(2):
            x = torch.randn(2, 3, 4, dtype=torch.float64)
            rec.set_batch_meta(index=torch.tensor([10 * step + 2 * micro, 10 * step + 2 * micro + 1]))
            h = lin(x)
            out = lin(torch.tanh(h))  # the second call sees tanh(h)
            out.sum().backward()
            expect += [x.reshape(-1, 4), torch.tanh(h).detach().reshape(-1, 4)]
        opt.step()
    dual = rec.dual("")  # a bare Linear is the module named ""
    assert torch.equal(dual.keys, torch.cat(expect))
    assert dual.step.tolist() == [0] * 24 + [1] * 24
    first = dual.index[:12].tolist()  # step 0, micro-batch 0, first call: example b repeated for t = 0..2
    assert first[:6] == [0, 0, 0, 1, 1, 1] and first[6:] == [0, 0, 0, 1, 1, 1]
    rec.verify()  # and the recorded slots are the ones the gradients came from
