"""The NB201-mini protocol pieces: DARTS' alpha batches, cached masked-op drops, fair ground truth."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from ballroom.agnas import AgnasDigitsDataModule, NB201SearchSpace, NB201Supernet, TensorBatches
from ballroom.agnas import reproduce as R
from ballroom.agnas.search import masked_op_drops, train_supernet


def _digits(n: int, side: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, side, side, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_drop_last_gives_only_full_batches_and_reshuffles_every_pass() -> None:
    x, y = _digits(10)
    b = TensorBatches(x, y, 4, shuffle=True, seed=3, drop_last=True)
    first, second = [yy for _, yy in b], [yy for _, yy in b]
    assert len(b) == 2 and [len(t) for t in first] == [4, 4] == [len(t) for t in second]
    assert not all(torch.equal(p, q) for p, q in zip(first, second))
    assert len(TensorBatches(x, y, 4)) == 3


class _Recording:
    """Selection batches that remember what the alpha steps were given."""

    def __init__(self, inner: TensorBatches) -> None:
        self.inner, self.seen = inner, []

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[Sequence[Tensor]]:
        for batch in self.inner:
            self.seen.append(batch[1])
            yield batch


def test_darts_alpha_steps_run_through_fresh_passes_of_the_selection_batches() -> None:
    # 3 weight steps per epoch, 2 alpha batches per pass: the steps must see pass 1, then pass 2
    # (reshuffled), not pass 1 replayed (what itertools.cycle does)
    xt, yt = _digits(12)
    xv, yv = _digits(8, seed=1)
    val = _Recording(TensorBatches(xv, yv, 4, shuffle=True, seed=5, drop_last=True))
    torch.manual_seed(0)
    sup = NB201Supernet(C=2, N=1, mixed="darts")
    train_supernet(sup, TensorBatches(xt, yt, 4), epochs=2, lr=0.01, val=val)
    ref = TensorBatches(xv, yv, 4, shuffle=True, seed=5, drop_last=True)
    expected = [yy for _ in range(3) for _, yy in ref]
    assert len(val.seen) >= 6
    assert all(torch.equal(a, b) for a, b in zip(val.seen[:6], expected[:6]))


def test_cached_masked_op_drops_equal_masking_in_the_whole_supernet() -> None:
    dm = AgnasDigitsDataModule(size=8)
    dm.setup()
    xt, yt = dm.tensors("train")
    xv, yv = dm.tensors("val")
    train, val = TensorBatches(xt[:192], yt[:192], 64), TensorBatches(xv[:30], yv[:30], 30)
    for mixed in ("attention", "darts"):
        torch.manual_seed(1)
        sup = NB201Supernet(C=4, N=1, mixed=mixed)
        train_supernet(sup, train, 1, lr=0.1, val=train if mixed == "darts" else None)
        sup.eval()
        direct = [masked_op_drops(sup, edges, val) for edges in sup.cell_edges()]
        cached = R._cell_drops(sup, val)
        assert len(cached) == 3
        assert any(bool(d.abs().sum() > 0) for d in direct)  # masking changes predictions here
        assert all(torch.equal(a, b) for a, b in zip(direct, cached))
        assert not sup.training  # the mode is restored


def test_ground_truth_training_is_seeded_per_job_not_by_what_ran_before() -> None:
    class Ctx:
        settings = R.SETTINGS["smoke"]
        seed = 0

    x, y = _digits(64, seed=4)
    splits = (TensorBatches(x, y, 64, shuffle=True), TensorBatches(x, y, 32), TensorBatches(x, y, 32))
    a, b = NB201SearchSpace().sample(2, torch.Generator().manual_seed(0))
    first = R._from_scratch(a, 7, Ctx(), splits)  # type: ignore[arg-type]
    R._from_scratch(b, 8, Ctx(), splits)  # type: ignore[arg-type]
    assert R._from_scratch(a, 7, Ctx(), splits) == first  # type: ignore[arg-type]


def test_pick_margin_is_the_relative_gap_to_the_runner_up_without_none() -> None:
    prims = ("none", "a", "b", "c")
    table = torch.tensor([[9.0, 4.0, 3.0, 1.0], [0.0, 2.0, 2.0, 1.0]])
    smallest, mean = R._pick_margin(table, prims)
    assert smallest == 0.0 and abs(mean - 0.125) < 1e-12
