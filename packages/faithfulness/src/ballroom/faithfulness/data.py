"""The synthetic polarity task with ground-truth token polarities (generated, seeded; no download).

Vocabulary (spec, Offline reproduction plan): ``0`` = padding, ``1..10`` positive tokens (polarity
+1 for ``1..5``, +2 for ``6..10``), ``11..20`` negative (−1, −2), ``21..50`` neutral. A sequence has
length ``U[10, 30]`` of neutral tokens with ``k ∈ [2, 6]`` positions replaced by polar tokens (each
side w.p. 0.5); label ``= [Σ polarity > 0]``, ties resampled.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from ballroom.core.data import SplitDataModule
from ballroom.core.validate import check_int

__all__ = ["POLARITY", "VOCAB_SIZE", "PolaritySynthDataModule", "make_polarity_data"]

N_POLAR, N_NEUTRAL = 10, 30
VOCAB_SIZE = 1 + 2 * N_POLAR + N_NEUTRAL  # 51
#: polarity of every token id (``(VOCAB_SIZE,)`` long)
POLARITY = torch.zeros(VOCAB_SIZE, dtype=torch.long)
POLARITY[1:6], POLARITY[6:11], POLARITY[11:16], POLARITY[16:21] = 1, 2, -1, -2


def make_polarity_data(
    n: int, seed: int = 0, min_len: int = 10, max_len: int = 30, min_polar: int = 2, max_polar: int = 6
) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` examples: tokens ``(n, max_len)`` (right-padded with 0), labels ``(n,)``, polarities ``(n, max_len)``.

    Deterministic in ``seed``. Each example has ``min_polar..max_polar`` polar tokens (polarity
    ±1 or ±2, see :data:`POLARITY`) among neutral ones; the label is 1 when the polarities sum to
    more than 0, and examples whose sum is 0 are redrawn.

    Args:
        n: the number of examples.
        seed: the seed of the ``torch.Generator``.
        min_len: the shortest example (tokens).
        max_len: the longest example, also the padded length.
        min_polar: the fewest polar tokens per example (``1..min_len``).
        max_polar: the most polar tokens per example (``min_polar..min_len``).

    Raises:
        ValueError: a size out of range.
    """
    check_int(n, "n", min=1)
    check_int(min_len, "min_len", min=1)
    check_int(max_len, "max_len", min=min_len)
    check_int(min_polar, "min_polar", min=1, max=min_len)
    check_int(max_polar, "max_polar", min=min_polar, max=min_len)
    g = torch.Generator().manual_seed(check_int(seed, "seed"))
    tokens_out, labels_out = [], []
    have = 0
    while have < n:
        m = 2 * (n - have) + 16
        lengths = torch.randint(min_len, max_len + 1, (m,), generator=g)
        pos = torch.arange(max_len)
        tokens = torch.randint(1 + 2 * N_POLAR, VOCAB_SIZE, (m, max_len), generator=g)
        tokens = torch.where(pos < lengths[:, None], tokens, 0)
        k = torch.randint(min_polar, max_polar + 1, (m,), generator=g)
        # k distinct positions inside the length: the k smallest random keys among real positions
        keys = torch.rand(m, max_len, generator=g).masked_fill(pos >= lengths[:, None], 2.0)
        ranks = keys.argsort(1).argsort(1)
        chosen = ranks < k[:, None]
        positive = torch.rand(m, max_len, generator=g) < 0.5
        which = torch.randint(0, N_POLAR, (m, max_len), generator=g)
        polar = torch.where(positive, 1 + which, 1 + N_POLAR + which)
        tokens = torch.where(chosen, polar, tokens)
        total = POLARITY[tokens].sum(1)
        keep = total != 0
        tokens_out.append(tokens[keep])
        labels_out.append((total[keep] > 0).long())
        have += int(keep.sum())
    tokens = torch.cat(tokens_out)[:n]
    return tokens, torch.cat(labels_out)[:n], POLARITY[tokens]


class PolaritySynthDataModule(SplitDataModule):
    """Train / val / test splits of :func:`make_polarity_data`; batches ``(tokens, label, polarity)``.

    Args:
        n_train, n_val, n_test: split sizes (spec: 4k train, 400 test).
        batch_size: batch size (spec: 64).
        num_workers: DataLoader workers.
        seed: generation and shuffling seed (the splits use ``1000 seed``, ``1000 seed + 1`` and
            ``1000 seed + 2``).
    """

    num_classes = 2
    vocab_size = VOCAB_SIZE

    def __init__(
        self,
        n_train: int = 4000,
        n_val: int = 400,
        n_test: int = 400,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.sizes = {
            "train": check_int(n_train, "n_train", min=1),
            "val": check_int(n_val, "n_val", min=1),
            "test": check_int(n_test, "n_test", min=1),
        }

    def build(self) -> dict[str, Dataset]:
        out: dict[str, Dataset] = {}
        for offset, (split, n) in enumerate(self.sizes.items()):
            out[split] = TensorDataset(*make_polarity_data(n, seed=1000 * self.seed + offset))
        return out
