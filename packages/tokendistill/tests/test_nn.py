"""Token layers, STD modules and the student: loop references, no write-back, gradients, equivariance."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from ballroom.tokendistill.mixer import MixerBlock, MLPMixer
from ballroom.tokendistill.nn import (
    KDHeadStudent,
    StatisticsNetwork,
    STDModule,
    STDStudent,
    TeacherCNN,
    TokenLayer,
)

P, N, DS, DC = 5, 7, 6, 9


def _randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)
    return module


def _loop_token_layer(layer: TokenLayer, z: torch.Tensor, t_s: torch.Tensor, t_c: torch.Tensor) -> tuple:
    """The spec's equations sample by sample, column by column and row by row."""
    out_s, out_c = torch.empty_like(t_s), torch.empty_like(t_c)
    w1, b1, w2, b2 = layer.fc1.weight, layer.fc1.bias, layer.fc2.weight[0], layer.fc2.bias[0]
    w3, b3, w4, b4 = layer.fc3.weight, layer.fc3.bias, layer.fc4.weight[0], layer.fc4.bias[0]
    for b in range(z.shape[0]):
        x1 = torch.cat([z[b], t_s[b][None]], 0)  # (P+1, N)
        a = torch.stack([(r - r.mean()) / torch.sqrt(r.var(unbiased=False) + 1e-6) for r in x1])
        a = a * layer.norm_s.weight + layer.norm_s.bias
        for j in range(z.shape[2]):
            out_s[b, j] = t_s[b, j] + w2 @ F.gelu(w1 @ a[:, j] + b1) + b2
        x2 = torch.cat([z[b], t_c[b][:, None]], 1)  # (P, N+1)
        for i in range(z.shape[1]):
            r = x2[i]
            c = (r - r.mean()) / torch.sqrt(
                r.var(unbiased=False) + 1e-6
            ) * layer.norm_c.weight + layer.norm_c.bias
            out_c[b, i] = t_c[b, i] + w4 @ F.gelu(w3 @ c + b3) + b4
    return out_s, out_c


def test_token_layer_equals_the_loop_reference_in_float64() -> None:
    layer = _randomize(TokenLayer(P, N, DS, DC).double())
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(3, P, N, generator=gen, dtype=torch.float64)
    t_s, t_c = (
        torch.randn(3, N, generator=gen, dtype=torch.float64),
        torch.randn(3, P, generator=gen, dtype=torch.float64),
    )
    got = layer(z, t_s, t_c)
    want = _loop_token_layer(layer, z, t_s, t_c)
    torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got[1], want[1], rtol=1e-12, atol=1e-12)


def test_channel_layernorm_runs_over_n_plus_one_entries() -> None:
    layer = TokenLayer(P, N, DS, DC)
    assert layer.norm_c.normalized_shape == (N + 1,) and layer.norm_s.normalized_shape == (N,)
    assert layer.fc1.in_features == P + 1 and layer.fc3.in_features == N + 1
    assert layer.norm_c.eps == 1e-6 and layer.norm_s.eps == 1e-6


def test_the_branches_never_see_each_others_token_or_parameters() -> None:
    layer = _randomize(TokenLayer(P, N, DS, DC).double())
    z = torch.randn(2, P, N, dtype=torch.float64)
    t_s = torch.randn(2, N, dtype=torch.float64, requires_grad=True)
    t_c = torch.randn(2, P, dtype=torch.float64, requires_grad=True)
    new_s, new_c = layer(z, t_s, t_c)
    spatial = [*layer.norm_s.parameters(), *layer.fc1.parameters(), *layer.fc2.parameters()]
    channel = [*layer.norm_c.parameters(), *layer.fc3.parameters(), *layer.fc4.parameters()]
    g = torch.autograd.grad(new_s.sum(), [t_c, *channel], allow_unused=True, retain_graph=True)
    assert all(x is None for x in g)
    g = torch.autograd.grad(new_c.sum(), [t_s, *spatial], allow_unused=True, retain_graph=True)
    assert all(x is None for x in g)
    # and each branch does depend on its own parameters and token
    g = torch.autograd.grad(new_s.sum(), [t_s, *spatial])
    assert all(x.abs().sum() > 0 for x in g)


def test_patch_permutation_equivariance_needs_w1_permuted_the_same_way() -> None:
    layer = _randomize(TokenLayer(P, N, DS, DC).double())
    z = torch.randn(2, P, N, dtype=torch.float64)
    t_s, t_c = torch.randn(2, N, dtype=torch.float64), torch.randn(2, P, dtype=torch.float64)
    sigma = torch.tensor([3, 0, 4, 1, 2])
    s_ref, c_ref = layer(z, t_s, t_c)
    # permute Z's patches and t_C accordingly, leave W1 alone: t_S changes
    s_plain, c_plain = layer(z[:, sigma], t_s, t_c[:, sigma])
    assert (s_plain - s_ref).abs().max() > 1e-3
    # the channel branch acts row by row: t_C is permuted with the patches, whatever W1 is
    torch.testing.assert_close(c_plain, c_ref[:, sigma], rtol=1e-12, atol=1e-12)
    # permute W1's patch columns the same way (the token column stays last): t_S is invariant
    permuted = copy.deepcopy(layer)
    with torch.no_grad():
        permuted.fc1.weight[:, :P] = layer.fc1.weight[:, :P][:, sigma]
    s_perm, c_perm = permuted(z[:, sigma], t_s, t_c[:, sigma])
    torch.testing.assert_close(s_perm, s_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c_perm, c_ref[:, sigma], rtol=1e-12, atol=1e-12)


