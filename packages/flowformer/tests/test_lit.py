"""The LightningModules: learning, logging, checkpoints and resume, DDP, CUDA, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ballroom.core.data import UEADataModule
from ballroom.core.testing import quiet_trainer
from ballroom.flowformer import (
    CharLMDataModule,
    FlowAttention,
    FlowformerClassifierModule,
    FlowformerLMModule,
    ListOpsDataModule,
)
from ballroom.flowformer.cli import CHARLM
from ballroom.flowformer.cli import main as cli_main

TINY = {"d_model": 16, "depth": 1, "n_heads": 2, "d_ff": 32}
MODULES = ("bisect", "heapq", "textwrap")


def _listops(**kw: object) -> ListOpsDataModule:
    return ListOpsDataModule(n_train=256, n_test=64, batch_size=32, **kw)  # type: ignore[arg-type]


def test_classifier_learns_japanese_vowels() -> None:
    pl.seed_everything(0)
    dm = UEADataModule("JapaneseVowels", val_fraction=0.0, batch_size=32)
    model = FlowformerClassifierModule(
        num_classes=9, in_features=12, max_len=32, pooling="mean", mask_is_valid=True, lr=3e-3, **TINY
    )
    trainer = quiet_trainer(max_steps=160, max_epochs=-1, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=dm.train_dataloader())
    assert {"train/loss", "train/acc"} <= set(trainer.callback_metrics)
    trainer.test(model, dataloaders=dm.test_dataloader(), verbose=False)
    assert trainer.callback_metrics["test/acc"] > 0.8  # 9 classes: chance ~0.11


def test_lm_learns_and_chunked_equals_naive() -> None:
    pl.seed_everything(1)
    dm = CharLMDataModule(context=64, batch_size=16, steps_per_epoch=200, modules=MODULES, val_windows=32)
    model = FlowformerLMModule(vocab_size=128, max_len=64, lr=1e-2, warmup_steps=10, total_steps=200, **TINY)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=dm)
    bpc = float(trainer.callback_metrics["val/bpc"])
    assert dm.train_ids is not None
    freq = torch.bincount(dm.train_ids).double()
    freq = freq[freq > 0] / freq.sum()
    unigram = float(-(freq * freq.log2()).sum())  # ~4.46 bits: the best a context-free model can do
    assert bpc < unigram - 0.2
    x, y = next(iter(dm.val_dataloader()))
    model.eval()
    with torch.no_grad():
        chunked = model._loss((x, y))
        for mod in model.modules():
            if isinstance(mod, FlowAttention):
                mod.causal_impl = "naive"
        naive = model._loss((x, y))
    torch.testing.assert_close(chunked, naive, rtol=1e-5, atol=1e-6)


def test_lm_vocab_check() -> None:
    dm = CharLMDataModule(context=16, batch_size=4, steps_per_epoch=2, modules=MODULES)
    with pytest.raises(ValueError, match="vocab_size is 10"):
        quiet_trainer(max_epochs=1).fit(FlowformerLMModule(vocab_size=10, max_len=16, **TINY), datamodule=dm)


def test_hparam_errors() -> None:
    with pytest.raises(ValueError, match="attention must be one of"):
        FlowformerClassifierModule(vocab_size=16, attention="cosformer")
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        FlowformerLMModule(warmup_steps=10, total_steps=5)


def test_seeded_fits_are_identical() -> None:
    states = []
    for _ in range(2):
        pl.seed_everything(5)
        model = FlowformerClassifierModule(vocab_size=16, max_len=100, **TINY)
        quiet_trainer(max_epochs=1).fit(model, datamodule=_listops())
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_checkpoint_round_trip_and_resume(tmp_path: Path) -> None:
    pl.seed_everything(2)
    trainer = quiet_trainer(
        tmp_path,
        max_epochs=1,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)],
    )
    kw = dict(vocab_size=16, max_len=100, lr=2e-3, warmup_steps=2, total_steps=16, attention="flow", **TINY)
    model = FlowformerClassifierModule(**kw, flow_kwargs={"source_clamp": 5.0})  # type: ignore[arg-type]
    trainer.fit(model, datamodule=_listops())
    last = tmp_path / "last.ckpt"
    raw = torch.load(last, weights_only=True, map_location="cpu")
    restored = FlowformerClassifierModule.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.flow_kwargs == {"source_clamp": 5.0} and restored.hparams.lr == 2e-3
    assert restored.net.encoder.blocks[0].attn.source_clamp == 5.0
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in model.state_dict().items())
    seen: list[tuple[int, float]] = []

    class Probe(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            seen.append((trainer.global_step, trainer.lr_scheduler_configs[0].scheduler.last_epoch))
            state = trainer.optimizers[0].state_dict()["state"]
            assert torch.equal(state[0]["exp_avg"], raw["optimizer_states"][0]["state"][0]["exp_avg"])

    resumed = quiet_trainer(tmp_path, max_epochs=2, callbacks=[Probe()])
    resumed.fit(FlowformerClassifierModule(**kw), datamodule=_listops(), ckpt_path=str(last))  # type: ignore[arg-type]
    assert seen == [(raw["global_step"], raw["global_step"])] and resumed.global_step == 16


@pytest.mark.ddp
def test_ddp_fit(tmp_path: Path) -> None:
    pl.seed_everything(3)
    model = FlowformerClassifierModule(vocab_size=16, max_len=100, **TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = quiet_trainer(tmp_path, devices=2, strategy="ddp_spawn", max_epochs=1, deterministic=False)
    trainer.fit(model, datamodule=_listops())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.cuda
@pytest.mark.parametrize("attention", ["flow", "linear", "softmax"])
def test_cuda_bf16_lm_fit_and_parity(attention: str) -> None:
    pl.seed_everything(4)
    dm = CharLMDataModule(context=64, batch_size=16, steps_per_epoch=20, modules=MODULES, val_windows=16)
    model = FlowformerLMModule(vocab_size=128, max_len=64, attention=attention, **TINY)
    quiet_trainer(accelerator="gpu", devices=1, max_epochs=1, precision="bf16-mixed").fit(
        model, datamodule=dm
    )
    x = torch.randint(0, 90, (4, 64))
    model.eval()
    with torch.no_grad():
        gpu = model.cuda()(x.cuda()).float().cpu()
        cpu = model.cpu()(x)
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)


def test_cli_listops_and_charlm(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli_main(["fit", "--print_config"])
    common = [
        "--trainer.max_steps=3",
        "--trainer.limit_val_batches=1",
        "--trainer.val_check_interval=3",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.accelerator=cpu",
        "--model.init_args.d_model=16",
        "--model.init_args.total_steps=3",
        "--model.init_args.warmup_steps=1",
    ]
    cli = cli_main(
        ["fit", *common, f"--trainer.default_root_dir={tmp_path / 'listops'}", "--data.init_args.n_train=64",
         "--data.init_args.n_test=32"]
    )  # fmt: skip
    assert isinstance(cli.model, FlowformerClassifierModule) and cli.trainer.global_step == 3
    cli = cli_main(
        ["fit", "--config", str(CHARLM), *common, f"--trainer.default_root_dir={tmp_path / 'lm'}",
         "--data.init_args.modules=[bisect]"]
    )  # fmt: skip
    assert isinstance(cli.model, FlowformerLMModule) and "val/bpc" in cli.trainer.callback_metrics
