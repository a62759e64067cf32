"""The LightningModules: :class:`PCNClassifier` (predictive coding, manual optimisation) and
:class:`BackpropClassifier` (the same MLP trained by backprop on ``1/2 ||output - onehot||^2``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from pytorch_lightning.core.optimizer import LightningOptimizer
from torch import Tensor

from ballroom.core.validate import check_choice, check_int, check_positive, check_probability
from ballroom.pcn.analysis import prediction_jacobian_closed_form
from ballroom.pcn.nn import PCN

__all__ = ["BackpropClassifier", "PCNClassifier"]

#: the zoo entry whose builder is :class:`PCN`: ``load_zoo_model`` rebuilds ``self.net`` from it
ZOO_NAME = "pcn-mlp"


class _PCNModule(pl.LightningModule):
    """Shared set-up: ``self.net`` (a :class:`PCN`), accuracy metrics, the optimiser."""

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str,
        bias: bool,
        activate_input: bool,
        lr: float,
        momentum: float,
        optimizer: str,
    ) -> None:
        super().__init__()
        check_positive(lr, "lr")
        check_probability(momentum, "momentum", open_high=True)
        check_choice(optimizer, "optimizer", ("sgd", "adam"))
        self.net = PCN(list(layer_sizes), activation=activation, bias=bias, activate_input=activate_input)
        n = self.net.layer_sizes[-1]
        if n < 2:
            raise ValueError(f"layer_sizes: the output layer must have >= 2 classes, got {n}")
        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=n)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=n)
        self.test_acc = torchmetrics.Accuracy(task="multiclass", num_classes=n)

    def _save(self) -> None:
        self.save_hyperparameters()
        # what ballroom.core.checkpoint.load_zoo_model reads to rebuild self.net without Lightning
        self.hparams["model"] = ZOO_NAME
        self.hparams["model_kwargs"] = {
            "layer_sizes": list(self.net.layer_sizes),
            "activation": self.net.activation,
            "bias": self.net.bias,
            "activate_input": self.net.activate_input,
        }

    def forward(self, x: Tensor) -> Tensor:
        """The feedforward prediction ``(B, n_0) -> (B, n_L)`` (images are flattened)."""
        return self.net(x.flatten(1))

    def _onehot(self, y: Tensor, like: Tensor) -> Tensor:
        return F.one_hot(y, self.net.layer_sizes[-1]).to(like.dtype)

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        x, y = batch[0].flatten(1), batch[1]
        self.val_acc(self(x), y)
        self.log("val/acc", self.val_acc, prog_bar=True)

    def test_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        x, y = batch[0].flatten(1), batch[1]
        self.test_acc(self(x), y)
        self.log("test/acc", self.test_acc)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        if hp["optimizer"] == "sgd":
            return torch.optim.SGD(self.net.parameters(), lr=hp["lr"], momentum=hp["momentum"])
        return torch.optim.Adam(self.net.parameters(), lr=hp["lr"])


class PCNClassifier(_PCNModule):
    """Supervised predictive coding: clamp the input and the one-hot target, relax the hidden nodes
    by ``T`` inference steps of size ``gamma`` (closed forms, ``no_grad``, from the feedforward
    values), then one optimiser step on the energy at the detached relaxed states / batch size.

    Args:
        layer_sizes, activation, bias, activate_input: the :class:`PCN`.
        T, gamma: inference steps and step size of the training stage.
        lr, momentum, optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``.
        val_samples, val_steps, val_tol: ``val/pred_stage_converged`` runs the prediction stage of
            the first ``val_samples`` validation inputs from zeros for ``val_steps`` steps at
            ``gamma`` and counts those within ``val_tol`` of the feedforward pass.

    Logs ``train/energy_before``, ``train/energy_after``, ``train/inference_residual``
    (``max |dF/dx|`` after ``T`` steps), ``train/acc``, ``val/acc``, ``val/pred_stage_converged``,
    ``val/spectral_radius`` (of the prediction map at the first validation input), ``test/acc``.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int] = (64, 64, 10),
        activation: str = "tanh",
        T: int = 20,
        gamma: float = 0.1,
        lr: float = 0.05,
        momentum: float = 0.9,
        optimizer: str = "sgd",
        bias: bool = True,
        activate_input: bool = False,
        val_samples: int = 8,
        val_steps: int = 500,
        val_tol: float = 1e-6,
    ) -> None:
        super().__init__(layer_sizes, activation, bias, activate_input, lr, momentum, optimizer)
        check_int(T, "T", min=0)
        check_positive(gamma, "gamma")
        check_int(val_samples, "val_samples", min=0)
        check_int(val_steps, "val_steps", min=0)
        check_positive(val_tol, "val_tol")
        if len(self.net.layer_sizes) < 3:
            raise ValueError("layer_sizes: predictive coding training needs a hidden layer (>= 3 widths)")
        self.automatic_optimization = False
        self._save()

    def relax(self, x: Tensor, y: Tensor) -> tuple[list[Tensor], Tensor, Tensor, Tensor]:
        """The training stage of a batch: ``(relaxed xs, energy before, energy after, residual)``
        (energies are batch means)."""
        hp = self.hparams
        target = self._onehot(y, x)
        with torch.no_grad():
            start = self.net.feedforward(x)
            start[-1] = target
            before = self.net._energy_batch(start).mean()
            xs = self.net.infer(x, target, steps=hp["T"], gamma=hp["gamma"], init=list(start[1:]))
            after = self.net._energy_batch(xs).mean()
            residual = self.net._residual(xs, list(range(1, self.net.depth)))
        return [t.detach() for t in xs], before, after, residual

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x, y = batch[0].flatten(1), batch[1]
        xs, before, after, residual = self.relax(x, y)
        opt = cast(LightningOptimizer, self.optimizers())  # configure_optimizers returns one optimizer
        opt.zero_grad()
        loss = self.net.energy(xs).sum() / x.shape[0]  # the weights see the detached relaxed states
        self.manual_backward(loss)
        opt.step()
        with torch.no_grad():
            self.train_acc(self.net(x), y)
        self.log("train/energy_before", before)
        self.log("train/energy_after", after)
        self.log("train/inference_residual", residual)
        self.log("train/loss", loss.detach(), prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss.detach()

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        hp = self.hparams
        if batch_idx != 0 or hp["val_samples"] == 0:
            return
        x = batch[0].flatten(1)[: hp["val_samples"]]
        with torch.no_grad():
            ff = self.net.feedforward(x)
            xs = self.net.infer(x, None, steps=hp["val_steps"], gamma=hp["gamma"], init="zeros")
            dist = torch.stack([(a - b).abs().amax(1) for a, b in zip(xs[1:], ff[1:])]).amax(0)
            converged = (dist < hp["val_tol"]).float().mean()
        J = prediction_jacobian_closed_form(self.net, x[0].detach().cpu(), hp["gamma"])
        rho = torch.linalg.eigvalsh(J).abs().max().to(torch.float32)
        self.log("val/pred_stage_converged", converged, sync_dist=True)
        self.log("val/spectral_radius", rho.to(self.device), sync_dist=True)


class BackpropClassifier(_PCNModule):
    """The baseline: the same MLP (:class:`PCN`'s feedforward pass) trained by backprop on
    ``1/2 ||output - onehot||^2`` (summed over outputs, mean over the batch). Logs ``train/loss``,
    ``train/acc``, ``val/acc``, ``test/acc``.

    Args:
        layer_sizes: the widths ``n_0, ..., n_L`` of the :class:`PCN` (``n_L >= 2`` classes).
        activation: the :class:`PCN`'s activation name.
        lr: the learning rate (> 0).
        momentum: SGD momentum, in ``[0, 1)`` (not used by Adam).
        optimizer: ``"sgd"`` or ``"adam"``.
        bias: learn the biases ``b_l``.
        activate_input: apply the activation to the input layer too (see :class:`PCN`).

    Raises:
        ValueError: ``lr <= 0``, ``momentum`` outside ``[0, 1)``, an unknown ``optimizer``, or fewer
            than 2 output classes.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int] = (64, 64, 10),
        activation: str = "tanh",
        lr: float = 0.05,
        momentum: float = 0.9,
        optimizer: str = "sgd",
        bias: bool = True,
        activate_input: bool = False,
    ) -> None:
        super().__init__(layer_sizes, activation, bias, activate_input, lr, momentum, optimizer)
        self._save()

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x, y = batch[0].flatten(1), batch[1]
        out = self(x)
        loss = 0.5 * ((out - self._onehot(y, out)) ** 2).sum(1).mean()
        self.train_acc(out.detach(), y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss
