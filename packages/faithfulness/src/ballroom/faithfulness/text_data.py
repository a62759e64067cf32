"""Loaders for the paper's text datasets (SST, Yelp, AG News) and ``TextDataModule`` on top of them.

For users with a network: nothing downloads unless ``download=True``, and every file is checked
against the SHA-256 that Hugging Face's dataset scripts publish for it (core's ``download_url``).
The readers take the files as distributed:

- ``agnews``: ``train.csv`` / ``test.csv`` of the char-CNN release (Zhang et al., 2015; the copy in
  the ``mhjabreel/CharCnn_Keras`` repository); rows ``"class","title","description"``, class
  ``1..4`` (World, Sports, Business, Sci/Tech); 120,000 / 7,600 rows.
- ``yelp``: ``yelp_review_full_csv.tgz`` (char-CNN release, fast.ai S3 mirror) holding
  ``yelp_review_full_csv/{train,test}.csv``; rows ``"stars","text"``, stars ``1..5``, newlines
  written as ``\\n``; 650,000 / 50,000 rows.
- ``sst``: ``trainDevTestTrees_PTB.zip`` (Stanford) holding ``trees/{train,dev,test}.txt``; one PTB
  tree per line, ``(label (label word) ...)``, the root label ``0..4`` is the sentence's class;
  8,544 / 1,101 / 2,210 trees.

Texts become token ids: lower-cased words and punctuation (:func:`tokenize`), a vocabulary built on
the training split only (:func:`build_vocab`; ``0`` = padding, ``1`` = unknown), right padding and
truncation to ``max_len`` (:func:`encode`), the format of :class:`PolaritySynthDataModule` without
the polarity column.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from ballroom.core.data import SplitDataModule, split_indices
from ballroom.core.data.download import download_url, extract_archive
from ballroom.core.validate import check_choice, check_int, check_probability

__all__ = [
    "PAD",
    "TEXT_DATASETS",
    "UNK",
    "TextDataModule",
    "build_vocab",
    "encode",
    "load_text_dataset",
    "read_char_cnn_csv",
    "read_sst_trees",
    "tokenize",
]

PAD, UNK = 0, 1

#: name -> the published files (URL, SHA-256, file name), the extracted layout and the classes.
TEXT_DATASETS: dict[str, dict[str, Any]] = {
    "agnews": {
        "files": [
            (
                "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/train.csv",
                "76a0a2d2f92b286371fe4d4044640910a04a803fdd2538e0f3f29a5c6f6b672e",
                "train.csv",
            ),
            (
                "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/test.csv",
                "521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699",
                "test.csv",
            ),
        ],
        "splits": {"train": "train.csv", "test": "test.csv"},
        "classes": ("World", "Sports", "Business", "Sci/Tech"),
    },
    "yelp": {
        "files": [
            (
                "https://s3.amazonaws.com/fast-ai-nlp/yelp_review_full_csv.tgz",
                "56006b0a17a370f1e366504b1f2c3e3754e4a3dda17d3e718a885c552869a559",
                "yelp_review_full_csv.tgz",
            )
        ],
        "splits": {"train": "yelp_review_full_csv/train.csv", "test": "yelp_review_full_csv/test.csv"},
        "classes": ("1 star", "2 stars", "3 stars", "4 stars", "5 stars"),
    },
    "sst": {
        "files": [
            (
                "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip",
                "5c613a4f673fc74097d523a2c83f38e0cc462984d847b82c7aaf36b01cbbbfcc",
                "trainDevTestTrees_PTB.zip",
            )
        ],
        "splits": {"train": "trees/train.txt", "val": "trees/dev.txt", "test": "trees/test.txt"},
        "classes": ("very negative", "negative", "neutral", "positive", "very positive"),
    },
}

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|'[a-z]+|[^\sa-z0-9]")
_LEAF = re.compile(r"\(\d+ ([^()\s]+)\)")
_PTB_ESCAPES = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}"}


def tokenize(text: str) -> list[str]:
    """Lower-cased words (with a trailing clitic such as ``'s``), numbers and single punctuation marks.

    Args:
        text: one document.

    Returns:
        The tokens, in order.
    """
    return _TOKEN.findall(text.lower().replace("\\n", " ").replace("\\", " "))


def read_char_cnn_csv(path: str | os.PathLike[str]) -> tuple[list[str], Tensor]:
    """Read a CSV of the char-CNN release (AG News, Yelp): ``(texts, labels (N,) int64 from 0)``.

    Each row is ``"class", field, ...`` with the class counted from 1; the text fields (AG News:
    title and description) are joined with a space.

    Args:
        path: the CSV file.

    Returns:
        The texts and their classes minus one.

    Raises:
        ValueError: a row without text or with a class that is not a positive integer.
    """
    texts: list[str] = []
    labels: list[int] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.reader(fh)):
            if len(row) < 2 or not row[0].strip().isdigit() or int(row[0]) < 1:
                raise ValueError(f'{path}: row {i + 1} is not \'"class","text",...\' with class >= 1')
            labels.append(int(row[0]) - 1)
            texts.append(" ".join(row[1:]))
    return texts, torch.tensor(labels, dtype=torch.long)


def read_sst_trees(path: str | os.PathLike[str]) -> tuple[list[list[str]], Tensor]:
    """Read SST's PTB trees (one a line): ``(token lists, labels (N,) int64 in 0..4)``.

    The label is the root's; the tokens are the leaves, lower-cased, with the PTB bracket escapes
    (``-LRB-`` ...) turned back into brackets.

    Args:
        path: ``trees/train.txt``, ``dev.txt`` or ``test.txt``.

    Returns:
        The leaves of every tree and the root labels.

    Raises:
        ValueError: a line that is not a labelled tree.
    """
    tokens: list[list[str]] = []
    labels: list[int] = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        line = line.strip()
        if not line:
            continue
        head = re.match(r"\((\d+) ", line)
        leaves = _LEAF.findall(line)
        if head is None or not leaves:
            raise ValueError(f"{path}: line {i + 1} is not a labelled PTB tree '(label (label word) ...)'")
        labels.append(int(head.group(1)))
        tokens.append([_PTB_ESCAPES.get(w.lower(), w.lower()) for w in leaves])
    return tokens, torch.tensor(labels, dtype=torch.long)


def build_vocab(
    docs: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None
) -> dict[str, int]:
    """Token -> id over ``docs`` (the training split): ``0`` is padding, ``1`` unknown, then by frequency.

    Ties in frequency are broken alphabetically, so the vocabulary is deterministic.

    Args:
        docs: token lists.
        min_freq: the fewest occurrences a token needs.
        max_size: the most entries, padding and unknown included (``None``: no limit).

    Returns:
        The mapping (``"<pad>"`` -> 0, ``"<unk>"`` -> 1).

    Raises:
        ValueError: ``min_freq < 1`` or ``max_size < 2``.
    """
    check_int(min_freq, "min_freq", min=1)
    if max_size is not None:
        check_int(max_size, "max_size", min=2)
    counts = Counter(t for doc in docs for t in doc)
    ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    if max_size is not None:
        ranked = ranked[: max_size - 2]
    vocab = {"<pad>": PAD, "<unk>": UNK}
    vocab.update({t: i + 2 for i, t in enumerate(ranked)})
    return vocab


def encode(docs: Sequence[Sequence[str]], vocab: dict[str, int], max_len: int) -> Tensor:
    """Token ids ``(N, max_len)`` int64: unknown tokens -> 1, truncated, right-padded with 0.

    A document with no tokens keeps one unknown token, so every row has a valid position.

    Args:
        docs: ``N`` token lists.
        vocab: from :func:`build_vocab`.
        max_len: the padded length.

    Returns:
        The id matrix.

    Raises:
        ValueError: ``max_len < 1`` or no documents.
    """
    check_int(max_len, "max_len", min=1)
    if len(docs) == 0:
        raise ValueError("docs must not be empty")
    out = torch.zeros(len(docs), max_len, dtype=torch.long)
    for i, doc in enumerate(docs):
        ids = [vocab.get(t, UNK) for t in doc[:max_len]] or [UNK]
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def _is_archive(fname: str) -> bool:
    return fname.endswith((".tgz", ".tar.gz", ".zip"))


def _check_sha256(name: str, sha256: str | None) -> None:
    if sha256 is not None and (
        len(TEXT_DATASETS[name]["files"]) != 1 or not re.fullmatch(r"[0-9a-f]{64}", str(sha256))
    ):
        raise ValueError(
            f"sha256 must be 64 lowercase hex digits and is only taken for a single-archive dataset "
            f"(yelp, sst), got {sha256!r} for {name}"
        )


def _fetch(name: str, folder: Path, sha256: str | None) -> None:
    for url, digest, fname in TEXT_DATASETS[name]["files"]:
        path = download_url(url, folder / fname, sha256 or digest)
        if _is_archive(fname):
            extract_archive(path, folder)


def _split_file(name: str, folder: Path, split: str) -> Path | None:
    rel = TEXT_DATASETS[name]["splits"][split]
    for candidate in (folder / rel, folder / Path(rel).name):
        if candidate.exists():
            return candidate
    # an archive that is there but not yet extracted
    for _, _, fname in TEXT_DATASETS[name]["files"]:
        if _is_archive(fname) and (folder / fname).exists():
            extract_archive(folder / fname, folder)
            if (folder / rel).exists():
                return folder / rel
    return None


def load_text_dataset(
    name: str,
    root: str | os.PathLike[str],
    split: str = "train",
    download: bool = False,
    sha256: str | None = None,
) -> tuple[list[list[str]], Tensor]:
    """One split of ``"agnews"``, ``"yelp"`` or ``"sst"`` from ``root/<name>/``: ``(token lists, labels (N,))``.

    Looks for the extracted files (or the archive, extracted on the spot); with ``download=True``
    missing files are fetched and checked against their published SHA-256 (see
    :data:`TEXT_DATASETS`; ``sha256=`` overrides it for a single-archive dataset from another mirror).

    Args:
        name: the dataset.
        root: the data folder; the files live in ``root/<name>/``.
        split: ``"train"`` or ``"test"`` (SST also ``"val"``, its dev set).
        download: fetch missing files.
        sha256: another expected SHA-256 of the archive (yelp, sst).

    Returns:
        Tokens per document and labels counted from 0.

    Raises:
        ValueError: an unknown name or split, or a malformed ``sha256``.
        FileNotFoundError: the files are missing and ``download`` is False.
    """
    check_choice(name, "name", list(TEXT_DATASETS))
    check_choice(split, "split", list(TEXT_DATASETS[name]["splits"]))
    _check_sha256(name, sha256)
    folder = Path(root) / name
    path = _split_file(name, folder, split)
    if path is None:
        if not download:
            wanted = [f for _, _, f in TEXT_DATASETS[name]["files"]]
            raise FileNotFoundError(
                f"{name} {split} not found in {folder} (expected {TEXT_DATASETS[name]['splits'][split]} "
                f"or the download {wanted}); pass download=True to fetch it"
            )
        _fetch(name, folder, sha256)
        path = _split_file(name, folder, split)
        if path is None:
            raise FileNotFoundError(
                f"{name}: the download did not contain {TEXT_DATASETS[name]['splits'][split]}"
            )
    if name == "sst":
        return read_sst_trees(path)
    texts, labels = read_char_cnn_csv(path)
    return [tokenize(t) for t in texts], labels


class TextDataModule(SplitDataModule[TensorDataset]):
    """SST, Yelp or AG News as token ids; batches ``(tokens (B, max_len), labels (B,))``.

    The vocabulary is built on the training split (after the validation split is carved out of it
    for AG News and Yelp, which ship none); ``vocab_size`` and ``vocab`` are set by :meth:`setup`
    (build the network after it: ``AttentionTextClassifier(dm.vocab_size, num_classes=dm.num_classes)``),
    ``num_classes`` and ``dataset_name`` at construction. Nothing downloads unless ``download=True``.

    Args:
        name: ``"agnews"`` (4 classes), ``"yelp"`` (5) or ``"sst"`` (5).
        root: the data folder (files in ``root/<name>/``).
        download: fetch missing files (checked against their SHA-256).
        max_len: tokens kept per document.
        min_freq: the fewest training occurrences a token needs to get an id.
        max_vocab: the most vocabulary entries (``None``: all).
        val_fraction: the share of the training split held out for validation (AG News, Yelp).
        limit: keep the first ``limit`` documents of every split (``None``: all); for quick runs.
        batch_size: batch size.
        num_workers: DataLoader workers.
        seed: the seed of the validation split and of the shuffling.
        sha256: another expected SHA-256 of the archive (see :func:`load_text_dataset`).
    """

    def __init__(
        self,
        name: str = "sst",
        root: str = "data",
        download: bool = False,
        max_len: int = 128,
        min_freq: int = 1,
        max_vocab: int | None = 20000,
        val_fraction: float = 0.1,
        limit: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        sha256: str | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.dataset_name = check_choice(name, "name", list(TEXT_DATASETS))
        _check_sha256(self.dataset_name, sha256)
        self.root, self.download, self.sha256 = root, bool(download), sha256
        self.max_len = check_int(max_len, "max_len", min=1)
        self.min_freq = check_int(min_freq, "min_freq", min=1)
        self.max_vocab = None if max_vocab is None else check_int(max_vocab, "max_vocab", min=2)
        self.val_fraction = check_probability(val_fraction, "val_fraction", open_low=True, open_high=True)
        self.limit = None if limit is None else check_int(limit, "limit", min=1)
        self.num_classes = len(TEXT_DATASETS[self.dataset_name]["classes"])
        self.vocab: dict[str, int] = {}
        self.vocab_size = 0

    def prepare_data(self) -> None:
        if self.download:
            for split in TEXT_DATASETS[self.dataset_name]["splits"]:
                load_text_dataset(self.dataset_name, self.root, split, download=True, sha256=self.sha256)

    def _load(self, split: str) -> tuple[list[list[str]], Tensor]:
        docs, labels = load_text_dataset(self.dataset_name, self.root, split, self.download, self.sha256)
        if self.limit is not None:
            docs, labels = docs[: self.limit], labels[: self.limit]
        return docs, labels

    def build(self) -> dict[str, TensorDataset]:
        train_docs, train_labels = self._load("train")
        if "val" in TEXT_DATASETS[self.dataset_name]["splits"]:
            val_docs, val_labels = self._load("val")
        else:
            n = len(train_docs)
            n_val = max(1, round(self.val_fraction * n))
            if n_val >= n:
                raise ValueError(
                    f"{self.dataset_name}: {n} training documents leave none after a validation split"
                )
            tr, va = split_indices(n, [n - n_val, n_val], seed=self.seed)
            val_docs, val_labels = [train_docs[i] for i in va.tolist()], train_labels[va]
            train_docs, train_labels = [train_docs[i] for i in tr.tolist()], train_labels[tr]
        test_docs, test_labels = self._load("test")
        self.vocab = build_vocab(train_docs, self.min_freq, self.max_vocab)
        self.vocab_size = len(self.vocab)
        parts = {
            "train": (train_docs, train_labels),
            "val": (val_docs, val_labels),
            "test": (test_docs, test_labels),
        }
        return {s: TensorDataset(encode(d, self.vocab, self.max_len), y) for s, (d, y) in parts.items()}
