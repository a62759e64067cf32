"""ballroom-pdo3d: PDO-based steerable 3D CNNs (Shen, Hong, She, Ma, Lin, ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.pdo3d import FieldType, PDOConv3d, octahedral
    O = octahedral()
    conv = PDOConv3d(FieldType(O, [(O.trivial(), 1)]), FieldType(O, [(O.regular(), 2)]))
    y = conv(x)                                        # (B, 1, D, H, W) -> (B, 48, D, H, W)
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.pdo3d.data import TetrisDataModule, rotated_tetris
    from ballroom.pdo3d.functional import (
        BASIS_VERSION,
        constraint_matrices,
        default_cache_dir,
        pdo_kernels,
        pdo_stencils,
        reynolds_projector,
        solve_pdo_basis,
        sym_second_order,
    )
    from ballroom.pdo3d.groups import (
        Group,
        Rep,
        icosahedral,
        klein4,
        octahedral,
        real_wigner_d,
        rotation_about,
        so3,
        tetrahedral,
    )
    from ballroom.pdo3d.lit import PDOClassifier
    from ballroom.pdo3d.loaders import load_isbi2012, read_tiff_stack
    from ballroom.pdo3d.models import PDOTetrisNet, PlainCNN3d, SO3TetrisNet, count_parameters
    from ballroom.pdo3d.nn import (
        FieldAvgPool3d,
        FieldBatchNorm,
        FieldReLU,
        FieldType,
        GatedNonlinearity,
        GaussianLowPass3d,
        GroupPooling,
        InvariantReadout,
        PDOConv3d,
        SO3BatchNorm,
    )
    from ballroom.pdo3d.official import (
        load_official_conv,
        load_official_tetris,
        official_dense_weight,
        official_pair_names,
    )
    from ballroom.pdo3d.shrec17 import SHREC17_URL, Shrec17Voxels, read_obj, voxelize_mesh
    from ballroom.pdo3d.volumes import (
        TETRIS_NAMES,
        central_ball,
        cube_rotations,
        equivariance_error,
        invariance_error,
        random_rotations,
        rotate_field,
        rotate_volume,
        smooth_random_volumes,
        tetris_volumes,
    )

__version__ = _version("ballroom-pdo3d")

_SOURCES = {
    "BASIS_VERSION": "ballroom.pdo3d.functional",
    "FieldAvgPool3d": "ballroom.pdo3d.nn",
    "FieldBatchNorm": "ballroom.pdo3d.nn",
    "FieldReLU": "ballroom.pdo3d.nn",
    "FieldType": "ballroom.pdo3d.nn",
    "GatedNonlinearity": "ballroom.pdo3d.nn",
    "GaussianLowPass3d": "ballroom.pdo3d.nn",
    "Group": "ballroom.pdo3d.groups",
    "GroupPooling": "ballroom.pdo3d.nn",
    "InvariantReadout": "ballroom.pdo3d.nn",
    "PDOClassifier": "ballroom.pdo3d.lit",
    "PDOConv3d": "ballroom.pdo3d.nn",
    "PDOTetrisNet": "ballroom.pdo3d.models",
    "PlainCNN3d": "ballroom.pdo3d.models",
    "Rep": "ballroom.pdo3d.groups",
    "SO3BatchNorm": "ballroom.pdo3d.nn",
    "SHREC17_URL": "ballroom.pdo3d.shrec17",
    "SO3TetrisNet": "ballroom.pdo3d.models",
    "Shrec17Voxels": "ballroom.pdo3d.shrec17",
    "TETRIS_NAMES": "ballroom.pdo3d.volumes",
    "TetrisDataModule": "ballroom.pdo3d.data",
    "central_ball": "ballroom.pdo3d.volumes",
    "constraint_matrices": "ballroom.pdo3d.functional",
    "count_parameters": "ballroom.pdo3d.models",
    "cube_rotations": "ballroom.pdo3d.volumes",
    "default_cache_dir": "ballroom.pdo3d.functional",
    "equivariance_error": "ballroom.pdo3d.volumes",
    "icosahedral": "ballroom.pdo3d.groups",
    "invariance_error": "ballroom.pdo3d.volumes",
    "load_isbi2012": "ballroom.pdo3d.loaders",
    "load_official_conv": "ballroom.pdo3d.official",
    "load_official_tetris": "ballroom.pdo3d.official",
    "official_dense_weight": "ballroom.pdo3d.official",
    "official_pair_names": "ballroom.pdo3d.official",
    "read_tiff_stack": "ballroom.pdo3d.loaders",
    "klein4": "ballroom.pdo3d.groups",
    "octahedral": "ballroom.pdo3d.groups",
    "pdo_kernels": "ballroom.pdo3d.functional",
    "pdo_stencils": "ballroom.pdo3d.functional",
    "random_rotations": "ballroom.pdo3d.volumes",
    "read_obj": "ballroom.pdo3d.shrec17",
    "real_wigner_d": "ballroom.pdo3d.groups",
    "reynolds_projector": "ballroom.pdo3d.functional",
    "rotate_field": "ballroom.pdo3d.volumes",
    "rotate_volume": "ballroom.pdo3d.volumes",
    "rotated_tetris": "ballroom.pdo3d.data",
    "rotation_about": "ballroom.pdo3d.groups",
    "smooth_random_volumes": "ballroom.pdo3d.volumes",
    "so3": "ballroom.pdo3d.groups",
    "solve_pdo_basis": "ballroom.pdo3d.functional",
    "sym_second_order": "ballroom.pdo3d.functional",
    "tetrahedral": "ballroom.pdo3d.groups",
    "tetris_volumes": "ballroom.pdo3d.volumes",
    "voxelize_mesh": "ballroom.pdo3d.shrec17",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
