"""MGKAttention(H/2) against softmax attention with H heads (ours, explicit, and SDPA), side by side.

Forward + backward of one layer (d_model 128, head dim 32, H = 4, batch 1) at N in {256, 1024, 4096}:

- ``mgk``: :class:`MGKAttention` with H/2 heads, default ``impl="auto"`` (here: one SDPA over the
  ``M N`` (key, component) pairs on augmented vectors, :func:`ballroom.mgk.sdpa.mgk_attention_sdpa`);
- ``mgk-fused``: the same layer with ``impl="fused"`` (materialising augmented matmul, max-shifted mixture);
- ``mgk-official``: the same layer with the official formulation (cdist per component, direct exp),
  implemented here as the reference and checked equal to ``mgk`` before timing;
- ``softmax``: our explicit matmul-softmax-matmul with H heads; ``sdpa``: ``F.scaled_dot_product_attention``;
- ``mlk`` (H/2) and ``linear`` (H): linear in N.

``nox -s "bench(mgk, cpu)"`` -> ``.benchmarks/mgk-cpu.json``; ``python benchmarks/bench_attention.py``
prints the ratio table with activation memory (bytes autograd saves, device independent).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from ballroom.core.profiling import round_robin, saved_tensor_bytes
from ballroom.mgk.models import make_attention
from ballroom.mgk.nn import MGKAttention
from ballroom.mgk.reference import mgk_scores_naive

D_MODEL, HEADS, HEAD_DIM = 128, 4, 32
SIZES = (256, 1024, 4096)
KINDS = ("mgk", "mgk-fused", "mgk-official", "softmax", "sdpa", "mlk", "linear")


def _official_forward(layer: MGKAttention, x: Tensor) -> Tensor:
    q, keys, v = layer._split(layer.W_q(x)), layer.keys(x), layer._split(layer.W_v(x))
    pi = layer.mixing(x.shape[1])
    a = mgk_scores_naive(q, keys, layer.variances, pi)
    return layer.ff(layer._merge(a @ v))


def build(kind: str, n: int) -> Callable[[Tensor], Tensor]:
    """The layer of ``kind`` as ``x -> out``."""
    torch.manual_seed(0)
    if kind in ("mgk", "mgk-fused", "mgk-official"):
        layer = MGKAttention(D_MODEL, HEADS // 2, HEAD_DIM, impl="fused" if kind == "mgk-fused" else "auto")
        return (lambda x: _official_forward(layer, x)) if kind == "mgk-official" else layer
    if kind in ("softmax", "sdpa"):
        return make_attention("softmax", D_MODEL, HEADS, HEAD_DIM, fused=kind == "sdpa")
    heads = HEADS // 2 if kind == "mlk" else HEADS
    return make_attention(kind, D_MODEL, heads, HEAD_DIM, max_len=n)


def step(fn: Callable[[Tensor], Tensor], x: Tensor) -> None:
    """One forward + backward."""
    x.grad = None
    fn(x).sum().backward()


def _input(n: int) -> Tensor:
    return torch.randn(1, n, D_MODEL, generator=torch.Generator().manual_seed(1), requires_grad=True)


def test_official_formulation_equals_ours() -> None:
    x = _input(256).detach().double()
    layer = MGKAttention(D_MODEL, HEADS // 2, HEAD_DIM).double()
    fused = MGKAttention(D_MODEL, HEADS // 2, HEAD_DIM, impl="fused").double()
    fused.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x), _official_forward(layer, x), atol=1e-10, rtol=0)
    torch.testing.assert_close(fused(x), _official_forward(layer, x), atol=1e-10, rtol=0)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_attention_forward_backward(benchmark: pytest.FixtureRequest, kind: str, n: int) -> None:
    if kind == "mgk-official" and n > 1024:
        pytest.skip("the official formulation at N = 4096 takes minutes on CPU")
    benchmark.group = f"attention-N{n}"
    fn, x = build(kind, n), _input(n)
    benchmark(step, fn, x)


def main(sizes: tuple[int, ...] = SIZES) -> None:
    """Print seconds per forward+backward, ratios to softmax(H) and SDPA(H), saved activation MiB."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; d_model {D_MODEL}, H={HEADS}")
    print("| N | kind | heads | ms fwd+bwd | / softmax(H) | / SDPA(H) | saved MiB |")
    print("|---|---|---|---|---|---|---|")
    for kind in KINDS:  # first calls pay one-time costs (kernels, allocator): keep them out of the table
        for _ in range(3):
            step(build(kind, 256), _input(256))
    for n in sizes:
        x = _input(n)
        kinds = [k for k in KINDS if not (k == "mgk-official" and n > 1024)]
        fns = {kind: build(kind, n) for kind in kinds}
        # round-robin repeats: load from other jobs on the machine hits every kind alike
        timed = round_robin(
            {kind: lambda fn=fn, x=x: step(fn, x) for kind, fn in fns.items()},
            7 if n <= 1024 else 3,
            warmup=1,
        )
        res = {
            kind: (timed[kind].median, saved_tensor_bytes(lambda fn=fn, x=x: fn(x)) / 2**20)
            for kind, fn in fns.items()
        }
        for kind, (sec, mib) in res.items():
            heads = HEADS // 2 if kind in ("mgk", "mgk-fused", "mgk-official", "mlk") else HEADS
            print(f"| {n} | {kind} | {heads} | {1e3 * sec:.1f} | {sec / res['softmax'][0]:.2f} | "
                  f"{sec / res['sdpa'][0]:.2f} | {mib:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    # python benchmarks/bench_attention.py [N ...] [--threads T]: on a loaded machine, one thread gives
    # stable timings (several threads contend with the other jobs' cores)
    argv = sys.argv[1:]
    if "--threads" in argv:
        i = argv.index("--threads")
        torch.set_num_threads(int(argv[i + 1]))
        del argv[i : i + 2]
    main(tuple(int(a) for a in argv) or SIZES)
