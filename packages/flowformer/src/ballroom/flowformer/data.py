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

import csv
import importlib
import inspect
import os
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from ballroom.core.data import SplitDataModule

__all__ = [
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

OPS = ("[MIN", "[MAX", "[MED", "[SM")
#: token ids: 0 = padding, then digits, operators and the closing bracket
LISTOPS_VOCAB = ("<pad>", *map(str, range(10)), *OPS, "]")
_TOKEN = {t: i for i, t in enumerate(LISTOPS_VOCAB)}


def _tree(rng: np.random.Generator, depth: int, max_depth: int, max_args: int) -> list[str]:
    if depth >= max_depth or rng.random() < 0.75:
        return [str(int(rng.integers(10)))]
    op = OPS[int(rng.integers(len(OPS)))]
    out = [op]
    for _ in range(int(rng.integers(2, max_args + 1))):
        out += _tree(rng, depth + 1, max_depth, max_args)
    return [*out, "]"]


def evaluate_listops(tokens: list[str]) -> int:
    """Value of a token list like ``["[MAX", "4", "[MIN", "2", "3", "]", "]"]``.

    ``[MED`` takes ``int(np.median(...))`` (the floor of the mean of the two middle values for an
    even count); ``[SM`` is the sum modulo 10.

    Args:
        tokens: the expression's tokens (digits, operators and ``"]"``).

    Returns:
        The value, 0..9.

    Raises:
        ValueError: the tokens do not form exactly one expression.
    """
    stack: list[list[int | str]] = [[]]
    for t in tokens:
        if t in OPS:
            stack.append([t])
        elif t == "]":
            op, *args = stack.pop()
            vals = [int(a) for a in args]
            if op == "[MIN":
                v = min(vals)
            elif op == "[MAX":
                v = max(vals)
            elif op == "[MED":
                v = int(np.median(vals))
            else:
                v = sum(vals) % 10
            stack[-1].append(v)
        else:
            stack[-1].append(int(t))
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError(f"malformed ListOps expression: {' '.join(tokens)}")
    return int(stack[0][0])


def generate_listops(
    n: int, max_depth: int = 6, max_args: int = 5, min_len: int = 20, max_len: int = 100, seed: int = 0
) -> tuple[list[list[str]], list[int]]:
    """``n`` expressions (token lists) with ``min_len < len < max_len`` and their labels (0..9).

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
        ValueError: ``n < 1`` or not ``0 <= min_len < max_len``.
        RuntimeError: the length window is too narrow to fill in ``200 n + 10000`` draws.
    """
    if not 0 <= min_len < max_len or n < 1:
        raise ValueError(
            f"need n >= 1 and 0 <= min_len < max_len, got n={n}, min_len={min_len}, max_len={max_len}"
        )
    rng = np.random.default_rng(seed)
    exprs: list[list[str]] = []
    labels: list[int] = []
    tries = 0
    while len(exprs) < n:
        tries += 1
        if tries > 200 * n + 10_000:
            raise RuntimeError("the length window is too narrow for this max_depth/max_args")
        toks = _tree(rng, 0, max_depth, max_args)
        if min_len < len(toks) < max_len:
            exprs.append(toks)
            labels.append(evaluate_listops(toks))
    return exprs, labels


def _encode(exprs: list[list[str]], length: int) -> tuple[Tensor, Tensor]:
    ids = torch.zeros(len(exprs), length, dtype=torch.int64)
    for i, toks in enumerate(exprs):
        ids[i, : len(toks)] = torch.tensor([_TOKEN[t] for t in toks])
    return ids, ids == 0


#: the Long Range Arena release (ListOps TSVs under ``lra_release/listops-1000``); about 7 GB
LRA_URL = "https://storage.googleapis.com/long-range-arena/lra_release.gz"
LISTOPS_FILES = {"train": "basic_train.tsv", "val": "basic_val.tsv", "test": "basic_test.tsv"}


def read_listops_tsv(path: str | os.PathLike[str]) -> tuple[list[list[str]], list[int]]:
    """Read an LRA ListOps TSV (header ``Source<TAB>Target``) into token lists and labels.

    As in the LRA input pipeline, the parentheses of the tree notation are dropped, so
    ``( ( [MAX 2 ) 9 ) ]`` becomes ``[MAX 2 9 ]``.

    Args:
        path: the TSV file.

    Returns:
        ``(expressions, labels)``: token lists and ints 0..9, in file order.

    Raises:
        ValueError: a wrong header, a row without two columns, an unknown token or a label outside
            0..9 (naming the line).
    """
    exprs, labels = [], []
    with open(path, newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["Source", "Target"]:
            raise ValueError(f"{path}: expected the header 'Source<TAB>Target', got {header!r}")
        for line, row in enumerate(reader, start=2):
            if len(row) < 2:
                raise ValueError(f"{path}:{line}: expected 2 tab-separated columns, got {row!r}")
            toks = [t for t in row[0].split() if t not in ("(", ")")]
            bad = [t for t in toks if t not in _TOKEN or t == "<pad>"]
            label = int(row[1])
            if bad or not 0 <= label <= 9:
                raise ValueError(f"{path}:{line}: unknown tokens {bad[:3]} or label {label} outside 0..9")
            exprs.append(toks)
            labels.append(label)
    return exprs, labels


def load_lra_listops(root: str | os.PathLike[str], download: bool = False, sha256: str | None = None) -> Path:
    """The folder holding the LRA ListOps TSVs (:data:`LISTOPS_FILES`) under ``root``.

    Looks in ``root``, ``root/listops-1000`` and ``root/lra_release/listops-1000``. With
    ``download=True`` a missing release is fetched from :data:`LRA_URL` (about 7 GB) and extracted;
    pass the archive's ``sha256`` (none is pinned in this package, see the README).
    """
    root = Path(root)
    candidates = (root, root / "listops-1000", root / "lra_release" / "listops-1000")
    for folder in candidates:
        if all((folder / f).is_file() for f in LISTOPS_FILES.values()):
            return folder
    if not download:
        raise FileNotFoundError(
            f"no {sorted(LISTOPS_FILES.values())} under {root} (or its listops-1000 folders); "
            "pass download=True and sha256=... to fetch the LRA release"
        )
    if sha256 is None:
        raise ValueError(
            "no SHA-256 is pinned for lra_release.gz; pass sha256=<hex digest> of the archive you trust "
            "(ballroom.core.data.sha256sum computes it)"
        )
    from ballroom.core.data import download_url, extract_archive

    archive = download_url(LRA_URL, root / "lra_release.gz", sha256)
    extract_archive(archive, root)
    return load_lra_listops(root)


def trim_padding(batch: list[tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
    """Collate ``(tokens, y, padding_mask)`` samples and drop the columns that are padding in every row.

    Right-padded batches become as long as their longest sequence, not the data set's ``max_len``:
    the outputs are unchanged (padded positions leave every sum) and short batches run faster.

    Args:
        batch: samples ``(tokens (L,), y (), padding_mask (L,))``, as a DataLoader hands them over.

    Returns:
        ``(tokens (B, L'), y (B,), padding_mask (B, L'))`` with ``L'`` the longest unpadded length.
    """
    x, y, mask = (torch.stack(t) for t in zip(*batch))
    keep = int((~mask).sum(1).max())
    return x[:, :keep], y, mask[:, :keep]


class ListOpsDataModule(SplitDataModule[TensorDataset]):
    """ListOps as ``(tokens (B, L), y (B,), padding_mask (B, L))``, on ballroom-core's ``SplitDataModule``.

    Procedural by default (the spec's mini setting: depth 6, up to 5 arguments, lengths 20-100,
    20k train / 1k test, the test set doubling as validation). With ``root`` set, the LRA release's
    TSVs are read instead (train/val/test as shipped, padded to ``max_len``; longer sequences are
    rejected); ``download``/``sha256`` are passed to :func:`load_lra_listops`. Batches are trimmed
    to their longest sequence (:func:`trim_padding`).

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

    vocab_size = len(LISTOPS_VOCAB)
    num_classes = 10

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
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.root, self.download, self.sha256 = root, download, sha256
        self.n_train, self.n_test = n_train, n_test
        self.max_depth, self.max_args, self.min_len, self.max_len = max_depth, max_args, min_len, max_len

    def build(self) -> dict[str, TensorDataset]:
        if self.root is not None:
            folder = load_lra_listops(self.root, self.download, self.sha256)
            datasets: dict[str, TensorDataset] = {}
            for split, fname in LISTOPS_FILES.items():
                exprs, labels = read_listops_tsv(folder / fname)
                longest = max(len(e) for e in exprs)
                if longest > self.max_len:
                    raise ValueError(f"{fname}: a sequence has {longest} tokens > max_len={self.max_len}")
                ids, mask = _encode(exprs, self.max_len)
                datasets[split] = TensorDataset(ids, torch.tensor(labels), mask)
            return datasets
        exprs, labels = generate_listops(
            self.n_train + self.n_test, self.max_depth, self.max_args, self.min_len, self.max_len, self.seed
        )
        ids, mask = _encode(exprs, self.max_len)
        y = torch.tensor(labels)
        tr, te = slice(0, self.n_train), slice(self.n_train, None)
        test = TensorDataset(ids[te], y[te], mask[te])
        return {"train": TensorDataset(ids[tr], y[tr], mask[tr]), "val": test, "test": test}

    @property
    def majority_rate(self) -> float:
        """Test accuracy of always predicting the most frequent training label."""
        ytr = self._dataset("train").tensors[1]
        yte = self._dataset("test").tensors[1]
        return float((yte == torch.bincount(ytr, minlength=10).argmax()).float().mean())

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        # SplitDataModule's loader (seeded shuffling, workers) with the trimming collate function
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            self._dataset(split),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            generator=generator,
            persistent_workers=self.num_workers > 0,
            collate_fn=trim_padding,
        )


STDLIB_MODULES = (
    "argparse", "inspect", "typing", "dataclasses", "pathlib", "json.decoder", "textwrap", "difflib",
    "fractions", "statistics", "heapq", "bisect", "calendar", "csv", "string", "collections",
)  # fmt: skip


def stdlib_corpus(modules: tuple[str, ...] = STDLIB_MODULES) -> str:
    """The concatenated source text of ``modules`` (``inspect.getsource``), in the given order."""
    return "\n".join(inspect.getsource(importlib.import_module(m)) for m in modules)


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
