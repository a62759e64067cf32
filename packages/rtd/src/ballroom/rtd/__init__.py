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

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.rtd.backends import available_backends, compute_bars, critical_edges, truncated_bars
    from ballroom.rtd.baselines import imd, imd_available
    from ballroom.rtd.cross import (
        Norm,
        a_first_order,
        cross_matrix,
        cross_matrix_from_distances,
        distances,
        normalise,
    )
    from ballroom.rtd.cuts import birth_bound, cross_threshold, search_cut, spanning_bottleneck
    from ballroom.rtd.data import DigitsProbeDataModule, load_dsprites
    from ballroom.rtd.functional import (
        RTDTrials,
        cross_barcode,
        cross_barcode_from_distances,
        cross_bars,
        from_dgms,
        rtd,
        rtd_1,
        rtd_sym,
        rtd_sym_batch,
        to_dgms,
        vr_barcode,
    )
    from ballroom.rtd.lit import ProbeClassifier, RTDCallback
    from ballroom.rtd.metric import RTD
    from ballroom.rtd.nn import RTDLoss
    from ballroom.rtd.plot import plot_barcode
    from ballroom.rtd.synthetic import clusters_experiment, rings_experiment, rings_variant
    from ballroom.rtd.zoo import ZOO, create

__version__ = _version("ballroom-rtd")
_SOURCES = {
    "available_backends": "ballroom.rtd.backends",
    "compute_bars": "ballroom.rtd.backends",
    "critical_edges": "ballroom.rtd.backends",
    "truncated_bars": "ballroom.rtd.backends",
    "imd": "ballroom.rtd.baselines",
    "imd_available": "ballroom.rtd.baselines",
    "a_first_order": "ballroom.rtd.cross",
    "cross_matrix": "ballroom.rtd.cross",
    "cross_matrix_from_distances": "ballroom.rtd.cross",
    "distances": "ballroom.rtd.cross",
    "Norm": "ballroom.rtd.cross",
    "normalise": "ballroom.rtd.cross",
    "birth_bound": "ballroom.rtd.cuts",
    "cross_threshold": "ballroom.rtd.cuts",
    "search_cut": "ballroom.rtd.cuts",
    "spanning_bottleneck": "ballroom.rtd.cuts",
    "DigitsProbeDataModule": "ballroom.rtd.data",
    "load_dsprites": "ballroom.rtd.data",
    "cross_barcode": "ballroom.rtd.functional",
    "cross_barcode_from_distances": "ballroom.rtd.functional",
    "cross_bars": "ballroom.rtd.functional",
    "from_dgms": "ballroom.rtd.functional",
    "rtd": "ballroom.rtd.functional",
    "rtd_1": "ballroom.rtd.functional",
    "rtd_sym": "ballroom.rtd.functional",
    "rtd_sym_batch": "ballroom.rtd.functional",
    "RTDTrials": "ballroom.rtd.functional",
    "to_dgms": "ballroom.rtd.functional",
    "vr_barcode": "ballroom.rtd.functional",
    "ProbeClassifier": "ballroom.rtd.lit",
    "RTDCallback": "ballroom.rtd.lit",
    "RTD": "ballroom.rtd.metric",
    "RTDLoss": "ballroom.rtd.nn",
    "plot_barcode": "ballroom.rtd.plot",
    "clusters_experiment": "ballroom.rtd.synthetic",
    "rings_experiment": "ballroom.rtd.synthetic",
    "rings_variant": "ballroom.rtd.synthetic",
    "create": "ballroom.rtd.zoo",
    "ZOO": "ballroom.rtd.zoo",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