def _host(dtype: torch.dtype = torch.float32) -> MLPMixer:
    torch.manual_seed(0)
    return MLPMixer(img_size=8, patch_size=2, in_chans=1, num_classes=4, dim=12, depth=3, token_hidden=6,
                    channel_hidden=10).to(dtype)  # fmt: skip


def test_tokens_never_write_back_into_the_host(device: torch.device) -> None:
    host = _host().to(device).eval()
    x = torch.randn(4, 1, 8, 8, device=device)
    feats_plain = [f.clone() for f in host.forward_features(x)]
    logits_plain = host(x)
    student = STDStudent(copy.deepcopy(host), tap_blocks=(1, -1), num_teachers=2).to(device).eval()
    out = student(x)
    feats = student.host.forward_features(x)
    assert all(torch.equal(a, b) for a, b in zip(feats, feats_plain, strict=True))
    assert torch.equal(out.cls_logits, logits_plain)
    assert len(out.dist_logits) == 2 and out.dist_logits[0].shape == (4, 4)
    assert out.tokens[0][0].shape == (4, 12) and out.tokens[0][1].shape == (4, 16)


def test_z_gets_the_distillation_gradient_and_it_matches_finite_differences() -> None:
    torch.manual_seed(0)
    module = STDModule(P, N, 3, num_layers=2, spatial_hidden=DS, channel_hidden=DC).double()
    z = torch.randn(2, P, N, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 2])
    loss = F.cross_entropy(module(z)[0], target)
    (grad,) = torch.autograd.grad(loss, z)
    assert grad.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda t: F.cross_entropy(module(t)[0], target), (z,))
    # through a whole student, the host's parameters receive the distillation gradient too
    student = STDStudent(_host()).double()
    dist = student(torch.randn(3, 1, 8, 8, dtype=torch.float64)).dist_logits[0]
    F.cross_entropy(dist, torch.tensor([0, 1, 2])).backward()
    assert student.host.blocks[0].mlp_tokens.fc1.weight.grad.abs().sum() > 0
    assert student.host.head.weight.grad is None  # the class head is not on the distillation path


def test_std_module_tokens_are_initialised_and_shared_across_the_batch() -> None:
    torch.manual_seed(0)
    module = STDModule(196, 512, 1000, spatial_hidden=256, channel_hidden=2048)
    assert module.spatial_token.shape == (512,) and module.channel_token.shape == (196,)
    assert 0.01 < module.spatial_token.std().item() < 0.03 and module.spatial_token.abs().max() <= 0.04
    logits, t_s, t_c = module(torch.zeros(2, 196, 512))
    assert torch.equal(t_s[0], t_s[1]) and logits.shape == (2, 1000) and t_c.shape == (2, 196)


def test_mixer_s16_module_size_matches_the_spec() -> None:
    """Spec: a 2-layer module on Mixer-S16 is ~2.9M parameters (incl. a 1000-way head) and ~0.46 GMACs."""
    module = STDModule(196, 512, 1000, num_layers=2, spatial_hidden=256, channel_hidden=2048)
    params = sum(p.numel() for p in module.parameters())
    assert 2.8e6 < params < 3.0e6
    p_, n_, ds, dc = 196, 512, 256, 2048
    macs = 2 * (n_ * ds * (p_ + 2) + p_ * dc * (n_ + 2))
    assert 0.43e9 < macs < 0.49e9
    host = MLPMixer()  # Mixer-S/16 defaults
    assert 18.0e6 < sum(p.numel() for p in host.parameters()) < 19.0e6


def test_mixer_block_is_prenorm_residual() -> None:
    torch.manual_seed(0)
    block = MixerBlock(P, N, DS, DC).double()
    z = torch.randn(2, P, N, dtype=torch.float64)
    u = z + block.mlp_tokens(
        F.layer_norm(z, (N,), block.norm1.weight, block.norm1.bias, 1e-6).transpose(1, 2)
    ).transpose(1, 2)
    want = u + block.mlp_channels(F.layer_norm(u, (N,), block.norm2.weight, block.norm2.bias, 1e-6))
    torch.testing.assert_close(block(z), want, rtol=0, atol=0)


