"""ExpCLRModule and the baselines under Lightning: learning, logging, checkpoints, DDP, CUDA, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ballroom.core.testing import quiet_trainer
from ballroom.expclr import (
    ExpCLRModule,
    ExpertDataModule,
    ExpertDecodingModule,
    SimCLRTSModule,
    build_encoder,
    embed,
    expclr_loss,
    knn_probe,
)
from ballroom.expclr.cli import main as cli_main

TINY = {"repr_dim": 16, "blocks": 1, "width": 16}


def _dm(**kw: object) -> ExpertDataModule:
    return ExpertDataModule(n=320, label_fraction=0.25, **kw)  # type: ignore[arg-type]


def test_expclr_learns_the_expert_geometry() -> None:
    pl.seed_everything(0)
    dm = _dm()
    dm.setup()
    assert dm.datasets is not None
    x, f, _y, mask = dm.datasets["train"].tensors
    xt, _, yt, mt = dm.datasets["test"].tensors
    random = build_encoder("resnet", 1, **TINY)
    model = ExpCLRModule(**TINY, lr=3e-3)
    model.encoder.load_state_dict(random.state_dict())
    before = float(expclr_loss(model.encoder.eval()(x, mask), f))
    trainer = quiet_trainer(max_epochs=15)
    trainer.fit(model, datamodule=dm)
    after = float(expclr_loss(model.encoder.eval()(x, mask).detach(), f))
    assert after < 0.7 * before
    for key in (
        "train/loss",
        "train/quadratic_loss",
        "train/D_mean",
        "train/s_mean",
        "train/effective_dim",
        "val/loss",
    ):
        assert key in trainer.callback_metrics
    assert trainer.callback_metrics["train/D_mean"].item() == pytest.approx(1.0, rel=1e-5)
    knn = knn_probe(
        embed(model.encoder, x, mask), dm.true_train_labels.numpy(), embed(model.encoder, xt, mt), yt.numpy()
    )
    knn_random = knn_probe(
        embed(random, x, mask), dm.true_train_labels.numpy(), embed(random, xt, mt), yt.numpy()
    )
    assert knn > knn_random + 0.05


def test_baselines_train() -> None:
    pl.seed_everything(1)
    dm = _dm()
    for module in (SimCLRTSModule(**TINY), ExpertDecodingModule(feature_dim=dm.feature_dim, **TINY)):
        trainer = quiet_trainer(max_epochs=2)
        trainer.fit(module, datamodule=dm)
        assert torch.isfinite(trainer.callback_metrics["train/loss"])


def test_delta_auto_and_semi_supervised() -> None:
    pl.seed_everything(2)
    dm = _dm()
    model = ExpCLRModule(**TINY, delta="auto", use_labels=True)
    quiet_trainer(max_epochs=1).fit(model, datamodule=dm)
    assert float(model.delta_value) > 1.0  # 1 / mean(1 - s) with mean(1 - s) < 1
    with pytest.raises(ValueError, match="'auto'"):
        ExpCLRModule(delta="max")


def test_seeded_fits_are_identical() -> None:
    states = []
    for _ in range(2):
        pl.seed_everything(3)
        model = ExpCLRModule(**TINY)
        quiet_trainer(max_epochs=1).fit(model, datamodule=_dm(seed=3))
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_checkpoint_round_trip_and_resume(tmp_path: Path) -> None:
    pl.seed_everything(4)
    trainer = quiet_trainer(
        tmp_path,
        max_epochs=1,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)],
    )
    model = ExpCLRModule(**TINY, lr=2e-3, temperature=0.5)
    trainer.fit(model, datamodule=_dm())
    last = tmp_path / "last.ckpt"
    raw = torch.load(last, weights_only=True, map_location="cpu")
    restored = ExpCLRModule.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.temperature == 0.5 and restored.hparams.lr == 2e-3
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in model.state_dict().items())
    resumed = quiet_trainer(tmp_path, max_epochs=2)
    steps: list[int] = []

    class Probe(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            steps.append(trainer.global_step)
            state = trainer.optimizers[0].state_dict()["state"]
            assert torch.equal(state[0]["exp_avg"], raw["optimizer_states"][0]["state"][0]["exp_avg"])

    resumed.callbacks.append(Probe())
    resumed.fit(ExpCLRModule(**TINY), datamodule=_dm(), ckpt_path=str(last))
    assert steps == [raw["global_step"]] and resumed.global_step == 2 * raw["global_step"]


@pytest.mark.ddp
def test_ddp_fit(tmp_path: Path) -> None:
    pl.seed_everything(5)
    model = ExpCLRModule(**TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = quiet_trainer(tmp_path, devices=2, strategy="ddp_spawn", max_epochs=1, deterministic=False)
    trainer.fit(model, datamodule=_dm())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.cuda
def test_cuda_fit_and_parity() -> None:
    pl.seed_everything(6)
    model = ExpCLRModule(**TINY)
    quiet_trainer(accelerator="gpu", devices=1, max_epochs=1, precision="bf16-mixed").fit(
        model, datamodule=_dm()
    )
    x = torch.randn(8, 1, 128)
    model.eval()
    gpu = model.cuda()(x.cuda()).float().cpu()
    torch.testing.assert_close(gpu, model.cpu()(x), rtol=1e-3, atol=1e-3)


def test_cli_print_config_and_short_fit(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli_main(["fit", "--print_config"])
    cli = cli_main(
        [
            "fit",
            "--trainer.max_epochs",
            "1",
            "--trainer.logger",
            "false",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.enable_checkpointing",
            "false",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--data.n",
            "200",
            "--model.blocks",
            "1",
            "--model.width",
            "8",
        ]
    )
    assert cli.model.hparams.repr_dim == 32 and cli.trainer.global_step > 0
