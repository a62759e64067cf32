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
from ballroom.pdo3d import PDOClassifier, PDOTetrisNet, TetrisDataModule
from ballroom.pdo3d.cli import main as cli_main
from ballroom.pdo3d.lit import official_lr
from ballroom.pdo3d.zoo import ZOO, create


def _dm() -> TetrisDataModule:
    return TetrisDataModule(scale=2, pad=2, n_random=2, batch_size=8, seed=0)


def _fit(seed: int, epochs: int = 2, **kw: object) -> tuple[PDOClassifier, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = PDOClassifier(model="pdo3d-tiny", lr=3e-2)
    trainer = make_trainer(max_epochs=epochs, **kw)
    trainer.fit(model, datamodule=_dm())
    return model, trainer


def test_tiny_model_learns_and_tests_under_both_rotation_sets() -> None:
    model, trainer = _fit(0, epochs=60, check_val_every_n_epoch=20)
    assert trainer.callback_metrics["train/loss"].item() < 1.0  # ln 8 = 2.08 at chance
    val_acc = trainer.callback_metrics["val/acc"].item()
    assert val_acc > 0.6
    res = trainer.test(model, datamodule=_dm(), verbose=False)
    # exact O-invariance: the cube-rotated test accuracy equals the training accuracy, logits unchanged
    assert res[0]["test/inv_err_cube"] < 1e-5
    assert res[0]["test/acc_cube"] == pytest.approx(val_acc)
    assert "test/acc_so3" in res[1] and res[1]["test/inv_err_so3"] > 1e-4  # interpolated: not exact


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=2)
    b, _ = _fit(1, epochs=2)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    model, _ = _fit(2, epochs=2, enable_checkpointing=True, callbacks=[ckpt], default_root_dir=tmp_path)
    last = tmp_path / "ckpt" / "last.ckpt"
    net = load_zoo_model(last)  # weights_only=True inside
    x = torch.randn(3, 1, 12, 12, 12)
    assert isinstance(net, PDOTetrisNet)
    assert torch.equal(net.eval()(x), model.eval()(x))
    restored = PDOClassifier.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.lr == 3e-2
    raw = torch.load(last, weights_only=True)
    assert raw["optimizer_states"][0]["state"]  # Adam moments are saved
    trainer2 = make_trainer(tmp_path, max_epochs=4)
    resumed = PDOClassifier(model="pdo3d-tiny", lr=3e-2)
    trainer2.fit(resumed, datamodule=_dm(), ckpt_path=str(last))
    assert trainer2.global_step == 2 * raw["global_step"] > 0


def test_official_schedule() -> None:
    assert official_lr(0) == official_lr(49) == 1e-3
    assert official_lr(50) == pytest.approx(1e-2 * 0.98)
    module = PDOClassifier(schedule="official")
    conf = module.configure_optimizers()
    assert conf["optimizer"].param_groups[0]["lr"] == pytest.approx(1e-3)


def test_a_built_network_can_be_passed() -> None:
    net = PDOTetrisNet("O", "quotient-T", 1, 4)
    module = PDOClassifier(model=net)
    assert module.net is net and "model" not in module.hparams


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    _, trainer = _fit(0, epochs=2, devices=2, strategy="ddp_fork", default_root_dir=tmp_path)
    assert trainer.world_size == 2
    assert 0.0 <= trainer.callback_metrics["val/acc"].item() <= 1.0


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, _ = _fit(0, epochs=20, accelerator="gpu", devices=1)
    x = torch.randn(4, 1, 12, 12, 12)
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
    net = create(name).eval()
    size = 12 if name == "pdo3d-tiny" else 20
    assert net(torch.randn(2, 1, size, size, size)).shape == (2, 8)


def test_zoo_parameter_counts_equal_the_official_ones() -> None:
    counts = {n: sum(p.numel() for p in create(n).parameters()) for n in ZOO}
    assert counts["pdo3d-tetris-o-regular"] == 31020  # paper: 31k
    assert counts["pdo3d-tetris-o-vquotient"] == 5520  # 5.5k
    assert counts["pdo3d-tetris-o-tquotient"] == 2220  # 2.2k
    assert counts["pdo3d-tetris-so3"] == 22768  # 22.8k


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.pdo3d.nn, ballroom.pdo3d.models, ballroom.pdo3d; ballroom.pdo3d.PDOConv3d; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
