"""Data: the ListOps generator and readers, the stdlib corpus, sliding windows, WikiText files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ballroom.mgk.data import (
    STDLIB_MODULES,
    CharLMDataModule,
    ListOpsDataModule,
    char_windows,
    generate_listops,
    listops_value,
    load_lra_listops,
    load_wikitext103,
    read_listops_tsv,
    read_wikitext,
    stdlib_corpus,
)


def test_listops_values() -> None:
    assert listops_value("[SM 4 [MIN 2 3 ] ]".split()) == 6
    assert listops_value("[MED 1 9 5 7 ]".split()) == 6  # median of 1 5 7 9 is 6, floored
    assert listops_value("[MAX 1 [MED 2 8 3 ] 0 ]".split()) == 3
    with pytest.raises(ValueError, match="one complete expression"):
        listops_value("[MAX 1 2".split())


def test_generator_is_seeded_and_respects_the_length_window() -> None:
    a, la = generate_listops(200, seed=3)
    b, lb = generate_listops(200, seed=3)
    assert a == b and la == lb
    assert all(20 <= len(e) <= 100 for e in a)
    assert all(listops_value(e) == y for e, y in zip(a, la))
    assert len(set(la)) == 10


def _write_tsv(path: Path) -> None:
    path.write_text("Source\tTarget\n( ( [MAX 2 ) 9 ) ]\t9\n( ( ( [SM 4 ) 5 ) 3 ) ]\t2\n")


def test_lra_listops_tsv_offline(tmp_path: Path) -> None:
    for name in ("basic_train.tsv", "basic_val.tsv", "basic_test.tsv"):
        _write_tsv(tmp_path / name)
    exprs, labels = read_listops_tsv(tmp_path / "basic_train.tsv")
    assert exprs[0] == ["[MAX", "2", "9", "]"] and labels == [9, 2]
    assert load_lra_listops(tmp_path) == tmp_path
    dm = ListOpsDataModule(root=str(tmp_path), max_len=8, batch_size=2)
    dm.setup()
    x, y, pad = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 5) and pad.sum() == 1 and sorted(y.tolist()) == [2, 9]
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_lra_listops(tmp_path / "missing")
    with pytest.raises(ValueError, match="sha256"):
        load_lra_listops(tmp_path / "missing", download=True)
    (tmp_path / "bad.tsv").write_text("Source\tTarget\n[FOO 1 ]\t3\n")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        read_listops_tsv(tmp_path / "bad.tsv")


def test_procedural_datamodule_batches_are_trimmed() -> None:
    dm = ListOpsDataModule(n_train=64, n_test=32, batch_size=16)
    dm.setup()
    x, _y, pad = next(iter(dm.train_dataloader()))
    assert x.shape[0] == 16 and x.shape[1] == int((~pad).sum(1).max()) and torch.equal(pad, x == 0)
    assert 0.0 < dm.majority_rate() < 0.5


def test_stdlib_corpus_is_read_from_the_interpreter() -> None:
    text = stdlib_corpus()
    assert len(STDLIB_MODULES) == 16 and "class ArgumentParser" in text
    assert 600_000 < len(text) < 1_000_000
    dm = CharLMDataModule(context=32, batch_size=4, steps_per_epoch=3, val_chars=200)
    assert dm.vocab_size == len(set(text))
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 32) and torch.equal(x[:, 1:], y[:, :-1])


@pytest.mark.parametrize("stride", [1, 3, 8])
def test_sliding_windows_score_every_target_once_with_full_context(stride: int) -> None:
    ids = torch.arange(1, 31)  # 30 tokens, 29 targets
    x, y = char_windows(ids, 8, stride)
    scored = y[y != -100]
    assert sorted(scored.tolist()) == list(range(2, 31))
    assert torch.equal(y[y != -100], x[y != -100] + 1)  # the target follows its input
    # after the first window, a target sits at the end of a full context
    _rows, cols = torch.nonzero(y[1:] != -100, as_tuple=True)
    assert int(cols.min()) >= 8 - stride
    if stride == 1:
        assert (y[1:] != -100).sum(1).eq(1).all()  # the paper's protocol: only the last position


def test_wikitext_reader_offline(tmp_path: Path) -> None:
    for split in ("train", "valid", "test"):
        (tmp_path / f"wiki.{split}.tokens").write_text(" = Valkyria = \n\n Senjo no Valkyria 3 @-@ \n")
    assert read_wikitext(tmp_path / "wiki.train.tokens") == [
        "=", "Valkyria", "=", "<eos>", "Senjo", "no", "Valkyria", "3", "@-@", "<eos>"]  # fmt: skip
    assert load_wikitext103(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_wikitext103(tmp_path / "none")


def test_wikitext_download_checks_the_published_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``download=True`` asks core's downloader for the authors' URL with the pinned SHA-256 (or the
    caller's), then reads the archive's real layout ``wikitext-103/wiki.*.tokens``; no network."""
    import zipfile

    import ballroom.core.data as core_data
    from ballroom.mgk.data import WIKITEXT103_SHA256, WIKITEXT103_URL

    calls: list[tuple[str, str | None]] = []

    def fake_download(url: str, dest: Path, sha256: str | None = None, **_: object) -> Path:
        calls.append((url, sha256))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)  # as core does
        with zipfile.ZipFile(dest, "w") as zf:
            for split in ("train", "valid", "test"):
                zf.writestr(f"wikitext-103/wiki.{split}.tokens", " = A = \n b c \n")
        return Path(dest)

    monkeypatch.setattr(core_data, "download_url", fake_download)
    root = tmp_path / "wt"
    folder = load_wikitext103(root, download=True)
    assert folder == root / "wikitext-103" and read_wikitext(folder / "wiki.valid.tokens")[-1] == "<eos>"
    assert calls == [(WIKITEXT103_URL, WIKITEXT103_SHA256)] and len(WIKITEXT103_SHA256) == 64
    load_wikitext103(tmp_path / "other", download=True, sha256="0" * 64)
    assert calls[-1] == (WIKITEXT103_URL, "0" * 64)
