"""Classifier and STIRCallback under Lightning: learning, adversarial training, checkpoints, DDP, CUDA, CLI, zoo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from ballroom.core.testing import check_checkpoint_and_resume, check_ddp_fit
from ballroom.core.training import make_trainer
from ballroom.stir import Classifier, FeatureMLP, STIRCallback, StirDataModule, pgd_l2
from ballroom.stir.cli import main as cli_main
from ballroom.stir.zoo import ZOO, create


def _fit(
    seed: int, epochs: int = 2, model_kw: dict | None = None, **kw: object
) -> tuple[Classifier, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = Classifier(model="stir-tiny", lr=1e-2, **(model_kw or {}))
    trainer = make_trainer(max_epochs=epochs, **kw)
    trainer.fit(model, datamodule=StirDataModule(seed=0))
    return model, trainer


def test_tiny_model_learns() -> None:
    _, trainer = _fit(0, epochs=3)
    assert trainer.callback_metrics["val/acc"].item() > 0.85


def test_adversarial_training_logs_robust_accuracy_and_resists_the_attack() -> None:
    std, _ = _fit(0, epochs=3, model_kw={"eval_eps": 1.0})
    rob, trainer = _fit(0, epochs=3, model_kw={"adv_eps": 1.0})
    assert "val/robust_acc" in trainer.callback_metrics and "train/loss" in trainer.callback_metrics
    dm = StirDataModule()
    dm.setup()
    x, y = dm.datasets["test"].tensors
    accs = {}
    for name, m in (("std", std), ("rob", rob)):
        m.eval()
        adv = pgd_l2(m, x, y, 1.0)
        assert (
            float((adv - x).flatten(1).norm(dim=1).max()) <= 1.0 + 1e-5 and adv.min() >= 0 and adv.max() <= 1
        )
        accs[name] = float((m(adv).argmax(1) == y).float().mean())
    assert accs["rob"] > accs["std"] + 0.05


def test_stir_callback_logs_both_directions_and_plain_cka() -> None:
    dm = StirDataModule()
    dm.setup()
    probe = dm.datasets["test"].tensors[0][:30]
    torch.manual_seed(1)
    reference = FeatureMLP(64, (32, 16), 10)
    cb = STIRCallback(reference, probe, every_n_epochs=1, iterations=20)
    _fit(0, epochs=2, callbacks=[cb])
    assert len(cb.history) == 2
    for row in cb.history:
        assert set(row) == {"stir/m2_given_m1", "stir/m1_given_m2", "cka/plain"}
        assert all(0.0 <= v <= 1.0 for v in row.values())
    assert cb.history[0] != cb.history[1]  # the model being trained changed


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=1)
    b, _ = _fit(1, epochs=1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    # zoo model == trained network bitwise, hparams restored, Adam moments and step continue on resume
    check_checkpoint_and_resume(
        lambda: Classifier(model="stir-tiny", lr=1e-2),
        lambda: StirDataModule(seed=0),
        torch.rand(5, 1, 8, 8),
        tmp_path,
        net_type=FeatureMLP,
    )


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    check_ddp_fit(lambda: Classifier(model="stir-tiny", lr=1e-2), lambda: StirDataModule(seed=0), tmp_path)


@pytest.mark.cuda
def test_cuda_fit_inversion_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1)
    assert trainer.callback_metrics["val/acc"].item() > 0.8
    from ballroom.stir import Normalizer, invert_representation, stir

    net = model.net.eval()
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    x0 = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    cpu, _ = invert_representation(net.cpu(), x, x0, normalizer=Normalizer(), iterations=20)
    gpu, _ = invert_representation(
        net.cuda(), x.cuda(), x0.cuda(), normalizer=Normalizer().cuda(), iterations=20
    )
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-3, rtol=0)
    res = stir(net, net, x.cuda(), normalizer1=Normalizer().cuda(), normalizer2=Normalizer().cuda(),
               iterations=50, generator=torch.Generator(device="cuda").manual_seed(0))  # fmt: skip
    assert 0.5 < res.m2m1 <= 1.0 + 1e-9


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
    logits, rep = net(torch.rand(2, 1, 8, 8), with_latent=True)
    assert logits.shape == (2, ZOO[name].kwargs["num_classes"]) and rep.shape == (
        2,
        ZOO[name].kwargs["hidden"][-1],
    )


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.stir.nn, ballroom.stir; ballroom.stir.stir; ballroom.stir.FeatureMLP; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
