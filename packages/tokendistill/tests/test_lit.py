"""The LightningModules: learning, frozen teachers, determinism, checkpoints (zoo model, resume), DDP, CUDA, CLI, zoo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.utils.data import TensorDataset

from ballroom.core.checkpoint import load_zoo_model
from ballroom.core.training import make_trainer
from ballroom.tokendistill import (
    DigitsDistillDataModule,
    STDLightningModule,
    STDStudent,
    TeacherCNN,
    TeacherLightningModule,
    cache_teacher_logits,
    load_student,
)
from ballroom.tokendistill.cli import main as cli_main
from ballroom.tokendistill.zoo import ZOO, create

LIMITS = {"limit_train_batches": 4, "limit_val_batches": 2, "limit_test_batches": 2}


def _module(**kw: object) -> STDLightningModule:
    return STDLightningModule("tokendistill-tiny", teachers=["tokendistill-teacher-cnn"], **kw)  # type: ignore[arg-type]


def _fit(
    seed: int, epochs: int = 1, module_kw: dict | None = None, **kw: object
) -> tuple[STDLightningModule, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = _module(**(module_kw or {}))
    trainer = make_trainer(max_epochs=epochs, **{**LIMITS, **kw})
    trainer.fit(model, datamodule=DigitsDistillDataModule(seed=0))
    return model, trainer


@pytest.mark.parametrize("mi_weight", [0.0, 1.0])
def test_one_epoch_of_std_reduces_both_cross_entropy_terms(mi_weight: float) -> None:
    pl.seed_everything(0)
    dm = DigitsDistillDataModule(seed=0, shift=0)  # the +-1 pixel shifts slow the first epoch down
    dm.setup()
    x, y, mask = dm.datasets["train"][:512]  # type: ignore[index]
    # a fixed random linear teacher: its argmax labels vary over the images (an untrained CNN's do not)
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    model = STDLightningModule(
        "tokendistill-tiny", teachers=[teacher], mi_weight=mi_weight, label_smoothing=0.0
    )
    assert len(set(model.teacher_logits(x)[0].argmax(1).tolist())) >= 5
    model.eval()
    with torch.no_grad():
        before = model.losses((x, y, mask))
    model.train()
    trainer = make_trainer(max_epochs=1)
    trainer.fit(model, datamodule=dm)
    model.eval()
    with torch.no_grad():
        after = model.losses((x, y, mask))
    # with MINE (lambda = 1) the student also fights the statistics network: it learns, more slowly
    factor = 0.9 if mi_weight == 0 else 1.0
    assert after["loss_cls"] < factor * before["loss_cls"]
    assert after["loss_dist"] < factor * before["loss_dist"]
    keys = [
        "train/loss_cls",
        "train/loss_dist",
        "train/teacher_weight_0",
        "val/acc",
        "val/acc_cls",
        "val/acc_dist",
    ]
    for key in keys + (["train/mine_V"] if mi_weight else []):
        assert key in trainer.callback_metrics, key


def test_teachers_are_frozen_in_eval_mode_and_outside_the_optimizer() -> None:
    model, trainer = _fit(0)
    teacher = model.teachers[0]
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())
    model.train()
    assert not teacher.training and model.net.training
    in_opt = {id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]}
    assert not any(id(p) in in_opt for p in teacher.parameters())
    assert all(id(p) in in_opt for p in model.net.parameters())
    groups = trainer.optimizers[0].param_groups
    assert [g["maximize"] for g in groups] == [False, True]  # psi ascends V, the student descends
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.psi.parameters()}
    fresh = TeacherCNN()
    torch.manual_seed(0)
    # BatchNorm running statistics never moved: eval-mode outputs equal a copy's with the same state
    fresh.load_state_dict(teacher.state_dict())
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(fresh.eval()(x), teacher(x))
    assert torch.equal(teacher.features[1].running_mean, torch.zeros(32))  # untouched since init


def test_class_term_ignores_unlabelled_labels_and_distillation_uses_every_sample() -> None:
    torch.manual_seed(0)
    model = _module().eval()
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    mask = torch.tensor([True, False] * 4)
    y2 = y.clone()
    y2[~mask] = (y[~mask] + 3) % 10
    torch.manual_seed(1)
    a = model.losses((x, y, mask))
    torch.manual_seed(1)
    b = model.losses((x, y2, mask))
    assert torch.equal(a["loss"], b["loss"])
    torch.manual_seed(1)
    c = model.losses((x[:4], y[:4], mask[:4]))
    assert not torch.equal(a["loss_dist"], c["loss_dist"])


def test_cached_teacher_logits_give_the_same_loss_without_calling_the_teacher() -> None:
    torch.manual_seed(0)
    model = _module(mi_weight=0.0).eval()
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    mask = torch.tensor([True, False] * 4)
    cached = cache_teacher_logits(list(model.teachers), TensorDataset(x, y, mask), batch_size=3)
    assert len(cached) == 8 and cached.tensors[3].shape == (8, 1, 10)
    direct = model.losses((x, y, mask))
    calls = []
    model.teachers[0].register_forward_hook(lambda *a: calls.append(1))
    via_cache = model.losses(tuple(cached.tensors))
    assert calls == []
    torch.testing.assert_close(via_cache["loss"], direct["loss"])
    assert torch.equal(cached.tensors[2], mask)
    # a fit on cached batches (no augmentation) runs and never calls the teacher
    loader = torch.utils.data.DataLoader(cached, batch_size=4)
    make_trainer(max_epochs=1).fit(model.train(), train_dataloaders=loader)
    assert calls == []


def test_mine_into_host_false_keeps_the_mine_gradient_out_of_the_host() -> None:
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    grads = {}
    for into_host in (True, False):
        torch.manual_seed(0)
        model = _module(mine_into_host=into_host)
        torch.manual_seed(1)
        terms = model.losses((x, y))
        host = list(model.net.host.parameters())
        tokens = list(model.net.std.parameters())
        g = torch.autograd.grad(terms["mine_V"], host + tokens, allow_unused=True)
        grads[into_host] = (g[: len(host)], g[len(host) :], terms)
    host_on, tok_on, terms_on = grads[True]
    host_off, tok_off, terms_off = grads[False]
    assert any(h is not None and h.abs().sum() > 0 for h in host_on)
    assert all(h is None or h.abs().sum() == 0 for h in host_off)
    assert any(t is not None and t.abs().sum() > 0 for t in tok_off)
    for key in ("loss", "loss_cls", "loss_dist", "mine_V"):  # the same values, only the gradient path differs
        torch.testing.assert_close(terms_on[key], terms_off[key])
    for a, b in zip(tok_on, tok_off, strict=True):  # the token layers get the same MINE gradient
        if a is not None and b is not None:
            torch.testing.assert_close(a, b)


def test_predict_never_calls_the_teacher() -> None:
    class Boom(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise AssertionError("teacher called")

    model = STDLightningModule("tokendistill-tiny", teachers=[Boom()], mi_weight=0.0)
    trainer = make_trainer(limit_predict_batches=1)
    preds = trainer.predict(model, datamodule=DigitsDistillDataModule(seed=0))
    assert preds[0].shape == (64,)
    x = torch.randn(4, 1, 8, 8)
    out = model.net.eval()(x)
    torch.testing.assert_close(model.net.predict(x), 0.5 * (out.cls_logits + out.dist_logits[0]))


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1)
    b, _ = _fit(1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_leaves_teachers_out_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    model, _ = _fit(2, enable_checkpointing=True, callbacks=[ckpt], default_root_dir=tmp_path)
    last = tmp_path / "ckpt" / "last.ckpt"
    raw = torch.load(last, weights_only=True)
    assert not any(k.startswith("teachers.") for k in raw["state_dict"])
    assert any(k.startswith("psi.") for k in raw["state_dict"])
    x = torch.randn(5, 1, 8, 8)
    model.eval()
    for net in (load_student(last), load_zoo_model(last, "tokendistill-tiny")):
        assert isinstance(net, STDStudent)
        assert torch.equal(net.predict(x), model.net.predict(x))
    restored = STDLightningModule.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.lr == 2e-3 and restored.hparams.teachers == ["tokendistill-teacher-cnn"]
    assert torch.equal(restored.net.eval().predict(x), model.net.predict(x))
    # resume: the step count and the optimizer state continue
    trainer2 = make_trainer(tmp_path, max_epochs=2, **LIMITS)
    resumed = _module()
    trainer2.fit(resumed, datamodule=DigitsDistillDataModule(seed=0), ckpt_path=str(last))
    assert trainer2.global_step == 2 * raw["global_step"] > 0
    state = trainer2.optimizers[0].state_dict()["state"]
    assert int(state[0]["step"]) == trainer2.global_step


def test_save_teachers_keeps_them_in_the_checkpoint(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    _fit(3, module_kw={"save_teachers": True, "mi_weight": 0.0}, enable_checkpointing=True, callbacks=[ckpt],
         default_root_dir=tmp_path, limit_train_batches=1)  # fmt: skip
    raw = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert any(k.startswith("teachers.0.") for k in raw["state_dict"])
    assert not any(k.startswith("psi.") for k in raw["state_dict"])


def test_a_teacher_checkpoint_becomes_the_teacher(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    pl.seed_everything(0)
    teacher = TeacherLightningModule("tokendistill-teacher-cnn", lr=1e-3, label_smoothing=0.1)
    trainer = make_trainer(
        max_epochs=1, enable_checkpointing=True, callbacks=[ckpt], default_root_dir=tmp_path, **LIMITS
    )
    trainer.fit(teacher, datamodule=DigitsDistillDataModule(labeled=None, seed=0))
    assert teacher.hparams.label_smoothing == 0.1
    module = STDLightningModule("tokendistill-tiny", teachers=[str(tmp_path / "last.ckpt")])
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(module.teachers[0](x), teacher.net.eval()(x))


def test_two_teachers_two_modules() -> None:
    module = STDLightningModule(
        "tokendistill-tiny",
        student_kwargs={"tap_blocks": (2, -1), "num_teachers": 2},
        teachers=["tokendistill-teacher-cnn", "tokendistill-teacher-cnn"],
    )
    terms = module.losses((torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))))
    assert terms["weights"].shape == (6, 2) and len(module.psi) == 2
    with pytest.raises(ValueError, match="heads for 2 teachers"):
        STDLightningModule("tokendistill-tiny", student_kwargs={"tap_blocks": (2, -1), "num_teachers": 2})


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    _, trainer = _fit(0, epochs=1, devices=2, strategy="ddp_fork", default_root_dir=tmp_path)
    assert trainer.world_size == 2
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert 0.0 <= trainer.callback_metrics["val/acc"].item() <= 1.0


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1, limit_train_batches=None)
    assert trainer.callback_metrics["val/acc"].item() > 0.5
    x = torch.randn(16, 1, 8, 8)
    net = model.net.eval()
    cpu = net.cpu().predict(x)
    gpu = net.cuda().predict(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
    _, trainer = _fit(0, accelerator="gpu", devices=1, precision="bf16-mixed")
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


def test_cli_fit_returns_exit_status_zero(tmp_path: Path) -> None:
    args = [
        "fit",
        "--trainer.fast_dev_run=true",
        "--trainer.logger=false",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    assert cli_main(args) == 0
    with pytest.raises(SystemExit):
        cli_main(["fit", "--print_config"])


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_entry_builds_and_runs(name: str) -> None:
    kw = dict(ZOO[name].kwargs)
    size = min(kw.get("img_size", 8), 32)  # the ImageNet entries are built at 32x32 to stay fast
    net = create(name, img_size=size) if "img_size" in kw else create(name)
    x = torch.randn(2, kw["in_chans"], size, size)
    out = net(x)
    logits = out if isinstance(out, torch.Tensor) else out.cls_logits
    assert logits.shape == (2, kw["num_classes"])
    assert ZOO[name].input


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.tokendistill.nn, ballroom.tokendistill.functional, ballroom.tokendistill; "
    code += "ballroom.tokendistill.STDStudent; ballroom.tokendistill.mine_lower_bound; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


BAD = [
    (lambda: _module(alpha=1.5), ValueError, "alpha"),
    (lambda: _module(mi_weight=-1.0), ValueError, "mi_weight"),
    (lambda: _module(lr=0.0), ValueError, "lr"),
    (lambda: _module(label_smoothing=1.0), ValueError, "label_smoothing"),
    (lambda: STDLightningModule("tokendistill-tiny", teachers=[]), ValueError, "teachers: need at least one"),
    (lambda: STDLightningModule("tokendistill-nope"), KeyError, "unknown model"),
    (lambda: STDLightningModule(3), TypeError, "model: expected a zoo name"),  # type: ignore[arg-type]
    (lambda: TeacherLightningModule(label_smoothing=-0.1), ValueError, "label_smoothing"),
    (lambda: DigitsDistillDataModule(train_on="all"), ValueError, "train_on"),  # type: ignore[arg-type]
    (lambda: DigitsDistillDataModule(labeled=0), ValueError, "labeled"),
    (lambda: DigitsDistillDataModule(test_fraction=1.0), ValueError, "test_fraction"),
    (lambda: load_student("/nonexistent.ckpt"), FileNotFoundError, "no checkpoint file"),
    (lambda: cache_teacher_logits([], TensorDataset(torch.randn(2, 1, 8, 8), torch.zeros(2, dtype=torch.long))), ValueError, "teachers: need at least one"),
    (lambda: cache_teacher_logits([TeacherCNN()], TensorDataset(torch.randn(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))), ValueError, "dataset: is empty"),
    (lambda: cache_teacher_logits([TeacherCNN()], TensorDataset(torch.randn(2, 1, 8, 8)), batch_size=0), ValueError, "batch_size"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "exc", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_is_refused_clearly(call: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call()  # type: ignore[operator]
