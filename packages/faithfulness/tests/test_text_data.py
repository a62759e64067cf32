"""The SST / Yelp / AG News loaders on tiny files written in each dataset's distributed format (offline)."""

from __future__ import annotations

import csv
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

import ballroom.faithfulness.text_data as text_data
from ballroom.core.training import make_trainer
from ballroom.faithfulness import (
    PAD,
    TEXT_DATASETS,
    UNK,
    AttentionTextClassifier,
    RawAttention,
    TextClassifierModule,
    TextDataModule,
    build_vocab,
    encode,
    load_text_dataset,
    read_sst_trees,
    run_violation_test,
    tokenize,
)


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()  # the char-CNN files quote every field
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return buf.getvalue()


AG_TRAIN = [
    [
        "3",
        "Wall St. Bears Claw Back Into the Black",
        "Reuters - Short-sellers, Wall Street's dwindling band.",
    ],
    ["4", "Space probe finds water", 'NASA said the "probe" found ice \\ water on Mars.'],
    ["2", "Team wins cup", "The home team won the cup, 3-1, on Sunday."],
    ["1", "Leaders meet", "World leaders met in Geneva to talk about trade."],
    ["3", "Oil prices rise", "Oil prices rose again on Monday, traders said."],
    ["2", "Striker scores twice", "The striker scored twice as the team won."],
]
AG_TEST = [["1", "Summit ends", "The summit ended with a zebra accord."]]

SST_TRAIN = [
    "(3 (2 It) (4 (4 (2 's) (4 (3 (2 a) (4 lovely)) (2 film))) (2 .)))",
    "(1 (2 The) (1 (1 (2 plot) (1 (2 is) (1 dull))) (2 .)))",
    "(0 (2 -LRB-) (0 (2 Awful) (2 -RRB-)))",
]
SST_DEV = ["(4 (4 Brilliant) (2 !))"]
SST_TEST = ["(2 (2 It) (2 (2 exists) (2 .)))", "(3 (3 Nice) (2 zebra))"]


def _write_agnews(root: Path) -> None:
    folder = root / "agnews"
    folder.mkdir(parents=True)
    (folder / "train.csv").write_text(_csv(AG_TRAIN), encoding="utf-8")
    (folder / "test.csv").write_text(_csv(AG_TEST), encoding="utf-8")


def _yelp_archive(path: Path) -> None:
    train = [["5", "Great food!\\nWill come back."], ["1", 'Cold, "bland" soup.'], ["3", "It was ok."]]
    train += [["2", "Slow service."], ["4", "Nice place, good beer."]]
    files = {
        "yelp_review_full_csv/train.csv": _csv(train),
        "yelp_review_full_csv/test.csv": _csv([["4", "Good beer and a zebra."]]),
        "yelp_review_full_csv/readme.txt": "Yelp Review Full Star Dataset\n",
    }
    with tarfile.open(path, "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def _sst_archive(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for split, lines in (("train", SST_TRAIN), ("dev", SST_DEV), ("test", SST_TEST)):
            zf.writestr(f"trees/{split}.txt", "\n".join(lines) + "\n")


def test_every_dataset_has_a_url_and_a_sha256_and_the_paper_class_counts() -> None:
    assert {n: len(d["classes"]) for n, d in TEXT_DATASETS.items()} == {"agnews": 4, "yelp": 5, "sst": 5}
    for spec in TEXT_DATASETS.values():
        for url, digest, _ in spec["files"]:
            assert url.startswith("https://") and len(digest) == 64 and int(digest, 16) >= 0


def test_agnews_csv_classes_from_zero_and_title_joined_with_description(tmp_path: Path) -> None:
    _write_agnews(tmp_path)
    docs, labels = load_text_dataset("agnews", tmp_path, "train")
    assert labels.tolist() == [2, 3, 1, 0, 2, 1]
    assert docs[0][:4] == ["wall", "st", ".", "bears"] and docs[0][-3:] == ["dwindling", "band", "."]
    assert "street's" in docs[0] and '"' in docs[1] and "\\" not in docs[1]
    docs, labels = load_text_dataset("agnews", tmp_path, "test")
    assert labels.tolist() == [0] and docs[0][0] == "summit"


def test_yelp_archive_is_extracted_and_escaped_newlines_are_not_tokens(tmp_path: Path) -> None:
    (tmp_path / "yelp").mkdir()
    _yelp_archive(tmp_path / "yelp" / "yelp_review_full_csv.tgz")
    docs, labels = load_text_dataset("yelp", tmp_path, "train")
    assert labels.tolist() == [4, 0, 2, 1, 3]
    assert docs[0] == ["great", "food", "!", "will", "come", "back", "."]
    assert docs[1] == ["cold", ",", '"', "bland", '"', "soup", "."]
    assert (tmp_path / "yelp" / "yelp_review_full_csv" / "test.csv").exists()


def test_sst_root_label_leaves_and_ptb_brackets(tmp_path: Path) -> None:
    (tmp_path / "sst").mkdir()
    _sst_archive(tmp_path / "sst" / "trainDevTestTrees_PTB.zip")
    docs, labels = load_text_dataset("sst", tmp_path, "train")
    assert labels.tolist() == [3, 1, 0]
    assert docs[0] == ["it", "'s", "a", "lovely", "film", "."]
    assert docs[2] == ["(", "awful", ")"]
    assert load_text_dataset("sst", tmp_path, "val")[1].tolist() == [4]
    (tmp_path / "bad.txt").write_text("just words\n")
    with pytest.raises(ValueError, match="not a labelled PTB tree"):
        read_sst_trees(tmp_path / "bad.txt")


def test_missing_files_ask_for_download_true_and_nothing_is_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(text_data, "download_url", refuse)
    for name in TEXT_DATASETS:
        with pytest.raises(FileNotFoundError, match="pass download=True"):
            load_text_dataset(name, tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="pass download=True"):
        TextDataModule("agnews", root=str(tmp_path)).setup()


def test_download_true_passes_the_published_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "src"
    source.mkdir()
    _sst_archive(source / "trainDevTestTrees_PTB.zip")
    calls: list[tuple[str, str]] = []

    def fake_download(url: str, dest: Path, sha256: str) -> Path:  # stands in for the network
        calls.append((url, sha256))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)  # as download_url does
        shutil.copy(source / Path(url).name, dest)
        return Path(dest)

    monkeypatch.setattr(text_data, "download_url", fake_download)
    (tmp_path / "data").mkdir()
    docs, labels = load_text_dataset("sst", tmp_path / "data", "test", download=True)
    assert calls == [(TEXT_DATASETS["sst"]["files"][0][0], TEXT_DATASETS["sst"]["files"][0][1])]
    assert labels.tolist() == [2, 3] and docs[1] == ["nice", "zebra"]
    other = "0" * 64
    load_text_dataset("sst", tmp_path / "other", "test", download=True, sha256=other)
    assert calls[-1][1] == other


