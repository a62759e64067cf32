"""ballroom-rtd: Representation Topology Divergence (Barannikov et al., ICML 2022).

Compare two representations ``P (n, d1)`` and ``Pt (n, d2)`` of the same points by the topology of
their clusters::

    from ballroom.rtd import rtd, rtd_sym, cross_barcode
    rtd_sym(P, Pt)                  # symmetric RTD of all points
    rtd(P, Pt, trials=10, batch=500)  # the paper's sub-sampled average
"""

from ballroom.rtd.backends import available_backends, compute_bars, critical_edges
from ballroom.rtd.data import (
    DigitsProbeDataModule,
    clusters_experiment,
    load_dsprites,
    rings_experiment,
    rings_variant,
)
from ballroom.rtd.functional import (
    cross_barcode,
    cross_barcode_from_distances,
    cross_matrix,
    cross_matrix_from_distances,
    cross_threshold,
    distances,
    normalise,
    rtd,
    rtd_1,
    rtd_sym,
    rtd_sym_batch,
    vr_barcode,
)
from ballroom.rtd.lit import ProbeClassifier, RTDCallback
from ballroom.rtd.nn import RTDLoss
from ballroom.rtd.plot import plot_barcode
from ballroom.rtd.zoo import ZOO, create

__version__ = "0.1.0"
__all__ = [
    "ZOO",
    "DigitsProbeDataModule",
    "ProbeClassifier",
    "RTDCallback",
    "RTDLoss",
    "__version__",
    "available_backends",
    "clusters_experiment",
    "compute_bars",
    "create",
    "critical_edges",
    "cross_barcode",
    "cross_barcode_from_distances",
    "cross_matrix",
    "cross_matrix_from_distances",
    "cross_threshold",
    "distances",
    "load_dsprites",
    "normalise",
    "plot_barcode",
    "rings_experiment",
    "rings_variant",
    "rtd",
    "rtd_1",
    "rtd_sym",
    "rtd_sym_batch",
    "vr_barcode",
]
