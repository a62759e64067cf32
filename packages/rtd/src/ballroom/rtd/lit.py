"""Lightning pieces: the probe classifier of the digits experiment and an RTD-logging callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ballroom.core.lit import ClassifierModule
from ballroom.core.metrics import linear_cka
from ballroom.core.validate import check_int, check_tensor
from ballroom.rtd.functional import rtd

__all__ = ["ProbeClassifier", "RTDCallback"]


class ProbeClassifier(ClassifierModule):
    """An MLP classifier (cross-entropy, Adam) whose hidden layers RTD compares.

    ``model`` is a zoo name (built with ``model_kwargs``; default ``rtd-probe``, the spec's 64-128-64-10
    ReLU MLP) or a built ``nn.Module``; either way it must expose ``representations(x)``. It is kept in
    ``self.net``, so :func:`ballroom.core.checkpoint.load_zoo_model` turns a ``fit`` checkpoint of a
    zoo-named probe back into the plain network. Optimiser: AdamW at ``lr`` (1e-3) with ``weight_decay``
    (0: Adam). Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``. :meth:`representations`
    returns each hidden layer's activations; the last one is the penultimate representation.

    Args:
        model: a zoo name or a built network with ``representations(x)`` (above).
        model_kwargs: keyword arguments of the zoo builder.
        num_classes: the number of classes (of the accuracy metrics).
        lr: the AdamW learning rate.
        weight_decay: the AdamW weight decay.

    Raises:
        TypeError: the network has no ``representations`` method.
    """

    def __init__(
        self,
        model: str | nn.Module = "rtd-probe",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            model=model, model_kwargs=model_kwargs, num_classes=num_classes, lr=lr, weight_decay=weight_decay
        )
        if not hasattr(self.net, "representations"):
            name = model if isinstance(model, str) else type(model).__name__
            raise TypeError(f"model {name!r} must expose representations(x) -> list of (B, h) tensors")

    def representations(self, x: Tensor) -> list[Tensor]:
        """Hidden activations ``[(B, h_1), ..., (B, h_k)]`` of ``x (B, ...)``."""
        return self.net.representations(x)


Layer = str | int | Callable[[pl.LightningModule, Tensor], Tensor]


class RTDCallback(pl.Callback):
    """Logs RTD (and linear CKA beside it) of a fixed probe set's representation at epoch ends.

    At the end of every ``every_n_epochs``-th training epoch, on global rank zero only, the callback
    takes ``layer`` of ``pl_module.representations(probe_x)`` (``"penultimate"`` = the last hidden
    layer, an int = that index, or a callable ``(module, x) -> (n, d)``) and logs

    - ``rtd/to_reference`` and ``cka/to_reference`` against ``reference_reps (n, d')`` when given,
    - ``rtd/to_prev_epoch`` and ``cka/to_prev_epoch`` against the previous evaluated epoch.

    RTD uses :func:`ballroom.rtd.rtd` with ``trials`` subsets of ``batch`` points (one exact
    computation when ``n <= batch``), seeded by ``seed``. ``history`` keeps every logged value.
    """

    def __init__(
        self,
        probe_x: Tensor,
        reference_reps: Tensor | np.ndarray | None = None,
        layer: Layer = "penultimate",
        every_n_epochs: int = 1,
        batch: int = 500,
        trials: int = 3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_int(every_n_epochs, "every_n_epochs", min=1)
        check_int(batch, "batch", min=2)
        check_int(trials, "trials", min=1)
        check_int(seed, "seed", min=0)
        check_tensor(probe_x, "probe_x", min_ndim=2)
        if probe_x.shape[0] < 3:
            raise ValueError(
                f"probe_x must be a batch (n, ...) with n >= 3, got shape {tuple(probe_x.shape)}"
            )
        if reference_reps is not None and len(reference_reps) != len(probe_x):
            raise ValueError(f"reference_reps has {len(reference_reps)} rows but probe_x has {len(probe_x)}")
        self.probe_x = probe_x
        self.reference = (
            None
            if reference_reps is None
            else torch.as_tensor(np.asarray(reference_reps), dtype=torch.float64)
        )
        self.layer = layer
        self.every_n_epochs = every_n_epochs
        self.batch = batch
        self.trials = trials
        self.seed = seed
        self.previous: Tensor | None = None
        self.history: list[dict[str, float]] = []

    @torch.no_grad()
    def _representation(self, pl_module: pl.LightningModule) -> Tensor:
        x = self.probe_x.to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        try:
            if callable(self.layer):
                rep = self.layer(pl_module, x)
            else:
                reps = pl_module.representations(x)  # type: ignore[operator]
                rep = reps[-1] if self.layer == "penultimate" else reps[int(self.layer)]
        finally:
            pl_module.train(was_training)
        return rep.detach().flatten(1).double().cpu()

    def _compare(self, rep: Tensor, other: Tensor) -> tuple[float, float]:
        value = rtd(rep.numpy(), other.numpy(), trials=self.trials, batch=self.batch, rng=self.seed)
        return value, float(linear_cka(rep, other))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs != 0 or not trainer.is_global_zero:
            return
        rep = self._representation(pl_module)
        row: dict[str, float] = {"epoch": float(trainer.current_epoch + 1)}
        if self.reference is not None:
            row["rtd/to_reference"], row["cka/to_reference"] = self._compare(rep, self.reference)
        if self.previous is not None:
            row["rtd/to_prev_epoch"], row["cka/to_prev_epoch"] = self._compare(rep, self.previous)
        self.previous = rep
        for key, value in row.items():
            if key != "epoch":
                pl_module.log(key, value, rank_zero_only=True)
        self.history.append(row)
