"""ballroom-expclr: contrastive time-series learning with expert features (Nonnenmacher et al., ICML 2022).

Pretrain a time-series encoder without labels or augmentations: the expert features ``f`` set how
far apart two samples' representations should be::

    from ballroom.expclr import ExpCLRLoss, ResNet1DEncoder
    encoder, loss_fn = ResNet1DEncoder(in_channels=1), ExpCLRLoss()
    loss = loss_fn(encoder(x), f)       # x (B, C, T), f (B, d) expert features
"""

from ballroom.expclr.data import HAR_CHANNELS, ExpertDataModule, load_uci_har, make_sine_bands
from ballroom.expclr.features import StatisticalSpectralFeatures
from ballroom.expclr.functional import (
    expclr_loss,
    expert_similarity,
    normalized_distances,
    nt_xent_loss,
    optimal_delta,
    pairwise_distances,
    pairwise_lipschitz_stats,
    ts2vec_hierarchical_loss,
)
from ballroom.expclr.lit import ExpCLRModule, ExpertDecodingModule, SimCLRTSModule, effective_dimensionality
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

__version__ = "0.1.0"

__all__ = [
    "HAR_CHANNELS",
    "ZOO",
    "ExpCLRLoss",
    "ExpCLRModule",
    "ExpertDataModule",
    "ExpertDecodingModule",
    "ExpertFeatureDecoder",
    "LinearProbe",
    "ResNet1DEncoder",
    "SimCLRTSModule",
    "StatisticalSpectralFeatures",
    "TCNEncoder",
    "TimeSeriesAugment",
    "build_encoder",
    "create",
    "effective_dimensionality",
    "embed",
    "expclr_loss",
    "expert_similarity",
    "knn_probe",
    "load_uci_har",
    "make_sine_bands",
    "masked_mean",
    "normalized_distances",
    "nt_xent_loss",
    "optimal_delta",
    "pairwise_distances",
    "pairwise_lipschitz_stats",
    "ts2vec_hierarchical_loss",
]
