"""Lightning: train the MLP with SGD while a callback records its dual form, then analyse it."""

from __future__ import annotations

import math
from typing import Any, cast

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ballroom.core.lit import ClassifierModule
from ballroom.core.validate import check_choice, check_int, check_positive
from ballroom.dualform.functional import same_dataset_share, vote_agreement
from ballroom.dualform.metrics import capture_layer_io
from ballroom.dualform.recorder import DualFormRecorder, _check_tol

__all__ = ["DualFormCallback", "DualFormClassifier"]

_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


class DualFormClassifier(ClassifierModule):
    """Cross-entropy training of a zoo MLP with ``torch.optim.SGD`` (the paper's setup), keyword arguments only.

    Args:
        model: a zoo name (``"dualform-mnist"``, the official image runs' ``784-800-800-10``;
            ``"dualform-digits"``, ``"dualform-tiny"``) built with ``model_kwargs`` (e.g.
            ``{"layer_sizes": (16, 16), "dropout": 0.1}``), or a built ``nn.Module``; kept in
            ``self.net`` (:func:`ballroom.core.checkpoint.load_zoo_model` reads it back).
        num_classes: classes of the accuracy metrics (the network's output width).
        lr, momentum, dampening, nesterov, weight_decay: ``torch.optim.SGD``'s (defaults: the
            official runs, lr ``3e-3``, momentum 0.9, no weight decay).
        clip: global-norm clipping threshold (1.0 in the official runs), or ``None``.

    Clipping is done in :meth:`configure_gradient_clipping` (also when
    ``Trainer(gradient_clip_val=...)`` is given) and the factor it applied is passed to the
    recorder of an attached :class:`DualFormCallback`. Batches are ``(x, y, *meta)``; the steps and
    metrics (``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/acc``) are
    ballroom-core's :class:`~ballroom.core.lit.ClassifierModule`.
    """

    def __init__(
        self,
        *,
        model: str | nn.Module = "dualform-mnist",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 3e-3,
        momentum: float = 0.9,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        clip: float | None = 1.0,
    ) -> None:
        if lr <= 0 or momentum < 0 or weight_decay < 0 or not 0 <= dampening <= 1:
            raise ValueError(
                f"need lr > 0, momentum >= 0, weight_decay >= 0, 0 <= dampening <= 1; got lr={lr}, "
                f"momentum={momentum}, weight_decay={weight_decay}, dampening={dampening}"
            )
        if clip is not None and clip <= 0:
            raise ValueError(f"clip must be > 0 or None, got {clip}")
        super().__init__(
            model=model, model_kwargs=model_kwargs, num_classes=num_classes, lr=lr, weight_decay=weight_decay
        )
        self.recorder: DualFormRecorder | None = None  # set by DualFormCallback

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.SGD(
            self.parameters(),
            lr=hp["lr"],
            momentum=hp["momentum"],
            dampening=hp["dampening"],
            nesterov=hp["nesterov"],
            weight_decay=hp["weight_decay"],
        )

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        if gradient_clip_algorithm not in (None, "norm"):
            raise ValueError(
                "only global-norm clipping keeps the dual form exact; element-wise "
                f"gradient_clip_algorithm={gradient_clip_algorithm!r} does not"
            )
        clip = gradient_clip_val if gradient_clip_val is not None else self.hparams["clip"]
        if not clip:
            return
        norm = float(torch.nn.utils.clip_grad_norm_(self.parameters(), clip))
        if self.recorder is not None:
            self.recorder.note_clip(min(1.0, clip / (norm + 1e-6)))


