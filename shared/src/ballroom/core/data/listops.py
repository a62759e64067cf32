"""ListOps: procedural expressions, the LRA release's TSVs, and a DataModule over either.

ListOps (Nangia & Bowman, 2018; the Long Range Arena task) asks for the value of a nested expression
over the digits 0-9 with four operators: ``[MIN``, ``[MAX``, ``[MED`` (``int(np.median)``: the floor
of the mean of the two middle values for an even count) and ``[SM`` (sum modulo 10), each closed by
``]``; the label is the root's value (10 classes). Every package that trains on ListOps uses these
pieces, so its tokens, ids, padding and the LRA reader agree across packages:

- :func:`generate_listops`: seeded random trees; the leaf probability, whether the root is always an
  operator and the (inclusive) token-length window are parameters, because published generators
  differ in them;
- :func:`listops_value`, :func:`encode_listops`, :func:`trim_padding`;
- :func:`read_listops_tsv`, :func:`load_lra_listops` (download only when asked, with a checksum);
- :class:`ListOpsDataModule`: ``(tokens (B, L), label (B,), padding (B, L))`` batches, trimmed to the
  longest sequence of each batch.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from ballroom.core.data._base import SplitDataModule
from ballroom.core.validate import check_int, check_probability

__all__ = [
    "LISTOPS_FILES",
    "LISTOPS_OPERATORS",
    "LISTOPS_VOCAB",
    "LRA_URL",
    "ListOpsDataModule",
    "encode_listops",
    "generate_listops",
    "listops_value",
    "load_lra_listops",
    "read_listops_tsv",
    "trim_padding",
]

LISTOPS_OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
#: token ids: 0 padding, 1-10 the digits 0-9, 11-14 the operators, 15 the closing bracket
LISTOPS_VOCAB = ("<pad>", *(str(i) for i in range(10)), *LISTOPS_OPERATORS, "]")
_IDS = {t: i for i, t in enumerate(LISTOPS_VOCAB)}

#: the Long Range Arena release (ListOps TSVs under ``lra_release/listops-1000``); about 7 GB
LRA_URL = "https://storage.googleapis.com/long-range-arena/lra_release.gz"
LISTOPS_FILES = {"train": "basic_train.tsv", "val": "basic_val.tsv", "test": "basic_test.tsv"}


def listops_value(tokens: Sequence[str]) -> int:
    """Value of a token list, e.g. ``["[SM", "4", "[MIN", "2", "3", "]", "]"]`` -> 6.

    Args:
        tokens: the expression's tokens (digits, operators and ``"]"``).

    Returns:
        The value, 0..9.

    Raises:
        ValueError: the tokens do not form exactly one expression (naming it).
    """
    stack: list[list[Any]] = [[]]
    for tok in tokens:
        if tok in LISTOPS_OPERATORS:
            stack.append([tok])
        elif tok == "]":
            if len(stack) < 2:
                raise ValueError(f"unbalanced ']' in the ListOps expression {' '.join(tokens)}")
            op, *args = stack.pop()
            vals = sorted(int(a) for a in args)
            if not vals:
                raise ValueError(f"operator {op} without arguments in {' '.join(tokens)}")
            if op == "[MIN":
                out = vals[0]
            elif op == "[MAX":
                out = vals[-1]
            elif op == "[MED":
                out = int(np.median(vals))
            else:
                out = sum(vals) % 10
            stack[-1].append(out)
        elif tok in _IDS and tok != "<pad>":
            stack[-1].append(int(tok))
        else:
            raise ValueError(f"unknown ListOps token {tok!r} in {' '.join(tokens)}")
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError(f"malformed ListOps expression (not one complete expression): {' '.join(tokens)}")
    return int(stack[0][0])


def _tree(
    rng: np.random.Generator, depth: int, max_depth: int, max_args: int, leaf: float, root_op: bool
) -> list[str]:
    # one uniform draw decides leaf vs operator, except at max_depth (always a leaf) and at an
    # operator root (always an operator): neither draws, so both generators' streams are reproduced
    if depth >= max_depth or ((depth > 0 or not root_op) and rng.random() < leaf):
        return [str(int(rng.integers(10)))]
    out = [LISTOPS_OPERATORS[int(rng.integers(len(LISTOPS_OPERATORS)))]]
    for _ in range(int(rng.integers(2, max_args + 1))):
        out += _tree(rng, depth + 1, max_depth, max_args, leaf, root_op)
    return [*out, "]"]


def generate_listops(
    n: int,
    *,
    max_depth: int = 6,
    max_args: int = 5,
    min_len: int = 20,
    max_len: int = 100,
    leaf_prob: float = 0.6,
    operator_root: bool = True,
    seed: int = 0,
    max_tries: int | None = None,
) -> tuple[list[list[str]], list[int]]:
    """``n`` seeded random expressions whose token length lies in ``[min_len, max_len]``, and their labels.

    A node is a digit with probability ``leaf_prob`` (always at ``max_depth``; never at the root when
    ``operator_root``), otherwise a uniformly drawn operator with 2..``max_args`` arguments. Trees
    outside the length window are redrawn.

    Args:
        n: the number of expressions (>= 1).
        max_depth: the deepest operator nesting (the root is depth 0), >= 1.
        max_args: the most arguments per operator (at least 2 are drawn), >= 2.
        min_len: the shortest token length kept (inclusive), >= 0.
        max_len: the longest token length kept (inclusive), >= ``min_len``.
        leaf_prob: the probability that a node below ``max_depth`` is a digit, in [0, 1].
        operator_root: the root is always an operator (no single-digit expressions).
        seed: the seed of ``np.random.default_rng``.
        max_tries: the most trees drawn before giving up (default ``1000 n``).

    Returns:
        ``(expressions, labels)``: ``n`` token lists and their values 0..9.

    Raises:
        ValueError: an argument outside the ranges above.
        RuntimeError: the window was not filled within ``max_tries`` draws.
    """
    n = check_int(n, "n", min=1)
    max_depth = check_int(max_depth, "max_depth", min=1)
    max_args = check_int(max_args, "max_args", min=2)
    min_len, max_len = check_int(min_len, "min_len"), check_int(max_len, "max_len")
    if not 0 <= min_len <= max_len or max_len < 1:
        raise ValueError(
            f"need 0 <= min_len <= max_len and max_len >= 1, got min_len={min_len}, max_len={max_len}"
        )
    leaf_prob = check_probability(leaf_prob, "leaf_prob")
    tries = 1000 * n if max_tries is None else check_int(max_tries, "max_tries", min=1)
    rng = np.random.default_rng(seed)
    exprs: list[list[str]] = []
    for _ in range(tries):
        toks = _tree(rng, 0, max_depth, max_args, leaf_prob, bool(operator_root))
        if min_len <= len(toks) <= max_len:
            exprs.append(toks)
            if len(exprs) == n:
                return exprs, [listops_value(e) for e in exprs]
    raise RuntimeError(
        f"drew only {len(exprs)} of {n} expressions with lengths in [{min_len}, {max_len}] in {tries} tries; "
        "widen the window or change max_depth/max_args/leaf_prob"
    )


def encode_listops(exprs: Sequence[Sequence[str]], length: int) -> tuple[Tensor, Tensor]:
    """Token ids right-padded to ``length`` and the padding mask.

    Args:
        exprs: token lists, each at most ``length`` long.
        length: the padded width.

    Returns:
        ``ids (N, length)`` int64 (0 = padding, see :data:`LISTOPS_VOCAB`) and ``padding (N, length)``
        bool (True at padding).

    Raises:
        ValueError: an expression longer than ``length`` or an unknown token.
    """
    length = check_int(length, "length", min=1)
    ids = torch.zeros(len(exprs), length, dtype=torch.int64)
    for i, toks in enumerate(exprs):
        if len(toks) > length:
            raise ValueError(f"exprs[{i}] has {len(toks)} tokens, more than length={length}")
        try:
            ids[i, : len(toks)] = torch.tensor([_IDS[t] for t in toks], dtype=torch.int64)
        except KeyError as err:
            raise ValueError(f"exprs[{i}] has the unknown token {err.args[0]!r}") from None
    return ids, ids == 0


def trim_padding(batch: Sequence[tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
    """Collate ``(tokens, label, padding)`` samples and drop the columns that are padding in every row.

    Right-padded batches become as long as their longest sequence, not the data set's padded width:
    padded positions leave every masked sum, so outputs are unchanged and short batches run faster.

    Args:
        batch: samples ``(tokens (L,), label (), padding (L,))``, as a DataLoader hands them over.

    Returns:
        ``(tokens (B, L'), label (B,), padding (B, L'))`` with ``L'`` the longest unpadded length (>= 1).
    """
    x, y, pad = (torch.stack(t) for t in zip(*batch, strict=True))
    keep = max(int((~pad).sum(1).max()), 1)
    return x[:, :keep], y, pad[:, :keep]


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
            0..9 (naming the file and line).
    """
    exprs: list[list[str]] = []
    labels: list[int] = []
    with open(path, newline="") as fh:
        rows = csv.reader(fh, delimiter="\t")
        header = next(rows, None)
        if header is None or [h.strip() for h in header[:2]] != ["Source", "Target"]:
            raise ValueError(f"{path}: expected the header 'Source<TAB>Target', got {header!r}")
        for line, row in enumerate(rows, start=2):
            if len(row) < 2:
                raise ValueError(f"{path}:{line}: expected 2 tab-separated columns, got {row!r}")
            toks = [t for t in row[0].split() if t not in ("(", ")")]
            bad = [t for t in toks if t not in _IDS or t == "<pad>"]
            label = row[1].strip()
            if bad or not (label.isdigit() and 0 <= int(label) <= 9):
                raise ValueError(f"{path}:{line}: unknown tokens {bad[:3]} or label {label!r} outside 0..9")
            exprs.append(toks)
            labels.append(int(label))
    return exprs, labels


