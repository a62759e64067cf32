"""ballroom-stir: shared invariance between two networks through inverted representations (STIR;
Nanda et al., ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.stir import FeatureMLP, Normalizer, stir
    res = stir(m1, m2, X, normalizer1=Normalizer(), normalizer2=Normalizer())   # X: (n, C, H, W) in [0, 1]
    res.m2m1, res.m1m2, res.rsm            # STIR(m2|m1), STIR(m1|m2), plain CKA
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.stir.data import StirDataModule, digits_split
    from ballroom.stir.functional import (
        MEASURES,
        SEEDS,
        STIRResult,
        invert_representation,
        representations,
        resolve_measure,
        seed_images,
        stir,
    )
    from ballroom.stir.lit import Classifier, STIRCallback
    from ballroom.stir.nn import (
        FeatureMLP,
        FeatureModel,
        HookedFeatureModel,
        LinearFeatureModel,
        Normalizer,
        box_clamp,
        fake_relu,
        official_uses_fake_relu,
        torchvision_feature_model,
    )
    from ballroom.stir.official import load_official_state_dict
    from ballroom.stir.train import pgd_l2, train_classifier

__version__ = _version("ballroom-stir")

_SOURCES = {
    "MEASURES": "ballroom.stir.functional",
    "SEEDS": "ballroom.stir.functional",
    "STIRResult": "ballroom.stir.functional",
    "invert_representation": "ballroom.stir.functional",
    "representations": "ballroom.stir.functional",
    "resolve_measure": "ballroom.stir.functional",
    "seed_images": "ballroom.stir.functional",
    "stir": "ballroom.stir.functional",
    "FeatureMLP": "ballroom.stir.nn",
    "FeatureModel": "ballroom.stir.nn",
    "HookedFeatureModel": "ballroom.stir.nn",
    "LinearFeatureModel": "ballroom.stir.nn",
    "Normalizer": "ballroom.stir.nn",
    "box_clamp": "ballroom.stir.nn",
    "fake_relu": "ballroom.stir.nn",
    "official_uses_fake_relu": "ballroom.stir.nn",
    "torchvision_feature_model": "ballroom.stir.nn",
    "pgd_l2": "ballroom.stir.train",
    "train_classifier": "ballroom.stir.train",
    "Classifier": "ballroom.stir.lit",
    "STIRCallback": "ballroom.stir.lit",
    "StirDataModule": "ballroom.stir.data",
    "load_official_state_dict": "ballroom.stir.official",
    "digits_split": "ballroom.stir.data",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
