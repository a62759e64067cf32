"""Lightning: learning, logged statistics, determinism, checkpoints (zoo model, resume), DDP, CUDA,
the continual runner, the CLI, the zoo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from ballroom.core.testing import check_checkpoint_and_resume, check_ddp_fit
from ballroom.core.training import make_trainer
from ballroom.neurocoder import (
    ContinualLightningRunner,
    NeurocoderDataModule,
    NeurocoderLightningModule,
    NeurocoderMLP,
    OnlineEWCAgent,
    SIAgent,
    load_stream,
)
from ballroom.neurocoder.cli import main as cli_main
from ballroom.neurocoder.zoo import ZOO, create


def _fit(seed: int, epochs: int = 2, **kw: object) -> tuple[NeurocoderLightningModule, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = NeurocoderLightningModule(model="neurocoder-tiny", lr=1e-2)
    trainer = make_trainer(max_epochs=epochs, **kw)
    trainer.fit(model, datamodule=NeurocoderDataModule(seed=0))
    return model, trainer


def test_tiny_model_learns_and_logs_program_statistics() -> None:
    _, trainer = _fit(0, epochs=6)
    m = trainer.callback_metrics
    assert m["val/acc"].item() > 0.6  # chance: 0.1
    P = ZOO["neurocoder-tiny"].kwargs["layer_kwargs"]["num_programs"]
    assert 0 < m["train/read_entropy"].item() <= float(torch.log(torch.tensor(float(P)))) + 1e-6
    assert m["train/sigma_mean"].item() >= m["train/sigma_min"].item() > 0
    torch.testing.assert_close(m["train/loss"], m["train/ce"] + m["train/ortho"], atol=1e-5, rtol=0)


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=1)
    b, _ = _fit(1, epochs=1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    # zoo model == trained network bitwise, hparams restored, Adam moments and step continue on resume
    check_checkpoint_and_resume(
        lambda: NeurocoderLightningModule(model="neurocoder-tiny", lr=1e-2),
        lambda: NeurocoderDataModule(seed=0),
        torch.randn(5, 64),
        tmp_path,
        net_type=NeurocoderMLP,
    )


def test_continual_runner_fills_the_matrix_and_shares_the_optimizer() -> None:
    tasks = load_stream("digits", "split")[:2]
    pl.seed_everything(0)
    module = NeurocoderLightningModule(model="neurocoder-baseline-mlp-digits", num_classes=2)
    runner = ContinualLightningRunner(module, tasks, epochs=2, agent=OnlineEWCAgent(10.0))
    opt_ids = []
    orig = module.configure_optimizers
    module.configure_optimizers = lambda: opt_ids.append(id(orig())) or orig()  # type: ignore[method-assign]
    acc = runner.run()
    assert acc.shape == (2, 2) and not bool(torch.isnan(acc).any())
    assert float(acc[0, 0]) > 0.9 and float(acc[1, 1]) > 0.9
    assert len(set(opt_ids)) == 1 and len(opt_ids) == 2
    assert len(runner.agent.terms) == 1  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="SI needs"):
        ContinualLightningRunner(module, tasks, agent=SIAgent())


def test_a_built_network_can_be_passed() -> None:
    net = NeurocoderMLP(
        hidden=(8,), num_classes=10, layer_kwargs={"num_programs": 4, "key_dim": 2, "rank": 2}
    )
    module = NeurocoderLightningModule(model=net)
    assert module.net is net and "model" not in module.hparams


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    # the direct-mode gate Linear (official res_s) only acts with a residual program: unused otherwise
    check_ddp_fit(
        lambda: NeurocoderLightningModule(model="neurocoder-tiny", lr=1e-2),
        lambda: NeurocoderDataModule(seed=0),
        tmp_path,
        epochs=4,
        above=0.2,  # chance: 0.1
        strategy="ddp_fork_find_unused_parameters_true",
    )


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=6, accelerator="gpu", devices=1)
    assert trainer.callback_metrics["val/acc"].item() > 0.6
    x = torch.randn(16, 64)
    model = model.eval()
    cpu = model.cpu()(x)
    gpu = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)


@pytest.mark.cuda
def test_cuda_bf16_mixed_fit() -> None:
    _, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1, precision="bf16-mixed")
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
    net = create(name)
    d = ZOO[name].kwargs["in_features"]
    assert net(torch.randn(2, d)).shape == (2, ZOO[name].kwargs["num_classes"])


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.neurocoder.nn, ballroom.neurocoder.continual, ballroom.neurocoder; "
    code += "ballroom.neurocoder.NeurocoderLinear; ballroom.neurocoder.run_stream; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_cosine_epochs_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="cosine_epochs must be None"):
        NeurocoderLightningModule(cosine_epochs=10)
