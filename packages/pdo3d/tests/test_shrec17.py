"""The SHREC'17 loader on a tiny archive written here in the real layout (zip of ``<id>.obj``
meshes + ``id,synsetId,subSynsetId,modelId,split`` tables); the voxeliser against exact shells."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ballroom.pdo3d.shrec17 import Shrec17Voxels, read_obj, voxelize_mesh

# the unit cube: 8 vertices, 6 quads (split into 12 triangles by the reader)
CUBE_OBJ = """# cube
v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1
f 1 2 3 4\nf 5/1 8/1 7/1 6/1\nf 1//1 5//1 6//1 2//1\nf 2 6 7 3\nf 3 7 8 4\nf -4 -8 -5 -1
"""
# a tetrahedron stretched along x (not cube-symmetric)
TET_OBJ = "v 0 0 0\nv 3 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"


def test_obj_reader_triangulates_and_resolves_indices(tmp_path: Path) -> None:
    (tmp_path / "c.obj").write_text(CUBE_OBJ)
    v, f = read_obj(tmp_path / "c.obj")
    assert v.shape == (8, 3) and f.shape == (12, 3)
    # every triangle is half of one cube face: its three vertices share one coordinate value
    tri = v[f]
    assert all(any((t[:, d] == t[0, d]).all() for d in range(3)) for t in tri)
    assert {tuple(sorted(map(tuple, t))) for t in tri.tolist()}.__len__() == 12  # 12 distinct triangles
    (tmp_path / "bad.obj").write_text("v 0 0 0\nf 1 2 3\n")
    with pytest.raises(ValueError, match="does not exist"):
        read_obj(tmp_path / "bad.obj")


def test_voxelised_cube_is_a_closed_axis_aligned_shell() -> None:
    v = np.array(
        [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], float
    )
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 6, 5], [4, 7, 6], [0, 4, 5], [0, 5, 1],
                  [1, 5, 6], [1, 6, 2], [2, 6, 7], [2, 7, 3], [3, 7, 4], [3, 4, 0]])  # fmt: skip
    g = voxelize_mesh(v, f, size=16)
    occ = g.nonzero()
    lo, hi = occ.min(0).values, occ.max(0).values
    # the cube's corners touch the sphere of radius (size - 1) / 2 - margin: edge 2 * 6.5 / sqrt(3) = 7.5
    assert (hi - lo == hi[0] - lo[0]).all() and 7 <= int(hi[0] - lo[0]) <= 8
    assert (lo + hi == 15).all()  # centred on the grid
    inner = g[lo[0] + 1 : hi[0], lo[1] + 1 : hi[1], lo[2] + 1 : hi[2]]
    assert inner.sum() == 0  # hollow: a surface, not a solid
    shell = g[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1]
    n = int(hi[0] - lo[0]) + 1
    assert int(shell.sum()) == n**3 - (n - 2) ** 3  # every face voxel is hit (no holes)
    # the cube is symmetric: the grid is invariant under the axis swap x <-> z
    assert torch.equal(g, g.permute(2, 1, 0))


def test_voxeliser_axis_order_is_z_y_x() -> None:
    v = np.array([[0, 0, 0], [3, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    g = voxelize_mesh(v, f, size=20)
    occ = g.nonzero().float()
    extent = occ.max(0).values - occ.min(0).values  # (z, y, x)
    assert extent[2] > 2.5 * extent[1] and extent[2] > 2.5 * extent[0]


def _write_split(root: Path, split: str, meshes: dict[int, tuple[str, str]], as_zip: bool) -> None:
    with open(root / f"{split}.csv", "w") as fh:
        fh.write("id,synsetId,subSynsetId,modelId,split\n")
        for k, (synset, _) in meshes.items():
            fh.write(f"{k:06d},{synset},{synset},m{k},{split}\n")
    if as_zip:
        with zipfile.ZipFile(root / f"{split}_perturbed.zip", "w") as zf:
            for k, (_, text) in meshes.items():
                zf.writestr(f"{split}_perturbed/{k:06d}.obj", text)
    else:
        (root / f"{split}_perturbed").mkdir()
        for k, (_, text) in meshes.items():
            (root / f"{split}_perturbed" / f"{k:06d}.obj").write_text(text)


def test_dataset_reads_the_archive_layout(tmp_path: Path) -> None:
    _write_split(tmp_path, "train", {3: ("04379243", CUBE_OBJ), 7: ("02691156", TET_OBJ)}, as_zip=True)
    _write_split(tmp_path, "val", {12: ("04379243", TET_OBJ)}, as_zip=False)
    train = Shrec17Voxels(tmp_path, "train", size=12)
    assert len(train) == 2 and train.classes == ["02691156", "04379243"]
    x, y = train[0]
    assert x.shape == (1, 12, 12, 12) and x.dtype == torch.float32 and y == 1  # 000003: the cube
    assert train[1][1] == 0 and float(x.sum()) > 0
    val = Shrec17Voxels(tmp_path, "val", size=12)  # labels index train.csv's classes
    assert val.classes == train.classes and val[0][1] == 1
    v, f = read_obj(tmp_path / "val_perturbed" / "000012.obj")
    assert torch.equal(val[0][0][0], voxelize_mesh(v, f, 12))


def test_missing_files_and_download_without_checksum_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download=True"):
        Shrec17Voxels(tmp_path, "train")
    with pytest.raises(ValueError, match="sha256"):
        Shrec17Voxels(tmp_path, "train", download=True)
    with pytest.raises(ValueError, match="split"):
        Shrec17Voxels(tmp_path, "training")
    with pytest.raises(ValueError, match="vertices"):
        voxelize_mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
