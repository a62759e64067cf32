"""ballroom.core.data: splits, digits, rotation, the standard file formats, downloads, extraction."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import math
import pickle
import struct
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.core import data as D


# ---------------------------------------------------------------- splits and digits
def test_split_indices_disjoint_covering_and_seeded() -> None:
    parts = D.split_indices(100, (0.7, 0.1, 0.2), seed=3)
    assert [len(p) for p in parts] == [70, 10, 20]
    allidx = torch.cat(parts)
    assert sorted(allidx.tolist()) == list(range(100))
    again = D.split_indices(100, (0.7, 0.1, 0.2), seed=3)
    assert all(torch.equal(a, b) for a, b in zip(parts, again))
    other = D.split_indices(100, (0.7, 0.1, 0.2), seed=4)
    assert not torch.equal(parts[0], other[0])
    assert [len(p) for p in D.split_indices(10, (6, 1, 3))] == [6, 1, 3]
    with pytest.raises(ValueError, match="sum to n"):
        D.split_indices(10, (6, 1, 2))
    with pytest.raises(ValueError, match="sum to 1"):
        D.split_indices(10, (0.5, 0.1))


def test_digits_datamodule_splits_shapes_and_normalisation() -> None:
    dm = D.DigitsDataModule(size=16, split=(0.7, 0.1, 0.2), seed=1, batch_size=32)
    dm.setup()
    assert dm.datasets is not None
    sizes = {s: len(dm.datasets[s]) for s in ("train", "val", "test")}
    assert sizes == {"train": 1258, "val": 180, "test": 359}
    idx = [set(dm.indices[s].tolist()) for s in ("train", "val", "test")]
    assert not (idx[0] & idx[1]) and not (idx[0] & idx[2]) and not (idx[1] & idx[2])
    x, y = dm.datasets["train"].tensors
    assert x.shape == (1258, 1, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-5) and float(x.std()) == pytest.approx(1.0, abs=1e-4)
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (32, 1, 16, 16) and yb.shape == (32,)
    dm2 = D.DigitsDataModule(size=16, seed=1)
    dm2.setup()
    assert dm2.datasets is not None
    assert torch.equal(dm2.datasets["test"].tensors[0], dm.datasets["test"].tensors[0])
    # shuffling is seeded: two loaders of the same module give the same first batch
    assert torch.equal(next(iter(dm.train_dataloader()))[1], yb)


def test_load_digits_images_resize_and_pad() -> None:
    x, y = D.load_digits_images()
    assert x.shape == (1797, 1, 8, 8) and float(x.max()) == 1.0 and float(x.min()) == 0.0
    assert y.bincount().tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    x28, _ = D.load_digits_images(size=28, pad=2)
    assert x28.shape == (1797, 1, 28, 28)
    assert float(x28[..., :2, :].abs().max()) == 0.0 and float(x28[..., :, -2:].abs().max()) == 0.0
    with pytest.raises(ValueError, match="size - 2 \\* pad"):
        D.load_digits_images(size=4, pad=2)


def test_rotate_images_right_angles_are_exact_and_match_interpolation() -> None:
    x, _ = D.load_digits_images(size=16)
    x = x[:8]
    r90 = D.rotate_images(x, math.pi / 2)
    assert torch.equal(r90, torch.rot90(x, 1, dims=(-2, -1)))  # exact permutation
    assert torch.equal(D.rotate_images(r90, -math.pi / 2), x)
    assert torch.equal(D.rotate_images(x, 2 * math.pi), x)
    # the interpolating path turns the same way as the exact one
    near = D.rotate_images(x, math.pi / 2 + 1e-6)
    assert float((near - r90).abs().max()) < 1e-4
    # per-image angles
    angles = torch.tensor([0.0, math.pi / 2, math.pi, 0.3, 0.3, 0.0, 0.0, 0.0])
    out = D.rotate_images(x, angles)
    assert torch.equal(out[2], torch.rot90(x[2], 2, dims=(-2, -1)))
    assert torch.equal(out[3], D.rotate_images(x[3:4], 0.3)[0])
    with pytest.raises(ValueError, match="one angle per image"):
        D.rotate_images(x, torch.zeros(3))
    with pytest.raises(ValueError, match="square"):
        D.rotate_images(torch.zeros(1, 1, 4, 5), 0.1)


def test_rotated_digits_seeded_angles_and_test_only_option() -> None:
    dm = D.RotatedDigitsDataModule(size=16, pad=2, seed=5)
    dm.setup()
    assert dm.datasets is not None
    for split in ("train", "val", "test"):
        a = dm.angles[split]
        assert a.shape == (len(dm.datasets[split]),)
        assert float(a.min()) >= 0.0 and float(a.max()) < 2 * math.pi
    assert float(dm.angles["train"].std()) > 1.5  # uniform on [0, 2 pi): std ~ 1.81
    again = D.RotatedDigitsDataModule(size=16, pad=2, seed=5)
    again.setup()
    assert again.datasets is not None
    assert torch.equal(again.datasets["train"].tensors[0], dm.datasets["train"].tensors[0])
    upright = D.DigitsDataModule(size=16, pad=2, seed=5)
    upright.setup()
    assert upright.datasets is not None
    assert not torch.allclose(upright.datasets["train"].tensors[0], dm.datasets["train"].tensors[0])
    test_only = D.RotatedDigitsDataModule(size=16, pad=2, seed=5, rotate="test", normalize=False)
    test_only.setup()
    raw = D.DigitsDataModule(size=16, pad=2, seed=5, normalize=False)
    raw.setup()
    assert test_only.datasets is not None and raw.datasets is not None
    assert torch.equal(test_only.datasets["train"].tensors[0], raw.datasets["train"].tensors[0])
    expect = D.rotate_images(raw.datasets["test"].tensors[0], test_only.angles["test"])
    assert torch.equal(test_only.datasets["test"].tensors[0], expect)


def test_render_digits_single_resampling() -> None:
    small, _ = D.load_digits_images()
    twice, _ = D.load_digits_images(28, 2)
    once = D.render_digits(small[:20], 0.0, 28, 2)
    torch.testing.assert_close(once, twice[:20], rtol=0, atol=1e-6)  # angle 0: resize + pad exactly
    quarter = D.render_digits(small[:20], math.pi / 2, 28, 2)
    torch.testing.assert_close(quarter, torch.rot90(twice[:20], 1, (-2, -1)), rtol=0, atol=1e-5)
    angle = torch.full((20,), 0.7, dtype=torch.float64)
    blurred = D.rotate_images(twice[:20], angle)
    sharp = D.render_digits(small[:20], angle, 28, 2)
    assert float((sharp - blurred).abs().mean()) < 0.05  # the same rotation, one interpolation fewer
    assert float(sharp.pow(2).sum()) > float(blurred.pow(2).sum())  # bilinear resampling loses energy
    with pytest.raises(ValueError, match="one finite angle per image"):
        D.render_digits(small[:3], torch.zeros(2))
    dm = D.RotatedDigitsDataModule(size=28, pad=2, rotate="test", single_resample=True, normalize=False)
    dm.setup()
    assert dm.datasets is not None
    idx = dm.indices["test"]
    expect = D.render_digits(small[idx], dm.angles["test"], 28, 2)
    assert torch.equal(dm.datasets["test"].tensors[0], expect)
    torch.testing.assert_close(dm.datasets["train"].tensors[0], twice[dm.indices["train"]], rtol=0, atol=1e-6)


# ---------------------------------------------------------------- standard file formats
def _idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file written from the format's definition (magic 0 0 type ndim, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(folder: Path, n: int, prefix: str, gz: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
        raw = _idx_bytes(arr)
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("variant", ["mnist", "fashion_mnist"])
def test_mnist_reader_roundtrip(tmp_path: Path, gz: bool, variant: str) -> None:
    images, labels = _write_mnist(tmp_path / variant, 7, "t10k", gz, seed=1)
    x, y = D.load_mnist(tmp_path, "test", variant=variant)  # type: ignore[arg-type]
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert np.array_equal(x[:, 0].numpy(), images) and np.array_equal(y.numpy(), labels)
    with pytest.raises(FileNotFoundError, match="download=True"):
        D.load_mnist(tmp_path, "train", variant=variant)  # type: ignore[arg-type]


def test_read_idx_rejects_corrupt_files(tmp_path: Path) -> None:
    good = _idx_bytes(np.zeros((2, 3), np.uint8))
    (tmp_path / "short").write_bytes(good[:-1])
    with pytest.raises(ValueError, match="bytes of data"):
        D.read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x01" + good[1:])
    with pytest.raises(ValueError, match="magic"):
        D.read_idx(tmp_path / "magic")


def _cifar_archive(folder: Path, per_batch: int) -> dict[str, tuple[np.ndarray, list[int]]]:
    rng = np.random.default_rng(0)
    batches = {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, size=per_batch).tolist()
            batches[name] = (data, labels)
            blob = pickle.dumps(
                {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": []}
            )
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    folder.mkdir(parents=True)
    (folder / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    return batches


def test_cifar10_reader_extracts_and_reads_batches(tmp_path: Path) -> None:
    batches = _cifar_archive(tmp_path / "cifar10", per_batch=4)
    x, y = D.load_cifar10(tmp_path, "train")
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.uint8
    assert np.array_equal(x[:4].reshape(4, -1).numpy(), batches["data_batch_1"][0])
    assert y[4:8].tolist() == batches["data_batch_2"][1]
    xt, yt = D.load_cifar10(tmp_path, "test")
    assert xt.shape == (4, 3, 32, 32) and yt.tolist() == batches["test_batch"][1]


def test_cifar100_reader_fine_and_coarse_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    parts = {}
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, n in (("train", 6), ("test", 3)):
            data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
            fine, coarse = rng.integers(0, 100, size=n).tolist(), rng.integers(0, 20, size=n).tolist()
            parts[name] = (data, fine, coarse)
            blob = pickle.dumps(
                {b"data": data, b"fine_labels": fine, b"coarse_labels": coarse, b"filenames": []}
            )
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    (tmp_path / "cifar100").mkdir()
    (tmp_path / "cifar100" / "cifar-100-python.tar.gz").write_bytes(buf.getvalue())
    x, y = D.load_cifar100(tmp_path, "train")
    assert x.shape == (6, 3, 32, 32) and np.array_equal(x.reshape(6, -1).numpy(), parts["train"][0])
    assert y.tolist() == parts["train"][1]
    assert D.load_cifar100(tmp_path, "test", labels="coarse")[1].tolist() == parts["test"][2]
    with pytest.raises(ValueError, match="fine"):
        D.load_cifar100(tmp_path, labels="superclass")  # type: ignore[arg-type]


def test_vision_datamodule_on_local_files(tmp_path: Path) -> None:
    _write_mnist(tmp_path / "mnist", 30, "train", True, seed=2)
    _write_mnist(tmp_path / "mnist", 10, "t10k", True, seed=3)
    dm = D.VisionDataModule("mnist", data_dir=str(tmp_path), val_size=6, batch_size=8, seed=0)
    dm.prepare_data()
    dm.setup()
    assert dm.datasets is not None
    assert [len(dm.datasets[s]) for s in ("train", "val", "test")] == [24, 6, 10]
    x, _ = dm.datasets["train"].tensors
    assert x.dtype == torch.float32 and float(x.mean()) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(FileNotFoundError, match="download=True"):
        D.VisionDataModule("fashion_mnist", data_dir=str(tmp_path)).prepare_data()


# ---------------------------------------------------------------- download and extraction
@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on localhost serving tmp_path/served (no outside network)."""
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(served), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", served
    finally:
        server.shutdown()
        server.server_close()


