"""ListOps generator and the character corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ballroom.flowformer.data import (
    LISTOPS_VOCAB,
    CharLMDataModule,
    ListOpsDataModule,
    evaluate_listops,
    generate_listops,
    load_lra_listops,
    read_listops_tsv,
)


def test_listops_evaluation_by_hand() -> None:
    assert evaluate_listops("[MAX 4 3 [MIN 2 3 ] 1 0 ]".split()) == 4
    assert evaluate_listops("[SM 9 8 [MED 1 5 7 ] ]".split()) == (9 + 8 + 5) % 10
    assert evaluate_listops("[MED 1 2 3 4 ]".split()) == 2  # int(median 2.5)
    with pytest.raises(ValueError, match="malformed"):
        evaluate_listops("[MAX 1 2".split())


def test_generator_lengths_labels_and_seed() -> None:
    exprs, labels = generate_listops(200, min_len=20, max_len=100, seed=3)
    assert all(20 < len(e) < 100 for e in exprs) and all(0 <= y <= 9 for y in labels)
    assert all(evaluate_listops(e) == y for e, y in zip(exprs, labels))
    assert generate_listops(200, seed=3) == (exprs, labels)
    assert all(t in LISTOPS_VOCAB for e in exprs for t in e)


def test_listops_datamodule() -> None:
    dm = ListOpsDataModule(n_train=300, n_test=50, batch_size=16)
    x, _y, mask = next(iter(dm.train_dataloader()))
    longest = int((~mask).sum(1).max())
    assert x.shape == (16, longest) and 21 <= longest <= 99  # trimmed to the batch's longest sequence
    assert mask.dtype == torch.bool and torch.equal(mask, x == 0) and not mask[:, -1].all()
    assert 0.0 < dm.majority_rate < 0.5


def test_char_corpus_windows() -> None:
    dm = CharLMDataModule(context=32, batch_size=4, steps_per_epoch=3, modules=("bisect", "heapq"))
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 32) and torch.equal(x[:, 1:], y[:, :-1])
    assert dm.vocab_size > 50 and len(list(dm.train_dataloader())) == 3
    vx, vy = next(iter(dm.val_dataloader()))
    assert torch.equal(vx[:, 1:], vy[:, :-1])


def _write_lra(folder: Path, exprs: list[list[str]], labels: list[int]) -> None:
    """ListOps TSVs in the LRA release's format: tree notation with parentheses, ``Source<TAB>Target``."""
    folder.mkdir(parents=True)
    rows = ["Source\tTarget"]
    for e, y in zip(exprs, labels):
        rows.append("( " + " ( ".join(e[:2]) + " ) " + " ".join(e[2:]) + " )\t" + str(y))
    for name in ("basic_train.tsv", "basic_val.tsv", "basic_test.tsv"):
        (folder / name).write_text("\n".join(rows) + "\n")


def test_lra_tsv_reader_and_datamodule(tmp_path: Path) -> None:
    exprs, labels = generate_listops(40, seed=5)
    _write_lra(tmp_path / "lra_release" / "listops-1000", exprs, labels)
    folder = load_lra_listops(tmp_path)
    got, ys = read_listops_tsv(folder / "basic_train.tsv")
    assert got == exprs and ys == labels
    dm = ListOpsDataModule(root=str(tmp_path), batch_size=8)
    x, y, mask = next(iter(dm.test_dataloader()))
    assert x.shape == (8, max(map(len, exprs[:8]))) and torch.equal(y, torch.tensor(labels[:8]))
    assert [LISTOPS_VOCAB[i] for i in x[0][~mask[0]].tolist()] == exprs[0]
    with pytest.raises(ValueError, match="max_len=30"):
        ListOpsDataModule(root=str(tmp_path), max_len=30).setup()


def test_lra_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_lra_listops(tmp_path)
    with pytest.raises(ValueError, match="sha256"):
        load_lra_listops(tmp_path, download=True)
    bad = tmp_path / "bad.tsv"
    bad.write_text("Source\tTarget\n( [MAX 1 X ] )\t3\n")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        read_listops_tsv(bad)
