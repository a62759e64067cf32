"""NeurocoderLinear forward+backward: ours (low rank) vs the official materialising formulation vs nn.Linear.

``nox -s "bench(neurocoder, cpu)"`` -> ``.benchmarks/neurocoder-cpu.json``; ``python
benchmarks/bench_layer.py`` prints the ratios and the saved-activation bytes side by side. The official
formulation (memories repeated per sample, batched cosine with ``expand_as``, ``diag_embed`` of
sigma, ``W = U^T S V`` materialised as ``(B, n, m)``, then ``x W``) is re-implemented here on our
layer's parameters as the reference and checked equal.
"""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ballroom.core.profiling import saved_tensor_bytes
from ballroom.neurocoder import NeurocoderLinear

SIZES = [(1024, 400, 128), (256, 100, 32)]


def _theta(keys: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    a_norm = keys.norm(2, 2, keepdim=True).expand_as(keys) + 1e-6
    b_norm = q.norm(2, 2, keepdim=True).expand_as(q) + 1e-6
    return torch.bmm(keys, q.transpose(1, 2)).transpose(1, 2) / (
        torch.bmm(a_norm, b_norm.transpose(1, 2)).transpose(1, 2) + 1e-6
    )


class OfficialStyle(nn.Module):
    """The official direct-mode forward on ``layer``'s parameters (materialises ``B x n x m``)."""

    def __init__(self, layer: NeurocoderLinear) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L, B, _k, r = self.layer, x.shape[0], self.layer.key_dim, self.layer.rank
        KU, KV, KS = (K.repeat(B, 1, 1) for K in L.memory.keys())
        reads = []
        for K, M, lin in zip((KU, KV, KS), L.memory.programs(), (L.query_u, L.query_v, L.query_s)):
            w = F.softmax(_theta(K, lin(x).view(B, r, -1)), dim=-1)
            reads.append(torch.matmul(w, M.repeat(B, 1, 1)))
        U, V, S = reads
        S = torch.diag_embed(torch.cumsum(F.softplus(S), dim=1).squeeze(-1))
        W = torch.matmul(torch.matmul(U.permute(0, 2, 1), S), V)  # (B, n, m)
        return torch.matmul(x.unsqueeze(1), W).squeeze(1)


def _nets(n: int, m: int) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    ours = NeurocoderLinear(n, m)
    return {"ours": ours, "official": OfficialStyle(ours), "linear": nn.Linear(n, m, bias=False)}


def _step(net: nn.Module, x: torch.Tensor) -> None:
    net.zero_grad(set_to_none=True)
    net(x).square().mean().backward()


def test_official_reference_is_equal() -> None:
    nets = _nets(64, 24)
    x = torch.randn(8, 64)
    torch.testing.assert_close(nets["ours"](x), nets["official"](x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["ours", "official", "linear"])
@pytest.mark.parametrize("size", SIZES, ids=[f"n{n}-m{m}-B{b}" for n, m, b in SIZES])
def test_forward_backward(benchmark: pytest.FixtureRequest, size: tuple[int, int, int], kind: str) -> None:
    n, m, b = size
    benchmark.group = f"neurocoder-linear-n{n}-m{m}-B{b}"
    net = _nets(n, m)[kind]
    x = torch.randn(b, n)
    benchmark(_step, net, x)


def _time(fn, reps: int = 10) -> float:  # type: ignore[no-untyped-def]
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


if __name__ == "__main__":
    test_official_reference_is_equal()
    for n, m, b in SIZES:
        nets, x = _nets(n, m), torch.randn(b, n)
        ms = {k: 1e3 * _time(lambda net=net, x=x: _step(net, x)) for k, net in nets.items()}
        mem = {k: saved_tensor_bytes(lambda net=net, x=x: net(x)) / 2**20 for k, net in nets.items()}
        print(f"n={n} m={m} B={b} threads={torch.get_num_threads()}: " + ", ".join(
            f"{k} {ms[k]:.2f} ms / {mem[k]:.1f} MiB saved" for k in nets))  # fmt: skip
        print(f"  official/ours time {ms['official'] / ms['ours']:.1f}x, memory {mem['official'] / mem['ours']:.1f}x; "
              f"ours/linear time {ms['ours'] / ms['linear']:.1f}x, memory {mem['ours'] / mem['linear']:.1f}x")  # fmt: skip
