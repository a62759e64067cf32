"""Checksummed downloads and safe archive extraction, for users who have a network.

Nothing in ballroom downloads by default: loaders call :func:`download_url` only when asked to
(``download=True``). Every file carries a SHA-256 (or, where only that is published, an MD5); a
mismatch deletes the partial file and raises.

Pickled datasets (the CIFAR "python version" batches) are read with :func:`load_pickle`, a restricted
unpickler that admits only the globals the format needs (numpy array reconstruction), so a swapped
or foreign file cannot run code: never call plain ``pickle.load`` (or ``torch.load`` without
``weights_only=True``) on a data file.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "NUMPY_PICKLE_GLOBALS",
    "ChecksumError",
    "UnsafePickleError",
    "download_url",
    "extract_archive",
    "load_pickle",
    "md5sum",
    "sha256sum",
]

# (module, name) pairs a pickle of dicts/lists of numpy arrays needs: the array and dtype
# constructors (numpy 1 spells the module numpy.core, numpy 2 numpy._core) and the bytes codec that
# Python 3's protocol 2 uses for ``bytes`` objects.
NUMPY_PICKLE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # protocol 5 arrays
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }
)


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list of :func:`load_pickle`."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(
        self, file: io.BufferedIOBase, allowed: frozenset[tuple[str, str]], *, encoding: str
    ) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._allowed:
            raise UnsafePickleError(
                f"refusing to unpickle global {module}.{name}: a data file may only contain "
                f"builtin containers and numpy arrays (allowed: {sorted(self._allowed)})"
            )
        return super().find_class(module, name)


class ChecksumError(RuntimeError):
    """A file's SHA-256 (or MD5) does not match the expected value."""


def _digest(path: str | os.PathLike[str], algorithm: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False) if algorithm == "md5" else hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256sum(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks.

    Args:
        path: the file.
        chunk: bytes read at a time.

    Returns:
        The digest as a lowercase hex string.
    """
    return _digest(path, "sha256", chunk)


def md5sum(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file (only to match checksums that datasets publish as MD5).

    Args:
        path: the file.
        chunk: bytes read at a time.

    Returns:
        The digest as a lowercase hex string.
    """
    return _digest(path, "md5", chunk)


def download_url(
    urls: str | Sequence[str],
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    *,
    md5: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``urls`` (tried in order, mirrors) to ``dest`` and verify its SHA-256 (or ``md5``,
    for datasets that publish only that; exactly one of the two is required).

    An existing ``dest`` with the right checksum is kept (no network access). The file is written to
    ``dest + ".part"`` and renamed only after the checksum matched.

    Args:
        urls: one URL or several mirrors, tried in order until one downloads (http(s) only).
        dest: the file to write (its folder is created).
        sha256: the expected hex SHA-256.
        md5: the expected hex MD5 (keyword only; instead of ``sha256``).
        timeout: seconds each connection may block (``urllib.request.urlopen``).
        progress: show a tqdm progress bar.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: not exactly one checksum given, or a URL that is not http(s).
        ChecksumError: an existing ``dest`` or a downloaded file has another checksum (a mismatch
            stops at once; the remaining mirrors are not tried).
        OSError: every mirror failed to download.
    """
    if (sha256 is None) == (md5 is None):
        raise ValueError("give exactly one checksum: sha256=... or md5=...")
    algorithm, expected = ("SHA-256", sha256) if sha256 is not None else ("MD5", md5)
    check = sha256sum if sha256 is not None else md5sum
    dest = Path(dest)
    if dest.exists():
        if check(dest) == expected:
            return dest
        raise ChecksumError(
            f"{dest} exists but its {algorithm} is not {expected}; delete it to download again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    errors: list[str] = []
    for url in [urls] if isinstance(urls, str) else list(urls):
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"only http(s) URLs are downloaded, got {url!r}")
        try:
            _fetch(url, tmp, timeout=timeout, progress=progress)
        except OSError as err:  # URLError and HTTPError are OSErrors
            errors.append(f"{url}: {err}")
            tmp.unlink(missing_ok=True)
            continue
        got = check(tmp)
        if got != expected:
            tmp.unlink(missing_ok=True)
            raise ChecksumError(f"{url}: {algorithm} {got} does not match the expected {expected}")
        os.replace(tmp, dest)
        return dest
    raise OSError(f"could not download {dest.name}:\n  " + "\n  ".join(errors))


def _fetch(url: str, path: Path, timeout: float, progress: bool) -> None:
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "ballroom-core"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total, unit="B", unit_scale=True, desc=path.name.removesuffix(".part"), disable=not progress
        ) as bar:
            while block := response.read(1 << 20):
                out.write(block)
                bar.update(len(block))


def _inside(root: Path, target: Path) -> bool:
    root, target = root.resolve(), target.resolve()
    return target == root or root in target.parents


def extract_archive(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Extract a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` archive into ``dest`` and return ``dest``.

    Refuses (``ValueError``) members with absolute paths or ``..`` that would land outside ``dest``,
    links that point outside it, and device files, before anything is written.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if Path(name).is_absolute() or not _inside(dest, dest / name):
                    raise ValueError(
                        f"unsafe path in {archive.name}: {name!r} would be written outside {dest}"
                    )
            zf.extractall(dest)
        return dest
    if not tarfile.is_tarfile(archive):
        raise ValueError(f"{archive} is neither a tar nor a zip archive")
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            if Path(m.name).is_absolute() or not _inside(dest, dest / m.name):
                raise ValueError(f"unsafe path in {archive.name}: {m.name!r} would be written outside {dest}")
            if m.issym() or m.islnk():
                base = dest if m.islnk() else (dest / m.name).parent
                if Path(m.linkname).is_absolute() or not _inside(dest, base / m.linkname):
                    raise ValueError(f"unsafe link in {archive.name}: {m.name!r} -> {m.linkname!r}")
            if m.isdev() or m.isfifo():
                raise ValueError(f"refusing to extract device or FIFO {m.name!r} from {archive.name}")
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python < 3.11.4; the checks above already ran
            tf.extractall(dest, members=members)
    return dest


def load_pickle(
    path: str | os.PathLike[str],
    allowed: frozenset[tuple[str, str]] = NUMPY_PICKLE_GLOBALS,
    encoding: str = "bytes",
) -> object:
    """Unpickle a data file admitting only the globals in ``allowed`` (numpy arrays by default).

    Builtin containers, numbers, strings and bytes need no globals and always load; any other
    class or function (``os.system``, ``builtins.eval``, ...) raises :class:`UnsafePickleError`
    before anything runs. ``encoding`` is passed to the unpickler (``"bytes"`` reads Python 2 pickles
    such as the CIFAR batches with bytes keys).

    Args:
        path: the pickle file.
        allowed: the ``(module, name)`` globals the pickle may load.
        encoding: how Python 2 ``str`` objects are decoded (``pickle.Unpickler``'s ``encoding``).

    Returns:
        The unpickled object.

    Raises:
        UnsafePickleError: the pickle asks for a global outside ``allowed``.
    """
    with open(path, "rb") as fh:
        return _RestrictedUnpickler(fh, frozenset(allowed), encoding=encoding).load()
