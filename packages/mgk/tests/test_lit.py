"""The LightningModule: learning, determinism, checkpoints (zoo model, resume), DDP, CUDA, the CLI, the zoo."""

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
from ballroom.mgk import MgkClassifier, MgkDataModule, MgkNet
from ballroom.mgk.cli import main as cli_main
from ballroom.mgk.zoo import ZOO, create


def _fit(seed: int, epochs: int = 2, **kw: object) -> tuple[MgkClassifier, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = MgkClassifier(model="mgk-tiny", lr=3e-3)
    trainer = make_trainer(max_epochs=epochs, **kw)
    trainer.fit(model, datamodule=MgkDataModule(seed=0))
    return model, trainer


def test_tiny_model_learns() -> None:
    _, trainer = _fit(0, epochs=3)
    assert trainer.callback_metrics["val/acc"].item() > 0.85


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=1)
    b, _ = _fit(1, epochs=1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    model, _ = _fit(2, epochs=1, enable_checkpointing=True, callbacks=[ckpt], default_root_dir=tmp_path)
    last = tmp_path / "ckpt" / "last.ckpt"
    net = load_zoo_model(last)  # weights_only=True inside
    x = torch.randn(5, 64)
    assert isinstance(net, MgkNet)
    assert torch.equal(net(x), model.eval()(x))
    restored = MgkClassifier.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.lr == 3e-3
    # resume: the step count and the optimizer state continue
    raw = torch.load(last, weights_only=True)
    trainer2 = make_trainer(tmp_path, max_epochs=2)
    resumed = MgkClassifier(model="mgk-tiny", lr=3e-3)
    trainer2.fit(resumed, datamodule=MgkDataModule(seed=0), ckpt_path=str(last))
    assert trainer2.global_step == 2 * raw["global_step"] > 0


def test_a_built_network_can_be_passed() -> None:
    net = MgkNet(hidden=(8,))
    module = MgkClassifier(model=net)
    assert module.net is net and "model" not in module.hparams


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    _, trainer = _fit(0, epochs=2, devices=2, strategy="ddp_fork", default_root_dir=tmp_path)
    assert trainer.world_size == 2
    assert trainer.callback_metrics["val/acc"].item() > 0.5


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1)
    assert trainer.callback_metrics["val/acc"].item() > 0.8
    x = torch.randn(16, 64)
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
    assert net(torch.randn(2, 64)).shape == (2, ZOO[name].kwargs["num_classes"])


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.mgk.nn, ballroom.mgk; ballroom.mgk.standardize; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
