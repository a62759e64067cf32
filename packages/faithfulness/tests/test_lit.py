"""The LightningModule: learning, determinism, checkpoints (zoo model, resume), DDP, CUDA, the CLI, the zoo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from ballroom.core.testing import check_checkpoint_and_resume, check_ddp_fit
from ballroom.core.training import make_trainer
from ballroom.faithfulness import (
    AttentionTextClassifier,
    PolaritySynthDataModule,
    TextClassifierModule,
    ViolationTestCallback,
    make_polarity_data,
)
from ballroom.faithfulness.cli import main as cli_main
from ballroom.faithfulness.zoo import ZOO, create


def _dm() -> PolaritySynthDataModule:
    return PolaritySynthDataModule(n_train=1024, n_val=128, n_test=128, batch_size=64, seed=0)


def _fit(seed: int, epochs: int = 2, **kw: object) -> tuple[TextClassifierModule, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = TextClassifierModule(model="faithfulness-tiny", lr=1e-2)
    trainer = make_trainer(max_epochs=epochs, **kw)
    trainer.fit(model, datamodule=_dm())
    return model, trainer


def test_tiny_model_learns_and_the_callback_logs_violations() -> None:
    cb = ViolationTestCallback(explainers=("Random", "RawAtt", "InputGrad"), max_batches=1)
    _, trainer = _fit(0, epochs=5, callbacks=[cb])
    assert trainer.callback_metrics["val/acc"].item() > 0.8
    for name in ("Random", "RawAtt", "InputGrad"):
        assert 0.0 <= trainer.callback_metrics[f"violation/{name}"].item() <= 1.0
    assert cb.frame is not None and set(cb.frame["explainer"]) == {"Random", "RawAtt", "InputGrad"}
    # a trained model: InputGrad's polarity beats the random explainer
    assert trainer.callback_metrics["violation/InputGrad"] < trainer.callback_metrics["violation/Random"]


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=1)
    b, _ = _fit(1, epochs=1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    # zoo model == trained network bitwise, hparams restored, optimizer state and step continue on resume
    check_checkpoint_and_resume(
        lambda: TextClassifierModule(model="faithfulness-tiny", lr=1e-2),
        lambda: _dm(),
        make_polarity_data(5, seed=9)[0],
        tmp_path,
        net_type=AttentionTextClassifier,
    )


def test_a_built_network_can_be_passed_and_adam_is_used() -> None:
    net = create("faithfulness-tiny")
    module = TextClassifierModule(model=net)
    assert module.net is net and "model" not in module.hparams
    opt = module.configure_optimizers()
    assert type(opt) is torch.optim.Adam and opt.defaults["weight_decay"] == 1e-5


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    check_ddp_fit(lambda: TextClassifierModule(model="faithfulness-tiny", lr=1e-2), lambda: _dm(), tmp_path)


def test_bf16_mixed_fit_learns_on_cpu() -> None:
    # the same module under bf16 autocast (CPU here; on CUDA the same Trainer flag)
    _, trainer = _fit(0, epochs=3, precision="bf16-mixed")
    assert trainer.precision == "bf16-mixed"
    assert (
        torch.isfinite(trainer.callback_metrics["train/loss"]) and trainer.callback_metrics["val/acc"] > 0.7
    )


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1)
    assert trainer.callback_metrics["val/acc"].item() > 0.7
    x = make_polarity_data(16, seed=3)[0]
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
        "--data.n_train=128",
    ]
    assert cli_main(args) == 0
    with pytest.raises(SystemExit):
        cli_main(["fit", "--print_config"])


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_entry_builds_and_runs(name: str) -> None:
    net = create(name)
    x = make_polarity_data(2, seed=0)[0]
    assert net(x).shape == (2, ZOO[name].kwargs["num_classes"])


def test_building_blocks_import_without_lightning() -> None:
    code = (
        "import sys, ballroom.faithfulness.nn, ballroom.faithfulness; ballroom.faithfulness.violation_flags; "
    )
    code += "ballroom.faithfulness.run_violation_test; ballroom.faithfulness.IntegratedGradients; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
