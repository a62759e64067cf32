"""ballroom-expclr: contrastive time-series learning with expert features (Nonnenmacher et al., ICML 2022).

Pretrain a time-series encoder without labels or augmentations: the expert features ``f`` set how
far apart two samples' representations should be::

    from ballroom.expclr import ExpCLRLoss, ResNet1DEncoder
    encoder, loss_fn = ResNet1DEncoder(in_channels=1), ExpCLRLoss()
    loss = loss_fn(encoder(x), f)       # x (B, C, T), f (B, d) expert features

Names load on first access: the loss, encoders, features, data generators and probes need torch
(and numpy, scipy, scikit-learn), not Lightning; the LightningModules and the DataModule do.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.expclr.data import ExpertDataModule
    from ballroom.expclr.datasets import HAR_CHANNELS, load_uci_har, make_sine_bands
    from ballroom.expclr.features import StatisticalSpectralFeatures
    from ballroom.expclr.functional import (
        effective_dimensionality,
        expclr_loss,
        expert_similarity,
        max_pairwise_distance,
        normalized_distances,
        nt_xent_loss,
        optimal_delta,
        pairwise_distances,
        pairwise_lipschitz_stats,
        ts2vec_hierarchical_loss,
    )
    from ballroom.expclr.lit import ExpCLRModule, ExpertDecodingModule, SimCLRTSModule
    from ballroom.expclr.nn import (
        ExpCLRLoss,
        ExpertFeatureDecoder,
        ResNet1DEncoder,
        TCNEncoder,
        TimeSeriesAugment,
        build_encoder,
        masked_mean,
    )
    from ballroom.expclr.probes import LinearProbe, embed, knn_probe
    from ballroom.expclr.zoo import ZOO, create

__version__ = _version("ballroom-expclr")

_FUNCTIONAL = "ballroom.expclr.functional"
_NN = "ballroom.expclr.nn"
_SOURCES = {
    "HAR_CHANNELS": "ballroom.expclr.datasets",
    "load_uci_har": "ballroom.expclr.datasets",
    "make_sine_bands": "ballroom.expclr.datasets",
    "ExpertDataModule": "ballroom.expclr.data",
    "StatisticalSpectralFeatures": "ballroom.expclr.features",
    "effective_dimensionality": _FUNCTIONAL,
    "expclr_loss": _FUNCTIONAL,
    "expert_similarity": _FUNCTIONAL,
    "normalized_distances": _FUNCTIONAL,
    "nt_xent_loss": _FUNCTIONAL,
    "max_pairwise_distance": _FUNCTIONAL,
    "optimal_delta": _FUNCTIONAL,
    "pairwise_distances": _FUNCTIONAL,
    "pairwise_lipschitz_stats": _FUNCTIONAL,
    "ts2vec_hierarchical_loss": _FUNCTIONAL,
    "ExpCLRModule": "ballroom.expclr.lit",
    "ExpertDecodingModule": "ballroom.expclr.lit",
    "SimCLRTSModule": "ballroom.expclr.lit",
    "ExpCLRLoss": _NN,
    "ExpertFeatureDecoder": _NN,
    "ResNet1DEncoder": _NN,
    "TCNEncoder": _NN,
    "TimeSeriesAugment": _NN,
    "build_encoder": _NN,
    "masked_mean": _NN,
    "LinearProbe": "ballroom.expclr.probes",
    "embed": "ballroom.expclr.probes",
    "knn_probe": "ballroom.expclr.probes",
    "ZOO": "ballroom.expclr.zoo",
    "create": "ballroom.expclr.zoo",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
