"""SepGCNNClassifier: learning, logging, checkpoints (zoo model, resume), determinism, DDP, CUDA, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ballroom.core.checkpoint import load_zoo_model
from ballroom.core.data import RotatedDigitsDataModule
from ballroom.core.testing import quiet_trainer
from ballroom.sepgcnn import CKGResNet, SepGCNNClassifier
from ballroom.sepgcnn.cli import cli as cli_object
from ballroom.sepgcnn.cli import main as cli_main
from ballroom.sepgcnn.zoo import ZOO, create

#: the zoo's tiny SE(2) model (N=4, widths 4,4,8, k=5, SIREN hidden 16) on 16x16 digits
TINY = dict(model="sepgcnn-tiny", model_kwargs={"input_size": 16}, lr=3e-3)


def _digits(rotate: str = "test", batch_size: int = 32) -> RotatedDigitsDataModule:
    return RotatedDigitsDataModule(
        size=16, pad=2, rotate=rotate, split=(320, 64, 1413), batch_size=batch_size
    )  # type: ignore[arg-type]


def test_learns_upright_digits_and_logs() -> None:
    pl.seed_everything(0)
    model = SepGCNNClassifier(**TINY)  # type: ignore[arg-type]
    trainer = quiet_trainer(max_epochs=6, check_val_every_n_epoch=6)
    trainer.fit(model, datamodule=_digits())
    metrics = trainer.callback_metrics
    assert {"train/loss", "train/acc", "val/acc", "val/rot_acc", "val/loss", "time/epoch"} <= set(metrics)
    assert float(metrics["val/acc"]) > 0.6  # 10 classes: chance 0.1
    assert float(metrics["time/epoch"]) > 0


def test_hparam_errors() -> None:
    with pytest.raises(KeyError, match="unknown model 'resnet50'"):
        SepGCNNClassifier(model="resnet50")
    with pytest.raises(ValueError, match="implementation must be one of"):
        SepGCNNClassifier(model="sepgcnn-tiny", model_kwargs={"implementation": "lowrank"})
    with pytest.raises(ValueError, match="group must be 'SE2' or 'Sim2'"):
        SepGCNNClassifier(model="sepgcnn-tiny", model_kwargs={"group": "SO3"})
    with pytest.raises(ValueError, match="lr must be > 0"):
        SepGCNNClassifier(model="sepgcnn-tiny", lr=0.0)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        SepGCNNClassifier(model="sepgcnn-tiny", weight_decay=-1.0)
    with pytest.raises(ValueError, match="eval sampling"):
        SepGCNNClassifier(model="sepgcnn-tiny", eval_sampling="random")
    with pytest.raises(ValueError, match="model_kwargs: only allowed with a zoo name"):
        SepGCNNClassifier(model=create("sepgcnn-tiny"), model_kwargs={"hidden": 8})


def test_a_built_network_can_be_passed() -> None:
    net = CKGResNet("SE2", n_rot=4, widths=(2, 2, 4), kernel_size=3, hidden=4, input_size=16)
    module = SepGCNNClassifier(model=net, eval_sampling="discretise")
    assert module.net is net and "model" not in module.hparams
    assert net.lift.eval_sampling == "discretise"  # set_eval_sampling reaches a built network too


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_entry_builds_and_runs(name: str) -> None:
    net = create(name, input_size=16).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 16, 16)).shape == (2, 10)


def test_bad_images_are_refused() -> None:
    model = SepGCNNClassifier(**TINY).eval()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"shape \(B, 1, H, W\)"):
        model(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="empty batch"):
        model(torch.randn(0, 1, 16, 16))
    with pytest.raises(TypeError, match="floating point"):
        model(torch.zeros(2, 1, 16, 16, dtype=torch.uint8))
    bad = torch.randn(2, 1, 16, 16)
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        model(bad)


def test_seeded_fits_are_identical() -> None:
    states = []
    for _ in range(2):
        pl.seed_everything(5)
        model = SepGCNNClassifier(**TINY)  # type: ignore[arg-type]
        quiet_trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=0).fit(
            model, datamodule=_digits()
        )
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_checkpoint_round_trip_and_resume(tmp_path: Path) -> None:
    pl.seed_everything(2)
    sim2 = {"group": "Sim2", "n_scale": 2, "max_scale": 1.5, "implementation": "separable+2d"}
    kw = dict(TINY, model_kwargs={**TINY["model_kwargs"], **sim2}, weight_decay=1e-3)  # type: ignore[dict-item]
    trainer = quiet_trainer(
        tmp_path,
        max_epochs=1,
        limit_train_batches=4,
        limit_val_batches=0,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)],
    )
    model = SepGCNNClassifier(**kw, cosine_epochs=4)  # type: ignore[arg-type]
    trainer.fit(model, datamodule=_digits())
    last = tmp_path / "last.ckpt"
    raw = torch.load(last, weights_only=True, map_location="cpu")
    restored = SepGCNNClassifier.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.model_kwargs["implementation"] == "separable+2d"
    assert restored.hparams.weight_decay == 1e-3
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in model.state_dict().items())
    net = load_zoo_model(last)  # the plain zoo network, without Lightning
    assert isinstance(net, CKGResNet) and net.group.n_scale == 2
    x = torch.randn(3, 1, 16, 16)
    model.eval(), restored.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(x), model(x), rtol=0, atol=0)
        assert torch.equal(net(x), model(x))  # bitwise
    seen: list[tuple[int, int]] = []

    class Probe(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            seen.append((trainer.global_step, trainer.lr_scheduler_configs[0].scheduler.last_epoch))
            state = trainer.optimizers[0].state_dict()["state"]
            assert torch.equal(state[0]["exp_avg"], raw["optimizer_states"][0]["state"][0]["exp_avg"])

    resumed = quiet_trainer(
        tmp_path, max_epochs=2, limit_train_batches=4, limit_val_batches=0, callbacks=[Probe()]
    )
    resumed.fit(SepGCNNClassifier(**kw, cosine_epochs=4), datamodule=_digits(), ckpt_path=str(last))  # type: ignore[arg-type]
    assert seen == [(4, 1)] and resumed.global_step == 8


def test_bf16_mixed_fit_on_cpu() -> None:
    pl.seed_everything(6)
    model = SepGCNNClassifier(**TINY)  # type: ignore[arg-type]
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=1, precision="bf16-mixed")
    trainer.fit(model, datamodule=_digits())
    assert (
        torch.isfinite(trainer.callback_metrics["train/loss"]) and "val/rot_acc" in trainer.callback_metrics
    )


@pytest.mark.ddp
def test_ddp_fit(tmp_path: Path) -> None:
    pl.seed_everything(3)
    model = SepGCNNClassifier(**TINY)  # type: ignore[arg-type]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = quiet_trainer(
        tmp_path, devices=2, strategy="ddp_fork", max_epochs=1, limit_train_batches=2, limit_val_batches=1,
        deterministic=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=_digits())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.cuda
@pytest.mark.parametrize("implementation", ["nonseparable", "separable"])
def test_cuda_fit_and_parity(implementation: str) -> None:
    pl.seed_everything(4)
    model = SepGCNNClassifier(**dict(TINY, implementation=implementation))  # type: ignore[arg-type]
    quiet_trainer(accelerator="gpu", devices=1, max_epochs=1, limit_train_batches=3, limit_val_batches=1).fit(
        model, datamodule=_digits()
    )
    x = torch.randn(4, 1, 16, 16)
    model.eval()
    with torch.no_grad():
        gpu = model.cuda()(x.cuda()).cpu()
        cpu = model.cpu()(x)
        torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)
        rotated = model.cuda()(torch.rot90(x, 1, (-2, -1)).cuda()).cpu()
    torch.testing.assert_close(rotated, gpu, rtol=1e-3, atol=1e-3)  # invariance holds on the GPU too


def test_cli_fit_returns_exit_status_zero(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli_main(["fit", "--print_config"])
    quiet = ["--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.accelerator=cpu",
             f"--trainer.default_root_dir={tmp_path}", "--model.init_args.model=sepgcnn-tiny"]  # fmt: skip
    assert cli_main(["fit", "--trainer.fast_dev_run=true", *quiet]) == 0
    cli = cli_object(
        [
            "fit",
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=2",
            "--trainer.limit_val_batches=1",
            "--trainer.check_val_every_n_epoch=1",
            "--trainer.enable_checkpointing=false",
            *quiet,
            '--model.init_args.model_kwargs={"widths": [2, 2, 4], "hidden": 8}',
        ]
    )
    assert isinstance(cli.model, SepGCNNClassifier) and cli.trainer.global_step == 2
    assert cli.model.hparams.model == "sepgcnn-tiny" and cli.model.net.lift.out_channels == 2
    assert "val/rot_acc" in cli.trainer.callback_metrics