def test_vocabulary_from_train_only_padding_and_truncation() -> None:
    vocab = build_vocab([["a", "b", "a"], ["c", "a", "b"]], min_freq=2)
    assert vocab == {"<pad>": PAD, "<unk>": UNK, "a": 2, "b": 3}
    ids = encode([["a", "zebra", "b", "a", "b"], [], ["b"]], vocab, max_len=4)
    assert ids.tolist() == [[2, UNK, 3, 2], [UNK, 0, 0, 0], [3, 0, 0, 0]]
    assert build_vocab([["x", "y", "y", "z"]], max_size=3) == {"<pad>": 0, "<unk>": 1, "y": 2}
    assert tokenize("Don't STOP\\nnow, 3.5!") == ["don't", "stop", "now", ",", "3", ".", "5", "!"]


@pytest.mark.parametrize("name", ["agnews", "yelp", "sst"])
def test_datamodule_batches_feed_the_classifier_and_the_violation_test(tmp_path: Path, name: str) -> None:
    if name == "agnews":
        _write_agnews(tmp_path)
    else:
        (tmp_path / name).mkdir()
        fname = TEXT_DATASETS[name]["files"][0][2]
        (_yelp_archive if name == "yelp" else _sst_archive)(tmp_path / name / fname)
    dm = TextDataModule(name, root=str(tmp_path), max_len=6, val_fraction=0.34, batch_size=4, seed=0)
    dm.setup()
    assert dm.num_classes == len(TEXT_DATASETS[name]["classes"]) and dm.vocab_size == len(dm.vocab)
    tokens, labels = next(iter(dm.train_dataloader()))
    assert tokens.dtype == torch.long and tokens.shape[1] == 6 and int(tokens.max()) < dm.vocab_size
    assert bool((tokens[:, 0] != PAD).all()) and int(labels.max()) < dm.num_classes
    # "zebra" is only in the test split: unknown there, not in the vocabulary
    assert "zebra" not in dm.vocab and bool((dm.datasets["test"].tensors[0] == UNK).any())  # type: ignore[index]
    sizes = {s: len(dm.datasets[s]) for s in ("train", "val", "test")}  # type: ignore[index]
    assert all(v >= 1 for v in sizes.values())
    net = AttentionTextClassifier(dm.vocab_size, emb=8, hidden=8, num_classes=dm.num_classes).eval()
    frame = run_violation_test(net, dm.val_dataloader(), [RawAttention()], removals=("zeros_mask",), top_k=1)
    assert set(frame["explainer"]) == {"RawAtt"} and float(frame["violation"].min()) >= 0.0
    module = TextClassifierModule(model=net.train(), num_classes=dm.num_classes)
    trainer = make_trainer(max_epochs=1, fast_dev_run=True)
    trainer.fit(module, datamodule=dm)
