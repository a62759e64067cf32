"""ballroom-tokendistill: spatial-channel token distillation (STD) for vision MLPs (Li et al., ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.tokendistill import MLPMixer, STDStudent
    student = STDStudent(MLPMixer(img_size=8, patch_size=2, in_chans=1, num_classes=10,
                                  dim=64, depth=4, token_hidden=32, channel_hidden=128))
    out = student(x)                  # STDOutput(cls_logits (B, 10), dist_logits [(B, 10)], tokens)
    logits = student.predict(x)       # (cls + mean dist) / 2, no teacher
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.tokendistill.data import (
        DigitsDistillDataModule,
        ImageFolderDataModule,
        LabeledMaskDataset,
        STDVisionDataModule,
        random_shift,
        stratified_split,
    )
    from ballroom.tokendistill.functional import (
        class_loss,
        confidence_weights,
        distillation_loss,
        hard_distillation_loss,
        mine_lower_bound,
        negative_entropy,
        random_derangement,
    )
    from ballroom.tokendistill.lit import (
        STDLightningModule,
        TeacherLightningModule,
        cache_teacher_logits,
        load_student,
    )
    from ballroom.tokendistill.mixer import MixerBlock, MLPMixer, TimmMixerHost
    from ballroom.tokendistill.nn import (
        KDHeadStudent,
        StatisticsNetwork,
        STDModule,
        STDOutput,
        STDStudent,
        TeacherCNN,
        TokenLayer,
    )

__version__ = _version("ballroom-tokendistill")

_F = "ballroom.tokendistill.functional"
_N = "ballroom.tokendistill.nn"
_M = "ballroom.tokendistill.mixer"
_D = "ballroom.tokendistill.data"
_L = "ballroom.tokendistill.lit"
_SOURCES = {
    "DigitsDistillDataModule": _D,
    "ImageFolderDataModule": _D,
    "KDHeadStudent": _N,
    "LabeledMaskDataset": _D,
    "MLPMixer": _M,
    "MixerBlock": _M,
    "STDLightningModule": _L,
    "STDModule": _N,
    "STDOutput": _N,
    "STDStudent": _N,
    "STDVisionDataModule": _D,
    "StatisticsNetwork": _N,
    "TeacherCNN": _N,
    "TeacherLightningModule": _L,
    "TimmMixerHost": _M,
    "TokenLayer": _N,
    "cache_teacher_logits": _L,
    "class_loss": _F,
    "confidence_weights": _F,
    "distillation_loss": _F,
    "hard_distillation_loss": _F,
    "load_student": _L,
    "mine_lower_bound": _F,
    "negative_entropy": _F,
    "random_derangement": _F,
    "random_shift": _D,
    "stratified_split": _D,
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
