"""The LightningModule: learning, determinism, checkpoints (zoo model, resume), DDP, CUDA, the CLI, the zoo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from ballroom.bregman import BregmanClassifier, BregmanDigitsDataModule, BregmanMLP, scale_to_range
from ballroom.bregman.cli import main as cli_main
from ballroom.bregman.zoo import ZOO, create
from ballroom.core.testing import check_checkpoint_and_resume, check_ddp_fit
from ballroom.core.training import make_trainer


def _fit(seed: int, epochs: int = 2, **kw: object) -> tuple[BregmanClassifier, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = BregmanClassifier(model="bregman-tiny", lr=3e-3, displacement_every=1)
    trainer = make_trainer(max_epochs=epochs, **kw)
    trainer.fit(model, datamodule=BregmanDigitsDataModule(seed=0))
    return model, trainer


def test_tiny_model_learns() -> None:
    _, trainer = _fit(0, epochs=3)
    assert trainer.callback_metrics["val/acc"].item() > 0.7  # chance: 0.1
    assert {"diag/displacement_l1", "diag/displacement_l2", "val/loss"} <= set(trainer.callback_metrics)


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=1)
    b, _ = _fit(1, epochs=1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    # zoo model == trained network bitwise, hparams restored, optimizer state and step continue on resume
    check_checkpoint_and_resume(
        lambda: BregmanClassifier(model="bregman-tiny", lr=3e-3, displacement_every=1),
        lambda: BregmanDigitsDataModule(seed=0),
        torch.rand(5, 64) * 0.9 + 0.05,
        tmp_path,
        net_type=BregmanMLP,
    )


def test_a_built_network_can_be_passed() -> None:
    net = BregmanMLP(64, [8], 10, "tanh")
    module = BregmanClassifier(model=net)
    assert module.net is net and "model" not in module.hparams


def test_sgd_with_multistep_schedule_and_bad_arguments() -> None:
    module = BregmanClassifier(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, milestones=[2, 4])
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    assert isinstance(sched, torch.optim.lr_scheduler.MultiStepLR) and sched.milestones == {2: 1, 4: 1}
    assert isinstance(BregmanClassifier().configure_optimizers(), torch.optim.Adam)
    with pytest.raises(ValueError, match="optimizer must be"):
        BregmanClassifier(optimizer="lbfgs")
    with pytest.raises(ValueError, match="milestones"):
        BregmanClassifier(milestones=[4, 2])


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    check_ddp_fit(
        lambda: BregmanClassifier(model="bregman-tiny", lr=3e-3, displacement_every=1),
        lambda: BregmanDigitsDataModule(seed=0),
        tmp_path,
    )


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1)
    assert trainer.callback_metrics["val/acc"].item() > 0.8
    x = scale_to_range(torch.rand(16, 64), "sigmoid")
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
    kw = ZOO[name].kwargs
    if "input_dim" in kw:
        x = scale_to_range(torch.rand(2, kw["input_dim"]), kw["activation"])
        assert net(x).shape == (2, kw["output_dim"])
    else:
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, kw["num_classes"])


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.bregman.nn, ballroom.bregman; ballroom.bregman.BregmanMLP; ballroom.bregman.bregman_resnet20; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
