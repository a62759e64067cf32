"""Data: procedural ListOps-mini, the standard-library character corpus, LRA ListOps and WikiText-103 readers.

- :func:`generate_listops` / :class:`ListOpsDataModule`: expressions over MIN, MAX, MED, SM (sum mod
  10) on digits, depth <= 6, 2-5 arguments, token lengths 20-100 (the spec's mini setting); label =
  the root's value. With ``root`` set, the LRA release's ListOps TSVs are read instead.
- :func:`stdlib_corpus` / :class:`CharLMDataModule`: ``inspect.getsource`` of a fixed list of Python
  standard-library modules, read at run time from the installed interpreter (no download), split 90/10.
- :func:`read_wikitext` / :func:`load_wikitext103`: WikiText-103 token files for users with a network.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from ballroom.core.data import (
    LISTOPS_VOCAB,
    LRA_URL,
    STDLIB_MODULES,
    generate_listops,
    listops_value,
    load_lra_listops,
    read_listops_tsv,
    stdlib_corpus,
)
from ballroom.core.data import ListOpsDataModule as CoreListOpsDataModule
from ballroom.core.validate import check_int

__all__ = [
    "LISTOPS_VOCAB",
    "LRA_URL",
    "STDLIB_MODULES",
    "WIKITEXT103_SHA256",
    "WIKITEXT103_URL",
    "CharLMDataModule",
    "ListOpsDataModule",
    "char_windows",
    "generate_listops",
    "listops_value",
    "load_lra_listops",
    "load_wikitext103",
    "read_listops_tsv",
    "read_wikitext",
    "stdlib_corpus",
]


class ListOpsDataModule(CoreListOpsDataModule):
    """ListOps batches ``(tokens (B, L) int64, label (B,), padding (B, L) bool)``, trimmed per batch.

    Core's :class:`ballroom.core.data.ListOpsDataModule` with this package's defaults: procedural
    (:func:`generate_listops`: the root always an operator, a deeper node a digit with probability 0.6,
    token lengths in ``[min_len, max_len]``; the test split doubling as validation); with ``root``
    the LRA TSVs (:func:`load_lra_listops`).

    Args:
        n_train: procedural training examples.
        n_test: procedural test (and validation) examples.
        max_depth: see :func:`generate_listops`.
        max_args: see :func:`generate_listops`.
        min_len: see :func:`generate_listops`.
        max_len: longest sequence (the padded width).
        batch_size: examples per batch.
        seed: data and shuffling seed.
        num_workers: DataLoader workers.
        root: folder of the LRA ListOps TSVs (``None``: procedural data).
        download: fetch the LRA release into ``root`` when the TSVs are missing.
        sha256: the archive's checksum (required with ``download``).
    """

    def __init__(
        self,
        n_train: int = 4000,
        n_test: int = 500,
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
            batch_size=batch_size,
            seed=seed,
            num_workers=num_workers,
            root=root,
            download=download,
            sha256=sha256,
        )

    def tensors(self, split: str) -> tuple[Tensor, Tensor, Tensor]:
        """The whole ``split`` (``"train"``, ``"val"`` or ``"test"``) as padded tensors.

        Args:
            split: which split.

        Returns:
            ``tokens (n, max_len)`` int64, ``labels (n,)`` int64, ``padding (n, max_len)`` bool.
        """
        x, y, pad = super().tensors(split)
        return x, y, pad

    def majority_rate(self) -> float:
        """Test accuracy of always answering the most frequent training label."""
        ytr = self.tensors("train")[1]
        yte = self.tensors("test")[1]
        return float((yte == torch.bincount(ytr, minlength=10).argmax()).double().mean())


def char_windows(ids: Tensor, context: int, stride: int | None = None) -> tuple[Tensor, Tensor]:
    """Evaluation windows over a 1-d id sequence with the sliding-window protocol.

    Each window holds ``context`` inputs; the first window scores all its positions, every later one
    (shifted by ``stride``) only its last ``stride`` positions (``-100`` elsewhere), so each target
    is scored exactly once with as much context as the window allows. ``stride=1`` is the paper's
    protocol (only the last position of each window); ``stride=context`` (default) is
    non-overlapping windows.

    Args:
        ids: 1-d int64 token ids (more than ``context`` of them).
        context: window length.
        stride: shift between windows (``1 <= stride <= context``; ``None`` = ``context``).

    Returns:
        ``x (W, context)``, ``y (W, context)`` (``-100`` = not scored).
    """
    context = check_int(context, "context", min=1)
    stride = context if stride is None else check_int(stride, "stride", min=1, max=context)
    n = ids.numel() - 1
    if n < context:
        raise ValueError(f"ids must hold more than context = {context} tokens, got {ids.numel()}")
    starts = [0, *list(range(stride, n - context + 1, stride))]
    xs, ys = [], []
    for s in starts:
        x, y = ids[s : s + context], ids[s + 1 : s + context + 1].clone()
        if s > 0:
            y[: context - stride] = -100
        xs.append(x)
        ys.append(y)
    last = starts[-1] + context  # targets up to index `last` are scored; a final window for the rest
    if last < n:
        s = n - context
        y = ids[s + 1 : s + context + 1].clone()
        y[: context - (n - last)] = -100
        xs.append(ids[s : s + context])
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)


class CharLMDataModule(pl.LightningDataModule):
    """Character LM on :func:`stdlib_corpus`: ``(x (B, context), y (B, context))`` int64 batches.

    Training: ``steps_per_epoch`` batches of random windows from the first 90 % (seeded per epoch);
    validation: :func:`char_windows` over the first ``val_chars`` characters of the last 10 %
    (``eval_stride`` = ``context`` by default; 1 = the paper's sliding-window protocol).

    Args:
        context: window length.
        batch_size: windows per training batch (validation uses 4x).
        steps_per_epoch: training batches per epoch.
        val_chars: validation characters scored.
        eval_stride: sliding-window stride of validation.
        seed: training-window seed.
        modules: standard-library modules whose source is the corpus.
    """

    def __init__(
        self,
        context: int = 128,
        batch_size: int = 16,
        steps_per_epoch: int = 200,
        val_chars: int = 16384,
        eval_stride: int | None = None,
        seed: int = 0,
        modules: tuple[str, ...] = STDLIB_MODULES,
    ) -> None:
        super().__init__()
        self.context, self.batch_size = (
            check_int(context, "context", min=1),
            check_int(batch_size, "batch_size", min=1),
        )
        self.steps_per_epoch, self.val_chars = steps_per_epoch, val_chars
        self.eval_stride, self.seed, self.modules = eval_stride, seed, tuple(modules)
        self.vocab: list[str] = []
        self.train_ids: Tensor | None = None
        self.val_ids: Tensor | None = None
        self._epoch = 0

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

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` random training windows ``(x, y)``."""
        self.setup()
        assert self.train_ids is not None
        starts = torch.randint(0, len(self.train_ids) - self.context - 1, (n,), generator=generator)
        idx = starts[:, None] + torch.arange(self.context + 1)
        w = self.train_ids[idx]
        return w[:, :-1], w[:, 1:]

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self._epoch)
        self._epoch += 1
        x, y = self.sample(self.steps_per_epoch * self.batch_size, gen)
        return DataLoader(TensorDataset(x, y), batch_size=self.batch_size, shuffle=False)

    def val_dataloader(self) -> DataLoader:
        self.setup()
        assert self.val_ids is not None
        x, y = char_windows(self.val_ids[: self.val_chars + 1], self.context, self.eval_stride)
        return DataLoader(TensorDataset(x, y), batch_size=self.batch_size * 4)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()


