"""ProbeClassifier and RTDCallback under Lightning: learning, logging, checkpoints, DDP, CUDA, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ballroom.core.checkpoint import load_zoo_model
from ballroom.core.testing import quiet_trainer
from ballroom.core.zoo import create_model
from ballroom.rtd import DigitsProbeDataModule, ProbeClassifier, RTDCallback, rtd_sym
from ballroom.rtd.cli import cli, main

_trainer = quiet_trainer


def _probe(n: int = 60) -> torch.Tensor:
    dm = DigitsProbeDataModule(seed=0)
    dm.setup()
    assert dm.datasets is not None
    return dm.datasets["val"].tensors[0][:n]


def test_tiny_probe_learns_and_exposes_representations() -> None:
    pl.seed_everything(0)
    model = ProbeClassifier(model="rtd-tiny", lr=3e-3)
    trainer = _trainer(max_epochs=3)
    trainer.fit(model, datamodule=DigitsProbeDataModule(seed=0))
    assert trainer.callback_metrics["val/acc"].item() > 0.85
    reps = model.representations(_probe(5))
    assert [tuple(r.shape) for r in reps] == [(5, 32), (5, 16)]


def test_rtd_callback_logs_distances() -> None:
    pl.seed_everything(1)
    probe = _probe()
    reference = ProbeClassifier(model="rtd-tiny").eval()
    with torch.no_grad():
        ref_reps = reference.representations(probe)[-1]
    callback = RTDCallback(probe, reference_reps=ref_reps, trials=1)
    model = ProbeClassifier(model="rtd-tiny", lr=3e-3)
    trainer = _trainer(max_epochs=2, callbacks=[callback])
    trainer.fit(model, datamodule=DigitsProbeDataModule(seed=0))
    assert [row["epoch"] for row in callback.history] == [1.0, 2.0]
    assert "rtd/to_prev_epoch" not in callback.history[0] and "rtd/to_prev_epoch" in callback.history[1]
    for key in ("rtd/to_reference", "cka/to_reference", "rtd/to_prev_epoch", "cka/to_prev_epoch"):
        assert key in trainer.callback_metrics
    with torch.no_grad():
        final = model.eval().representations(probe)[-1]
    assert callback.history[-1]["rtd/to_reference"] == pytest.approx(
        rtd_sym(final.double(), ref_reps.double()), rel=1e-9
    )
    assert callback.history[-1]["rtd/to_reference"] > 0


def test_rtd_callback_validates_arguments() -> None:
    with pytest.raises(ValueError, match="every_n_epochs"):
        RTDCallback(_probe(), every_n_epochs=0)
    with pytest.raises(ValueError, match="rows"):
        RTDCallback(_probe(10), reference_reps=torch.zeros(9, 4))


def test_seeded_fits_are_identical() -> None:
    states = []
    for _ in range(2):
        pl.seed_everything(2)
        model = ProbeClassifier(model="rtd-tiny")
        _trainer(max_epochs=1).fit(model, datamodule=DigitsProbeDataModule(seed=0))
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_checkpoint_round_trip_and_resume(tmp_path: Path) -> None:
    pl.seed_everything(3)
    model = ProbeClassifier(model="rtd-tiny", lr=2e-3)
    trainer = _trainer(
        tmp_path,
        max_epochs=1,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)],
    )
    trainer.fit(model, datamodule=DigitsProbeDataModule(seed=0))
    last = tmp_path / "last.ckpt"
    raw = torch.load(last, weights_only=True, map_location="cpu")
    restored = ProbeClassifier.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.model == "rtd-tiny" and restored.hparams.lr == 2e-3
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in model.state_dict().items())
    resumed = _trainer(
        tmp_path, max_epochs=2, enable_checkpointing=True, callbacks=[ModelCheckpoint(dirpath=tmp_path / "b")]
    )
    steps: list[int] = []

    class Probe(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            steps.append(trainer.global_step)
            state = trainer.optimizers[0].state_dict()["state"]
            assert all(
                torch.equal(state[i]["exp_avg"], raw["optimizer_states"][0]["state"][i]["exp_avg"])
                for i in state
            )

    resumed.callbacks.append(Probe())
    resumed.fit(
        ProbeClassifier(model="rtd-tiny", lr=2e-3),
        datamodule=DigitsProbeDataModule(seed=0),
        ckpt_path=str(last),
    )
    assert steps == [raw["global_step"]] and resumed.global_step == 2 * raw["global_step"]


@pytest.mark.ddp
def test_ddp_fit_with_callback(tmp_path: Path) -> None:
    pl.seed_everything(4)
    model = ProbeClassifier(model="rtd-tiny", lr=3e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = _trainer(
        tmp_path,
        devices=2,
        strategy="ddp_fork",
        max_epochs=2,
        deterministic=False,
        callbacks=[RTDCallback(_probe(40), trials=1)],
    )
    trainer.fit(model, datamodule=DigitsProbeDataModule(seed=0))
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert trainer.callback_metrics["val/acc"].item() > 0.5


@pytest.mark.cuda
def test_cuda_fit_with_callback_and_parity() -> None:
    pl.seed_everything(5)
    probe = _probe(50)
    callback = RTDCallback(probe, trials=1)
    model = ProbeClassifier(model="rtd-tiny", lr=3e-3)
    trainer = _trainer(accelerator="gpu", devices=1, max_epochs=2, callbacks=[callback])
    trainer.fit(model, datamodule=DigitsProbeDataModule(seed=0))
    assert "rtd/to_prev_epoch" in callback.history[-1]
    model.eval()
    with torch.no_grad():
        gpu = model.cuda().representations(probe.cuda())[-1].cpu()
        cpu = model.cpu().representations(probe)[-1]
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
    assert rtd_sym(gpu, cpu) < 1e-3


def _cli_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "fit",
        "--trainer.accelerator=cpu",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
        "--model.model=rtd-tiny",
        *extra,
    ]


def test_cli_print_config_and_fit(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["fit", "--print_config"])
    assert exit_info.value.code == 0
    run = cli(_cli_args(tmp_path, "--trainer.fast_dev_run=2"))
    assert run.config.fit.trainer.max_epochs == 30  # the packaged YAML default (fast_dev_run overrides it)
    assert run.model.hparams.model == "rtd-tiny"
    assert run.trainer.global_step == 2


def test_console_script_returns_exit_status_zero(tmp_path: Path) -> None:
    # the console script's sys.exit(main()) must exit 0 after a successful run
    assert main(_cli_args(tmp_path, "--trainer.fast_dev_run=true")) == 0


def test_fit_checkpoint_loads_as_the_plain_zoo_network(tmp_path: Path) -> None:
    pl.seed_everything(8)
    model = ProbeClassifier(model="rtd-tiny", model_kwargs={"hidden": (24, 12)}, lr=3e-3)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = _trainer(tmp_path, max_epochs=1, enable_checkpointing=True, callbacks=[checkpoint])
    trainer.fit(model, datamodule=DigitsProbeDataModule(seed=0))
    net = load_zoo_model(tmp_path / "last.ckpt")
    assert not isinstance(net, pl.LightningModule) and not net.training
    x = _probe(32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(net(x), model(x))
        assert all(torch.equal(a, b) for a, b in zip(net.representations(x), model.representations(x)))
    assert [tuple(r.shape) for r in net.representations(x)] == [(32, 24), (32, 12)]


def test_probe_takes_a_built_network() -> None:
    net = create_model("rtd-tiny")
    model = ProbeClassifier(model=net, lr=2e-3)
    assert model.net is net
    assert "model" not in model.hparams and model.hparams.lr == 2e-3  # a module is not a hyperparameter
    with pytest.raises(ValueError, match="model_kwargs"):
        ProbeClassifier(model=create_model("rtd-tiny"), model_kwargs={"hidden": (8,)})
    with pytest.raises(TypeError, match="representations"):
        ProbeClassifier(model=torch.nn.Linear(64, 10))


def test_bf16_mixed_fit_with_callback() -> None:
    # bf16 autocast: the probe trains and the callback's representations come back as float64
    pl.seed_everything(7)
    callback = RTDCallback(_probe(40), trials=1)
    model = ProbeClassifier(model="rtd-tiny", lr=3e-3)
    trainer = _trainer(max_epochs=2, precision="bf16-mixed", callbacks=[callback])
    trainer.fit(model, datamodule=DigitsProbeDataModule(seed=0))
    assert trainer.callback_metrics["val/acc"].item() > 0.5
    assert callback.history[-1]["rtd/to_prev_epoch"] > 0