def test_predict_is_the_mean_of_the_heads(device: torch.device) -> None:
    student = STDStudent(_host(), tap_blocks=(0, -1)).to(device).eval()
    x = torch.randn(3, 1, 8, 8, device=device)
    out = student(x)
    want = 0.5 * (out.cls_logits + 0.5 * (out.dist_logits[0] + out.dist_logits[1]))
    torch.testing.assert_close(student.predict(x), want)
    kd = KDHeadStudent(_host()).to(device).eval()
    o = kd(x)
    assert o.tokens == [] and len(o.dist_logits) == 1
    torch.testing.assert_close(kd.predict(x), 0.5 * (o.cls_logits + o.dist_logits[0]))


def test_two_thirds_position_and_assignment() -> None:
    assert STDStudent.two_thirds(8) == 4 and STDStudent.two_thirds(12) == 7
    s = STDStudent(_host(), tap_blocks=(1, -1), num_teachers=2, teacher_assignment=(1, 0))
    assert s.teacher_assignment == (1, 0)
    assert STDStudent(_host(), tap_blocks=(1, -1)).teacher_assignment == (0, 0)


def test_statistics_network_and_teacher_shapes() -> None:
    psi = StatisticsNetwork(20)
    assert psi(torch.randn(4, 20)).shape == (4,)
    assert sum(isinstance(m, torch.nn.Linear) for m in psi.modules()) == 3
    assert TeacherCNN()(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_token_layer_is_batched_matmuls_in_float32_and_bf16() -> None:
    layer = TokenLayer(P, N, DS, DC)
    z = torch.randn(4, P, N)
    s, c = layer(z, torch.randn(4, N), torch.randn(4, P))
    assert s.shape == (4, N) and c.shape == (4, P) and s.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s16, _ = layer(z, torch.randn(4, N), torch.randn(4, P))
    assert torch.isfinite(s16).all()


BAD = [
    (lambda: TokenLayer(0, N, DS, DC), ValueError, "num_patches"),
    (lambda: TokenLayer(P, N, 2.5, DC), TypeError, "spatial_hidden"),  # type: ignore[arg-type]
    (lambda: STDModule(P, N, 1), ValueError, "num_classes"),
    (lambda: STDModule(P, N, 3, num_layers=0), ValueError, "num_layers"),
    (lambda: STDStudent(torch.nn.Linear(2, 2)), TypeError, "host: needs forward_features"),
    (lambda: STDStudent(_host(), tap_blocks=()), ValueError, "tap_blocks: need at least one"),
    (lambda: STDStudent(_host(), tap_blocks=(5,)), ValueError, "tap_blocks must index"),
    (lambda: STDStudent(_host(), tap_blocks=(0, 1, 2), num_teachers=2), ValueError, "teacher_assignment"),
    (lambda: STDStudent(_host(), tap_blocks=(0, -1), num_teachers=2, teacher_assignment=(0, 2)), ValueError, "teacher_assignment must give"),
    (lambda: STDStudent(_host(), tap_blocks=(0, -1), num_teachers=2, teacher_assignment=(0, 0)), ValueError, "every teacher needs a module"),
    (lambda: MLPMixer(img_size=10, patch_size=4), ValueError, "multiple of patch_size"),
    (lambda: MLPMixer(num_classes=1), ValueError, "num_classes"),
    (lambda: _host()(torch.randn(2, 3, 8, 8)), ValueError, r"x must have shape \(\*, 1, 8, 8\)"),
    (lambda: _host()(torch.randn(2, 1, 8, 8).numpy()), TypeError, "x must be a torch.Tensor"),
    (lambda: MixerBlock(P, N, DS, DC, drop=1.0), ValueError, "drop"),
    (lambda: StatisticsNetwork(0), ValueError, "in_dim"),
    (lambda: TokenLayer(P, N, DS, DC)(torch.randn(2, P, N + 1), torch.randn(2, N), torch.randn(2, P)), ValueError, r"z must have shape"),
    (lambda: TokenLayer(P, N, DS, DC)(torch.randn(2, P, N), torch.randn(3, N), torch.randn(2, P)), ValueError, r"t_s must have shape \(2, "),
    (lambda: TokenLayer(P, N, DS, DC)(torch.randn(2, P, N), torch.randn(2, N), torch.randn(2, P).long()), TypeError, "t_c must have"),
    (lambda: STDModule(P, N, 3, 1, DS, DC)(torch.randn(2, P + 1, N)), ValueError, "z must have shape"),
    (lambda: STDModule(P, N, 3, 1, DS, DC)(torch.randn(0, P, N)), ValueError, "z must not be empty"),
    (lambda: STDModule(P, N, 3, 1, DS, DC)(torch.randn(P, N).numpy()), TypeError, "z must be a torch.Tensor"),
    (lambda: TeacherCNN()(torch.randn(8, 8)), ValueError, "x must have rank 4"),
    (lambda: KDHeadStudent(torch.nn.Linear(2, 2)), TypeError, "host: needs pooled"),  # type: ignore[arg-type]
]  # fmt: skip


@pytest.mark.parametrize(("call", "exc", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_is_refused_clearly(call: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call()  # type: ignore[operator]
