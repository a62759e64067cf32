"""ListOps: the evaluator, the generator's window and stream, the encoder, the LRA reader, the DataModule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.core import data as D


def test_listops_value_on_hand_computed_expressions() -> None:
    assert D.listops_value("[SM 4 [MIN 2 3 ] ]".split()) == 6
    assert D.listops_value("[MED 1 9 5 7 ]".split()) == 6  # median of 1 5 7 9 is 6.0
    assert D.listops_value("[MED 1 2 3 4 ]".split()) == 2  # int(2.5): the floor
    assert D.listops_value("[MAX 1 [MED 2 8 3 ] 0 ]".split()) == 3
    assert D.listops_value(["7"]) == 7
    for bad, match in [("[MAX 1 2", "not one complete"), ("1 ]", "unbalanced"), ("[MIN ]", "without arguments"),
                       ("[MAX 1 X ]", "unknown ListOps token 'X'"), ("1 2", "not one complete")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            D.listops_value(bad.split())


def _brute_force_value(tokens: list[str]) -> int:
    # an independent evaluator: rewrite the innermost operator until one digit is left
    toks = list(tokens)
    while len(toks) > 1:
        close = toks.index("]")
        open_ = max(i for i in range(close) if toks[i].startswith("["))
        args = [int(t) for t in toks[open_ + 1 : close]]
        op = toks[open_]
        v = {"[MIN": min(args), "[MAX": max(args), "[SM": sum(args) % 10, "[MED": int(np.median(args))}[op]
        toks[open_ : close + 1] = [str(v)]
    return int(toks[0])


@pytest.mark.parametrize(("leaf_prob", "operator_root"), [(0.6, True), (0.75, False)])
def test_generator_window_labels_and_seed(leaf_prob: float, operator_root: bool) -> None:
    kw = {"min_len": 10, "max_len": 40, "leaf_prob": leaf_prob, "operator_root": operator_root}
    exprs, labels = D.generate_listops(300, seed=4, **kw)
    assert len(exprs) == len(labels) == 300
    assert all(10 <= len(e) <= 40 for e in exprs)
    assert labels == [_brute_force_value(e) for e in exprs]
    assert D.generate_listops(300, seed=4, **kw) == (exprs, labels)
    assert D.generate_listops(300, seed=5, **kw) != (exprs, labels)
    assert len(set(labels)) == 10  # every class occurs
    depth = [max(np.cumsum([t.startswith("[") - (t == "]") for t in e])) for e in exprs]
    assert max(depth) <= 6


def test_generator_root_and_leaf_probability() -> None:
    # window [1, 1]: only single digits survive, which an operator root never gives
    with pytest.raises(RuntimeError, match="drew only 0 of 3"):
        D.generate_listops(3, min_len=1, max_len=1, operator_root=True, max_tries=200)
    digits, _ = D.generate_listops(50, min_len=1, max_len=1, operator_root=False, leaf_prob=0.75)
    assert all(len(e) == 1 for e in digits)
    # leaf_prob 0: every node above max_depth is an operator, so the shortest tree has 2^max_depth leaves
    exprs, _ = D.generate_listops(5, max_depth=2, min_len=1, max_len=10_000, leaf_prob=0.0)
    assert all(sum(t.isdigit() for t in e) >= 4 for e in exprs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be an integer"),
        ({"n": 3, "min_len": 50, "max_len": 10}, ValueError, "min_len <= max_len"),
        ({"n": 3, "max_args": 1}, ValueError, "max_args"),
        ({"n": 3, "leaf_prob": 1.5}, ValueError, "leaf_prob"),
        ({"n": 2.5}, TypeError, "n must be an integer"),
    ],
)
def test_generator_rejects_bad_arguments(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        D.generate_listops(**kwargs)  # type: ignore[arg-type]


def test_encode_and_trim_padding() -> None:
    exprs = [["[MAX", "1", "2", "]"], ["3"]]
    ids, pad = D.encode_listops(exprs, 6)
    assert ids.shape == (2, 6) and ids.dtype == torch.int64 and pad.dtype == torch.bool
    assert [D.LISTOPS_VOCAB[i] for i in ids[0, :4].tolist()] == exprs[0]
    assert pad.sum(1).tolist() == [2, 5]
    x, y, p = D.trim_padding([(ids[i], torch.tensor(i), pad[i]) for i in range(2)])
    assert torch.equal(p, pad[:, :4])
    assert x.shape == (2, 4) and torch.equal(x, ids[:, :4]) and torch.equal(y, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"exprs\[0\] has 4 tokens, more than length=3"):
        D.encode_listops(exprs, 3)
    with pytest.raises(ValueError, match="unknown token 'X'"):
        D.encode_listops([["X"]], 3)


def _write_lra(folder: Path, exprs: list[list[str]], labels: list[int]) -> None:
    # the LRA files write the tree with parentheses: "( ( [MAX 2 ) 9 ) ]"-style tokens to drop
    folder.mkdir(parents=True)
    rows = ["Source\tTarget"] + ["( " + " ( ".join(e) + " )\t" + str(y) for e, y in zip(exprs, labels)]
    for name in D.LISTOPS_FILES.values():
        (folder / name).write_text("\n".join(rows) + "\n")


def test_lra_reader_and_datamodule_offline(tmp_path: Path) -> None:
    exprs, labels = D.generate_listops(30, seed=1)
    _write_lra(tmp_path / "lra_release" / "listops-1000", exprs, labels)
    folder = D.load_lra_listops(tmp_path)
    assert folder == tmp_path / "lra_release" / "listops-1000"
    assert D.read_listops_tsv(folder / "basic_val.tsv") == (exprs, labels)
    dm = D.ListOpsDataModule(root=tmp_path, batch_size=8)
    x, y, pad = next(iter(dm.test_dataloader()))
    assert x.shape == (8, max(map(len, exprs[:8]))) and torch.equal(y, torch.tensor(labels[:8]))
    assert [D.LISTOPS_VOCAB[i] for i in x[0][~pad[0]].tolist()] == exprs[0]
    with pytest.raises(ValueError, match="more than max_len=12"):
        D.ListOpsDataModule(root=tmp_path, max_len=12).setup()
    with pytest.raises(FileNotFoundError, match="download=True"):
        D.load_lra_listops(tmp_path / "empty")
    with pytest.raises(ValueError, match="sha256"):
        D.load_lra_listops(tmp_path / "empty", download=True)
    bad = tmp_path / "bad.tsv"
    for body in (
        "Source\tTarget\n( [MAX 1 X ] )\t3\n",
        "Source\tTarget\n[MAX 1 2 ]\t12\n",
        "Source\tTarget\n[MAX 1 ]\n",
    ):
        bad.write_text(body)
        with pytest.raises(ValueError, match="bad.tsv:2"):
            D.read_listops_tsv(bad)
    bad.write_text("src\ttgt\n")
    with pytest.raises(ValueError, match="header"):
        D.read_listops_tsv(bad)


def test_procedural_datamodule_splits_and_generator_hook() -> None:
    dm = D.ListOpsDataModule(n_train=60, n_test=20, min_len=10, max_len=30, seed=3, batch_size=16)
    x, y, pad = dm.tensors("train")
    assert x.shape == (60, 30) and y.shape == (60,) and torch.equal(pad, x == 0)
    assert dm.dataset("val") is dm.dataset("test") and len(dm.dataset("test")) == 20
    exprs, labels = D.generate_listops(80, min_len=10, max_len=30, seed=3)
    assert y.tolist() == labels[:60] and torch.equal(
        dm.tensors("test")[0], D.encode_listops(exprs[60:], 30)[0]
    )
    xb, _, pb = next(iter(dm.train_dataloader()))
    assert xb.shape[1] == int((~pb).sum(1).max()) <= 30

    class Constant(D.ListOpsDataModule):
        def generate(self, n: int) -> tuple[list[list[str]], list[int]]:
            return [["[SM", "4", "5", "]"]] * n, [9] * n

    assert Constant(n_train=3, n_test=2).tensors("train")[1].tolist() == [9, 9, 9]
    for kwargs, match in [({"n_train": 0}, "n_train"), ({"leaf_prob": 2.0}, "leaf_prob"), ({"max_depth": 0}, "max_depth"),
                          ({"max_args": 1}, "max_args"), ({"min_len": 50, "max_len": 10}, "min_len <= max_len")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):  # refused when the module is made, not at setup()
            D.ListOpsDataModule(**kwargs)  # type: ignore[arg-type]


def test_stdlib_corpus_is_the_modules_source() -> None:
    import inspect
    import textwrap

    text = D.stdlib_corpus(("textwrap", "bisect"))
    assert text.startswith(inspect.getsource(textwrap)) and text.endswith(
        inspect.getsource(__import__("bisect"))
    )
    assert D.STDLIB_MODULES[0] == "argparse" and len(D.STDLIB_MODULES) == 16
