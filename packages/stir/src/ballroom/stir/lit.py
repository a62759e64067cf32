"""The LightningModule (optional L2-PGD adversarial training) and the STIR callback."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torchmetrics
from torch import Tensor, nn

from ballroom.core.lit import ClassifierModule
from ballroom.core.validate import check_int, check_number, check_tensor
from ballroom.stir.functional import stir
from ballroom.stir.nn import box_clamp
from ballroom.stir.train import pgd_l2

__all__ = ["Classifier", "STIRCallback"]


class Classifier(ClassifierModule):
    """Cross-entropy training of a feature model (a zoo name, e.g. ``"stir-tiny"``, or an ``nn.Module``),
    optionally on L2-PGD adversarial examples.

    ``adv_eps > 0`` trains on :func:`~ballroom.stir.train.pgd_l2` examples (``adv_steps`` steps of
    ``adv_step`` = ``2.5 * adv_eps / adv_steps`` by default, model in eval mode during the attack; the
    highest-loss iterate per sample with ``adv_use_best=True``, as the robustness library trains).
    Inputs are unnormalised ``[0, 1]`` images; ``mean``/``std`` is the model's normaliser (clamp first).
    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/acc`` and, when
    ``eval_eps`` (default ``adv_eps``) is > 0, ``val/robust_acc`` under the same attack.

    Args:
        model: a zoo name or a built feature model.
        model_kwargs: overrides of the zoo entry.
        num_classes: the number of classes.
        lr: the AdamW learning rate.
        weight_decay: the AdamW weight decay.
        cosine_epochs: ``T_max`` of a per-epoch cosine schedule (``None``: constant ``lr``).
        adv_eps: the training attack's L2 radius (0: clean training).
        adv_steps: PGD steps (>= 1).
        adv_step: the PGD step length (``None``: ``2.5 * eps / adv_steps``).
        adv_use_best: keep the highest-loss PGD iterate.
        eval_eps: the validation attack's radius (``None``: ``adv_eps``).
        mean: the normaliser's mean.
        std: the normaliser's std (> 0).

    Raises:
        ValueError: a bad optimiser setting, ``adv_eps`` or ``eval_eps`` < 0, ``adv_steps < 1`` or
            ``std <= 0``.
    """

    def __init__(
        self,
        model: str | nn.Module = "stir-tiny",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        cosine_epochs: int | None = None,
        adv_eps: float = 0.0,
        adv_steps: int = 7,
        adv_step: float | None = None,
        adv_use_best: bool = True,
        eval_eps: float | None = None,
        mean: float = 0.0,
        std: float = 1.0,
    ) -> None:
        super().__init__(
            model=model,
            model_kwargs=model_kwargs,
            num_classes=num_classes,
            lr=lr,
            weight_decay=weight_decay,
            cosine_epochs=cosine_epochs,
        )
        check_number(adv_eps, "adv_eps", lo=0.0)
        check_int(adv_steps, "adv_steps", min=1)
        if eval_eps is not None:
            check_number(eval_eps, "eval_eps", lo=0.0)
        check_number(std, "std", lo=0.0, lo_open=True)
        self.val_robust_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)

    def normalize(self, x: Tensor) -> Tensor:
        """The model's input normaliser ``(clamp(x, 0, 1) - mean) / std``."""
        return (box_clamp(x) - self.hparams["mean"]) / self.hparams["std"]

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` of unnormalised images ``(B, *)``."""
        return self.net(self.normalize(x))

    def _attack(self, x: Tensor, y: Tensor, eps: float) -> Tensor:
        was_training = self.training
        self.eval()
        try:
            steps = self.hparams["adv_steps"]
            return pgd_l2(self, x, y, eps, steps, self.hparams["adv_step"], self.hparams["adv_use_best"])
        finally:
            self.train(was_training)

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        if self.hparams["adv_eps"] > 0:
            batch = (self._attack(batch[0], batch[1], self.hparams["adv_eps"]), *batch[1:])
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        eps = self.hparams["adv_eps"] if self.hparams["eval_eps"] is None else self.hparams["eval_eps"]
        if eps > 0:
            with torch.inference_mode(False), torch.enable_grad():
                x_adv = self._attack(batch[0].clone(), batch[1].clone(), eps)
            self.val_robust_acc(self(x_adv), batch[1])
            self.log("val/robust_acc", self.val_robust_acc)


def _feature_net(module: Any) -> Any:
    return module.net if isinstance(module, ClassifierModule) else module


class STIRCallback(pl.Callback):
    """Every ``every_n_epochs`` validation epochs, STIR between the model being trained (m2) and a
    fixed ``reference_model`` (m1) on ``probe_x (n, *)``; logs ``stir/m2_given_m1`` (IRIs of the
    reference, measured on the trained model), ``stir/m1_given_m2`` and ``cka/plain``.

    ``reference_model``: a feature model or a :class:`Classifier` (its net and normaliser are used);
    ``stir_kwargs`` go to :func:`~ballroom.stir.functional.stir` (e.g. ``iterations``).
    Computed on rank zero and logged with ``rank_zero_only=True``.

    Args:
        reference_model: m1 (above).
        probe_x: ``(n, *)`` probe inputs, unnormalised.
        every_n_epochs: how often (in validation epochs) STIR runs.
        reference_normalizer: m1's normaliser (``None``: a :class:`Classifier`'s own, else identity).
        **stir_kwargs: keyword arguments of :func:`~ballroom.stir.functional.stir`.

    Raises:
        ValueError: a bad ``probe_x`` or ``every_n_epochs < 1``.
    """

    def __init__(
        self,
        reference_model: nn.Module,
        probe_x: Tensor,
        every_n_epochs: int = 1,
        reference_normalizer: Any = None,
        **stir_kwargs: Any,
    ) -> None:
        super().__init__()
        check_tensor(probe_x, "probe_x", min_ndim=2)
        self.every = check_int(every_n_epochs, "every_n_epochs", min=1)
        self.reference = reference_model
        self.ref_norm = reference_normalizer
        if self.ref_norm is None and isinstance(reference_model, Classifier):
            self.ref_norm = reference_model.normalize
        self.probe_x = probe_x
        self.kwargs = stir_kwargs
        self.history: list[dict[str, float]] = []

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every:
            return
        if not trainer.is_global_zero:
            return
        norm2 = pl_module.normalize if isinstance(pl_module, Classifier) else None
        ref = _feature_net(self.reference).to(pl_module.device)
        with torch.inference_mode(False), torch.enable_grad():
            res = stir(
                ref,
                _feature_net(pl_module),
                self.probe_x.to(pl_module.device),
                normalizer1=self.ref_norm,
                normalizer2=norm2,
                **self.kwargs,
            )
        values = {"stir/m2_given_m1": res.m2m1, "stir/m1_given_m2": res.m1m2, "cka/plain": res.rsm}
        self.history.append(values)
        for key, value in values.items():
            pl_module.log(key, value, rank_zero_only=True)
