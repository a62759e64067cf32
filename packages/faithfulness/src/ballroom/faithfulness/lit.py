"""The LightningModule (``TextClassifierModule``) and the ``ViolationTestCallback``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from ballroom.core.lit import ClassifierModule
from ballroom.core.validate import check_choice, check_int
from ballroom.faithfulness.explain import EXPLAINERS, make_explainer
from ballroom.faithfulness.protocol import REMOVALS

__all__ = ["TextClassifierModule", "ViolationTestCallback"]


class TextClassifierModule(ClassifierModule):
    """Cross-entropy training of an explainable text classifier with Adam (weight decay 1e-5).

    ``model`` is a zoo name (e.g. ``"faithfulness-tiny"``) or a built ``nn.Module``. Logs
    ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/acc``. Batches are
    ``(tokens, labels, ...)``.

    Args:
        model: a zoo name or a built explainable classifier.
        model_kwargs: overrides of the zoo entry.
        num_classes: the number of classes.
        lr: Adam's learning rate.
        weight_decay: Adam's (coupled, L2) weight decay.
    """

    def __init__(
        self,
        model: str | nn.Module = "faithfulness-tiny",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 2,
        lr: float = 1e-2,
        weight_decay: float = 1e-5,
    ) -> None:
        super().__init__(model=model, model_kwargs=model_kwargs, num_classes=num_classes, lr=lr,
                         weight_decay=weight_decay)  # fmt: skip

    def configure_optimizers(self) -> Any:
        # Adam with L2 weight decay, as the Transparency code (not AdamW's decoupled decay)
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"]
        )


class ViolationTestCallback(pl.Callback):
    """Runs :func:`~ballroom.faithfulness.evaluate.run_violation_test` on the validation data at fit end.

    Logs ``violation/<method>`` (the mean over the removal functions) to the trainer's logger and
    ``trainer.callback_metrics``; the full frame is kept in ``self.frame``.

    Args:
        explainers: paper names (keys of ``EXPLAINERS``).
        removals: removal functions.
        top_k: single removals per example.
        max_batches: validation batches to evaluate (``None`` = all).
    """

    def __init__(
        self,
        explainers: Sequence[str] = ("Random", "RawAtt", "AttGrad", "InputGrad"),
        removals: Sequence[str] = REMOVALS,
        top_k: int = 1,
        max_batches: int | None = None,
    ) -> None:
        self.explainers = [check_choice(e, "explainers", list(EXPLAINERS)) for e in explainers]
        self.removals = [check_choice(r, "removals", REMOVALS) for r in removals]
        self.top_k = check_int(top_k, "top_k", min=1)
        self.max_batches = max_batches
        self.frame: Any = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from ballroom.faithfulness.evaluate import run_violation_test

        dm = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning's data connector; Trainer does not declare it
        # Lightning types val_dataloaders as Any | None (None fails in the loop below, as before)
        loader: Any = dm.val_dataloader() if dm is not None else trainer.val_dataloaders
        net = pl_module.net
        device = pl_module.device

        def moved() -> Any:
            for batch in loader:
                yield [t.to(device) for t in batch]

        self.frame = run_violation_test(net, moved(), {e: make_explainer(e) for e in self.explainers},
                                        self.removals, self.top_k, max_batches=self.max_batches)  # fmt: skip
        means = self.frame[self.frame["removal"] == "mean"]
        values = {f"violation/{r.explainer}": float(r.violation) for r in means.itertuples()}
        for key, value in values.items():
            trainer.callback_metrics[key] = torch.tensor(value)
        if trainer.logger is not None:
            trainer.logger.log_metrics(values, step=trainer.global_step)
