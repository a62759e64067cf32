"""SHREC'17 (ShapeNetCore55, perturbed) meshes voxelised for the 3D CNNs, for users with a network.

The challenge data are zip archives of Wavefront ``.obj`` meshes, ``{split}_perturbed.zip``
(``train``, ``val``, ``test``; each mesh is ``<id>.obj``, randomly rotated in the perturbed set), and
label tables ``{split}.csv`` with the header ``id,synsetId,subSynsetId,modelId,split`` (55 synset
classes; the test table was not published with the challenge, so test samples have label -1).
:class:`Shrec17Voxels` reads ``root/{split}_perturbed/*.obj`` (extracting the zip when only the zip
is there) and voxelises each mesh on access with :func:`voxelize_mesh` (surface occupancy on a
``size^3`` grid, default 64 as the paper's input). Nothing is downloaded unless ``download=True``,
and then only with the caller's SHA-256 of each file: the package ships no checksum it could not
verify (the archives are served from :data:`SHREC17_URL`).
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ballroom.core.data import download_url
from ballroom.core.validate import check_choice, check_int

__all__ = ["SHREC17_URL", "Shrec17Voxels", "read_obj", "voxelize_mesh"]

#: where the s2cnn/se3cnn SHREC'17 examples fetch the archives (``{name}`` = file name)
SHREC17_URL = "http://3dvision.princeton.edu/ms/shrec17-data/{name}"


def read_obj(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """The vertices and triangles of a Wavefront ``.obj`` file.

    ``v x y z`` lines are vertices; ``f`` lines are faces (``a``, ``a/t``, ``a//n`` or ``a/t/n``
    indices, 1-based or negative = relative), polygons split into a triangle fan.

    Args:
        path: the ``.obj`` file.

    Returns:
        ``vertices (V, 3)`` float64 and ``faces (F, 3)`` int64 (0-based).
    """
    verts: list[list[float]] = []
    faces: list[list[int]] = []
    for line in Path(path).read_text(errors="replace").splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            if len(parts) < 4:
                raise ValueError(f"path: {path}: a vertex needs 3 coordinates, got {line!r}")
            verts.append([float(p) for p in parts[1:4]])
        elif parts[0] == "f":
            idx = []
            for p in parts[1:]:
                k = int(p.split("/")[0])
                idx.append(k - 1 if k > 0 else len(verts) + k)
            faces += [[idx[0], idx[j], idx[j + 1]] for j in range(1, len(idx) - 1)]
    v = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"path: {path}: a face refers to a vertex that does not exist")
    return v, f


def voxelize_mesh(vertices: np.ndarray, faces: np.ndarray, size: int = 64, margin: float = 1.0) -> Tensor:
    """Surface occupancy ``(size, size, size)`` float32 (indexed ``[z, y, x]``) of a triangle mesh.

    The mesh is centred on its bounding box and scaled so that the vertex farthest from the centre
    lies ``margin`` voxels inside the grid (rotating the mesh then keeps it in the grid); every
    triangle is sampled on a barycentric lattice finer than half a voxel, so a watertight surface
    gives a closed voxel shell.

    Args:
        vertices: ``(V, 3)`` coordinates (x, y, z).
        faces: ``(F, 3)`` 0-based vertex indices.
        size: grid edge in voxels.
        margin: free voxels between the farthest vertex and the grid's inscribed sphere.

    Returns:
        The occupancy grid: 1 where the surface passes through a voxel, else 0.
    """
    size = check_int(size, "size", min=2)
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"vertices must be (V, 3) with V >= 1, got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got shape {f.shape}")
    if not np.isfinite(v).all():
        raise ValueError("vertices must be finite")
    centre = (v.min(0) + v.max(0)) / 2
    radius = float(np.linalg.norm(v - centre, axis=1).max())
    half = (size - 1) / 2
    scale = (half - margin) / radius if radius > 0 else 0.0
    p = (v - centre) * scale + half  # voxel coordinates (x, y, z)
    grid = np.zeros((size, size, size), dtype=np.float32)
    tri = p[f] if len(f) else np.zeros((0, 3, 3))
    points = [p]
    if len(tri):
        edge = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(1)
        steps = np.maximum(1, np.ceil(2 * edge)).astype(np.int64)  # lattice spacing <= 1/2 voxel
        for n in np.unique(steps):
            i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
            keep = i + j <= n
            a, b = i[keep] / n, j[keep] / n
            w = np.stack([a, b, 1 - a - b], 1)  # (k, 3) barycentric weights
            points.append(np.einsum("kc,tcd->tkd", w, tri[steps == n]).reshape(-1, 3))
    idx = np.clip(np.rint(np.concatenate(points)), 0, size - 1).astype(np.int64)
    grid[idx[:, 2], idx[:, 1], idx[:, 0]] = 1.0
    return torch.from_numpy(grid)


class Shrec17Voxels(Dataset[tuple[Tensor, int]]):
    """SHREC'17 meshes of one split as voxel grids: item ``k`` is ``(x (1, size, size, size), label)``.

    Labels index the sorted synset ids of ``root/train.csv`` (of this split's table when there is no
    train table; ``classes`` lists them); the test split has label -1. Meshes are voxelised on
    access (no cache; wrap the dataset to cache).

    Args:
        root: the folder with ``{split}_perturbed/`` (or ``{split}_perturbed.zip``) and ``{split}.csv``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: voxel grid edge (64 in the paper).
        download: fetch missing archives/tables from ``urls`` (default :data:`SHREC17_URL`).
        urls: file name -> URL overrides (``"train_perturbed.zip"``, ``"train.csv"``, ...).
        sha256: file name -> SHA-256; required for every file that is downloaded.
    """

    def __init__(
        self, root: str | os.PathLike[str], split: str = "train", size: int = 64, download: bool = False,
        urls: dict[str, str] | None = None, sha256: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.root = Path(root)
        self.split = check_choice(split, "split", ("train", "val", "test"))
        self.size = check_int(size, "size", min=2)
        folder = self.root / f"{split}_perturbed"
        needed = [f"{split}_perturbed.zip"] if not folder.is_dir() else []
        if split != "test":
            needed.append(f"{split}.csv")
        for name in needed:
            path = self.root / name
            if path.exists():
                continue
            if not download:
                raise FileNotFoundError(f"root: {path} is missing; pass download=True with sha256=")
            if not sha256 or name not in sha256:
                raise ValueError(f"download needs sha256[{name!r}] (the package ships no SHREC'17 checksum)")
            url = (urls or {}).get(name, SHREC17_URL.format(name=name))
            download_url(url, path, sha256=sha256[name])
        if not folder.is_dir():
            with zipfile.ZipFile(self.root / f"{split}_perturbed.zip") as zf:
                zf.extractall(self.root)
            if not folder.is_dir():
                raise ValueError(f"root: {split}_perturbed.zip has no {split}_perturbed/ folder")
        self.files = sorted(folder.glob("*.obj"))
        if not self.files:
            raise ValueError(f"root: no .obj meshes in {folder}")
        labels: dict[int, str] = {}
        if split != "test":
            labels = _read_labels(self.root / f"{split}.csv")
        table = self.root / "train.csv"
        synsets = _read_labels(table).values() if table.exists() else labels.values()
        self.classes = sorted(set(synsets))
        index = {s: k for k, s in enumerate(self.classes)}
        self.labels: list[int] = []
        for path in self.files:
            if split == "test":
                self.labels.append(-1)
                continue
            key = int(path.stem)
            if key not in labels:
                raise ValueError(f"root: {path.name} has no row in {split}.csv")
            self.labels.append(index[labels[key]])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, k: int) -> tuple[Tensor, int]:
        v, f = read_obj(self.files[k])
        return voxelize_mesh(v, f, self.size)[None], self.labels[k]


def _read_labels(path: Path) -> dict[int, str]:
    """``id -> synsetId`` of a SHREC'17 table (header ``id,synsetId,subSynsetId,modelId,split``)."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"id", "synsetId"} <= set(rows[0]):
        raise ValueError(f"path: {path} must have the columns id and synsetId")
    return {int(r["id"]): r["synsetId"] for r in rows}