#: WikiText-103 (word level, Merity et al.): the authors' archive (about 181 MB)
WIKITEXT103_URL = "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-103-v1.zip"
#: its published SHA-256 (the same digest is recorded by several dataset registries; torchtext
#: records the MD5 9ddaacaf6af0710eda8c456decff7832 of the same file)
WIKITEXT103_SHA256 = "242ba0f20b329cfdf1ccc61e9e9e5b59becf189db7f7a81cd2a0e2fc31539590"


def read_wikitext(path: str | os.PathLike[str]) -> list[str]:
    """Tokens of a WikiText ``wiki.{train,valid,test}.tokens`` file: whitespace split, ``<eos>`` after
    every non-empty line (the Transformer-XL convention).

    Args:
        path: the ``.tokens`` file.

    Returns:
        The token list.
    """
    out: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            toks = line.split()
            if toks:
                out += [*toks, "<eos>"]
    if not out:
        raise ValueError(f"{path}: no tokens")
    return out


def load_wikitext103(root: str | os.PathLike[str], download: bool = False, sha256: str | None = None) -> Path:
    """The folder with ``wiki.{train,valid,test}.tokens`` under ``root`` (or ``root/wikitext-103``).

    Args:
        root: where the files are, or where ``download`` puts them.
        download: fetch :data:`WIKITEXT103_URL` into ``root`` (checked against the SHA-256) and
            extract it when the files are absent.
        sha256: the archive's checksum; default :data:`WIKITEXT103_SHA256`, the published one.

    Returns:
        The folder holding the three ``.tokens`` files.

    Raises:
        FileNotFoundError: the files are absent and ``download`` is False.
    """
    root = Path(root)
    names = [f"wiki.{s}.tokens" for s in ("train", "valid", "test")]
    for folder in (root, root / "wikitext-103"):
        if all((folder / n).is_file() for n in names):
            return folder
    if not download:
        raise FileNotFoundError(f"no {names} under {root} or {root / 'wikitext-103'}; pass download=True")
    from ballroom.core.data import download_url, extract_archive

    digest = WIKITEXT103_SHA256 if sha256 is None else sha256
    extract_archive(download_url(WIKITEXT103_URL, root / "wikitext-103-v1.zip", sha256=digest), root)
    folder = root / "wikitext-103"
    if not all((folder / n).is_file() for n in names):
        raise FileNotFoundError(f"the WikiText-103 archive did not hold {names} under wikitext-103/")
    return folder