class DualFormCallback(pl.Callback):
    """Owns a :class:`DualFormRecorder` on ``pl_module.net`` and analyses the dual form when fit ends.

    Batches ``(x, y, index, dataset)`` give the recorder its metadata. At ``on_fit_end`` the first
    ``analysis_size`` validation examples are the queries; the callback fills :attr:`results` and
    sends to the loggers ``dual/max_rel_gap/layer{i}``, ``dual/vote_pred/layer{i}``,
    ``dual/vote_target/layer{i}``, ``dual/same_dataset_share/layer{i}`` (when the recorded slots
    come from more than one dataset) and ``dual/memory_mb``. With ``max_gap`` set, a larger
    dual/primal gap raises (a self-check for long runs). The recorder's state is saved in the
    checkpoint, so a resumed fit keeps every recorded pattern. Recording stops (hooks removed) when
    fit ends; the data stays in :attr:`recorder`.

    Under DDP each rank gathers every rank's patterns at each step (the full dual form on every
    rank). ``store_dtype`` is a name (``"float32"``, ``"float16"``, ``"float64"``) or ``None`` (the
    model's dtype, the default); ``check_tol``
    as in :class:`DualFormRecorder` (raise it, e.g. to 0.05, under bf16 autocast).

    Args:
        analysis_size: validation examples used as queries (>= 1).
        layers: the layers to record (names or globs, see :func:`linear_layer_names`); default every
            ``nn.Linear``.
        store_dtype: the storage dtype (above).
        device: where stored patterns live.
        check_tol: the recorder's per-step gradient check tolerance (above).
        max_gap: the largest allowed dual/primal gap at the end of fit (``None``: no check).
        num_classes: classes of the votes (default: the module's ``num_classes`` hyperparameter, else
            ``max(y) + 1``).

    Raises:
        ValueError: an unknown ``store_dtype``, ``analysis_size < 1`` or ``max_gap <= 0``.
    """

    def __init__(
        self,
        analysis_size: int = 256,
        layers: list[str] | None = None,
        store_dtype: str | None = None,
        device: str = "cpu",
        check_tol: float | str | None = "auto",
        max_gap: float | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if store_dtype is not None:
            check_choice(store_dtype, "store_dtype", sorted(_DTYPES))
        self.analysis_size = check_int(analysis_size, "analysis_size", min=1)
        self.layers = layers
        self.store_dtype = None if store_dtype is None else _DTYPES[store_dtype]
        self.device = device
        self.check_tol = _check_tol(check_tol)
        self.max_gap = None if max_gap is None else check_positive(max_gap, "max_gap")
        self.num_classes = num_classes
        self.recorder: DualFormRecorder | None = None
        self.results: dict[str, float] = {}
        self._restore: dict[str, Any] | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if len(trainer.optimizers) != 1:
            raise ValueError(f"DualFormCallback needs exactly one optimizer, got {len(trainer.optimizers)}")
        net = getattr(pl_module, "net", pl_module)
        if self.recorder is not None:  # a second fit records afresh (its optimizer is new)
            self.recorder.remove()
        self.recorder = DualFormRecorder(
            net,
            trainer.optimizers[0],
            layers=self.layers,
            store_dtype=self.store_dtype,
            device=self.device,
            check_tol=self.check_tol,
        )
        if self._restore is not None:
            self.recorder.load_state_dict(self._restore)
            self._restore = None
        if hasattr(pl_module, "recorder"):  # duck-typed: any module with a recorder attribute
            cast(Any, pl_module).recorder = self.recorder

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.recorder is None or not isinstance(batch, (tuple, list)) or len(batch) < 2:
            return
        meta = {"label": batch[1]}
        if len(batch) >= 4:
            meta.update(index=batch[2], dataset=batch[3])
        self.recorder.set_batch_meta(**meta)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.recorder is None else {"recorder": self.recorder.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restore = state_dict.get("recorder")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.recorder is None:
            return
        self.recorder.remove()  # stop recording: later forwards (other optimizers, fine-tuning) are not ours
        if self.recorder.num_steps == 0:
            return
        self.results = self.analyse(pl_module, self._analysis_batch(trainer))
        for logger in trainer.loggers:
            logger.log_metrics(self.results, step=trainer.global_step)
        if self.max_gap is not None:
            gaps = [v for k, v in self.results.items() if k.startswith("dual/max_rel_gap/")]
            if not gaps:
                raise RuntimeError(
                    "max_gap is set but no dual/primal gap was measured: the optimizer is not SGD and the "
                    "recorder is not approximate (pass approximate=True, use torch.optim.SGD, or max_gap=None)"
                )
            worst = max(gaps)
            if not worst <= self.max_gap:
                raise RuntimeError(f"dual/primal gap {worst:.3e} exceeds max_gap={self.max_gap:.1e}")

    def _analysis_batch(self, trainer: pl.Trainer) -> tuple[Tensor, ...]:
        dm = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning's data connector; Trainer does not declare it
        if dm is None:
            raise RuntimeError(
                "DualFormCallback analyses the datamodule's validation set; fit with a datamodule"
            )
        loader = dm.val_dataloader()
        ds = loader.dataset
        n = min(self.analysis_size, len(ds))
        items = [ds[i] for i in range(n)]
        return tuple(torch.stack([torch.as_tensor(it[j]) for it in items]) for j in range(len(items[0])))

    @torch.no_grad()
    def analyse(self, pl_module: pl.LightningModule, batch: tuple[Tensor, ...]) -> dict[str, float]:
        """Gap, votes and dataset shares of every recorded layer for queries ``batch = (x, y[, index, dataset])``."""
        assert self.recorder is not None
        net = getattr(pl_module, "net", pl_module)
        x, y = batch[0].to(pl_module.device), batch[1].cpu()
        qdata = batch[3].cpu() if len(batch) >= 4 else None
        io = capture_layer_io(net, self.recorder.layer_names, x)
        preds = io[self.recorder.layer_names[-1]][1].argmax(-1).cpu()
        n_classes = self.num_classes or int(pl_module.hparams.get("num_classes", int(y.max()) + 1))
        out: dict[str, float] = {}
        for i, name in enumerate(self.recorder.layer_names):
            dual = self.recorder.dual(name)
            q, primal = io[name]
            if dual.exact or dual.approximate:
                d = dual.forward(q)
                ref = primal.to(d.dtype)
                out[f"dual/max_rel_gap/layer{i}"] = float(
                    (d - ref).abs().max() / ref.abs().max().clamp_min(1e-300)
                )
            va = vote_agreement(dual.vote(q, n_classes).cpu(), preds, y)
            out[f"dual/vote_pred/layer{i}"] = va.vote_pred
            out[f"dual/vote_target/layer{i}"] = va.vote_target
            if qdata is not None and len(dual) and int(dual.dataset.max()) > int(dual.dataset.min()):
                share = same_dataset_share(dual.scores(q), qdata.to(q.device), dual.dataset.to(q.device))
                out[f"dual/same_dataset_share/layer{i}"] = float(share.mean())
        out["dual/memory_mb"] = self.recorder.memory_bytes() / 2**20
        if not all(math.isfinite(v) for v in out.values()):
            raise RuntimeError(f"non-finite dual-form statistics: {out}")
        return out
