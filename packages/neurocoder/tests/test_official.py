"""Official-layout state dicts load into ours by name and give the official formulation's outputs.

The reference below is the official *materialising* formulation (``W = U^T diag(S) V`` built per
sample with ``diag_embed``, then ``x W``), written from the spec on official-named tensors.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ballroom.neurocoder import NeurocoderLinear, load_official_state_dict
from ballroom.neurocoder.official import official_to_ours

D = torch.float64
n, m, P, k, r = 6, 4, 7, 3, 2


def _theta(keys: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """(B, P, k) keys, (B, r, k) queries -> (B, r, P), the official batched form with expand_as."""
    a_norm = keys.norm(2, 2, keepdim=True).expand_as(keys) + 1e-6
    b_norm = q.norm(2, 2, keepdim=True).expand_as(q) + 1e-6
    return torch.bmm(keys, q.transpose(1, 2)).transpose(1, 2) / (
        torch.bmm(a_norm, b_norm.transpose(1, 2)).transpose(1, 2) + 1e-6
    )


def _official_state(recurrent: bool, top_lu: int, res: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    rnd = lambda *s: torch.randn(*s, generator=g, dtype=D) * 0.5  # noqa: E731
    sd = {
        "PM_U": rnd(P, k + n),
        "PM_V": rnd(P, k + m),
        "PM_S": rnd(P, k + 1),
        "bias": torch.zeros(m, dtype=D),
    }
    sd |= {"p2ku.weight": rnd(k, n), "p2ku.bias": rnd(k), "p2kv.weight": rnd(k, m), "p2kv.bias": rnd(k)}
    if res:
        sd["res_weight"] = rnd(n, m)
    if not recurrent:
        for s in "uvs":
            sd[f"program_key_{s}.weight"], sd[f"program_key_{s}.bias"] = rnd(r * k, n), rnd(r * k)
        sd["res_s.weight"], sd["res_s.bias"] = rnd(1, n), rnd(1)
    else:
        H = 3 * r * k + 1
        for name, shape in (("weight_ih_l0", (4 * H, n)), ("weight_hh_l0", (4 * H, H)), ("bias_ih_l0", (4 * H,)), ("bias_hh_l0", (4 * H,))):  # fmt: skip
            sd[f"rnn_program_controller.lstm.{name}"] = rnd(*shape)
        sd["rnn_program_controller.lstm_h_bias"] = rnd(1, 1, H)
        sd["rnn_program_controller.lstm_c_bias"] = rnd(1, 1, H)
        sd["component_map.weight"], sd["component_map.bias"] = rnd(n, H), rnd(n)
        if top_lu:
            sd["read_mode.weight"], sd["read_mode.bias"] = rnd(3 * P, n), rnd(3 * P)
    return sd


def _official_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, steps: int, top_lu: int) -> torch.Tensor:
    B = x.shape[0]
    KU = F.linear(sd["PM_U"][:, k:], sd["p2ku.weight"], sd["p2ku.bias"]).repeat(B, 1, 1)
    KV = F.linear(sd["PM_V"][:, k:], sd["p2kv.weight"], sd["p2kv.bias"]).repeat(B, 1, 1)
    KS = sd["PM_S"][:, :k].repeat(B, 1, 1)
    MP = [sd[f"PM_{s}"][:, k:].repeat(B, 1, 1) for s in "UVS"]
    if steps == 0:
        reads = []
        for s, K, M in zip("uvs", (KU, KV, KS), MP):
            q = F.linear(x, sd[f"program_key_{s}.weight"], sd[f"program_key_{s}.bias"]).view(B, r, -1)
            reads.append(torch.matmul(F.softmax(_theta(K, q), -1), M))
        U, V, S = reads
        S = torch.diag_embed(torch.cumsum(F.softplus(S), 1).squeeze(-1))
        rs = torch.sigmoid(F.linear(x, sd["res_s.weight"], sd["res_s.bias"]))
        smin = S[:, 0, 0]
    else:
        lstm = torch.nn.LSTM(n, 3 * r * k + 1).double()
        lstm.load_state_dict({kk.split("lstm.")[1]: v for kk, v in sd.items() if ".lstm." in kk})
        state = (
            sd["rnn_program_controller.lstm_h_bias"].repeat(1, B, 1),
            sd["rnn_program_controller.lstm_c_bias"].repeat(1, B, 1),
        )
        luw = [torch.cat([torch.ones(B, 1, top_lu, dtype=D), torch.zeros(B, 1, P - top_lu, dtype=D)], -1)] * 3
        parts, hist = [[], [], []], [[], [], []]
        for _ in range(steps):
            out, state = lstm(x.unsqueeze(0), state)
            out = out.squeeze(0)
            for j, K in enumerate((KU, KV, KS)):
                d = F.softmax(_theta(K, out[:, j * r * k : (j + 1) * r * k].view(B, r, -1)) * 10, -1)
                if top_lu:
                    rm = torch.sigmoid(F.linear(x, sd["read_mode.weight"], sd["read_mode.bias"]))[
                        :, j * P : (j + 1) * P
                    ].unsqueeze(1)
                    d = d / d.max(-1).values.unsqueeze(2)
                    d = d * (1 - rm) + luw[j] * rm
                parts[j].append(torch.matmul(d, MP[j]))
                hist[j].append(d)
            if top_lu:
                new = []
                for h in hist:
                    free = 1 - torch.cat(h, 1).max(1).values
                    th = free.sort(-1, descending=True).values[:, top_lu].unsqueeze(1)
                    new.append((free * (free > th).to(D)).unsqueeze(1))
                luw = new
        U, V, S = (torch.cat(p, 1) for p in parts)
        S = torch.diag_embed(torch.flip(torch.cumsum(F.softplus(S), 1).squeeze(-1), [1]))
        rs = torch.sigmoid(out[:, 3 * r * k :])
        smin = S[:, -1, -1]
    W = torch.matmul(torch.matmul(U.permute(0, 2, 1), S), V)  # (B, n, m): the materialised program
    if "res_weight" in sd:
        W = W + (smin.unsqueeze(1).unsqueeze(2) * rs.unsqueeze(2)) * sd["res_weight"].repeat(B, 1, 1)
    return torch.matmul(x.unsqueeze(1), W).squeeze(1)


@pytest.mark.parametrize(
    ("steps", "top_lu", "res"), [(0, 0, False), (0, 0, True), (3, 0, False), (2, 2, True)]
)
def test_official_weights_load_by_name_and_give_the_same_outputs(steps: int, top_lu: int, res: bool) -> None:
    sd = _official_state(steps > 0, top_lu, res)
    kw = {"composition": "recurrent", "steps": steps, "top_lu": top_lu} if steps else {}
    layer = NeurocoderLinear(n, m, num_programs=P, key_dim=k, rank=r, residual=res, **kw).double()
    load_official_state_dict(layer, sd)
    x = torch.randn(5, n, dtype=D)
    torch.testing.assert_close(layer(x), _official_forward(sd, x, steps, top_lu), atol=1e-12, rtol=0)


def test_official_names_errors() -> None:
    with pytest.raises(KeyError, match="not a parameter of the official layer"):
        official_to_ours({"nonsense": torch.zeros(1)})
    sd = _official_state(False, 0, False)
    sd["bias"] = torch.ones(m, dtype=D)
    with pytest.raises(ValueError, match="bias=True"):
        load_official_state_dict(NeurocoderLinear(n, m, num_programs=P, key_dim=k, rank=r).double(), sd)
    with pytest.raises(TypeError, match="NeurocoderLinear"):
        load_official_state_dict(torch.nn.Linear(2, 2), sd)  # type: ignore[arg-type]


@torch.no_grad()
def test_released_init_statistics() -> None:
    torch.manual_seed(0)
    layer = NeurocoderLinear(40, 30, composition="recurrent", steps=2)
    H = 3 * 10 * 5 + 1
    bound = 5 / math.sqrt(40 + H)
    w = layer.controller.weight_ih_l0
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    assert float(layer.controller.bias_ih_l0.abs().max()) == 0.0
    assert 0.03 < float(layer.h0.std()) < 0.07
    direct = NeurocoderLinear(40, 30)
    xavier = math.sqrt(6 / (50 + 45))  # M_U is (P, k + n) = (50, 45)
    assert (
        float(direct.memory.M_U.abs().max()) <= xavier and float(direct.memory.M_U.abs().max()) > 0.9 * xavier
    )
    assert float(direct.query_u.bias.std()) < 0.02
