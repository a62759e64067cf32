"""ClassifierModule: learning happens, determinism, checkpoints, resume, DDP and CUDA parity."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ballroom.core.data import DigitsDataModule
from ballroom.core.lit import ClassifierModule
from ballroom.core.testing import check_checkpoint_and_resume, quiet_trainer

_trainer = quiet_trainer


def _fit(seed: int, epochs: int = 2) -> tuple[ClassifierModule, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = ClassifierModule(model="core-tiny", lr=3e-3)
    trainer = _trainer(max_epochs=epochs)
    trainer.fit(model, datamodule=DigitsDataModule(seed=0))
    return model, trainer


def test_tiny_config_learns_on_cpu() -> None:
    pl.seed_everything(0)
    dm = DigitsDataModule(seed=0)
    untrained = ClassifierModule(model="core-tiny")
    before = _trainer().validate(untrained, datamodule=dm, verbose=False)[0]["val/acc"]
    model, trainer = _fit(0, epochs=4)
    after = trainer.callback_metrics["val/acc"].item()
    assert before < 0.3 and after > 0.85
    test = trainer.test(model, datamodule=dm, verbose=False)[0]["test/acc"]
    assert test > 0.85


def test_seeded_runs_are_bitwise_equal() -> None:
    a, _ = _fit(1)
    b, _ = _fit(1)
    c, _ = _fit(2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_checkpoint_round_trip_and_resume(tmp_path: Path) -> None:
    pl.seed_everything(3)
    model = ClassifierModule(model="core-tiny", model_kwargs={"hidden": [16]}, lr=2e-3, weight_decay=1e-4)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    trainer = _trainer(tmp_path, max_epochs=1, enable_checkpointing=True, callbacks=[ckpt])
    dm = DigitsDataModule(seed=0)
    trainer.fit(model, datamodule=dm)
    last = tmp_path / "ckpt" / "last.ckpt"
    assert last.exists()
    # plain torch.load with weights_only=True: the checkpoint holds tensors and plain values only
    raw = torch.load(last, weights_only=True, map_location="cpu")
    assert raw["global_step"] == trainer.global_step > 0
    assert raw["hyper_parameters"]["model_kwargs"] == {"hidden": [16]}
    restored = ClassifierModule.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.lr == 2e-3 and restored.hparams.weight_decay == 1e-4
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    # resume: step, epoch and optimizer state come back, then training continues
    resumed = ClassifierModule(model="core-tiny", model_kwargs={"hidden": [16]}, lr=2e-3, weight_decay=1e-4)
    trainer2 = _trainer(
        tmp_path,
        max_epochs=2,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt2")],
    )
    seen: dict[str, object] = {}

    class Probe(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            seen["step"] = trainer.global_step
            seen["epoch"] = trainer.current_epoch
            opt = trainer.optimizers[0]
            seen["exp_avg"] = [s["exp_avg"].clone() for s in opt.state.values()]
            seen["weights"] = {k: v.clone() for k, v in pl_module.state_dict().items()}

    trainer2.callbacks.append(Probe())
    trainer2.fit(resumed, datamodule=dm, ckpt_path=str(last))
    assert seen["step"] == raw["global_step"] and seen["epoch"] == 1
    saved = raw["optimizer_states"][0]["state"]
    assert all(torch.equal(a, saved[i]["exp_avg"]) for i, a in enumerate(seen["exp_avg"]))  # type: ignore[arg-type]
    assert all(torch.equal(v, raw["state_dict"][k]) for k, v in seen["weights"].items())  # type: ignore[union-attr]
    assert trainer2.global_step == 2 * raw["global_step"]


def test_bad_hyperparameters_fail_early() -> None:
    with pytest.raises(ValueError, match="lr must be > 0"):
        ClassifierModule(lr=0.0)
    with pytest.raises(KeyError, match="unknown model"):
        ClassifierModule(model="nope")


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    pl.seed_everything(0)
    model = ClassifierModule(model="core-tiny", lr=3e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = _trainer(tmp_path, devices=2, strategy="ddp_spawn", max_epochs=2, deterministic=False)
    trainer.fit(model, datamodule=DigitsDataModule(seed=0, batch_size=32))
    # ddp_spawn sends rank 0's trained weights and the synced metrics back to this process
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert trainer.callback_metrics["val/acc"].item() > 0.5


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    pl.seed_everything(0)
    model = ClassifierModule(model="core-tiny", lr=3e-3)
    dm = DigitsDataModule(seed=0)
    trainer = _trainer(accelerator="gpu", devices=1, max_epochs=2)
    trainer.fit(model, datamodule=dm)
    assert trainer.callback_metrics["val/acc"].item() > 0.8
    model = model.cpu().eval()
    dm.setup()
    assert dm.datasets is not None
    x = dm.datasets["test"].tensors[0][:64]
    with torch.no_grad():
        cpu = model(x)
        gpu = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)


def test_checkpoint_contract_helper_passes_and_can_fail(tmp_path: Path) -> None:
    def make() -> ClassifierModule:
        return ClassifierModule(model="core-tiny", lr=3e-3)

    x = torch.randn(4, 64)
    net, module = check_checkpoint_and_resume(make, lambda: DigitsDataModule(seed=0), x, tmp_path / "a")
    assert type(net) is type(module.net) and torch.equal(net(x), module.net(x))
    with pytest.raises(AssertionError, match="expected Linear"):
        check_checkpoint_and_resume(
            make, lambda: DigitsDataModule(seed=0), x, tmp_path / "b", net_type=torch.nn.Linear
        )
    with pytest.raises(TypeError, match="outputs: expected tensors"):
        check_checkpoint_and_resume(
            make, lambda: DigitsDataModule(seed=0), x, tmp_path / "c", outputs=lambda net, x: "not a tensor"
        )
