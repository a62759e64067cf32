"""Record what every linear layer saw during training: the hooks behind the dual form.

:class:`DualFormRecorder` hooks the ``nn.Linear`` layers of a model and its optimizer. For every
optimizer step it stores each layer's inputs (the keys) and the gradients of the loss w.r.t. its
output, reads the step's SGD hyper-parameters from the param group, and measures the step's gradient
scale (global-norm clipping, DDP averaging) with a sketched check that ``param.grad`` really is the
sum of the recorded outer products. Each step becomes a :class:`~ballroom.dualform.coefficients.StepRecord`;
:func:`~ballroom.dualform.coefficients.sgd_coefficients` turns them into ``a_T`` and ``c_t``
exactly for ``torch.optim.SGD`` (momentum, dampening, Nesterov, weight decay, ``maximize``, any
learning-rate schedule, global-norm clipping, gradient accumulation), and
:meth:`DualFormRecorder.dual` returns the layer's :class:`~ballroom.dualform.dual.DualLinear`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from ballroom.core.validate import check_int, check_positive
from ballroom.dualform.coefficients import StepRecord, gradient_scale, sgd_coefficients
from ballroom.dualform.dual import Contributions, DualLinear
from ballroom.dualform.functional import linear_layer_names
from ballroom.dualform.storage import META_COLUMNS, LayerTrack, ParamTrack, PendingCheck, PendingForward

# Contributions, DualLinear and sgd_coefficients lived here before the split: still importable from here
__all__ = ["Contributions", "DualFormRecorder", "DualLinear", "linear_layer_names", "sgd_coefficients"]

_NO_META = -1
_SKETCH_PROBES = 4


# the recorder


def _is_sgd(optimizer: torch.optim.Optimizer) -> bool:
    return type(optimizer) is torch.optim.SGD


def _check_tol(check_tol: object) -> float | str | None:
    """``"auto"``, ``None`` (no check) or a positive finite relative tolerance."""
    if check_tol is None or check_tol == "auto":
        return check_tol
    if isinstance(check_tol, str):
        raise ValueError(f"check_tol must be 'auto', None or a number > 0, got {check_tol!r}")
    return check_positive(check_tol, "check_tol")


class DualFormRecorder:
    """Record keys and error signals of ``nn.Linear`` layers during training; build their dual form.

    Args:
        model: the network; its ``nn.Linear`` modules (or those named in ``layers``) are hooked.
        optimizer: the optimizer training ``model``. ``torch.optim.SGD`` (any momentum, dampening,
            Nesterov, weight decay, ``maximize``, learning-rate schedule, global-norm clipping) gives
            the exact dual form. Any other optimizer is recorded for key-only scores; its
            ``forward``/``weight`` raise unless ``approximate=True``.
        layers: names (as in ``model.named_modules()``) or shell-style globs (``"blocks.*.fc1"``) of
            the layers to record, see :func:`linear_layer_names`; default every ``nn.Linear``.
        store_dtype: dtype of stored keys/gradients; ``None`` (default) = the parameters' dtype:
            float32 for a float32 model (the spec's choice) and float64 for a float64 model (1e-15
            exactness); float16 halves memory at about 1e-3 relative error.
        device: where stored patterns live (``"cpu"`` keeps GPU memory free).
        approximate: for non-SGD optimizers, represent each step's actual update by its projection
            on ``G_t`` (``c_t = <dW_t, G_t> / ||G_t||^2``); report the gap with
            :func:`ballroom.dualform.dual_primal_gap`.
        check_tol: relative tolerance of the per-step check that ``weight.grad`` is
            ``rho_t * sum_i g_i x_i^T`` (catches loss terms on ``W``, tied weights, unrecorded
            forwards). Default ``1e-6`` for float64 parameters, ``1e-3`` otherwise (raise it for
            bf16 autocast); ``None`` (or ``math.inf``) disables the check.
        sync_ddp: under ``torch.distributed``, gather every rank's patterns at each step (with
            DDP's gradient averaging ``1/world_size`` folded into the stored gradients), so each
            rank holds the full dual form.
        chunk_size: slots per chunk in the :class:`DualLinear` queries.
        check_every: the gradient checks (and the measured clipping factors) are evaluated in
            batches every ``check_every`` steps and before a dual form is built, so a violation
            raises within that many steps, naming the step (``1``: at every step).

    Patterns are recorded only when the module is in training mode and autograd is enabled; a
    forward whose output gets no gradient before the optimizer step is discarded. Every pattern is
    one slot: an input ``(B, T, d_in)`` gives ``B*T`` slots.

    Slot order (the index ``n`` of every :class:`DualLinear` tensor): optimizer steps in order; within
    a step, the layer's forward calls since the previous step in call order (micro-batches under
    gradient accumulation, each call of a layer used twice); within a call, the input's leading
    dimensions flattened row-major (example ``b``, position ``t`` -> ``b*T + t``); under DDP with
    ``sync_ddp``, rank 0's slots of the step, then rank 1's, ... ``DualLinear.step`` and the metadata
    of :meth:`set_batch_meta` (``index``, ``label``, ``dataset``) say where each slot came from.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        layers: Sequence[str] | None = None,
        store_dtype: torch.dtype | None = None,
        device: torch.device | str = "cpu",
        approximate: bool = False,
        check_tol: float | str | None = "auto",
        sync_ddp: bool = True,
        chunk_size: int = 65536,
        check_every: int = 16,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if store_dtype is None:  # the parameters' own dtype (float64 models stay exact to 1e-15)
            first = next(iter(model.parameters()), None)  # none: the "no nn.Linear" error comes below
            store_dtype = torch.float32 if first is None else first.dtype
        if not isinstance(store_dtype, torch.dtype) or not store_dtype.is_floating_point:
            raise TypeError(f"store_dtype must be a floating torch.dtype or None, got {store_dtype!r}")
        check_int(chunk_size, "chunk_size", min=1)
        check_int(check_every, "check_every", min=1)
        check_tol = _check_tol(check_tol)
        self.check_every = check_every
        self.model = model
        self.optimizer = optimizer
        self.store_dtype = store_dtype
        self.device = torch.device(device)
        self.exact = _is_sgd(optimizer)
        self.approximate = bool(approximate) and not self.exact
        self.check_tol = check_tol
        self.sync_ddp = sync_ddp
        self.chunk_size = chunk_size
        self.num_steps = 0
        self._meta: Tensor | None = None  # (B, 3)
        self._clip: float | None = None
        self._cache: dict[str, DualLinear] = {}
        self._gen = torch.Generator().manual_seed(0)

        modules = dict(model.named_modules())
        if layers is None:
            names = linear_layer_names(model)
        else:
            if isinstance(layers, str):
                layers = [layers]
            for n in layers:  # a plain name that is not a Linear: say what it is
                if isinstance(n, str) and n in modules and not isinstance(modules[n], nn.Linear):
                    raise TypeError(f"module {n!r} is {type(modules[n]).__name__}, expected nn.Linear")
            names = linear_layer_names(model, layers)
        if not names:
            raise ValueError("the model has no nn.Linear layer to record")
        groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
        self._layers: dict[str, LayerTrack] = {}
        self._preexisting: list[str] = []  # layers whose momentum predates the recorder
        for n in names:
            mod = modules[n]
            assert isinstance(mod, nn.Linear)
            tracks = []
            for p in (mod.weight, mod.bias):
                if p is None:
                    tracks.append(None)
                    continue
                if id(p) not in groups:
                    raise ValueError(f"a parameter of layer {n!r} is not in the optimizer's param groups")
                if optimizer.state.get(p, {}).get("momentum_buffer") is not None:
                    self._preexisting.append(n)
                tracks.append(
                    ParamTrack(cast(nn.Parameter, p), p.detach().to(self.device).clone(), groups[id(p)])
                )
            self._layers[n] = LayerTrack(n, mod, tracks[0], tracks[1])
        self._handles = [
            t.module.register_forward_hook(self._make_forward_hook(t)) for t in self._layers.values()
        ]
        self._handles.append(optimizer.register_step_pre_hook(self._pre_step))
        self._handles.append(optimizer.register_step_post_hook(self._post_step))

    # -- public API -----------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        """Names of the recorded layers, in model order."""
        return list(self._layers)

    def set_batch_meta(
        self, index: Tensor | None = None, label: Tensor | None = None, dataset: Tensor | int | None = None
    ) -> None:
        """Metadata ``(B,)`` for the examples of the next forward passes (until the next call or optimizer step).

        ``index``: example ids (for :meth:`DualLinear.per_example_scores`), ``label``: classes
        (for votes), ``dataset``: dataset/task ids (an int broadcasts). Missing fields are ``-1``.
        """
        given = [t for t in (index, label) if t is not None]
        if isinstance(dataset, Tensor):
            given.append(dataset)
        if not given:
            self._meta = None
            return
        b = int(given[0].shape[0]) if given[0].ndim else 1
        cols = []
        for nm, t in (("index", index), ("label", label), ("dataset", dataset)):
            if t is None:
                cols.append(torch.full((b,), _NO_META, dtype=torch.int64))
            elif isinstance(t, int):
                cols.append(torch.full((b,), t, dtype=torch.int64))
            else:
                t = torch.as_tensor(t)
                if t.dtype.is_floating_point or t.ndim != 1 or t.shape[0] != b:
                    raise ValueError(
                        f"{nm} must be an integer tensor of shape ({b},), got {t.dtype} {tuple(t.shape)}"
                    )
                cols.append(t.detach().to("cpu", torch.int64))
        self._meta = torch.stack(cols, 1)

    def note_clip(self, rho: float) -> None:
        """Declare the gradient scale applied this step (e.g. ``min(1, clip / (norm + 1e-6))``).

        Used instead of the measured factor; the per-step check still verifies it.
        """
        rho = float(rho)
        if not math.isfinite(rho) or rho < 0:
            raise ValueError(f"clip factor must be finite and >= 0, got {rho}")
        self._clip = rho

    def dual(self, name: str) -> DualLinear:
        """The :class:`DualLinear` of layer ``name`` as of the last optimizer step."""
        if name not in self._layers:
            raise KeyError(f"layer {name!r} is not recorded; recorded layers: {self.layer_names}")
        if name not in self._cache:
            self._cache[name] = self._build(self._layers[name])
        return self._cache[name]

    def duals(self) -> dict[str, DualLinear]:
        """``{name: DualLinear}`` for every recorded layer."""
        return {n: self.dual(n) for n in self._layers}

    def num_patterns(self, name: str) -> int:
        """Number of slots stored for layer ``name``."""
        return sum(int(k.shape[0]) for k in self._layers[name].keys)

    def memory_bytes(self) -> int:
        """Bytes held by the stored keys, gradients and per-slot metadata of every layer."""
        return sum(t.memory_bytes() for t in self._layers.values())

    def remove(self) -> None:
        """Detach every hook (recorded data stays available)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> DualFormRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # -- hooks ----------------------------------------------------------------------------------
    def _make_forward_hook(self, track: LayerTrack) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Tensor) -> None:
            if not (module.training and torch.is_grad_enabled()) or not output.requires_grad:
                return
            x = args[0].detach()
            d_in = track.module.in_features
            x2 = x.reshape(-1, d_in)
            meta = self._expand_meta(x.shape[0] if x.ndim > 1 else 1, x2.shape[0], track.name)
            entry = PendingForward(x2, meta)
            output.register_hook(entry.add_grad)
            track.pending.append(entry)

        return hook

    def _expand_meta(self, batch: int, patterns: int, name: str) -> Tensor | None:
        if self._meta is None:
            return None
        b = self._meta.shape[0]
        if b != batch or patterns % b:
            raise ValueError(
                f"layer {name!r}: set_batch_meta was given {b} examples but the forward has batch {batch} "
                f"({patterns} patterns)"
            )
        rep = patterns // b
        return self._meta.repeat_interleave(rep, dim=0) if rep > 1 else self._meta

    def _pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self.approximate:
            for t in self._layers.values():
                for _, p in t.params():
                    p.before = p.param.detach().clone()

    def _tol(self, dtype: torch.dtype) -> float:
        if self.check_tol == "auto":
            return 1e-6 if dtype == torch.float64 else 1e-3
        return math.inf if self.check_tol is None else float(self.check_tol)

    def _gather(self, x: Tensor, g: Tensor, meta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        import torch.distributed as dist

        if not (self.sync_ddp and dist.is_available() and dist.is_initialized()):
            return x, g, meta
        world = dist.get_world_size()
        if world == 1:
            return x, g, meta
        n = torch.tensor([x.shape[0]], device=x.device)
        sizes = [torch.zeros_like(n) for _ in range(world)]
        dist.all_gather(sizes, n)
        top = int(max(int(s) for s in sizes))
        out = []
        for t in (x, g, meta.to(x.device)):
            pad = torch.zeros((top - t.shape[0], *t.shape[1:]), dtype=t.dtype, device=t.device)
            buf = [torch.empty((top, *t.shape[1:]), dtype=t.dtype, device=t.device) for _ in range(world)]
            dist.all_gather(buf, torch.cat([t, pad]).contiguous())
            out.append(torch.cat([b[: int(s)] for b, s in zip(buf, sizes)]))
        # DDP averages gradients over ranks: fold the 1/world into the stored output gradients
        return out[0], out[1] / world, out[2].cpu()

    def _post_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._preexisting:
            raise RuntimeError(
                f"the optimizer held momentum for layers {self._preexisting} before the recorder was attached, "
                "so the weights are not in the span of W_0 and the recorded gradients: attach the recorder "
                "before the first optimizer step, or restore its state with load_state_dict()"
            )
        step = self.num_steps
        for track in self._layers.values():
            done = [e for e in track.pending if e.g is not None]
            track.pending = []
            w = track.weight.param
            if done:
                x = torch.cat([e.x for e in done]).to(w.dtype)  # a copy: the stored keys own their memory
                g = done[0].g if len(done) == 1 else torch.cat([e.g for e in done if e.g is not None])
                assert g is not None
                g = g.to(w.dtype)
                meta = torch.cat(
                    [
                        e.meta if e.meta is not None else torch.full((e.x.shape[0], META_COLUMNS), _NO_META)
                        for e in done
                    ]
                )
            else:
                x = w.new_zeros(0, track.module.in_features)
                g = w.new_zeros(0, track.module.out_features)
                meta = torch.zeros(0, META_COLUMNS, dtype=torch.int64)
            x, g, meta = self._gather(x, g, meta)
            self._record_param(track, track.weight, x, g, step, is_bias=False)
            if track.bias is not None:
                self._record_param(track, track.bias, x, g, step, is_bias=True)
            track.append(x, g, meta, step, self.device, self.store_dtype)
        self._clip = None
        self._meta = None  # metadata describes the batches of one step
        self.num_steps += 1
        self._cache.clear()
        if self.num_steps % self.check_every == 0:
            self.verify()

    def _record_param(
        self, layer: LayerTrack, track: ParamTrack, x: Tensor, g: Tensor, step: int, is_bias: bool
    ) -> None:
        p = track.param
        if p.grad is None:
            if x.shape[0] and math.isfinite(self._tol(p.dtype)):
                raise RuntimeError(
                    f"layer {layer.name!r} {'bias' if is_bias else 'weight'} at step {step}: patterns were "
                    "recorded but the parameter has no gradient"
                )
            track.records.append(StepRecord.skip())
            return
        grad = p.grad.detach()
        if is_bias:
            sketch = torch.stack([grad, g.sum(0)])
        else:  # random sketches: G r = g^T (x r) costs B (d_in + d_out) instead of B d_in d_out
            r = layer.probes
            if r is None or r.dtype != p.dtype or r.device != p.device:
                r = torch.randn(p.shape[1], _SKETCH_PROBES, generator=self._gen, dtype=torch.float64)
                r = layer.probes = r.to(device=p.device, dtype=p.dtype)
            sketch = torch.stack([grad @ r, g.T @ (x @ r)]).reshape(2, -1)
        group = track.group
        sign: float | None = None
        if self.exact:
            sign = -1.0 if group.get("maximize", False) else 1.0
            record = StepRecord.sgd(group, has_buffer=track.has_buffer)  # kappa: filled in by _verify
            track.records.append(record)
            track.has_buffer = track.has_buffer or record.momentum != 0.0
        elif self.approximate:
            assert track.before is not None
            delta = (p.detach() - track.before).double()
            full = (g.T @ x).double() if not is_bias else g.sum(0).double()
            den = float((full * full).sum())
            c = float((delta * full).sum()) / den if den > 0 else 0.0
            track.records.append(StepRecord.direct(c))
            track.before = None
        else:
            track.records.append(StepRecord.skip())
        track.checks.append(PendingCheck(len(track.records) - 1, sketch, self._clip, sign))

    def verify(self) -> None:
        """Run the pending per-step gradient checks now (they run every ``check_every`` steps and
        before any dual form is built) and fill in the measured clipping factors."""
        for layer in self._layers.values():
            for pname, track in layer.params():
                if track.checks:
                    self._verify(layer.name, pname, track)

    def _verify(self, name: str, pname: str, track: ParamTrack) -> None:
        """``rho_t`` with ``param.grad == rho_t * G_t`` for every pending step, from one batched Gram."""
        checks, track.checks = track.checks, []
        grams = torch.stack([c.sketch for c in checks]).double()
        products = (grams @ grams.transpose(1, 2)).tolist()
        tol = self._tol(track.param.dtype)
        # an unclipped step measures 1 up to rounding: snap, so plain SGD gives values == -lr * g exactly
        snap = 64 * torch.finfo(track.param.dtype).eps
        for check, ((pp, pg), (_, gg)) in zip(checks, products):
            what = f"layer {name!r} {pname} at step {check.record}"
            rho = gradient_scale(pp, pg, gg, check.clip, tol, snap, what)
            if check.sign is not None:
                track.records[check.record] = track.records[check.record]._replace(kappa=check.sign * rho)

    # -- building the dual form -----------------------------------------------------------------
    def _build(self, track: LayerTrack) -> DualLinear:
        self.verify()
        slots = track.slots(self.store_dtype)
        a_w, c_w = track.weight.coefficients()
        a_b, c_b = track.bias.coefficients() if track.bias is not None else (1.0, None)
        return DualLinear(
            track.name,
            slots.keys,
            slots.grads,
            slots.steps,
            slots.meta[:, 0],
            slots.meta[:, 1],
            slots.meta[:, 2],
            track.weight.init,
            None if track.bias is None else track.bias.init,
            a_w,
            c_w,
            a_b,
            c_b,
            exact=self.exact,
            approximate=self.approximate,
            chunk_size=self.chunk_size,
        )

    # -- persistence ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue recording or to rebuild the dual form (tensors and numbers only)."""
        self.verify()
        return {
            "version": 1,
            "num_steps": self.num_steps,
            "exact": self.exact,
            "approximate": self.approximate,
            "store_dtype": str(self.store_dtype).removeprefix("torch."),
            "layers": {n: t.to_state() for n, t in self._layers.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (same layer names and shapes) into this recorder."""
        if state.get("version") != 1:
            raise ValueError(f"unknown recorder state version {state.get('version')!r}")
        if set(state["layers"]) != set(self._layers):
            raise ValueError(
                f"recorded layers differ: state has {sorted(state['layers'])}, recorder has {self.layer_names}"
            )
        for n, t in self._layers.items():
            t.load_state(state["layers"][n], self.device, self.store_dtype)
        self.num_steps = int(state["num_steps"])
        self._preexisting = []
        self._cache.clear()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`state_dict` with ``torch.save`` (loadable with ``weights_only=True``)."""
        torch.save(self.state_dict(), path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore a file written by :meth:`save` (read with ``weights_only=True``)."""
        self.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))

    def __repr__(self) -> str:
        return (
            f"DualFormRecorder(layers={self.layer_names}, steps={self.num_steps}, exact={self.exact}, "
            f"store_dtype={self.store_dtype}, memory={self.memory_bytes() / 2**20:.1f} MiB)"
        )
