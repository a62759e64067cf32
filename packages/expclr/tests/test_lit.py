"""ExpCLRModule and the baselines under Lightning: learning, logging, checkpoints (zoo model, resume),
DDP, CUDA, the CLI, and the building blocks importing without Lightning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ballroom.core.checkpoint import load_zoo_model
from ballroom.core.training import make_trainer
from ballroom.expclr import (
    ExpCLRModule,
    ExpertDataModule,
    ExpertDecodingModule,
    ResNet1DEncoder,
    SimCLRTSModule,
    build_encoder,
    embed,
    expclr_loss,
    knn_probe,
)
from ballroom.expclr.cli import main as cli_main
from ballroom.expclr.zoo import create

TINY = "expclr-tiny"  # 1 block, width 16, 16-d representation


def _dm(**kw: object) -> ExpertDataModule:
    return ExpertDataModule(n=320, label_fraction=0.25, **kw)  # type: ignore[arg-type]


def test_expclr_learns_the_expert_geometry() -> None:
    pl.seed_everything(0)
    dm = _dm()
    x, f, _y, mask = dm.tensors("train")
    xt, _, yt, mt = dm.tensors("test")
    random = create(TINY)
    model = ExpCLRModule(TINY, lr=3e-3)
    model.net.load_state_dict(random.state_dict())
    with torch.no_grad():
        before = float(expclr_loss(model.net.eval()(x, mask), f))
    model.net.train()
    trainer = make_trainer(max_epochs=15)
    trainer.fit(model, datamodule=dm)
    after = float(expclr_loss(model.net.eval()(x, mask).detach(), f))
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
    labels, y_test = dm.true_train_labels.numpy(), yt.numpy()
    knn = knn_probe(embed(model.net, x, mask), labels, embed(model.net, xt, mt), y_test)
    knn_random = knn_probe(embed(random, x, mask), labels, embed(random, xt, mt), y_test)
    assert knn > knn_random + 0.05


def test_baselines_train() -> None:
    pl.seed_everything(1)
    dm = _dm()
    for module in (SimCLRTSModule(TINY), ExpertDecodingModule(dm.feature_dim, TINY)):
        trainer = make_trainer(max_epochs=2)
        trainer.fit(module, datamodule=dm)
        assert torch.isfinite(trainer.callback_metrics["train/loss"])


def test_delta_auto_and_semi_supervised() -> None:
    pl.seed_everything(2)
    dm = _dm()
    model = ExpCLRModule(TINY, delta="auto", use_labels=True)
    make_trainer(max_epochs=1).fit(model, datamodule=dm)
    assert float(model.delta_value) > 1.0  # 1 / mean(1 - s) with mean(1 - s) < 1
    with pytest.raises(ValueError, match="'auto'"):
        ExpCLRModule(delta="max")


def test_seeded_fits_are_identical() -> None:
    states = []
    for _ in range(2):
        pl.seed_everything(3)
        model = ExpCLRModule(TINY)
        make_trainer(max_epochs=1).fit(model, datamodule=_dm(seed=3))
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_checkpoint_loads_into_the_zoo_encoder_and_resumes(tmp_path: Path) -> None:
    pl.seed_everything(4)
    trainer = make_trainer(
        tmp_path,
        max_epochs=1,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)],
    )
    model = ExpCLRModule(TINY, {"width": 8}, lr=2e-3, temperature=0.5)
    trainer.fit(model, datamodule=_dm())
    last = tmp_path / "last.ckpt"
    # the trained encoder, without Lightning: bitwise the module's
    net = load_zoo_model(last)
    assert isinstance(net, ResNet1DEncoder) and net.blocks[0].conv1.out_channels == 8
    x, _, _, mask = _dm().tensors("test")
    assert torch.equal(net(x, mask), model.eval()(x, mask))
    raw = torch.load(last, weights_only=True, map_location="cpu")
    restored = ExpCLRModule.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.temperature == 0.5 and restored.hparams.lr == 2e-3
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in model.state_dict().items())
    resumed = make_trainer(tmp_path, max_epochs=2)
    steps: list[int] = []

    class Probe(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            steps.append(trainer.global_step)
            state = trainer.optimizers[0].state_dict()["state"]
            assert torch.equal(state[0]["exp_avg"], raw["optimizer_states"][0]["state"][0]["exp_avg"])

    resumed.callbacks.append(Probe())
    resumed.fit(ExpCLRModule(TINY, {"width": 8}), datamodule=_dm(), ckpt_path=str(last))
    assert steps == [raw["global_step"]] and resumed.global_step == 2 * raw["global_step"]


def test_baseline_checkpoints_hold_the_encoder_under_net(tmp_path: Path) -> None:
    pl.seed_everything(5)
    dm = _dm()
    module = SimCLRTSModule(TINY)
    trainer = make_trainer(tmp_path, max_steps=2, enable_checkpointing=True, limit_val_batches=0)
    trainer.fit(module, datamodule=dm)
    trainer.save_checkpoint(tmp_path / "simclr.ckpt")
    x, _, _, mask = dm.tensors("test")
    assert torch.equal(load_zoo_model(tmp_path / "simclr.ckpt")(x, mask), module.eval()(x, mask))


def test_a_built_encoder_can_be_passed() -> None:
    enc = ResNet1DEncoder(3, repr_dim=8, blocks=1, width=4)
    module = SimCLRTSModule(model=enc)
    assert module.net is enc and "model" not in module.hparams
    assert module.projection[0].in_features == 8
    with pytest.raises(ValueError, match="model_kwargs"):
        ExpCLRModule(model=enc, model_kwargs={"width": 2})
    with pytest.raises(TypeError, match="repr_dim"):
        ExpCLRModule(model=torch.nn.Linear(2, 2))
    with pytest.warns(DeprecationWarning, match="net"):
        assert module.encoder is enc
    with pytest.warns(DeprecationWarning, match="build_encoder"):
        assert isinstance(build_encoder("resnet", 1, 8, 1, 4), ResNet1DEncoder)


@pytest.mark.ddp
def test_ddp_fit(tmp_path: Path) -> None:
    pl.seed_everything(5)
    model = ExpCLRModule(TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = make_trainer(tmp_path, devices=2, strategy="ddp_spawn", max_epochs=1, deterministic=False)
    trainer.fit(model, datamodule=_dm())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.cuda
def test_cuda_fit_and_parity() -> None:
    pl.seed_everything(6)
    model = ExpCLRModule(TINY)
    make_trainer(accelerator="gpu", devices=1, max_epochs=1, precision="bf16-mixed").fit(
        model, datamodule=_dm()
    )
    x = torch.randn(8, 1, 128)
    model.eval()
    gpu = model.cuda()(x.cuda()).float().cpu()
    torch.testing.assert_close(gpu, model.cpu()(x), rtol=1e-3, atol=1e-3)


def test_cli_fit_returns_exit_status_zero(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli_main(["fit", "--print_config"])
    common = [
        "fit",
        "--trainer.fast_dev_run=true",
        "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
        "--data.n=200",
        "--model.model=expclr-tiny",
    ]
    assert cli_main(common) == 0
    # the baselines train from the same command (subclass mode)
    assert cli_main([*common, "--model=SimCLRTSModule", "--model.model=expclr-tiny"]) == 0


def test_building_blocks_import_without_lightning() -> None:
    code = (
        "import sys, ballroom.expclr as e, ballroom.expclr.functional, ballroom.expclr.nn; "
        "[getattr(e, n) for n in ('ExpCLRLoss', 'expclr_loss', 'ResNet1DEncoder', 'TCNEncoder', "
        "'make_sine_bands', 'StatisticalSpectralFeatures', 'embed', 'LinearProbe', 'knn_probe', "
        "'effective_dimensionality', 'ZOO', '__version__')]; e.create('expclr-tiny'); "
        "sys.exit(int('pytorch_lightning' in sys.modules or 'lightning' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