def load_lra_listops(root: str | os.PathLike[str], download: bool = False, sha256: str | None = None) -> Path:
    """The folder holding the LRA ListOps TSVs (:data:`LISTOPS_FILES`) under ``root``.

    Looks in ``root``, ``root/listops-1000`` and ``root/lra_release/listops-1000``. With
    ``download=True`` a missing release is fetched from :data:`LRA_URL` (about 7 GB) and extracted
    through core's safe extractor; Google publishes no checksum, so pass the ``sha256`` of the
    archive you trust (:func:`ballroom.core.data.sha256sum` computes it).

    Args:
        root: the folder to look in (and to download into).
        download: fetch the release when the TSVs are missing.
        sha256: the archive's expected SHA-256 (required with ``download``).

    Returns:
        The folder with the three TSVs.

    Raises:
        FileNotFoundError: the TSVs are missing and ``download`` is False.
        ValueError: ``download`` without ``sha256``.
    """
    root = Path(root)
    for folder in (root, root / "listops-1000", root / "lra_release" / "listops-1000"):
        if all((folder / f).is_file() for f in LISTOPS_FILES.values()):
            return folder
    if not download:
        raise FileNotFoundError(
            f"no {sorted(LISTOPS_FILES.values())} under {root} (or its listops-1000 folders); "
            "pass download=True and sha256=... to fetch the LRA release"
        )
    if sha256 is None:
        raise ValueError(
            "sha256 must be given to download lra_release.gz (no checksum is published); pass the hex "
            "digest of the archive you trust (ballroom.core.data.sha256sum computes it)"
        )
    from ballroom.core.data.download import download_url, extract_archive

    extract_archive(download_url(LRA_URL, root / "lra_release.gz", sha256=sha256), root)
    return load_lra_listops(root)


