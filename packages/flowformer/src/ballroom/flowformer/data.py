"""Data for the Flowformer reproduction: procedural ListOps, a generated character corpus, UEA sets.

- :func:`generate_listops` / :class:`ListOpsDataModule`: the LRA ListOps generator (a node is a
  digit with probability 0.75 -- always at the maximum depth -- else ``[MIN``, ``[MAX``, ``[MED``
  or ``[SM`` with 2..max_args arguments closed by ``]``; the label is the root's value), kept when
  the token length lies strictly between ``min_len`` and ``max_len``.
- :func:`stdlib_corpus` / :class:`CharLMDataModule`: the concatenated source of a fixed list of
  Python standard-library modules (``inspect.getsource``), split 90/10, as characters.
- JapaneseVowels and the other bundled UCR/UEA sets come from ``ballroom.core.data.UEADataModule``.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from ballroom.core.data import (
    LISTOPS_FILES,
    LISTOPS_OPERATORS,
    LISTOPS_VOCAB,
    LRA_URL,
    STDLIB_MODULES,
    listops_value,
    load_lra_listops,
    read_listops_tsv,
    stdlib_corpus,
    trim_padding,
)
from ballroom.core.data import ListOpsDataModule as CoreListOpsDataModule
from ballroom.core.data import generate_listops as core_generate_listops
from ballroom.core.validate import check_int

__all__ = [
    "LISTOPS_FILES",
    "LISTOPS_VOCAB",
    "LRA_URL",
    "STDLIB_MODULES",
    "CharLMDataModule",
    "ListOpsDataModule",
    "evaluate_listops",
    "generate_listops",
    "load_lra_listops",
    "read_listops_tsv",
    "stdlib_corpus",
    "trim_padding",
]

OPS = LISTOPS_OPERATORS
#: the LRA ListOps generator's leaf probability (a node below the maximum depth is a digit this often)
LEAF_PROB = 0.75

#: ``evaluate_listops`` is core's evaluator under the name this package has always exported
evaluate_listops = listops_value


def generate_listops(
    n: int, max_depth: int = 6, max_args: int = 5, min_len: int = 20, max_len: int = 100, seed: int = 0
) -> tuple[list[list[str]], list[int]]:
    """``n`` expressions (token lists) with ``min_len < len < max_len`` and their labels (0..9).

    The LRA generator: a node is a digit with probability 0.75 (always at ``max_depth``, and the
    root may be one), else an operator with 2..``max_args`` arguments. Core's
    :func:`ballroom.core.data.generate_listops` draws them (same random stream; its window is inclusive).

    Args:
        n: the number of expressions (>= 1).
        max_depth: the deepest operator nesting; a node at this depth is always a digit.
        max_args: the most arguments of an operator (at least 2 are drawn).
        min_len: expressions must be longer than this many tokens.
        max_len: expressions must be shorter than this many tokens.
        seed: the seed of ``np.random.default_rng``.

    Returns:
        ``(expressions, labels)``, two lists of length ``n``.

    Raises:
        ValueError: ``n < 1`` or not ``0 <= min_len < max_len - 1``.
        RuntimeError: the length window is too narrow to fill in ``200 n + 10000`` draws.
    """
    n = check_int(n, "n", min=1)
    if not 0 <= min_len < max_len - 1:
        raise ValueError(
            f"need 0 <= min_len < max_len - 1 (lengths strictly between them), got min_len={min_len}, "
            f"max_len={max_len}"
        )
    return core_generate_listops(
        n,
        max_depth=max_depth,
        max_args=max_args,
        min_len=min_len + 1,
        max_len=max_len - 1,
        leaf_prob=LEAF_PROB,
        operator_root=False,
        seed=seed,
        max_tries=200 * n + 10_000,
    )


class ListOpsDataModule(CoreListOpsDataModule):
    """ListOps as ``(tokens (B, L), y (B,), padding_mask (B, L))``, on ballroom-core's ``ListOpsDataModule``.

    Procedural by default (the spec's mini setting: depth 6, up to 5 arguments, lengths strictly
    between 20 and 100 from :func:`generate_listops`, 20k train / 1k test, the test set doubling as
    validation). With ``root`` set, the LRA release's TSVs are read instead (train/val/test as
    shipped, padded to ``max_len``; longer sequences are rejected); ``download``/``sha256`` are
    passed to :func:`load_lra_listops`. Batches are trimmed to their longest sequence (:func:`trim_padding`).

    Args:
        n_train: procedural training expressions.
        n_test: procedural test expressions (also the validation set).
        max_depth: the generator's deepest nesting (see :func:`generate_listops`).
        max_args: the generator's most arguments per operator.
        min_len: generated expressions are longer than this.
        max_len: generated expressions are shorter than this; also the padded length (LRA files too).
        batch_size: the batch size of every dataloader.
        seed: the generator's seed and the training shuffle's.
        num_workers: dataloader worker processes.
        root: the folder of the LRA TSVs (``None``: procedural data).
        download: fetch the LRA release when ``root`` lacks it.
        sha256: the expected SHA-256 of the LRA archive (required with ``download``).
    """

    def __init__(
        self,
        n_train: int = 20_000,
        n_test: int = 1_000,
        max_depth: int = 6,
        max_args: int = 5,
        min_len: int = 20,
        max_len: int = 100,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        root: str | None = None,
        download: bool = False,
        sha256: str | None = None,
    ) -> None:
        super().__init__(
            n_train=n_train,
            n_test=n_test,
            max_depth=max_depth,
            max_args=max_args,
            min_len=min_len,
            max_len=max_len,
            leaf_prob=LEAF_PROB,
            operator_root=False,
            batch_size=batch_size,
            seed=seed,
            num_workers=num_workers,
            root=root,
            download=download,
            sha256=sha256,
        )

    def generate(self, n: int) -> tuple[list[list[str]], list[int]]:
        """``n`` expressions from :func:`generate_listops` (lengths strictly inside the window).

        Args:
            n: how many (the first ``n_train`` train, the rest test).

        Returns:
            ``(expressions, labels)``.
        """
        return generate_listops(n, self.max_depth, self.max_args, self.min_len, self.max_len, self.seed)

    @property
    def majority_rate(self) -> float:
        """Test accuracy of always predicting the most frequent training label."""
        ytr = self.tensors("train")[1]
        yte = self.tensors("test")[1]
        return float((yte == torch.bincount(ytr, minlength=10).argmax()).float().mean())


class CharLMDataModule(pl.LightningDataModule):
    """Character LM batches ``(tokens (B, context), targets (B, context))`` from :func:`stdlib_corpus`.

    The first 90 % of the text trains (``steps_per_epoch`` batches of random windows, drawn from
    ``seed`` each time :meth:`train_dataloader` is called, so every epoch of one fit sees the same
    windows in the same order unless the Trainer reloads the dataloader), the last 10 % validates
    (consecutive non-overlapping windows). ``vocab`` = sorted characters of the whole corpus.

    Args:
        context: the window length (tokens per sample).
        batch_size: training batch size (validation batches are 4x larger).
        steps_per_epoch: training batches per dataloader.
        seed: the seed of the training windows' start positions.
        modules: the standard-library modules whose source forms the corpus.
        val_windows: the most validation windows.
    """

    def __init__(
        self,
        context: int = 128,
        batch_size: int = 16,
        steps_per_epoch: int = 200,
        seed: int = 0,
        modules: tuple[str, ...] = STDLIB_MODULES,
        val_windows: int = 256,
    ) -> None:
        super().__init__()
        self.context, self.batch_size, self.steps_per_epoch, self.seed = (
            context,
            batch_size,
            steps_per_epoch,
            seed,
        )
        self.modules, self.val_windows = tuple(modules), val_windows
        self.vocab: list[str] = []
        self.train_ids: Tensor | None = None
        self.val_ids: Tensor | None = None

    @property
    def vocab_size(self) -> int:
        self.setup()
        return len(self.vocab)

    def setup(self, stage: str | None = None) -> None:
        if self.train_ids is not None:
            return
        text = stdlib_corpus(self.modules)
        self.vocab = sorted(set(text))
        table = {c: i for i, c in enumerate(self.vocab)}
        ids = torch.tensor([table[c] for c in text], dtype=torch.int64)
        cut = int(0.9 * len(ids))
        self.train_ids, self.val_ids = ids[:cut], ids[cut:]

    def train_dataloader(self) -> DataLoader:
        self.setup()
        assert self.train_ids is not None
        gen = torch.Generator().manual_seed(self.seed)
        n = self.steps_per_epoch * self.batch_size
        starts = torch.randint(0, len(self.train_ids) - self.context - 1, (n,), generator=gen)
        x = torch.stack([self.train_ids[s : s + self.context] for s in starts.tolist()])
        y = torch.stack([self.train_ids[s + 1 : s + self.context + 1] for s in starts.tolist()])
        return DataLoader(TensorDataset(x, y), batch_size=self.batch_size, shuffle=False)

    def val_dataloader(self) -> DataLoader:
        self.setup()
        assert self.val_ids is not None
        c = self.context
        k = min(self.val_windows, (len(self.val_ids) - 1) // c)
        x = self.val_ids[: k * c].view(k, c)
        y = self.val_ids[1 : k * c + 1].view(k, c)
        return DataLoader(TensorDataset(x, y), batch_size=self.batch_size * 4)
