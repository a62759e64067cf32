"""What :class:`~ballroom.dualform.DualFormRecorder` keeps per layer and per parameter.

Internal bookkeeping (no public names of the package live here): the forwards of the step in
progress, the stored slots (keys, output gradients, step and metadata of every training pattern),
each parameter's initial value and :class:`~ballroom.dualform.coefficients.StepRecord` s, the
gradient checks not yet run, and the ``state_dict`` form of all of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ballroom.dualform.coefficients import StepRecord, sgd_coefficients

__all__ = ["LayerTrack", "ParamTrack", "PendingCheck", "PendingForward", "Slots"]

#: metadata columns of a slot: training-example index, label, dataset id (-1 = unset)
META_COLUMNS = 3


@dataclass
class PendingForward:
    """One recorded forward of the step in progress: its inputs, and its output gradient once backward ran."""

    x: Tensor  # (P, d_in), detached view of the layer input
    meta: Tensor | None  # (P, 3) index, label, dataset; None = unset
    g: Tensor | None = None  # (P, d_out) once backward reached the output

    def add_grad(self, g: Tensor) -> None:
        g = g.detach().reshape(-1, g.shape[-1])
        self.g = g if self.g is None else self.g + g


class PendingCheck(NamedTuple):
    """A step whose gradient scale is not measured yet (the checks run batched, see ``check_every``)."""

    record: int  # index into ParamTrack.records
    sketch: Tensor  # (2, n): sketches of [param.grad; G_t]
    clip: float | None  # the factor declared with note_clip, if any
    sign: float | None  # -1 under maximize; None: kappa is not measured (not an SGD step)


class Slots(NamedTuple):
    """Every stored pattern of one layer, concatenated in training order."""

    keys: Tensor  # (N, d_in)
    grads: Tensor  # (N, d_out)
    steps: Tensor  # (N,) optimizer step of each slot
    meta: Tensor  # (N, 3) index, label, dataset


@dataclass
class ParamTrack:
    """One parameter (weight or bias) of a recorded layer: ``W_0``, its param group, one record per step."""

    param: nn.Parameter
    init: Tensor
    group: dict[str, Any]
    records: list[StepRecord] = field(default_factory=list)  # one per optimizer step
    has_buffer: bool = False
    before: Tensor | None = None  # snapshot for approximate mode
    checks: list[PendingCheck] = field(default_factory=list)  # not yet verified

    def coefficients(self) -> tuple[float, Tensor]:
        """``(a_T, c (T,))`` of this parameter."""
        if not self.records:
            return 1.0, torch.zeros(0, dtype=torch.float64)
        return sgd_coefficients(self.records)

    def to_state(self) -> dict[str, Any]:
        rows = torch.tensor([r.to_row() for r in self.records], dtype=torch.float64)
        return {
            "init": self.init,
            "records": rows.reshape(-1, len(StepRecord._fields)),
            "has_buffer": self.has_buffer,
        }

    def load_state(self, entry: dict[str, Any], device: torch.device) -> None:
        self.init = entry["init"].to(device)
        self.records = [StepRecord.from_row(r) for r in entry["records"].tolist()]
        self.has_buffer = bool(entry["has_buffer"])


@dataclass
class LayerTrack:
    """One recorded ``nn.Linear``: its parameters, the forwards of the step in progress and the stored slots."""

    name: str
    module: nn.Linear
    weight: ParamTrack
    bias: ParamTrack | None
    pending: list[PendingForward] = field(default_factory=list)
    keys: list[Tensor] = field(default_factory=list)
    grads: list[Tensor] = field(default_factory=list)
    steps: list[Tensor] = field(default_factory=list)  # (P,) optimizer step of each slot
    meta: list[Tensor] = field(default_factory=list)  # (P, 3): index, label, dataset
    probes: Tensor | None = None  # (d_in, k) random sketch vectors of the gradient check

    def params(self) -> list[tuple[str, ParamTrack]]:
        """``[("weight", track), ("bias", track)]`` (no bias entry for ``bias=False`` layers)."""
        return [(n, p) for n, p in (("weight", self.weight), ("bias", self.bias)) if p is not None]

    def append(
        self, x: Tensor, g: Tensor, meta: Tensor, step: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        """Store one step's patterns (keys ``x``, output gradients ``g``, metadata) as slots."""
        if x.shape[0]:
            self.keys.append(x.detach().to(device, dtype))
            self.grads.append(g.detach().to(device, dtype))
            self.steps.append(torch.full((x.shape[0],), step, dtype=torch.int64, device=device))
            self.meta.append(meta.to(device))

    def slots(self, dtype: torch.dtype) -> Slots:
        """The stored slots concatenated (empty tensors of the right width if none)."""
        d_in, d_out = self.module.in_features, self.module.out_features
        return Slots(
            torch.cat(self.keys) if self.keys else torch.zeros(0, d_in, dtype=dtype),
            torch.cat(self.grads) if self.grads else torch.zeros(0, d_out, dtype=dtype),
            torch.cat(self.steps) if self.steps else torch.zeros(0, dtype=torch.int64),
            torch.cat(self.meta) if self.meta else torch.zeros(0, META_COLUMNS, dtype=torch.int64),
        )

    def memory_bytes(self) -> int:
        return sum(
            x.numel() * x.element_size()
            for lst in (self.keys, self.grads, self.steps, self.meta)
            for x in lst
        )

    def to_state(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "keys": torch.cat(self.keys) if self.keys else None,
            "grads": torch.cat(self.grads) if self.grads else None,
            "steps": torch.cat(self.steps) if self.steps else None,
            "meta": torch.cat(self.meta) if self.meta else None,
        }
        entry.update({pname: p.to_state() for pname, p in self.params()})
        return entry

    def load_state(self, entry: dict[str, Any], device: torch.device, dtype: torch.dtype) -> None:
        if tuple(entry["weight"]["init"].shape) != tuple(self.weight.param.shape):
            raise ValueError(
                f"layer {self.name!r}: state weight shape {tuple(entry['weight']['init'].shape)} "
                f"!= model {tuple(self.weight.param.shape)}"
            )
        self.keys = [entry["keys"].to(device, dtype)] if entry["keys"] is not None else []
        self.grads = [entry["grads"].to(device, dtype)] if entry["grads"] is not None else []
        self.steps = [entry["steps"].to(device)] if entry["steps"] is not None else []
        self.meta = [entry["meta"].to(device)] if entry["meta"] is not None else []
        self.pending = []
        for pname, p in self.params():
            if pname not in entry:
                raise ValueError(f"layer {self.name!r}: state has no {pname}")
            p.load_state(entry[pname], device)
