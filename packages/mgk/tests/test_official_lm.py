"""The official LM code's layout loads into MGKLanguageModel and gives the official model's logits.

The state dicts are built here under the official names and shapes (``MemTransformerLM``,
``attn_type`` 2 / 200 / 400); the reference below re-implements that model's evaluation forward
independently of the package (time-major tokens, explicit squared distances, direct exponentials,
causal entries set to 0 and rows divided by their sum + eps, reversed ``[sin, cos]`` positions,
ReLU MLP, post-LN, tied output layer).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.mgk.official_lm import OFFICIAL_PI_LEN, load_official_lm_state_dict, official_lm

D64 = torch.float64
V, D, H, DH, DI, L = 11, 16, 2, 8, 24, 2


def _official_state_dict(attn_type: int, mode: str, seed: int = 0) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, std: float = 0.2) -> Tensor:
        return torch.randn(*shape, generator=g, dtype=D64) * std

    emb = rnd(V, D, std=0.3)
    sd = {"word_emb.emb_layers.0.weight": emb, "crit.out_layers.0.weight": emb, "crit.out_layers.0.bias": rnd(V),
          "pos_emb.inv_freq": 1 / 10000 ** (torch.arange(0.0, D, 2.0, dtype=D64) / D)}  # fmt: skip
    for i in range(L):
        p = f"layers.{i}."
        a = p + "dec_attn."
        if attn_type == 400:
            sd[a + "qkv_net.weight"] = rnd(H * (4 if mode == "rbf2keys" else 3) * DH, D)
            sd[a + "pi0"], sd[a + "pi1"] = (
                torch.rand(H, 256, generator=g, dtype=D64) * 1.4 - 0.2,
                rnd(H, 256) + 0.5,
            )
        else:
            sd[a + "q_net.weight"] = rnd(H * DH, D)
            sd[a + "kv_net.weight"] = rnd((3 if mode.endswith("2keys") else 2) * H * DH, D)
        if attn_type in (200, 400) and not mode.endswith("2keys"):
            sd[a + "mu"] = torch.cat([torch.zeros(1, H, DH, dtype=D64), rnd(1, H, DH, std=0.5)])
        if attn_type == 200 and mode.startswith("rbf"):  # learned, clamped at use: values outside [0, 1] too
            sd[a + "pi0"] = torch.rand(H, 1, 1, 256, generator=g, dtype=D64) * 1.4 - 0.2
            sd[a + "pi1"] = torch.rand(H, 1, 1, 256, generator=g, dtype=D64)
        if attn_type == 200 and mode.startswith("soft"):
            sd[a + "pi"] = torch.rand(H, 1, 1, 256, generator=g, dtype=D64)
        sd[a + "o_net.weight"] = rnd(D, H * DH)
        for ln in (a + "layer_norm.", p + "pos_ff.layer_norm."):
            sd[ln + "weight"], sd[ln + "bias"] = 1 + rnd(D), rnd(D)
        sd[p + "pos_ff.CoreNet.0.weight"], sd[p + "pos_ff.CoreNet.0.bias"] = rnd(DI, D), rnd(DI)
        sd[p + "pos_ff.CoreNet.3.weight"], sd[p + "pos_ff.CoreNet.3.bias"] = rnd(D, DI), rnd(D)
    return sd


def _reference_logits(sd: dict[str, Tensor], tokens: Tensor, attn_type: int, mode: str, eps: float) -> Tensor:
    """The official evaluation forward, tokens ``(N, B)`` time-major -> logits ``(N, B, V)``."""
    n, b = tokens.shape
    scale = 1 / math.sqrt(DH)
    h = sd["word_emb.emb_layers.0.weight"][tokens] * math.sqrt(D)
    pos = torch.arange(n - 1, -1, -1.0, dtype=D64)[:, None] * sd["pos_emb.inv_freq"][None, :]
    h = h + torch.cat([pos.sin(), pos.cos()], -1)[:, None, :]
    future = torch.ones(n, n, dtype=torch.bool).triu(1)  # [query i, key j]: j > i
    for i in range(L):
        a = f"layers.{i}.dec_attn."

        def heads(t: Tensor) -> Tensor:  # (N, B, H*d) -> (B, H, N, d)
            return t.reshape(n, b, H, DH).permute(1, 2, 0, 3)

        if attn_type == 400:
            parts = (h @ sd[a + "qkv_net.weight"].T).reshape(n, b, H, -1).split(DH, dim=-1)
            q, v = parts[0].permute(1, 2, 0, 3), parts[-1].permute(1, 2, 0, 3)
            ks = [t.permute(1, 2, 0, 3) for t in parts[1:-1]]
            if mode == "rbf":
                ks = [ks[0] - sd[a + "mu"][r][None, :, None, :] for r in range(2)]

            def phi(t: Tensor) -> Tensor:
                f = F.elu(t) + 1
                return f / f.sum(-1, keepdim=True)

            w0 = sd[a + "pi0"].clamp(0, 1)[None, :, :n, None]
            w1 = sd[a + "pi1"].clamp(0, 1)[None, :, :n, None]
            kk, qq = phi(ks[0]) * w0 + phi(ks[1]) * w1, phi(q)
            vec = torch.zeros(b, H, n, DH, dtype=D64)
            for t in range(n):  # causal sums, position by position
                num = torch.einsum("bhf,bhjf,bhje->bhe", qq[:, :, t], kk[:, :, : t + 1], v[:, :, : t + 1])
                den = torch.einsum("bhf,bhjf->bh", qq[:, :, t], kk[:, :, : t + 1])[..., None]
                vec[:, :, t] = scale * num / (den + 1e-5)
        else:
            q = heads(h @ sd[a + "q_net.weight"].T)
            kv = (h @ sd[a + "kv_net.weight"].T).chunk(3 if mode.endswith("2keys") else 2, -1)
            v = heads(kv[-1])
            if attn_type == 2:
                s = (q @ heads(kv[0]).transpose(-1, -2) * scale).masked_fill(future, -math.inf)
                prob = s.softmax(-1)
            else:
                if mode.endswith("2keys"):
                    k0, k1 = heads(kv[0]), heads(kv[1])
                else:
                    k = heads(kv[0])
                    k0, k1 = (k - sd[a + "mu"][r][None, :, None, :] for r in range(2))
                d0 = (q[:, :, :, None, :] - k0[:, :, None, :, :]).pow(2).sum(-1)
                d1 = (q[:, :, :, None, :] - k1[:, :, None, :, :]).pow(2).sum(-1)
                e0, e1 = -scale / 2 * d0, -1.5 * scale * d1
                if mode.startswith("hard"):
                    prob = torch.maximum(e0, e1).masked_fill(future, -math.inf).softmax(-1)
                else:
                    if mode.startswith("soft"):
                        p0 = sd[a + "pi"].reshape(H, 256)[None, :, None, :n]
                        p1 = 1 - p0
                    else:
                        p0 = sd[a + "pi0"].clamp(0, 1).reshape(H, 256)[None, :, None, :n]
                        p1 = sd[a + "pi1"].clamp(0, 1).reshape(H, 256)[None, :, None, :n]
                    prob = (p0 * e0.exp() + p1 * e1.exp()).masked_fill(future, 0.0)
                    prob = prob / (prob.sum(-1, keepdim=True) + eps)
            vec = prob @ v  # (B, H, N, d)
        vec = vec.permute(2, 0, 1, 3).reshape(n, b, H * DH)
        ln = a + "layer_norm."
        h = F.layer_norm(h + vec @ sd[a + "o_net.weight"].T, (D,), sd[ln + "weight"], sd[ln + "bias"])
        p = f"layers.{i}.pos_ff."
        core = F.relu(h @ sd[p + "CoreNet.0.weight"].T + sd[p + "CoreNet.0.bias"])
        core = core @ sd[p + "CoreNet.3.weight"].T + sd[p + "CoreNet.3.bias"]
        h = F.layer_norm(h + core, (D,), sd[p + "layer_norm.weight"], sd[p + "layer_norm.bias"])
    return h @ sd["crit.out_layers.0.weight"].T + sd["crit.out_layers.0.bias"]


CASES = [(2, "hard"), *((200, m) for m in ("rbf2keys", "rbf", "soft2keys", "soft", "hard2keys", "hard")),
         (400, "rbf2keys"), (400, "rbf")]  # fmt: skip


@pytest.mark.parametrize(("attn_type", "mode"), CASES)
def test_official_lm_weights_load_and_give_the_official_logits(attn_type: int, mode: str) -> None:
    sd = _official_state_dict(attn_type, mode)
    model = official_lm(V, n_layer=L, n_head=H, d_model=D, d_head=DH, d_inner=DI, attn_type=attn_type,
                        update_mode=mode, max_len=12).double().eval()  # fmt: skip
    load_official_lm_state_dict(model, sd)
    tokens = torch.randint(0, V, (10, 3), generator=torch.Generator().manual_seed(1))  # (N, B) time-major
    with torch.no_grad():
        ours = model(tokens.T.contiguous()).transpose(0, 1)  # (B, N, V) -> (N, B, V)
    exact = _reference_logits(sd, tokens, attn_type, mode, eps=0.0)
    torch.testing.assert_close(ours, exact, atol=1e-10, rtol=0)
    # (the official soft / rbf rows are divided by sum + 1e-6: ours is the eps = 0 limit, in log space)
    # the reference is sensitive to the layout: a wrong split of the fused projection changes the logits
    if attn_type != 2:
        bad = dict(sd)
        name = "layers.0.dec_attn." + ("qkv_net.weight" if attn_type == 400 else "kv_net.weight")
        bad[name] = sd[name].flip(0)
        load_official_lm_state_dict(model, bad)
        with torch.no_grad():
            assert not torch.allclose(model(tokens.T.contiguous()).transpose(0, 1), exact, atol=1e-6)


def _reference_adaptive_nll(
    sd: dict[str, Tensor], hidden: Tensor, target: Tensor, cutoffs: list[int]
) -> Tensor:
    """The official ProjectedAdaptiveLogSoftmax (div_val 1, no projections), one token at a time."""
    w, bias = sd["crit.out_layers.0.weight"], sd["crit.out_layers.0.bias"]
    ends = [0, *cutoffs, V]
    head_w = torch.cat([w[: cutoffs[0]], sd["crit.cluster_weight"]])
    head_b = torch.cat([bias[: cutoffs[0]], sd["crit.cluster_bias"]])
    nll = torch.empty(len(target), dtype=D64)
    for t, (hid, y) in enumerate(zip(hidden, target.tolist(), strict=True)):
        head = torch.log_softmax(hid @ head_w.T + head_b, -1)
        if y < cutoffs[0]:
            nll[t] = -head[y]
            continue
        i = next(c for c in range(1, len(ends)) if y < ends[c]) - 1  # tail number, 1-based
        lo, hi = ends[i], ends[i + 1]
        tail = torch.log_softmax(hid @ w[lo:hi].T + bias[lo:hi], -1)
        nll[t] = -(head[-i] + tail[y - lo])
    return nll


@pytest.mark.parametrize("mode", ["rbf2keys", "soft"])
def test_adaptive_softmax_layout_gives_the_official_nll(mode: str) -> None:
    cutoffs = [4, 7]  # shortlist [0, 4), tails [4, 7) and [7, 11)
    sd = _official_state_dict(200, mode, seed=2)
    g = torch.Generator().manual_seed(3)
    sd["crit.cluster_weight"] = torch.randn(2, D, generator=g, dtype=D64)
    sd["crit.cluster_bias"] = torch.randn(2, generator=g, dtype=D64)
    model = official_lm(V, n_layer=L, n_head=H, d_model=D, d_head=DH, d_inner=DI, update_mode=mode, max_len=12,
                        cutoffs=cutoffs).double().eval()  # fmt: skip
    load_official_lm_state_dict(model, sd)
    tokens = torch.randint(0, V, (9, 2), generator=g)
    targets = torch.randint(0, V, (9, 2), generator=g)
    with torch.no_grad():
        log_probs = model(tokens.T.contiguous())  # (B, N, V)
        loss = model.loss(tokens.T.contiguous(), targets.T.contiguous())
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 9, dtype=D64), atol=1e-12, rtol=0)
    ours = -log_probs.transpose(0, 1).gather(-1, targets[..., None]).squeeze(-1).flatten()
    # the official hidden states: the exact reference forward without its output layer
    zero = {
        **sd,
        "crit.out_layers.0.weight": torch.eye(D, dtype=D64),
        "crit.out_layers.0.bias": torch.zeros(D),
    }
    hidden = _reference_logits(zero, tokens, 200, mode, eps=0.0).flatten(0, 1)
    official = _reference_adaptive_nll(sd, hidden, targets.flatten(), cutoffs)
    torch.testing.assert_close(ours, official, atol=1e-10, rtol=0)
    torch.testing.assert_close(loss, official.mean(), atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="one row per cutoff"):
        load_official_lm_state_dict(official_lm(V, n_layer=L, n_head=H, d_model=D, d_head=DH, d_inner=DI,
                                                update_mode=mode, max_len=12), sd)  # fmt: skip


def test_soft_mode_trains_pi_by_the_lm_em_update_after_loading() -> None:
    sd = _official_state_dict(200, "soft")
    model = official_lm(
        V, n_layer=L, n_head=H, d_model=D, d_head=DH, d_inner=DI, update_mode="soft", max_len=12
    )
    load_official_lm_state_dict(model.double(), sd)
    before = model.blocks[0].attn.pi.clone()
    torch.testing.assert_close(before, sd["layers.0.dec_attn.pi"].reshape(H, 256)[:, :12])
    model.train()(torch.randint(0, V, (2, 10)))
    after = model.blocks[0].attn.pi
    assert not torch.equal(before[:, :10], after[:, :10]) and torch.equal(before[:, 10:], after[:, 10:])


def test_unmapped_layouts_and_mismatched_models_are_refused() -> None:
    sd = _official_state_dict(200, "rbf2keys")
    model = official_lm(V, n_layer=L, n_head=H, d_model=D, d_head=DH, d_inner=DI, max_len=12)
    with pytest.raises(ValueError, match="adaptive input/softmax"):
        load_official_lm_state_dict(model, {**sd, "crit.out_projs.0": torch.zeros(D, D)})
    with pytest.raises(ValueError, match="has no place"):
        load_official_lm_state_dict(model, {**sd, "layers.0.dec_attn.scale_w": torch.ones(1)})
    missing = {k: v for k, v in sd.items() if k != "layers.1.pos_ff.CoreNet.3.bias"}
    with pytest.raises(ValueError, match="CoreNet.3.bias' is missing"):
        load_official_lm_state_dict(model, missing)
    with pytest.raises(ValueError, match="does not split"):
        load_official_lm_state_dict(model, {**sd, "layers.0.dec_attn.kv_net.weight": torch.zeros(5, D)})
    bad_freq = {**sd, "pos_emb.inv_freq": sd["pos_emb.inv_freq"] * 2}
    with pytest.raises(ValueError, match="inv_freq"):
        load_official_lm_state_dict(model, bad_freq)
    from ballroom.mgk.models import MGKLanguageModel

    plain = MGKLanguageModel(V, d_model=D, n_layers=L, n_heads=H, head_dim=DH, d_ff=DI, attention="mgk")
    with pytest.raises(ValueError, match="positions='transformer_xl'"):
        load_official_lm_state_dict(plain, sd)
    with pytest.raises(ValueError, match="max_len must be <= 256"):
        official_lm(V, n_layer=1, n_head=H, d_model=D, d_head=DH, d_inner=DI, max_len=OFFICIAL_PI_LEN + 1)
