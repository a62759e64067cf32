"""ballroom-dualform: the dual form of linear layers (Irie, Csordas, Schmidhuber, ICML 2022).

A linear layer trained by gradient descent is exactly unnormalised dot attention over every
training pattern it processed: ``W_T q = a_T W_0 q + sum_n v_n (k_n . q)``. Record a model while it
trains, then ask which training patterns each layer attends to::

    rec = DualFormRecorder(model, optimizer)   # before training; SGD gives the exact dual form
    ...train...
    dual = rec.dual("layers.0")
    dual.forward(q)          # == the trained layer's output (to float rounding)
    dual.top_k(q, 5)         # the 5 training patterns with the largest |k . q|
"""

from ballroom.dualform.coefficients import StepKind, StepRecord
from ballroom.dualform.data import DigitsDataModule, ImageDataModule, TaskSequenceSampler, permute_pixels
from ballroom.dualform.lit import DualFormCallback, DualFormClassifier
from ballroom.dualform.metrics import (
    VoteAgreement,
    capture_layer_io,
    dual_primal_gap,
    same_dataset_share,
    spotlight_concentration,
    vote_agreement,
)
from ballroom.dualform.nn import DualFormMLP
from ballroom.dualform.recorder import Contributions, DualFormRecorder, DualLinear, sgd_coefficients
from ballroom.dualform.zoo import ZOO, create

__version__ = "0.1.0"

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
    "TaskSequenceSampler",
    "VoteAgreement",
    "capture_layer_io",
    "create",
    "dual_primal_gap",
    "permute_pixels",
    "same_dataset_share",
    "sgd_coefficients",
    "spotlight_concentration",
    "vote_agreement",
]
