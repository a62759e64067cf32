"""Lightning: the Neurocoder classifier (CE + orthogonality) and a task-after-task runner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ballroom.core.lit import ClassifierModule
from ballroom.core.training import make_trainer
from ballroom.core.validate import check_int, check_positive
from ballroom.neurocoder.continual import Agent, SIAgent, Task, evaluate
from ballroom.neurocoder.nn import NeurocoderLinear, neurocoder_regularizer

__all__ = ["ContinualLightningRunner", "NeurocoderLightningModule"]


class NeurocoderLightningModule(ClassifierModule):
    """Classification with loss ``CE + ortho_weight * sum of orthogonality terms`` (+ an agent's penalty).

    ``model``: a zoo name (e.g. ``"neurocoder-tiny"``) or an ``nn.Module``. Logs ``train/ce``,
    ``train/ortho``, ``train/loss``, ``train/acc``, ``val/acc``, ``test/acc`` and, per training step,
    ``train/read_entropy`` (mean entropy of the read weights, nats), ``train/sigma_mean``,
    ``train/sigma_min`` over every Neurocoder layer. The optimiser is created once and kept, so a
    :class:`ContinualLightningRunner` shares it across tasks (as the released CL code).

    Args:
        model: a zoo name or a built network.
        model_kwargs: overrides of the zoo entry.
        num_classes: the number of classes.
        lr: AdamW's learning rate.
        weight_decay: AdamW's weight decay.
        cosine_epochs: must stay ``None``: the one optimiser is shared across continual tasks and has no
            schedule (kept in the signature for :class:`~ballroom.core.lit.ClassifierModule`'s).
        ortho_weight: the weight of the orthogonality terms (>= 0).

    Raises:
        ValueError: ``ortho_weight < 0``, ``cosine_epochs`` given, or a bad
            :class:`~ballroom.core.lit.ClassifierModule` setting.
    """

    def __init__(
        self,
        model: str | nn.Module = "neurocoder-tiny",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        cosine_epochs: int | None = None,
        ortho_weight: float = 1.0,
    ) -> None:
        if cosine_epochs is not None:
            raise ValueError(
                f"cosine_epochs must be None for NeurocoderLightningModule (one optimiser without a schedule, "
                f"shared across continual tasks), got {cosine_epochs!r}"
            )
        super().__init__(model, model_kwargs, num_classes, lr, weight_decay, cosine_epochs)
        check_positive(ortho_weight, "ortho_weight", strict=False)
        self.agent: Agent | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        for m in self.net.modules():
            if isinstance(m, NeurocoderLinear):
                m.record = True

    def _stats(self) -> dict[str, Tensor]:
        comps = [
            m.last_composition
            for m in self.net.modules()
            if isinstance(m, NeurocoderLinear) and m.last_composition is not None
        ]
        if not comps:
            return {}
        ent = [-(w.clamp_min(1e-12).log() * w).sum(-1).mean() for c in comps for w in c.read_weights]
        return {
            "train/read_entropy": torch.stack(ent).mean(),
            "train/sigma_mean": torch.stack([c.sigma.mean() for c in comps]).mean(),
            "train/sigma_min": torch.stack([c.sigma_min.mean() for c in comps]).mean(),
        }

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        logits = self(x)
        ce = F.cross_entropy(logits, y)
        ortho = neurocoder_regularizer(self.net)
        loss = ce + self.hparams["ortho_weight"] * ortho
        if self.agent is not None:
            pen = self.agent.penalty(self.net)
            if pen is not None:
                loss = loss + pen
        self.train_acc(logits, y)
        self.log_dict(
            {"train/ce": ce, "train/ortho": ortho, "train/loss": loss, **self._stats()}, prog_bar=False
        )
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> Any:
        if self._optimizer is None:
            self._optimizer = torch.optim.AdamW(
                self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"]
            )
        return self._optimizer


class _TaskData(pl.LightningDataModule):
    def __init__(self, task: Task, batch_size: int, seed: int) -> None:
        super().__init__()
        self.task, self.batch_size, self.seed = task, batch_size, seed

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.task.train, batch_size=self.batch_size, shuffle=True, generator=gen)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.task.test, batch_size=512)


class ContinualLightningRunner:
    """Train one :class:`NeurocoderLightningModule` on ``tasks`` in order through Lightning.

    After task ``i`` it evaluates every task and logs ``acc/{i}_{j}`` (and ``acc/avg_{i}``) to the
    trainer's logger; :attr:`acc` is the ``(T, T)`` matrix. ``agent`` (L2, EWC, online EWC; SI needs
    the per-step task gradients of :func:`~ballroom.neurocoder.continual.run_stream`) adds its penalty.
    ``trainer_factory(max_epochs)`` builds each task's Trainer (default: core's quiet CPU trainer).

    Args:
        module: the module to train (its optimiser is kept across tasks).
        tasks: the stream, in training order (non-empty).
        epochs: epochs per task.
        batch_size: training batch size.
        agent: an L2/EWC/online-EWC agent, or ``None``.
        seed: task ``i`` shuffles with ``seed + i``.
        trainer_factory: ``(**kwargs) -> pl.Trainer``, called with ``max_epochs`` and
            ``num_sanity_val_steps=0``.

    Raises:
        ValueError: an SI agent, no tasks, ``epochs < 1`` or ``batch_size < 1``.
    """

    def __init__(
        self,
        module: NeurocoderLightningModule,
        tasks: Sequence[Task],
        epochs: int = 4,
        batch_size: int = 32,
        agent: Agent | None = None,
        seed: int = 0,
        trainer_factory: Callable[..., pl.Trainer] | None = None,
    ) -> None:
        if isinstance(agent, SIAgent):
            raise ValueError("agent: SI needs per-step task gradients; use continual.run_stream for SI")
        if not tasks:
            raise ValueError("tasks must not be empty")
        self.module, self.tasks = module, list(tasks)
        self.epochs = check_int(epochs, "epochs", min=1)
        self.batch_size = check_int(batch_size, "batch_size", min=1)
        self.agent, self.seed = agent, seed
        self.trainer_factory = trainer_factory or (lambda **kw: make_trainer(**kw))
        module.agent = agent
        T = len(self.tasks)
        self.acc = torch.full((T, T), float("nan"))

    def run(self) -> Tensor:
        """Train every task; returns ``acc (T, T)`` (``acc[i, j]``: task ``j`` after task ``i``)."""
        for i, task in enumerate(self.tasks):
            trainer = self.trainer_factory(max_epochs=self.epochs, num_sanity_val_steps=0)
            trainer.fit(self.module, datamodule=_TaskData(task, self.batch_size, self.seed + i))
            net = self.module.net
            if self.agent is not None:
                reg = lambda m: self.module.hparams["ortho_weight"] * neurocoder_regularizer(m)  # noqa: E731
                self.agent.end_task(net, DataLoader(task.train, batch_size=self.batch_size), reg)
            for j, other in enumerate(self.tasks):
                self.acc[i, j] = evaluate(net, other.test)
            if trainer.logger is not None:
                metrics = {f"acc/{i}_{j}": float(self.acc[i, j]) for j in range(len(self.tasks))}
                metrics[f"acc/avg_{i}"] = float(self.acc[i, : i + 1].mean())
                trainer.logger.log_metrics(metrics, step=i)
        return self.acc
