"""The LightningModule: core's ``ClassifierModule`` over a zoo network (or a built one)."""

from __future__ import annotations

from typing import Any

from torch import nn

from ballroom.core.lit import ClassifierModule

__all__ = ["Pdo3dClassifier"]


class Pdo3dClassifier(ClassifierModule):
    """Cross-entropy training of ``model`` (a zoo name, e.g. ``"pdo3d-tiny"``, or an ``nn.Module``).

    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/acc``. Override ``loss``
    or ``configure_optimizers`` for the method's objective and schedule.
    """

    def __init__(
        self,
        model: str | nn.Module = "pdo3d-tiny",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        cosine_epochs: int | None = None,
    ) -> None:
        super().__init__(
            model=model,
            model_kwargs=model_kwargs,
            num_classes=num_classes,
            lr=lr,
            weight_decay=weight_decay,
            cosine_epochs=cosine_epochs,
        )
