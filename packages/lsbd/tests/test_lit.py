"""The LightningModule: learning, determinism, checkpoints (zoo model, resume), DDP, CUDA, the CLI, the zoo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from ballroom.core.testing import check_checkpoint_and_resume
from ballroom.core.training import make_trainer
from ballroom.lsbd import LSBDVAE, LSBDAutoencoder, LSBDDataModule, build_lsbd
from ballroom.lsbd.cli import main as cli_main
from ballroom.lsbd.zoo import ZOO, create


def _fit(seed: int, epochs: int = 2, schedule: str = "alternate", **kw: object) -> tuple[LSBDVAE, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = LSBDVAE(model="lsbd-tiny", dist_weight=100.0, recon="sse", schedule=schedule, lr=3e-3)
    trainer = make_trainer(max_epochs=epochs, num_sanity_val_steps=0, **kw)
    dm = LSBDDataModule("square16", pairs=128, schedule=schedule, labelled_batch=32, unlabelled_batch=64)
    trainer.fit(model, datamodule=dm)
    return model, trainer


def test_tiny_model_learns_and_logs_the_spec_keys() -> None:
    pl.seed_everything(0, workers=True)
    dm = LSBDDataModule("square16", pairs=64, labelled_batch=32, unlabelled_batch=64)
    model = LSBDVAE(model="lsbd-tiny", dist_weight=100.0, recon="sse", lr=3e-3)
    trainer = make_trainer(max_epochs=1, limit_train_batches=0, num_sanity_val_steps=0)
    before = trainer.validate(model, datamodule=dm, verbose=False)[0]
    trainer = make_trainer(max_epochs=40, check_val_every_n_epoch=40, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    m = trainer.callback_metrics
    keys = {"train/recon_u", "train/kl_u", "train/recon_s", "train/kl_s", "train/equiv_s", "train/loss"}
    assert keys | {"val/dlsbd", "val/omega_1", "val/recon"} <= set(m)
    assert m["val/recon"] < 0.8 * before["val/recon"]
    assert m["val/dlsbd"] < before["val/dlsbd"]


def test_joint_schedule_sums_both_losses() -> None:
    model = LSBDVAE(model="lsbd-tiny", schedule="joint")
    dm = LSBDDataModule("square16", pairs=64, schedule="joint", labelled_batch=8, unlabelled_batch=8)
    batch = next(iter(dm.train_dataloader()))[0]
    torch.manual_seed(0)
    both = model.training_step(batch, 0)
    torch.manual_seed(0)
    sup = model._supervised(batch["labelled"])["loss"]
    unsup = model._unsupervised(batch["unlabelled"])["loss"]
    torch.testing.assert_close(both, sup + unsup)


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=1)
    b, _ = _fit(1, epochs=1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    # zoo model == trained network bitwise, hparams restored, optimizer state and step continue on resume
    check_checkpoint_and_resume(
        lambda: LSBDVAE(model="lsbd-tiny", dist_weight=100.0, recon="sse", lr=3e-3),
        lambda: LSBDDataModule("square16", pairs=128, labelled_batch=32, unlabelled_batch=64),
        torch.rand(5, 1, 16, 16),
        tmp_path,
        net_type=LSBDAutoencoder,
        num_sanity_val_steps=0,
    )


def test_a_built_network_can_be_passed_and_a_gaussian_vae_trains() -> None:
    net = build_lsbd(latents=("r4",), hidden=(16,))
    module = LSBDVAE(model=net)
    assert module.net is net and "model" not in module.hparams
    trainer = make_trainer(max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=LSBDDataModule("square16", pairs=0))
    assert "train/recon_u" in trainer.callback_metrics and "train/equiv_s" not in trainer.callback_metrics
    with pytest.raises(TypeError, match="LSBDAutoencoder"):
        LSBDVAE(model=torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="schedule must be one of"):
        LSBDVAE(schedule="both")


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    _, trainer = _fit(0, epochs=2, devices=2, strategy="ddp_fork", default_root_dir=tmp_path)
    assert trainer.world_size == 2
    assert 0 <= trainer.callback_metrics["val/dlsbd"].item() < 1


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1)
    assert 0 <= trainer.callback_metrics["val/dlsbd"].item() < 1
    x = torch.rand(16, 1, 16, 16)
    model = model.eval()
    cpu = model.cpu()(x)
    gpu = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)


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
    net = create(name)
    c, h, w = ZOO[name].kwargs["image_shape"]
    x = torch.rand(2, c, h, w)
    z = net(x)
    assert z.shape == (2, net.latent_dim)
    assert net.decode(z).shape == x.shape


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.lsbd.nn, ballroom.lsbd.metrics, ballroom.lsbd; ballroom.lsbd.dlsbd; "
    code += "ballroom.lsbd.CircleLatent; ballroom.lsbd.square_dataset; sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_bf16_mixed_fit_runs_with_finite_losses() -> None:
    _, trainer = _fit(0, epochs=1, precision="bf16-mixed")
    metrics = trainer.callback_metrics
    assert all(torch.isfinite(v).all() for v in metrics.values()) and "val/dlsbd" in metrics


def test_fused_adam_only_where_torch_has_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from ballroom.lsbd.lit import fused_adam_supported, make_adam

    p = [torch.nn.Parameter(torch.zeros(3))]
    monkeypatch.setattr(torch, "__version__", "2.1.0+cpu")
    assert not fused_adam_supported(p)  # torch < 2.4 has no fused CPU Adam
    assert make_adam(p, lr=1e-3, eps=1e-7).defaults["fused"] is False
    monkeypatch.setattr(torch, "__version__", "2.4.1")
    assert fused_adam_supported(p)
    assert not fused_adam_supported([torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))])
