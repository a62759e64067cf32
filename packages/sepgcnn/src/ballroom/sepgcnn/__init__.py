"""ballroom-sepgcnn: separable group convolutions on Lie groups (Knigge et al., ICML 2022).

Rotation- (SE(2)) and rotation-scale- (Sim(2)) equivariant CNNs with continuous SIREN kernels, and
the separable kernels that make them cheap::

    from ballroom.sepgcnn import SE2, LiftingConv, GroupConv
    group = SE2(8)
    lift = LiftingConv(group, 1, 16, kernel_size=5)
    conv = GroupConv(group, 16, 16, kernel_size=5, implementation="separable")
    h, elements = lift(images)                 # (B, 16, 8, H, W)
    y, _ = conv(h, elements)                   # (B, 16, 8, H, W)

Submodules load on first use: the layers, kernels and models need torch only; the data modules and
the LightningModule import Lightning when they are first touched.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.core.data import (
        RotatedDigitsDataModule,
    )
    from ballroom.sepgcnn.data import (
        MNIST_ROT_MD5,
        MNIST_ROT_URL,
        MNISTRotDataModule,
        digits_protocol,
        read_amat,
        rotate_about_background,
    )
    from ballroom.sepgcnn.functional import (
        kernel_mask,
        transformed_grid,
    )
    from ballroom.sepgcnn.groups import (
        SE2,
        Group,
        Sampling,
        Sim2,
    )
    from ballroom.sepgcnn.kernels import (
        DGSeparable,
        DSeparable,
        GSeparable,
        GSeparable2D,
        KernelFactorisation,
        NonSeparable,
        Separable,
        Separable2D,
        factorisation_class,
    )
    from ballroom.sepgcnn.lit import (
        SepGCNNClassifier,
    )
    from ballroom.sepgcnn.metrics import (
        count_flops,
        count_parameters,
        equivariance_error,
        group_conv_flops,
        group_conv_parameters,
        kernel_separability,
        siren_parameters,
    )
    from ballroom.sepgcnn.models import (
        CKGCNN,
        CKGResNet,
        Z2ResNet,
        build_model,
        check_images,
        classifier_head,
        make_group,
        set_eval_sampling,
        z2_widths_for,
    )
    from ballroom.sepgcnn.nn import (
        ALIASES,
        IMPLEMENTATIONS,
        GroupBatchNorm,
        GroupConv,
        GroupInvariantMax,
        GroupMaxPool2d,
        LiftingConv,
        SIRENKernel,
        tap_grid,
    )
    from ballroom.sepgcnn.official import (
        elements_from_official,
        elements_to_official,
        load_official_state_dict,
        official_key_map,
        to_official_state_dict,
    )

__version__ = _version("ballroom-sepgcnn")

_SOURCES = {
    "ALIASES": "ballroom.sepgcnn.kernels",
    "CKGCNN": "ballroom.sepgcnn.models",
    "CKGResNet": "ballroom.sepgcnn.models",
    "DGSeparable": "ballroom.sepgcnn.kernels",
    "DSeparable": "ballroom.sepgcnn.kernels",
    "GSeparable": "ballroom.sepgcnn.kernels",
    "GSeparable2D": "ballroom.sepgcnn.kernels",
    "Group": "ballroom.sepgcnn.groups",
    "GroupBatchNorm": "ballroom.sepgcnn.nn",
    "GroupConv": "ballroom.sepgcnn.nn",
    "GroupInvariantMax": "ballroom.sepgcnn.nn",
    "GroupMaxPool2d": "ballroom.sepgcnn.nn",
    "IMPLEMENTATIONS": "ballroom.sepgcnn.kernels",
    "KernelFactorisation": "ballroom.sepgcnn.kernels",
    "LiftingConv": "ballroom.sepgcnn.nn",
    "MNISTRotDataModule": "ballroom.sepgcnn.data",
    "MNIST_ROT_MD5": "ballroom.sepgcnn.data",
    "MNIST_ROT_URL": "ballroom.sepgcnn.data",
    "NonSeparable": "ballroom.sepgcnn.kernels",
    "RotatedDigitsDataModule": "ballroom.core.data",
    "SE2": "ballroom.sepgcnn.groups",
    "SIRENKernel": "ballroom.sepgcnn.siren",
    "Sampling": "ballroom.sepgcnn.groups",
    "SepGCNNClassifier": "ballroom.sepgcnn.lit",
    "Separable": "ballroom.sepgcnn.kernels",
    "Separable2D": "ballroom.sepgcnn.kernels",
    "Sim2": "ballroom.sepgcnn.groups",
    "Z2ResNet": "ballroom.sepgcnn.models",
    "build_model": "ballroom.sepgcnn.models",
    "check_images": "ballroom.sepgcnn.models",
    "classifier_head": "ballroom.sepgcnn.models",
    "count_flops": "ballroom.sepgcnn.metrics",
    "count_parameters": "ballroom.sepgcnn.metrics",
    "digits_protocol": "ballroom.sepgcnn.data",
    "elements_from_official": "ballroom.sepgcnn.official",
    "elements_to_official": "ballroom.sepgcnn.official",
    "equivariance_error": "ballroom.sepgcnn.metrics",
    "load_official_state_dict": "ballroom.sepgcnn.official",
    "official_key_map": "ballroom.sepgcnn.official",
    "to_official_state_dict": "ballroom.sepgcnn.official",
    "factorisation_class": "ballroom.sepgcnn.kernels",
    "group_conv_flops": "ballroom.sepgcnn.metrics",
    "group_conv_parameters": "ballroom.sepgcnn.metrics",
    "kernel_mask": "ballroom.sepgcnn.functional",
    "kernel_separability": "ballroom.sepgcnn.metrics",
    "make_group": "ballroom.sepgcnn.models",
    "read_amat": "ballroom.sepgcnn.data",
    "rotate_about_background": "ballroom.sepgcnn.data",
    "set_eval_sampling": "ballroom.sepgcnn.models",
    "siren_parameters": "ballroom.sepgcnn.metrics",
    "tap_grid": "ballroom.sepgcnn.functional",
    "transformed_grid": "ballroom.sepgcnn.functional",
    "z2_widths_for": "ballroom.sepgcnn.models",
}

__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
