"""ballroom-agnas: attention-guided micro- and macro-architecture search (Sun et al., ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.agnas import AttentionSupernet, derive_genotype
    net = AttentionSupernet(C=4, layers=3, reductions=[1])
    logits, importance = net(x, return_importance=True)   # (B, 10), (cells, 14, 8)
    genotype = derive_genotype(importance[0], net.primitives)
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.agnas.baselines import DartsSupernet, darts_first_order_step, random_search
    from ballroom.agnas.data import AgnasDigitsDataModule, TensorBatches, cifar_datamodule, query_nb201
    from ballroom.agnas.evalnet import EvalNetwork
    from ballroom.agnas.functional import (
        AGNAS_GENOTYPES,
        DartsGenotype,
        Genotype,
        attention_weighted_sum,
        derive_genotype,
        derive_macro,
        kendall_tau,
        op_importance,
        stage_genotypes,
    )
    from ballroom.agnas.lit import AGNASSearch, ArchitectureTrainer
    from ballroom.agnas.macro import AttentionSuperBlock, MacroSupernet, MBConv
    from ballroom.agnas.nb201 import NB201Network, NB201SearchSpace, NB201Supernet
    from ballroom.agnas.nn import (
        AttentionMixedOp,
        AttentionSupernet,
        ChannelAttention,
        DartsMixedOp,
        ImportanceAccumulator,
        SearchCell,
        load_official_state_dict,
        official_to_ours,
    )
    from ballroom.agnas.ops import DARTS_PRIMITIVES, NB201_PRIMITIVES, OPS

__version__ = _version("ballroom-agnas")

_F, _N, _O = "ballroom.agnas.functional", "ballroom.agnas.nn", "ballroom.agnas.ops"
_SOURCES = {
    "AGNAS_GENOTYPES": _F,
    "DartsGenotype": _F,
    "Genotype": _F,
    "attention_weighted_sum": _F,
    "derive_genotype": _F,
    "derive_macro": _F,
    "kendall_tau": _F,
    "op_importance": _F,
    "stage_genotypes": _F,
    "AttentionMixedOp": _N,
    "AttentionSupernet": _N,
    "ChannelAttention": _N,
    "DartsMixedOp": _N,
    "ImportanceAccumulator": _N,
    "SearchCell": _N,
    "load_official_state_dict": _N,
    "official_to_ours": _N,
    "DARTS_PRIMITIVES": _O,
    "NB201_PRIMITIVES": _O,
    "OPS": _O,
    "EvalNetwork": "ballroom.agnas.evalnet",
    "NB201Network": "ballroom.agnas.nb201",
    "NB201SearchSpace": "ballroom.agnas.nb201",
    "NB201Supernet": "ballroom.agnas.nb201",
    "AttentionSuperBlock": "ballroom.agnas.macro",
    "MBConv": "ballroom.agnas.macro",
    "MacroSupernet": "ballroom.agnas.macro",
    "DartsSupernet": "ballroom.agnas.baselines",
    "darts_first_order_step": "ballroom.agnas.baselines",
    "random_search": "ballroom.agnas.baselines",
    "AgnasDigitsDataModule": "ballroom.agnas.data",
    "TensorBatches": "ballroom.agnas.data",
    "cifar_datamodule": "ballroom.agnas.data",
    "query_nb201": "ballroom.agnas.data",
    "AGNASSearch": "ballroom.agnas.lit",
    "ArchitectureTrainer": "ballroom.agnas.lit",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
