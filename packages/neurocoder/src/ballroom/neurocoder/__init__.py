"""ballroom-neurocoder: layers whose weights are composed per input from stored neural programs
(Le & Venkatesh, ICML 2022), and continual-learning streams that run plain and Neurocoder models alike.

Building blocks import with torch only; the Lightning modules load Lightning on first access::

    from ballroom.neurocoder import NeurocoderLinear
    layer = NeurocoderLinear(64, 10)                   # (B, 64) -> (B, 10)
    y = layer(x); reg = layer.orthogonality_loss()
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.neurocoder.continual import (
        Agent,
        EWCAgent,
        L2Agent,
        OnlineEWCAgent,
        SIAgent,
        Task,
        average_final_accuracy,
        evaluate,
        fisher_diagonal,
        make_agent,
        permuted_tasks,
        remap_labels,
        run_stream,
        split_tasks,
    )
    from ballroom.neurocoder.data import NeurocoderDataModule, load_digits_flat, load_stream
    from ballroom.neurocoder.functional import (
        cumulative_sigma,
        least_used_blend,
        least_used_update,
        low_rank_apply,
        orthogonality_loss,
        program_similarity,
        read_weights,
        working_program,
    )
    from ballroom.neurocoder.lit import ContinualLightningRunner, NeurocoderLightningModule
    from ballroom.neurocoder.nn import (
        NeurocoderConv2d,
        NeurocoderLinear,
        NeurocoderMLP,
        ProgramComposition,
        ProgramMemory,
        attach_neurocoder,
        neurocoder_regularizer,
    )
    from ballroom.neurocoder.official import OFFICIAL_NAMES, load_official_state_dict

__version__ = _version("ballroom-neurocoder")

_F, _N, _C = "ballroom.neurocoder.functional", "ballroom.neurocoder.nn", "ballroom.neurocoder.continual"
_SOURCES = {
    **{n: _F for n in ("cumulative_sigma", "least_used_blend", "least_used_update", "low_rank_apply",
                       "orthogonality_loss", "program_similarity", "read_weights", "working_program")},
    **{n: _N for n in ("NeurocoderConv2d", "NeurocoderLinear", "NeurocoderMLP", "ProgramComposition",
                       "ProgramMemory", "attach_neurocoder", "neurocoder_regularizer")},
    **{n: _C for n in ("Agent", "EWCAgent", "L2Agent", "OnlineEWCAgent", "SIAgent", "Task",
                       "average_final_accuracy", "evaluate", "fisher_diagonal", "make_agent",
                       "permuted_tasks", "remap_labels", "run_stream", "split_tasks")},
    "NeurocoderDataModule": "ballroom.neurocoder.data",
    "load_digits_flat": "ballroom.neurocoder.data",
    "load_stream": "ballroom.neurocoder.data",
    "ContinualLightningRunner": "ballroom.neurocoder.lit",
    "NeurocoderLightningModule": "ballroom.neurocoder.lit",
    "OFFICIAL_NAMES": "ballroom.neurocoder.official",
    "load_official_state_dict": "ballroom.neurocoder.official",
}  # fmt: skip
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
