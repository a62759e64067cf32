"""ballroom-dualform: the dual form of linear layers (Irie, Csordas, Schmidhuber, ICML 2022).

A linear layer trained by gradient descent is exactly unnormalised dot attention over every
training pattern it processed: ``W_T q = a_T W_0 q + sum_n v_n (k_n . q)``. Record a model while it
trains, then ask which training patterns each layer attends to::

    rec = DualFormRecorder(model, optimizer)   # before training; SGD gives the exact dual form
    ...train...
    dual = rec.dual("layers.0")
    dual.forward(q)          # == the trained layer's output (to float rounding)
    dual.top_k(q, 5)         # the 5 training patterns with the largest |k . q|

Submodules load on first use: the recorder, the dual form and the analysis need torch only; the
Lightning module, callback and data modules import Lightning when they are first touched.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.dualform.coefficients import StepKind, StepRecord, sgd_coefficients
    from ballroom.dualform.data import (
        DigitsDataModule,
        ImageDataModule,
        TaskDigitsDataModule,
        TaskSequenceSampler,
        permute_pixels,
    )
    from ballroom.dualform.dual import Contributions, DualLinear
    from ballroom.dualform.functional import (
        VoteAgreement,
        linear_layer_names,
        same_dataset_share,
        spotlight_concentration,
        vote_agreement,
    )
    from ballroom.dualform.lit import DualFormCallback, DualFormClassifier
    from ballroom.dualform.metrics import capture_layer_io, dual_primal_gap
    from ballroom.dualform.nn import DualFormMLP
    from ballroom.dualform.recorder import DualFormRecorder
    from ballroom.dualform.zoo import ZOO, create

__version__ = _version("ballroom-dualform")

_SOURCES = {
    "Contributions": "ballroom.dualform.dual",
    "DigitsDataModule": "ballroom.dualform.data",  # deprecated alias of TaskDigitsDataModule
    "DualFormCallback": "ballroom.dualform.lit",
    "DualFormClassifier": "ballroom.dualform.lit",
    "DualFormMLP": "ballroom.dualform.nn",
    "DualFormRecorder": "ballroom.dualform.recorder",
    "linear_layer_names": "ballroom.dualform.functional",
    "DualLinear": "ballroom.dualform.dual",
    "ImageDataModule": "ballroom.dualform.data",
    "StepKind": "ballroom.dualform.coefficients",
    "StepRecord": "ballroom.dualform.coefficients",
    "TaskDigitsDataModule": "ballroom.dualform.data",
    "TaskSequenceSampler": "ballroom.dualform.data",
    "VoteAgreement": "ballroom.dualform.functional",
    "ZOO": "ballroom.dualform.zoo",
    "capture_layer_io": "ballroom.dualform.metrics",
    "create": "ballroom.dualform.zoo",
    "dual_primal_gap": "ballroom.dualform.metrics",
    "permute_pixels": "ballroom.dualform.data",
    "same_dataset_share": "ballroom.dualform.functional",
    "sgd_coefficients": "ballroom.dualform.coefficients",
    "spotlight_concentration": "ballroom.dualform.functional",
    "vote_agreement": "ballroom.dualform.functional",
}
# spelled out so linters and IDEs see the exports (the same names as ["__version__", *_SOURCES]; tested)
__all__ = [
    "ZOO",
    "Contributions",
    "DigitsDataModule",
    "DualFormCallback",
    "DualFormClassifier",
    "DualFormMLP",
    "DualFormRecorder",
    "DualLinear",
    "ImageDataModule",
    "StepKind",
    "StepRecord",
    "TaskDigitsDataModule",
    "TaskSequenceSampler",
    "VoteAgreement",
    "__version__",
    "capture_layer_io",
    "create",
    "dual_primal_gap",
    "linear_layer_names",
    "permute_pixels",
    "same_dataset_share",
    "sgd_coefficients",
    "spotlight_concentration",
    "vote_agreement",
]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
