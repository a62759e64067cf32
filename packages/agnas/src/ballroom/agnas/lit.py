"""The LightningModules: ``AGNASSearch`` (supernet training + importance-based derivation) and
``ArchitectureTrainer`` (trains a derived network from scratch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor, nn

from ballroom.agnas.functional import Genotype, derive_genotype
from ballroom.agnas.nb201 import NB201SearchSpace, NB201Supernet
from ballroom.agnas.nn import AttentionSupernet, ImportanceAccumulator
from ballroom.core.lit import ClassifierModule
from ballroom.core.validate import check_choice

__all__ = ["AGNASSearch", "ArchitectureTrainer"]


def _as_tensor(value: object) -> Tensor:
    """Narrow ``all_gather``'s result (a tensor for a tensor input)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"all_gather returned {type(value).__name__}, expected a Tensor")
    return value


class AGNASSearch(pl.LightningModule):
    """Train the attention supernet on the train split; each validation epoch (the *selection*
        split, eval mode) sums the op importances, derives the genotypes and logs them.

        After each validation epoch ``self.importance`` holds the summed ``(layers, E, K)`` table,
        ``self.genotypes`` the derived genotype of every cell (DARTS space) or the NB201 arch string, and
        ``self.history`` one entry per epoch. Logs ``train/loss``, ``train/acc``, ``val/acc``,
    ``val/selection_samples`` (images summed into the importance, over all ranks); an
        importance heat map goes to a logger that has ``add_figure`` (TensorBoard) when matplotlib exists.

        Args:
            space: ``"darts"`` (:class:`AttentionSupernet`) or ``"nb201"`` (:class:`NB201Supernet`).
            C, layers, steps, reductions: the DARTS supernet (``layers`` = cells per stage for NB201).
            num_classes: classifier outputs.
            in_channels: image channels.
            lr, lr_min, momentum, weight_decay, grad_clip: SGD with cosine ``lr -> lr_min`` over ``max_epochs``.
    """

    def __init__(
        self,
        space: str = "darts",
        C: int = 4,
        layers: int = 3,
        steps: int = 4,
        reductions: Sequence[int] | None = (1,),
        num_classes: int = 10,
        in_channels: int = 3,
        lr: float = 0.05,
        lr_min: float = 0.001,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        grad_clip: float = 5.0,
    ) -> None:
        super().__init__()
        check_choice(space, "space", ("darts", "nb201"))
        if reductions is not None:
            reductions = list(reductions)
        self.save_hyperparameters()
        if space == "darts":
            self.net: AttentionSupernet | NB201Supernet = AttentionSupernet(
                C=C, layers=layers, steps=steps, num_classes=num_classes, in_channels=in_channels,
                reductions=reductions,
            )  # fmt: skip
        else:
            self.net = NB201Supernet(C=C, N=layers, num_classes=num_classes, in_channels=in_channels)
        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.accumulator = ImportanceAccumulator()
        self.importance: Tensor | None = None
        self.genotypes: list[Genotype] | str | None = None
        self.history: list[dict[str, Any]] = []

    @property
    def primitives(self) -> tuple[str, ...]:
        """The candidate op names of the supernet."""
        return self.net.primitives

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` of the supernet for ``x (B, in_channels, H, W)``."""
        out = self.net(x)
        assert isinstance(out, Tensor)
        return out

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        self.train_acc(logits, y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        self.clip_gradients(
            optimizer, gradient_clip_val=self.hparams["grad_clip"], gradient_clip_algorithm="norm"
        )

    def on_validation_epoch_start(self) -> None:
        self.accumulator.reset()
        self._samples = 0

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        logits, importance = self.net(x, return_importance=True)
        self.accumulator.update(importance)
        self._samples += len(y)
        self.val_acc(logits, y)
        self.log("val/acc", self.val_acc, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        total = self.accumulator.total
        if total is None:
            return
        samples = _as_tensor(self.all_gather(torch.tensor(float(self._samples), device=self.device))).sum()
        gathered = _as_tensor(self.all_gather(total))
        if gathered.ndim == total.ndim + 1:  # (world, ...) under DDP
            gathered = gathered.sum(0)
        total = gathered
        # selection images summed over every rank (the whole split, up to DistributedSampler padding)
        self.log("val/selection_samples", samples, rank_zero_only=False)
        self.importance = total.cpu()
        if self.hparams["space"] == "darts":
            prims = self.primitives
            self.genotypes = [derive_genotype(t, prims, steps=self.hparams["steps"]) for t in self.importance]
            text: Any = [list(g.gene) for g in self.genotypes]
        else:
            space = NB201SearchSpace()
            self.genotypes = space.to_arch_str(space.derive(self.importance))
            text = self.genotypes
        self.history.append({"epoch": self.current_epoch, "genotypes": text})
        self._log_heatmap()

    def _log_heatmap(self) -> None:
        experiment = getattr(self.logger, "experiment", None)
        if (
            experiment is None
            or not self.trainer.is_global_zero
            or not hasattr(experiment, "add_figure")
            or self.importance is None
        ):
            return
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:  # pragma: no cover
            return
        from ballroom.agnas.plotting import importance_heatmap

        fig = importance_heatmap(self.importance[0], self.primitives, plt, title="cell 0 importance")
        experiment.add_figure("importance/cell0", fig, global_step=self.global_step)
        text = "\n".join(
            str(g) for g in (self.genotypes if isinstance(self.genotypes, list) else [self.genotypes])
        )
        if hasattr(experiment, "add_text"):
            experiment.add_text("genotypes", text, global_step=self.global_step)
        plt.close(fig)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.SGD(
            self.parameters(), lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"]
        )
        epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 1
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=hp["lr_min"])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


class ArchitectureTrainer(ClassifierModule):
    """Train a derived network from scratch (SGD, cosine ``lr -> 0``, grad clip, auxiliary loss, drop path).

    ``model`` is a zoo name (e.g. ``"agnas-tiny"``) or an ``nn.Module``; an
    :class:`~ballroom.agnas.evalnet.EvalNetwork` with ``auxiliary=True`` adds ``auxiliary_weight`` x its
    auxiliary cross-entropy; its drop-path probability grows ``drop_path_prob * epoch / max_epochs``.

    Args:
        model: a zoo name or a network ``(B, 3, H, W) -> (B, num_classes)``.
        model_kwargs: keyword arguments for the zoo entry.
        num_classes: classes of the accuracy metrics.
        lr: initial SGD learning rate (cosine to 0 over ``max_epochs``).
        weight_decay: SGD weight decay.
        momentum: SGD momentum.
        grad_clip: gradient-norm clip.
        auxiliary_weight: weight of the auxiliary cross-entropy.
        drop_path_prob: final drop-path probability.
    """

    def __init__(
        self,
        model: str | nn.Module = "agnas-tiny",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 0.025,
        weight_decay: float = 3e-4,
        momentum: float = 0.9,
        grad_clip: float = 5.0,
        auxiliary_weight: float = 0.4,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__(
            model=model, model_kwargs=model_kwargs, num_classes=num_classes, lr=lr, weight_decay=weight_decay
        )
        self.save_hyperparameters(ignore=["model"] if isinstance(model, nn.Module) else None)

    def _step(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        x, y = batch[0], batch[1]
        if hasattr(self.net, "forward_with_aux"):
            logits, aux = self.net.forward_with_aux(x)
        else:
            logits, aux = self.net(x), None
        loss = F.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + self.hparams["auxiliary_weight"] * F.cross_entropy(aux, y)
        return loss, logits, y

    def on_train_epoch_start(self) -> None:
        if hasattr(self.net, "drop_path_prob"):
            epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 1
            self.net.drop_path_prob = self.hparams["drop_path_prob"] * self.current_epoch / epochs

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        self.clip_gradients(
            optimizer, gradient_clip_val=self.hparams["grad_clip"], gradient_clip_algorithm="norm"
        )

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.SGD(
            self.parameters(), lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"]
        )
        epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 1
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.0)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
