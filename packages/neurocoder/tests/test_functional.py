"""The spec's correctness tests: low rank vs explicit program, similarity, sigma, least-used, closed forms."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ballroom.neurocoder import (
    NeurocoderConv2d,
    NeurocoderLinear,
    ProgramMemory,
    cumulative_sigma,
    least_used_blend,
    least_used_update,
    orthogonality_loss,
    program_similarity,
)

D = torch.float64
SMALL = {"num_programs": 7, "key_dim": 3, "rank": 2}
MODES = [
    {},
    {"key_mode": "learned"},
    {"composition": "recurrent", "steps": 3},
    {"composition": "recurrent", "steps": 2, "top_lu": 2, "residual": True, "bias": True},
    {"residual": True, "bias": True, "sigma_order": "paper"},
]


@pytest.mark.parametrize("kw", MODES)
def test_forward_equals_x_times_the_working_program(kw: dict, device: torch.device) -> None:
    torch.manual_seed(0)
    layer = NeurocoderLinear(6, 4, **SMALL, **kw).to(device, D)
    x = torch.randn(5, 6, dtype=D, device=device)
    ref = torch.einsum("bn,bnm->bm", x, layer.working_program(x))
    if layer.has_bias:
        ref = ref + layer.bias
    torch.testing.assert_close(layer(x), ref, atol=1e-12, rtol=0)


def test_similarity_is_cosine_over_k_up_to_delta() -> None:
    q, keys = torch.randn(2, 3, 5, dtype=D), torch.randn(7, 5, dtype=D)
    cos = F.cosine_similarity(q.unsqueeze(2), keys.view(1, 1, 7, 5), dim=-1, eps=0)
    torch.testing.assert_close(program_similarity(q, keys), cos / 5, atol=1e-5, rtol=0)
    torch.testing.assert_close(program_similarity(q, keys, eps=0.0), cos / 5, atol=1e-14, rtol=0)
    torch.testing.assert_close(
        program_similarity(q, keys, eps=0.0, scale_by_key_dim=False), cos, atol=1e-14, rtol=0
    )
    # batched keys agree with shared keys
    torch.testing.assert_close(program_similarity(q, keys.expand(2, 7, 5)), program_similarity(q, keys))


def test_direct_read_weights_are_distributions() -> None:
    layer = NeurocoderLinear(6, 4, **SMALL).double()
    comp = layer.compose(torch.randn(4, 6, dtype=D))
    for w in comp.read_weights:
        assert w.shape == (4, 2, 7) and bool((w > 0).all())
        torch.testing.assert_close(w.sum(-1), torch.ones(4, 2, dtype=D))
        assert (
            float(w.detach().max())
            < float(torch.softmax(torch.tensor([1 / 3, -1 / 3] + [-1 / 3] * 5), 0)[0]) + 1e-9
        )


def test_least_used_blend_and_update_follow_the_formula() -> None:
    w = torch.softmax(torch.randn(2, 3, 6, dtype=D), -1)
    lu = torch.rand(2, 1, 6, dtype=D)
    g = torch.rand(2, 1, 6, dtype=D)
    out = least_used_blend(w, lu, g)
    expect = (1 - g) * (w / w.max(-1, keepdim=True).values) + g * lu
    torch.testing.assert_close(out, expect)
    assert float(out.max()) <= 1.0 + 1e-12
    hist = torch.tensor([[[0.9, 0.1, 0.5, 0.2, 0.3, 0.0]]], dtype=D)
    new = least_used_update(hist, 2)  # free = [.1,.9,.5,.8,.7,1.]: 3rd largest .8 -> keep > .8
    torch.testing.assert_close(new, torch.tensor([[[0, 0.9, 0, 0, 0, 1.0]]], dtype=D))


def test_recurrent_blend_inside_the_layer() -> None:
    torch.manual_seed(1)
    layer = NeurocoderLinear(6, 4, **SMALL, composition="recurrent", steps=2, top_lu=2).double()
    comp = layer.compose(torch.randn(3, 6, dtype=D))
    for w in comp.read_weights:
        assert w.shape == (3, 4, 7) and float(w.max()) <= 1.0 + 1e-12
        assert not torch.allclose(w.sum(-1), torch.ones(3, 4, dtype=D))  # not renormalised
    torch.manual_seed(1)
    renorm = NeurocoderLinear(
        6, 4, **SMALL, composition="recurrent", steps=2, top_lu=2, renormalize_lu=True
    ).double()
    for w in renorm.compose(torch.randn(3, 6, dtype=D)).read_weights:
        torch.testing.assert_close(w.sum(-1), torch.ones(3, 4, dtype=D))


def test_sigma_positive_monotone_and_sigma_min_at_the_right_end() -> None:
    a = torch.randn(4, 6, dtype=D)
    inc, dec, pap = (cumulative_sigma(a, o) for o in ("increasing", "decreasing", "paper"))
    assert bool((inc > 0).all()) and bool((inc.diff(dim=1) > 0).all())
    assert bool((dec.diff(dim=1) < 0).all()) and bool((pap.diff(dim=1) < 0).all())
    sp = F.softplus(a)
    torch.testing.assert_close(dec[:, -1], sp[:, 0])  # code: the last sigma holds a_0 only
    torch.testing.assert_close(pap[:, -1], sp[:, -1])  # paper: the last sigma holds a_{R-1} only
    for kw, end in (({}, 0), ({"composition": "recurrent", "steps": 2}, -1)):
        comp = NeurocoderLinear(6, 4, **SMALL, **kw).double().compose(torch.randn(3, 6, dtype=D))
        torch.testing.assert_close(comp.sigma_min, comp.sigma[:, end])
        torch.testing.assert_close(comp.sigma_min, comp.sigma.min(1).values)


def test_identical_slots_give_a_rank_one_program_in_closed_form() -> None:
    layer = NeurocoderLinear(6, 4, **SMALL).double()
    with torch.no_grad():
        for M in (layer.memory.M_U, layer.memory.M_V, layer.memory.M_S):
            M.copy_(M[:1].expand_as(M))
    x = torch.randn(5, 6, dtype=D)
    comp = layer.compose(x)
    u, v = layer.memory.M_U[0, 3:], layer.memory.M_V[0, 3:]
    s = F.softplus(layer.memory.M_S[0, 3])
    total = s * (1 + 2)  # sigma_0 + sigma_1 = s + 2s
    expect = (total * torch.outer(u, v)).expand(5, 6, 4)
    torch.testing.assert_close(layer.working_program(x), expect, atol=1e-12, rtol=0)
    torch.testing.assert_close(comp.sigma.sum(1), total.expand(5))
    assert int(torch.linalg.matrix_rank(layer.working_program(x)[0])) == 1


def test_orthogonality_loss_zero_for_orthonormal_rows_and_closed_form_otherwise() -> None:
    q, _ = torch.linalg.qr(torch.randn(9, 9, dtype=D))
    assert float(orthogonality_loss(q[:4])) < 1e-12
    c = 3.0
    M = torch.cat([c * torch.eye(4, dtype=D), torch.zeros(4, 2, dtype=D)], 1)  # M M^T = c^2 I
    torch.testing.assert_close(
        orthogonality_loss(M), torch.tensor(2.0 * (c**2 - 1), dtype=D)
    )  # sqrt(4) |c^2-1|
    mem = ProgramMemory(4, 2, 5, 3).double()
    with torch.no_grad():
        mem.M_U.copy_(q[:4, :7])
        mem.M_V.copy_(c * torch.eye(4, 5, dtype=D))
    ref = torch.linalg.norm(q[:4, :7] @ q[:4, :7].T - torch.eye(4, dtype=D)) + 2.0 * (c**2 - 1)
    torch.testing.assert_close(mem.orthogonality_loss(), ref)


def test_content_keys_follow_the_programs_learned_keys_do_not() -> None:
    torch.manual_seed(0)
    layer = NeurocoderLinear(6, 4, **SMALL).double()
    KU = layer.memory.keys()[0]
    KU.sum().backward()
    assert (
        float(layer.memory.M_U.grad[:, 3:].abs().sum()) > 0
        and float(layer.memory.M_U.grad[:, :3].abs().sum()) == 0
    )
    # the attention's gradient reaches M_U's program columns through the key Linear
    layer.zero_grad()
    comp = layer.compose(torch.randn(3, 6, dtype=D))
    comp.read_weights[0].pow(2).sum().backward()
    assert float(layer.memory.key_u.weight.grad.abs().sum()) > 0
    learned = ProgramMemory(7, 3, 6, 4, key_mode="learned").double()
    KU = learned.keys()[0]
    KU.sum().backward()
    assert float(learned.M_U.grad[:, 3:].abs().sum()) == 0
    torch.testing.assert_close(KU, learned.M_U[:, :3])


@pytest.mark.parametrize("kw", [{}, {"composition": "recurrent", "steps": 2, "top_lu": 2, "residual": True}])
def test_gradcheck(kw: dict) -> None:
    torch.manual_seed(0)
    layer = NeurocoderLinear(4, 3, num_programs=5, key_dim=2, rank=2, **kw).double()
    x = torch.randn(2, 4, dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    params = [layer.memory.M_U, layer.memory.M_V]
    assert torch.autograd.gradcheck(
        lambda a, b: layer.memory.orthogonality_loss() + 0 * (a.sum() + b.sum()), params
    )


def test_recurrent_components_and_top_lu_zero_is_plain_reads() -> None:
    torch.manual_seed(0)
    layer = NeurocoderLinear(6, 4, **SMALL, composition="recurrent", steps=3)
    comp = layer.compose(torch.randn(2, 6))
    assert comp.U.shape == (2, 6, 6) and comp.V.shape == (2, 6, 4) and comp.sigma.shape == (2, 6)
    assert layer.num_components == 6
    torch.testing.assert_close(comp.read_weights[0].sum(-1), torch.ones(2, 6))


def test_conv_equals_per_sample_convolution_with_the_composed_kernel() -> None:
    torch.manual_seed(0)
    conv = NeurocoderConv2d(3, 5, 3, stride=2, padding=1, num_programs=6, key_dim=2, rank=2).double()
    x = torch.randn(2, 3, 7, 7, dtype=D)
    K = conv.kernels(x)
    ref = torch.stack([F.conv2d(x[b : b + 1], K[b], stride=2, padding=1)[0] for b in range(2)])
    torch.testing.assert_close(conv(x), ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_released_direct_layer_composes_a_near_rank_one_program_at_init(seed: int) -> None:
    """The warm-up mechanism the README describes: with the official similarity (cosine / k, beta = 1)
    the read weights over 50 slots differ by at most e^(2/k) = 1.5x, so all r = 10 components are
    nearly the same mixture and W = U^T diag(sigma) V is rank one to 0.2 %; plain cosine reads
    (``scale_by_key_dim=False``) are sharper and leave W an order of magnitude further from rank one."""
    x = torch.rand(32, 64, dtype=D) * 2 - 1  # digits pixels in [-1, 1]
    ratios = {}
    for scaled in (True, False):
        torch.manual_seed(seed)
        layer = NeurocoderLinear(64, 100, scale_by_key_dim=scaled).double()
        with torch.no_grad():
            w = layer.compose(x).read_weights[0]
            s = torch.linalg.svdvals(layer.working_program(x))  # (B, min(n, m))
        ratio = w.max(-1).values / w.min(-1).values
        assert bool((ratio <= math.exp(2 / 5) + 1e-9).all()) == scaled  # |beta * sim| <= 1/k
        ratios[scaled] = float((s[:, 1] / s[:, 0]).median())
    assert ratios[True] < 0.01 < ratios[False], ratios