class ListOpsDataModule(SplitDataModule[TensorDataset]):
    """ListOps batches ``(tokens (B, L) int64, label (B,) int64, padding (B, L) bool)``, trimmed per batch.

    Procedural by default (:meth:`generate`, the test split doubling as validation); with ``root``
    set, the LRA release's TSVs (train/val/test as shipped, padded to ``max_len``; a longer sequence
    is refused). Subclasses change the generator by overriding :meth:`generate`.

    Args:
        n_train: procedural training expressions (>= 1).
        n_test: procedural test expressions, also the validation set (>= 1).
        max_depth: see :func:`generate_listops`.
        max_args: see :func:`generate_listops`.
        min_len: the shortest generated token length (inclusive).
        max_len: the longest generated token length (inclusive); also the padded width.
        leaf_prob: see :func:`generate_listops`.
        operator_root: see :func:`generate_listops`.
        batch_size: the batch size of every dataloader.
        seed: the generator's seed and the training shuffle's.
        num_workers: dataloader worker processes.
        root: the folder of the LRA TSVs (``None``: procedural data).
        download: fetch the LRA release into ``root`` when the TSVs are missing.
        sha256: the archive's SHA-256 (required with ``download``).
    """

    vocab_size = len(LISTOPS_VOCAB)
    num_classes = 10
    collate_fn = trim_padding  # batches trimmed to their longest sequence

    def __init__(
        self,
        n_train: int = 4000,
        n_test: int = 500,
        max_depth: int = 6,
        max_args: int = 5,
        min_len: int = 20,
        max_len: int = 100,
        leaf_prob: float = 0.6,
        operator_root: bool = True,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        root: str | os.PathLike[str] | None = None,
        download: bool = False,
        sha256: str | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.n_train, self.n_test = check_int(n_train, "n_train", min=1), check_int(n_test, "n_test", min=1)
        self.max_depth = check_int(max_depth, "max_depth", min=1)
        self.max_args = check_int(max_args, "max_args", min=2)
        self.min_len, self.max_len = (
            check_int(min_len, "min_len", min=0),
            check_int(max_len, "max_len", min=1),
        )
        if root is None and self.min_len > self.max_len:  # (LRA files: max_len is only the padded width)
            raise ValueError(f"need min_len <= max_len, got min_len={min_len}, max_len={max_len}")
        self.leaf_prob = check_probability(leaf_prob, "leaf_prob")
        self.operator_root = bool(operator_root)
        self.root, self.download, self.sha256 = root, download, sha256

    def generate(self, n: int) -> tuple[list[list[str]], list[int]]:
        """``n`` procedural expressions and labels from this module's generator settings.

        Args:
            n: how many (``n_train + n_test``: the first ``n_train`` train).

        Returns:
            ``(expressions, labels)`` as :func:`generate_listops` gives them.
        """
        return generate_listops(
            n,
            max_depth=self.max_depth,
            max_args=self.max_args,
            min_len=self.min_len,
            max_len=self.max_len,
            leaf_prob=self.leaf_prob,
            operator_root=self.operator_root,
            seed=self.seed,
        )

    def build(self) -> dict[str, TensorDataset]:
        if self.root is not None:
            folder = load_lra_listops(self.root, self.download, self.sha256)
            out: dict[str, TensorDataset] = {}
            for split, name in LISTOPS_FILES.items():
                exprs, labels = read_listops_tsv(folder / name)
                longest = max(len(e) for e in exprs)
                if longest > self.max_len:
                    raise ValueError(
                        f"{name}: a sequence has {longest} tokens, more than max_len={self.max_len}"
                    )
                ids, pad = encode_listops(exprs, self.max_len)
                out[split] = TensorDataset(ids, torch.tensor(labels), pad)
            return out
        exprs, labels = self.generate(self.n_train + self.n_test)
        ids, pad = encode_listops(exprs, self.max_len)
        y = torch.tensor(labels)
        n = self.n_train
        test = TensorDataset(ids[n:], y[n:], pad[n:])
        return {"train": TensorDataset(ids[:n], y[:n], pad[:n]), "val": test, "test": test}