def test_download_verifies_checksum_and_falls_back_to_mirrors(
    tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    base, served = http_root
    payload = b"ballroom" * 1000
    (served / "file.bin").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "out" / "file.bin"
    got = D.download_url([base + "missing.bin", base + "file.bin"], dest, digest, progress=False)
    assert got == dest and dest.read_bytes() == payload
    assert D.sha256sum(dest) == digest
    # cached: a second call needs no server
    assert D.download_url("http://127.0.0.1:9/unreachable", dest, digest, progress=False) == dest
    bad = tmp_path / "bad.bin"
    with pytest.raises(D.ChecksumError, match="does not match"):
        D.download_url(base + "file.bin", bad, "0" * 64, progress=False)
    assert not bad.exists() and not bad.with_name("bad.bin.part").exists()
    with pytest.raises(OSError, match="could not download"):
        D.download_url(base + "missing.bin", tmp_path / "m.bin", digest, progress=False)
    with pytest.raises(ValueError, match="http"):
        D.download_url("file:///etc/passwd", tmp_path / "p", digest)
    # datasets that publish only an MD5
    md5 = hashlib.md5(payload).hexdigest()
    by_md5 = tmp_path / "md5.bin"
    assert D.download_url(base + "file.bin", by_md5, md5=md5, progress=False) == by_md5
    assert D.md5sum(by_md5) == md5
    with pytest.raises(D.ChecksumError, match="MD5"):
        D.download_url(base + "file.bin", tmp_path / "md5bad.bin", md5="0" * 32, progress=False)
    with pytest.raises(ValueError, match="exactly one checksum"):
        D.download_url(base + "file.bin", tmp_path / "x.bin", digest, md5=md5)
    with pytest.raises(ValueError, match="exactly one checksum"):
        D.download_url(base + "file.bin", tmp_path / "x.bin")


def test_vision_download_uses_pinned_checksum(
    tmp_path: Path, http_root: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = http_root
    _write_mnist(served, 5, "t10k", True, seed=4)
    files = {
        n: hashlib.sha256((served / n).read_bytes()).hexdigest()
        for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    }
    monkeypatch.setitem(D.VISION_FILES, "mnist", {"mirrors": [base], "files": files})
    x, _ = D.load_mnist(tmp_path / "root", "test", download=True)
    assert x.shape == (5, 1, 28, 28) and (tmp_path / "root" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_pinned_checksums_are_sha256() -> None:
    for spec in D.VISION_FILES.values():
        for name, digest in spec["files"].items():  # type: ignore[union-attr]
            assert len(digest) == 64 and int(digest, 16) >= 0, name


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tf:
        member.size = len(data) if member.isfile() else 0
        tf.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def test_extract_archive_refuses_escapes(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="outside"):
        D.extract_archive(_tar_with(tmp_path, tarfile.TarInfo("../escape.txt"), b"x"), dest)
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(ValueError, match="unsafe link"):
        D.extract_archive(_tar_with(tmp_path, link), dest)
    assert not (tmp_path / "escape.txt").exists()
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../../z.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        D.extract_archive(zpath, dest)
    ok = tmp_path / "ok.zip"
    with zipfile.ZipFile(ok, "w") as zf:
        zf.writestr("inner/a.txt", "hello")
    assert (D.extract_archive(ok, dest) / "inner" / "a.txt").read_text() == "hello"


class _RunsCode:
    """Unpickling this object calls os.system: what a swapped data file could do."""

    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_cifar_reader_refuses_a_pickle_that_would_run_code(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        (folder / name).write_bytes(pickle.dumps({b"data": _RunsCode(), b"labels": [0]}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(D.UnsafePickleError, match=r"refusing to unpickle global (posix|os|nt)\.system"):
        D.load_cifar10(tmp_path, "train")
    assert not (tmp_path / "PWNED").exists()


def test_load_pickle_reads_arrays_of_both_protocols_and_refuses_other_globals(tmp_path: Path) -> None:
    data = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2], b"name": b"x"}
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        (tmp_path / "ok").write_bytes(pickle.dumps(data, protocol=protocol))
        back = D.load_pickle(tmp_path / "ok")
        assert np.array_equal(back[b"data"], data[b"data"]) and back[b"labels"] == [1, 2]
    (tmp_path / "bad").write_bytes(pickle.dumps({"f": Path("x")}))
    with pytest.raises(D.UnsafePickleError, match="pathlib"):
        D.load_pickle(tmp_path / "bad")


def test_rotate_images_refuses_arrays_and_bad_shapes_by_name() -> None:
    with pytest.raises(TypeError, match=r"images must be a torch.Tensor, got ndarray \(convert"):
        D.rotate_images(np.zeros((2, 1, 8, 8), dtype=np.float32), 0.3)
    with pytest.raises(ValueError, match="images must have rank 4"):
        D.rotate_images(torch.zeros(1, 8, 8), 0.3)
    with pytest.raises(TypeError, match="images must have a floating-point dtype"):
        D.rotate_images(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), 0.3)


def test_split_datamodule_public_accessors() -> None:
    dm = D.DigitsDataModule(size=8, seed=3)
    assert dm.datasets is None
    x, y = dm.tensors("val")  # builds on first use, no setup() needed
    assert dm.datasets is not None
    assert dm.dataset("val") is dm.datasets["val"] and x.shape[0] == y.shape[0] == len(dm.datasets["val"])
    assert torch.equal(x, dm.datasets["val"].tensors[0])
    with pytest.raises(ValueError, match="split"):
        dm.dataset("validation")
    with pytest.raises(ValueError, match="split"):
        dm.tensors("Train")


def test_split_datamodule_tensors_refuses_other_datasets() -> None:
    class Listed(D.SplitDataModule[torch.utils.data.Dataset]):  # type: ignore[type-arg]
        def build(self) -> dict[str, torch.utils.data.Dataset]:  # type: ignore[type-arg]
            return {s: torch.utils.data.StackDataset(torch.arange(4)) for s in ("train", "val", "test")}

    class Extra(D.DigitsDataModule):  # a module may build more splits than the three (pdo3d: test_so3)
        def build(self) -> dict[str, torch.utils.data.TensorDataset]:
            return {
                **super().build(),
                "test_rotated": torch.utils.data.TensorDataset(torch.zeros(3, 1, 8, 8)),
            }

    assert Extra(size=8).tensors("test_rotated")[0].shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="test_rotated"):  # the message lists the splits there are
        Extra(size=8).dataset("rotated")
    dm = Listed()
    assert len(dm.dataset("test")) == 4
    with pytest.raises(TypeError, match="not a TensorDataset; use dataset"):
        dm.tensors("test")
