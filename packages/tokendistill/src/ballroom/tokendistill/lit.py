"""The LightningModules: STD training of a student against frozen teachers, and plain CE (teachers, ``base``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torchmetrics
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ballroom.core.checkpoint import load_zoo_model, read_checkpoint, zoo_state_dict
from ballroom.core.lit import ClassifierModule
from ballroom.core.validate import check_int, check_number, check_probability
from ballroom.core.zoo import create_model, resolve_model
from ballroom.tokendistill.functional import class_loss, distillation_loss, mine_lower_bound
from ballroom.tokendistill.nn import StatisticsNetwork, STDOutput

__all__ = ["STDLightningModule", "TeacherLightningModule", "cache_teacher_logits", "load_student"]


def _teacher(spec: str | nn.Module) -> nn.Module:
    """A zoo name, a ``.ckpt`` written by ``TeacherLightningModule`` (``fit``), or a built module."""
    if isinstance(spec, str) and spec.endswith(".ckpt"):
        return load_zoo_model(spec)
    return resolve_model(spec)


class STDLightningModule(pl.LightningModule):
    """STD training: ``(1 - alpha) CE(cls, y)[labelled] + alpha L_dist + mi_weight * sum_modules V``.

    Args:
        student: a zoo name (e.g. ``"tokendistill-tiny"``) or a built module returning
            :class:`~ballroom.tokendistill.nn.STDOutput` (``STDStudent``, ``KDHeadStudent``), kept in ``self.net``.
        student_kwargs: overrides of the zoo entry's keyword arguments.
        teachers: zoo names, teacher checkpoints (``.ckpt`` of :class:`TeacherLightningModule`) or
            modules: frozen, always in eval mode, never in the optimizer; ``(B, C, H, W) -> (B, K)``.
        alpha: weight of the distillation term.
        mi_weight: ``lambda_MI`` of the MINE term (0 turns MINE off and builds no statistics network).
        label_smoothing: of the class-head term only.
        lr, weight_decay, cosine_epochs: AdamW and an optional per-epoch cosine schedule.
        num_classes: ``K`` of the accuracy metrics.
        mine_hidden, mine_depth: the statistics networks (one per STD module).
        save_teachers: keep the teachers' weights in checkpoints (default: left out; on loading they
            are rebuilt from ``teachers``).
        mine_into_host: let the MINE term's gradient reach the host through ``Z`` (default ``True``:
            the spec's "every student parameter descends ``V``"). ``False`` computes the MINE tokens a
            second time on detached block outputs, so ``V`` trains the token layers only (one more
            module forward per step; see the README: at ``mi_weight=1`` on digits the host path
            costs about 20 points).

    Batches: ``(x, y)``, ``(x, y, labeled_mask)`` or ``(x, y, labeled_mask, teacher_logits (B, M, K))``:
    the fourth entry, cached by :func:`cache_teacher_logits`, replaces the teachers' forward (valid
    only when the training images are not augmented: the spec's "cache the teacher's argmax when
    augmentation is off"). The statistics networks are in the same AdamW
    with ``maximize=True`` (gradient ascent on ``V``) while the student descends the same loss.
    Logs ``train/loss``, ``train/loss_cls``, ``train/loss_dist``, ``train/mine_V``,
    ``train/teacher_weight_i``, ``val/acc`` (averaged heads), ``val/acc_cls``, ``val/acc_dist``,
    ``test/acc``, ``test/acc_cls``, ``test/acc_dist``.
    """

    def __init__(
        self,
        student: str | nn.Module = "tokendistill-tiny",
        student_kwargs: dict[str, Any] | None = None,
        teachers: Sequence[str | nn.Module] = ("tokendistill-teacher-cnn",),
        alpha: float = 0.5,
        mi_weight: float = 1.0,
        label_smoothing: float = 0.1,
        lr: float = 2e-3,
        weight_decay: float = 0.05,
        cosine_epochs: int | None = None,
        num_classes: int = 10,
        mine_hidden: int = 512,
        mine_depth: int = 3,
        save_teachers: bool = False,
        mine_into_host: bool = True,
    ) -> None:
        super().__init__()
        check_probability(alpha, "alpha")
        check_number(mi_weight, "mi_weight", lo=0)
        check_probability(label_smoothing, "label_smoothing", open_high=True)
        check_number(lr, "lr", lo=0, lo_open=True)
        teachers = list(teachers)
        if not teachers:
            raise ValueError(
                "teachers: need at least one teacher (train without one with TeacherLightningModule)"
            )
        ignore = [n for n, v in (("student", student), ("teachers", teachers)) if not _plain(v)]
        self.save_hyperparameters(ignore=ignore or None)
        self.net = resolve_model(student, student_kwargs)
        self.teachers = nn.ModuleList([_teacher(t) for t in teachers])
        self.teachers.requires_grad_(False)
        self.teachers.eval()
        m = len(self.teachers)
        if getattr(self.net, "num_teachers", m) != m:
            raise ValueError(f"teachers: the student has heads for {self.net.num_teachers} teachers, got {m}")
        self.assignment = tuple(getattr(self.net, "teacher_assignment", range(m)))
        n_modules = len(getattr(self.net, "std", []))
        if mi_weight > 0 and n_modules:
            in_dim = self.net.dim + self.net.num_patches
            self.psi: nn.ModuleList | None = nn.ModuleList(
                [StatisticsNetwork(in_dim, mine_hidden, mine_depth) for _ in range(n_modules)]
            )
        else:
            self.psi = None
        if self.psi is not None and not mine_into_host and not hasattr(self.net, "forward_taps"):
            raise ValueError("mine_into_host=False needs a student with forward_taps (STDStudent)")
        acc = lambda: torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)  # noqa: E731
        self.metrics = nn.ModuleDict(
            {f"{s}_{h}": acc() for s in ("val", "test") for h in ("avg", "cls", "dist")}
        )

    def train(self, mode: bool = True) -> STDLightningModule:
        super().train(mode)
        self.teachers.eval()  # BatchNorm statistics of the teachers never move
        return self

    def forward(self, x: Tensor) -> STDOutput:
        return self.net(x)

    @torch.no_grad()
    def teacher_logits(self, x: Tensor) -> Tensor:
        """``(M, B, K)`` logits of the frozen teachers on ``x`` (the same augmented batch the student sees)."""
        return torch.stack([t(x) for t in self.teachers])

    def losses(self, batch: Sequence[Tensor]) -> dict[str, Tensor]:
        """Every term of the objective on one batch: ``loss``, ``loss_cls``, ``loss_dist``, ``weights``, ``mine_V``."""
        x, y = batch[0], batch[1]
        mask = batch[2] if len(batch) > 2 else None
        g = batch[3].transpose(0, 1) if len(batch) > 3 else self.teacher_logits(x)
        detach = self.psi is not None and not self.hparams["mine_into_host"]
        if detach:
            out, taps = self.net.forward_taps(x)
        else:
            out = self.net(x)
        hp = self.hparams
        l_cls = class_loss(out.cls_logits, y, hp["label_smoothing"], mask)
        l_dist, weights = distillation_loss(out.dist_logits, g, self.assignment)
        loss = (1 - hp["alpha"]) * l_cls + hp["alpha"] * l_dist
        terms = {"loss_cls": l_cls, "loss_dist": l_dist, "weights": weights}
        if self.psi is not None and x.shape[0] >= 2:
            tokens = out.tokens
            if detach:  # tokens whose MINE gradient stops at Z: only the token layers descend V
                tokens = [tuple(m(z.detach())[1:]) for m, z in zip(self.net.std, taps, strict=True)]
            v = sum(mine_lower_bound(psi, t_s, t_c) for psi, (t_s, t_c) in zip(self.psi, tokens, strict=True))
            assert isinstance(v, Tensor)
            loss = loss + hp["mi_weight"] * v
            terms["mine_V"] = v
        terms["loss"] = loss
        return terms

    def training_step(self, batch: Sequence[Tensor], batch_idx: int) -> Tensor:
        terms = self.losses(batch)
        b = batch[0].shape[0]
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=b)
        self.log("train/loss_cls", terms["loss_cls"], batch_size=b)
        self.log("train/loss_dist", terms["loss_dist"], batch_size=b)
        if "mine_V" in terms:
            self.log("train/mine_V", terms["mine_V"], batch_size=b)
        for i, w in enumerate(terms["weights"].mean(0)):
            self.log(f"train/teacher_weight_{i}", w, batch_size=b)
        return terms["loss"]

    def _evaluate(self, batch: Sequence[Tensor], stage: str) -> None:
        x, y = batch[0], batch[1]
        out = self.net(x)
        dist = torch.stack(out.dist_logits).mean(0)
        avg = 0.5 * (out.cls_logits + dist)
        for head, logits in (("avg", avg), ("cls", out.cls_logits), ("dist", dist)):
            metric = self.metrics[f"{stage}_{head}"]
            assert isinstance(metric, torchmetrics.Metric)
            metric(logits, y)
            key = f"{stage}/acc" if head == "avg" else f"{stage}/acc_{head}"
            self.log(key, metric, prog_bar=head == "avg" and stage == "val", batch_size=x.shape[0])

    def validation_step(self, batch: Sequence[Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Sequence[Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def predict_step(self, batch: Sequence[Tensor], batch_idx: int) -> Tensor:
        return self.net.predict(batch[0]).argmax(-1)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        groups: list[dict[str, Any]] = [{"params": list(self.net.parameters())}]
        if self.psi is not None:
            groups.append({"params": list(self.psi.parameters()), "maximize": True, "weight_decay": 0.0})
        opt = torch.optim.AdamW(groups, lr=hp["lr"], weight_decay=hp["weight_decay"])
        if not hp.get("cosine_epochs"):
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=hp["cosine_epochs"])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if not self.hparams["save_teachers"]:
            state = checkpoint["state_dict"]
            for key in [k for k in state if k.startswith("teachers.")]:
                del state[key]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["state_dict"]
        for key, value in self.teachers.state_dict(prefix="teachers.").items():
            state.setdefault(key, value)  # teachers left out of the checkpoint: keep the rebuilt ones


@torch.no_grad()
def cache_teacher_logits(
    teachers: Sequence[nn.Module], dataset: Dataset[Any], batch_size: int = 256
) -> TensorDataset:
    """The frozen teachers' logits of every sample, once: ``(x, y, labeled_mask, teacher_logits (M, K))`` items.

    For training without augmentation (the teacher's output of an image never changes): batches of
    the result make :class:`STDLightningModule` skip the teachers' forward.

    Args:
        teachers: the ``M`` teachers ``(B, C, H, W) -> (B, K)``; run in eval mode on the CPU.
        dataset: items ``(x, y)`` or ``(x, y, labeled_mask)`` (every sample labelled when absent).
        batch_size: of the teachers' forward passes.

    Returns:
        a ``TensorDataset`` of ``x (n, C, H, W)``, ``y (n,)``, ``labeled_mask (n,)`` and the logits
        ``(n, M, K)``.
    """
    if not teachers:
        raise ValueError("teachers: need at least one teacher")
    check_int(batch_size, "batch_size", min=1)
    xs, ys, masks, logits = [], [], [], []
    modes = [t.training for t in teachers]
    for t in teachers:
        t.eval()
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            x, y = batch[0], batch[1]
            xs.append(x)
            ys.append(y)
            masks.append(batch[2].to(torch.bool) if len(batch) > 2 else torch.ones(len(y), dtype=torch.bool))
            logits.append(torch.stack([t(x) for t in teachers], dim=1))
    finally:
        for t, mode in zip(teachers, modes, strict=True):
            t.train(mode)
    if not xs:
        raise ValueError("dataset: is empty")
    return TensorDataset(torch.cat(xs), torch.cat(ys), torch.cat(masks), torch.cat(logits))


def _plain(value: object) -> bool:
    if isinstance(value, str | int | float | bool) or value is None:
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


def load_student(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> nn.Module:
    """The student of an :class:`STDLightningModule` checkpoint (zoo-named student), in eval mode, no teacher.

    Args:
        path: the ``.ckpt`` file.
        map_location: where the weights are loaded.

    Returns:
        the student module (``STDStudent`` or ``KDHeadStudent``).
    """
    ckpt = read_checkpoint(path, map_location)
    hp = dict(ckpt.get("hyper_parameters") or {})
    name = hp.get("student")
    if not isinstance(name, str):
        raise ValueError("path: the checkpoint names no zoo student (the student was a built module)")
    net = create_model(name, **dict(hp.get("student_kwargs") or {}))
    net.load_state_dict(zoo_state_dict(ckpt["state_dict"], "net."))
    return net.eval()


class TeacherLightningModule(ClassifierModule):
    """Plain cross-entropy training of any zoo model (the CNN teacher, the ``base`` student).

    As core's ``ClassifierModule`` (``self.net``, ``train/loss``, ``val/acc``, ``test/acc``), plus
    ``label_smoothing`` and the batches' optional ``labeled_mask`` (CE on labelled samples only).

    Args:
        model: a zoo name or a built module ``(B, C, H, W) -> (B, K)``.
        model_kwargs: overrides of the zoo entry's keyword arguments.
        num_classes: ``K`` of the accuracy metric.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        cosine_epochs: length of a per-epoch cosine schedule (``None``: constant).
        label_smoothing: of the cross-entropy, in ``[0, 1)``.
    """

    def __init__(
        self,
        model: str | nn.Module = "tokendistill-teacher-cnn",
        model_kwargs: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        cosine_epochs: int | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        check_probability(label_smoothing, "label_smoothing", open_high=True)
        super().__init__(model, model_kwargs, num_classes, lr, weight_decay, cosine_epochs)
        self.hparams["label_smoothing"] = label_smoothing

    def _step(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        x, y = batch[0], batch[1]
        mask = batch[2] if len(batch) > 2 else None
        logits = self(x)
        return class_loss(logits, y, self.hparams["label_smoothing"], mask), logits, y
