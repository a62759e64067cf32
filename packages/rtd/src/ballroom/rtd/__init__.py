"""ballroom-rtd: Representation Topology Divergence (Barannikov et al., ICML 2022).

Compare two representations ``P (n, d1)`` and ``Pt (n, d2)`` of the same points by the topology of
their clusters::

    from ballroom.rtd import rtd, rtd_sym, cross_barcode
    rtd_sym(P, Pt)                  # symmetric RTD of all points
    rtd(P, Pt, trials=10, batch=500)  # the paper's sub-sampled average

Submodules load on first use: the RTD functions need numpy, scipy and a homology backend only;
the Lightning parts (``ProbeClassifier``, ``RTDCallback``, ``DigitsProbeDataModule``) import
Lightning when they are first touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.rtd.backends import (
        available_backends,
        compute_bars,
        critical_edges,
        truncated_bars,
    )
    from ballroom.rtd.baselines import (
        imd,
        imd_available,
    )
    from ballroom.rtd.data import (
        DigitsProbeDataModule,
        load_dsprites,
    )
    from ballroom.rtd.functional import (
        birth_bound,
        cross_barcode,
        cross_barcode_from_distances,
        cross_bars,
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
    from ballroom.rtd.lit import (
        ProbeClassifier,
        RTDCallback,
    )
    from ballroom.rtd.nn import (
        RTDLoss,
    )
    from ballroom.rtd.plot import (
        plot_barcode,
    )
    from ballroom.rtd.synthetic import (
        clusters_experiment,
        rings_experiment,
        rings_variant,
    )
    from ballroom.rtd.zoo import (
        ZOO,
        create,
    )

__version__ = "0.1.0"
_SOURCES = {
    "imd": "ballroom.rtd.baselines",
    "imd_available": "ballroom.rtd.baselines",
    "available_backends": "ballroom.rtd.backends",
    "compute_bars": "ballroom.rtd.backends",
    "critical_edges": "ballroom.rtd.backends",
    "truncated_bars": "ballroom.rtd.backends",
    "DigitsProbeDataModule": "ballroom.rtd.data",
    "load_dsprites": "ballroom.rtd.data",
    "clusters_experiment": "ballroom.rtd.synthetic",
    "rings_experiment": "ballroom.rtd.synthetic",
    "rings_variant": "ballroom.rtd.synthetic",
    "birth_bound": "ballroom.rtd.functional",
    "cross_barcode": "ballroom.rtd.functional",
    "cross_barcode_from_distances": "ballroom.rtd.functional",
    "cross_bars": "ballroom.rtd.functional",
    "cross_matrix": "ballroom.rtd.functional",
    "cross_matrix_from_distances": "ballroom.rtd.functional",
    "cross_threshold": "ballroom.rtd.functional",
    "distances": "ballroom.rtd.functional",
    "normalise": "ballroom.rtd.functional",
    "rtd": "ballroom.rtd.functional",
    "rtd_1": "ballroom.rtd.functional",
    "rtd_sym": "ballroom.rtd.functional",
    "rtd_sym_batch": "ballroom.rtd.functional",
    "vr_barcode": "ballroom.rtd.functional",
    "ProbeClassifier": "ballroom.rtd.lit",
    "RTDCallback": "ballroom.rtd.lit",
    "RTDLoss": "ballroom.rtd.nn",
    "plot_barcode": "ballroom.rtd.plot",
    "ZOO": "ballroom.rtd.zoo",
    "create": "ballroom.rtd.zoo",
}
__all__ = [
    "ZOO",
    "DigitsProbeDataModule",
    "ProbeClassifier",
    "RTDCallback",
    "RTDLoss",
    "__version__",
    "available_backends",
    "birth_bound",
    "clusters_experiment",
    "compute_bars",
    "create",
    "critical_edges",
    "cross_barcode",
    "cross_barcode_from_distances",
    "cross_bars",
    "cross_matrix",
    "cross_matrix_from_distances",
    "cross_threshold",
    "distances",
    "imd",
    "imd_available",
    "load_dsprites",
    "normalise",
    "plot_barcode",
    "rings_experiment",
    "rings_variant",
    "rtd",
    "rtd_1",
    "rtd_sym",
    "rtd_sym_batch",
    "truncated_bars",
    "vr_barcode",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, [n for n in __all__ if n != "__version__"])
