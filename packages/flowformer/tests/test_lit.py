"""The LightningModules: learning, logging, checkpoints and resume, zoo round trip, DDP, CUDA, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ballroom.core.checkpoint import load_zoo_model
from ballroom.core.data import UEADataModule
from ballroom.core.lit import ClassifierModule
from ballroom.core.training import make_trainer
from ballroom.flowformer import (
    CharLMDataModule,
    FlowAttention,
    FlowformerClassifierModule,
    FlowformerLM,
    FlowformerLMModule,
    ListOpsDataModule,
)
from ballroom.flowformer.cli import CHARLM, cli, main
from ballroom.flowformer.nn import FlowformerClassifier

TINY = {"d_model": 16, "depth": 1, "n_heads": 2, "d_ff": 32}
MODULES = ("bisect", "heapq", "textwrap")


def _listops(**kw: object) -> ListOpsDataModule:
    return ListOpsDataModule(n_train=256, n_test=64, batch_size=32, **kw)  # type: ignore[arg-type]


def test_classifier_learns_japanese_vowels() -> None:
    pl.seed_everything(0)
    dm = UEADataModule("JapaneseVowels", val_fraction=0.0, batch_size=32)
    model = FlowformerClassifierModule(
        "flowformer-uea", TINY, num_classes=9, mask_is_valid=True, lr=3e-3, weight_decay=0.01
    )
    assert isinstance(model, ClassifierModule) and isinstance(model.net, FlowformerClassifier)
    trainer = make_trainer(max_steps=160, max_epochs=-1, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=dm.train_dataloader())
    assert {"train/loss", "train/acc"} <= set(trainer.callback_metrics)
    trainer.test(model, dataloaders=dm.test_dataloader(), verbose=False)
    assert trainer.callback_metrics["test/acc"] > 0.8  # 9 classes: chance ~0.11


def test_lm_learns_and_chunked_equals_naive() -> None:
    pl.seed_everything(1)
    dm = CharLMDataModule(context=64, batch_size=16, steps_per_epoch=200, modules=MODULES, val_windows=32)
    model = FlowformerLMModule(
        "flowformer-charlm", {"max_len": 64, **TINY}, lr=1e-2, warmup_steps=10, total_steps=200
    )
    trainer = make_trainer(max_epochs=1)
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
    model = FlowformerLMModule(model_kwargs={"vocab_size": 10, "max_len": 16, **TINY})
    with pytest.raises(ValueError, match="vocab_size is 10"):
        make_trainer(max_epochs=1).fit(model, datamodule=dm)


def test_hparam_errors() -> None:
    with pytest.raises(ValueError, match="attention must be one of"):
        FlowformerClassifierModule(model_kwargs={"attention": "cosformer"})
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        FlowformerLMModule(warmup_steps=10, total_steps=5)
    with pytest.raises(ValueError, match="num_classes=5 but the network has 10 outputs"):
        FlowformerClassifierModule("flowformer-tiny", num_classes=5)
    with pytest.raises(ValueError, match="model_kwargs: only allowed with a zoo name"):
        FlowformerLMModule(FlowformerLM(10, d_model=8, depth=1, n_heads=2), {"d_model": 16})


def test_a_built_network_is_not_a_hyperparameter() -> None:
    net = FlowformerClassifier(10, vocab_size=16, max_len=100, **TINY)
    model = FlowformerClassifierModule(net)
    assert model.net is net and "model" not in model.hparams
    lm = FlowformerLMModule(FlowformerLM(128, max_len=16, **TINY))
    assert "model" not in lm.hparams and lm.vocab_size == 128


def test_seeded_fits_are_identical() -> None:
    states = []
    for _ in range(2):
        pl.seed_everything(5)
        model = FlowformerClassifierModule("flowformer-tiny")
        make_trainer(max_epochs=1).fit(model, datamodule=_listops())
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_checkpoint_round_trip_and_resume(tmp_path: Path) -> None:
    pl.seed_everything(2)
    trainer = make_trainer(
        tmp_path,
        max_epochs=1,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)],
    )
    kw = dict(lr=2e-3, warmup_steps=2, total_steps=16)
    model_kwargs = {"attention": "flow", "source_clamp": 5.0}
    model = FlowformerClassifierModule("flowformer-tiny", model_kwargs, **kw)  # type: ignore[arg-type]
    trainer.fit(model, datamodule=_listops())
    last = tmp_path / "last.ckpt"
    raw = torch.load(last, weights_only=True, map_location="cpu")
    restored = FlowformerClassifierModule.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.model_kwargs == model_kwargs and restored.hparams.lr == 2e-3
    assert restored.net.encoder.blocks[0].attn.source_clamp == 5.0
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in model.state_dict().items())
    seen: list[tuple[int, float]] = []

    class Probe(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            seen.append((trainer.global_step, trainer.lr_scheduler_configs[0].scheduler.last_epoch))
            state = trainer.optimizers[0].state_dict()["state"]
            assert torch.equal(state[0]["exp_avg"], raw["optimizer_states"][0]["state"][0]["exp_avg"])

    resumed = make_trainer(tmp_path, max_epochs=2, callbacks=[Probe()])
    fresh = FlowformerClassifierModule("flowformer-tiny", model_kwargs, **kw)  # type: ignore[arg-type]
    resumed.fit(fresh, datamodule=_listops(), ckpt_path=str(last))
    assert seen == [(raw["global_step"], raw["global_step"])] and resumed.global_step == 16


@pytest.mark.ddp
def test_ddp_fit(tmp_path: Path) -> None:
    pl.seed_everything(3)
    model = FlowformerClassifierModule("flowformer-tiny")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = make_trainer(tmp_path, devices=2, strategy="ddp_spawn", max_epochs=1, deterministic=False)
    trainer.fit(model, datamodule=_listops())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.cuda
@pytest.mark.parametrize("attention", ["flow", "linear", "softmax"])
def test_cuda_bf16_lm_fit_and_parity(attention: str) -> None:
    pl.seed_everything(4)
    dm = CharLMDataModule(context=64, batch_size=16, steps_per_epoch=20, modules=MODULES, val_windows=16)
    model = FlowformerLMModule(model_kwargs={"max_len": 64, "attention": attention, **TINY})
    make_trainer(accelerator="gpu", devices=1, max_epochs=1, precision="bf16-mixed").fit(model, datamodule=dm)
    x = torch.randint(0, 90, (4, 64))
    model.eval()
    with torch.no_grad():
        gpu = model.cuda()(x.cuda()).float().cpu()
        cpu = model.cpu()(x)
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)


def test_load_zoo_model_gives_the_trained_network(tmp_path: Path) -> None:
    """A ``fit`` checkpoint of either module turns into the plain zoo network, bitwise equal outputs."""
    pl.seed_everything(6)
    dm = _listops()
    model = FlowformerClassifierModule(
        "flowformer-tiny", {"attention": "linear"}, total_steps=8, warmup_steps=1
    )
    lm_dm = CharLMDataModule(context=16, batch_size=4, steps_per_epoch=4, modules=MODULES, val_windows=4)
    lm = FlowformerLMModule(model_kwargs={"max_len": 16, **TINY})
    for name, module, data in (("clf", model, dm), ("lm", lm, lm_dm)):
        ckpt = ModelCheckpoint(dirpath=tmp_path / name, save_last=True)
        make_trainer(tmp_path, max_steps=4, enable_checkpointing=True, callbacks=[ckpt]).fit(
            module, datamodule=data
        )
        net = load_zoo_model(tmp_path / name / "last.ckpt")
        assert type(net) is type(module.net) and not net.training
        module.eval()
        with torch.no_grad():
            if name == "clf":
                x, _, mask = next(iter(dm.test_dataloader()))
                assert torch.equal(net(x, mask), module(x, mask))
            else:
                x, _ = next(iter(lm_dm.val_dataloader()))
                assert torch.equal(net(x), module(x))


def test_import_is_light() -> None:
    """``import ballroom.flowformer`` and its building blocks do not import Lightning."""
    code = (
        "import sys, ballroom.flowformer as f, ballroom.flowformer.functional, ballroom.flowformer.nn, "
        "ballroom.flowformer.zoo; assert f.__version__; f.flow_attention; f.FlowAttention; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytorch_lightning', 'lightning')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == "[]"


def test_cli_listops_and_charlm(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli(["fit", "--print_config"])
    common = [
        "--trainer.max_steps=3",
        "--trainer.limit_val_batches=1",
        "--trainer.val_check_interval=3",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.accelerator=cpu",
        "--model.init_args.total_steps=3",
        "--model.init_args.warmup_steps=1",
    ]
    listops = [
        "fit",
        *common,
        f"--trainer.default_root_dir={tmp_path / 'listops'}",
        "--model.init_args.model=flowformer-tiny",
        "--model.init_args.model_kwargs={attention: softmax}",
        "--data.init_args.n_train=64",
        "--data.init_args.n_test=32",
    ]
    run = cli(listops)
    assert isinstance(run.model, FlowformerClassifierModule) and run.trainer.global_step == 3
    assert run.model.hparams.model == "flowformer-tiny"
    assert type(run.model.net.encoder.blocks[0].attn).__name__ == "SoftmaxAttention"
    charlm = [
        "fit",
        "--config",
        str(CHARLM),
        *common,
        f"--trainer.default_root_dir={tmp_path / 'lm'}",
        "--model.init_args.model_kwargs={d_model: 16, depth: 1, n_heads: 2, d_ff: 32}",
        "--data.init_args.modules=[bisect]",
    ]
    run = cli(charlm)
    assert isinstance(run.model, FlowformerLMModule) and "val/bpc" in run.trainer.callback_metrics
    fast = [
        "fit",
        "--trainer.fast_dev_run=true",
        "--trainer.accelerator=cpu",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    tiny = [
        "--model.init_args.model=flowformer-tiny",
        "--data.init_args.n_train=64",
        "--data.init_args.n_test=32",
    ]
    assert main([*fast, *tiny]) == 0  # the console script's exit status


def test_both_modules_share_the_optimiser_schedule_and_clipping() -> None:
    """AdamW groups (no decay on 1-d tensors and positions), warm-up then linear decay, grad_clip."""
    for module in (
        FlowformerClassifierModule(model_kwargs={"vocab_size": 16, "max_len": 32, **TINY}, lr=1e-3,
                                   weight_decay=0.1, warmup_steps=2, total_steps=10, grad_clip=0.5),
        FlowformerLMModule(model_kwargs={"vocab_size": 10, "max_len": 16, **TINY}, lr=1e-3,
                           weight_decay=0.1, warmup_steps=2, total_steps=10, grad_clip=0.5),
    ):  # fmt: skip
        cfg = module.configure_optimizers()
        opt, sched = cfg["optimizer"], cfg["lr_scheduler"]["scheduler"]
        decay, no_decay = opt.param_groups
        assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
        assert all(p.ndim >= 2 for p in decay["params"]) and len(no_decay["params"]) > 0
        lrs = []
        for _ in range(10):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        # warm-up (step + 1) / 2, then (10 - step) / 8: 0.5, 1, 1, 7/8, ..., 1/8 of lr
        assert lrs == pytest.approx([1e-3 * f for f in [0.5, 1.0, *[(10 - s) / 8 for s in range(2, 10)]]])
        for p in module.parameters():
            p.grad = torch.full_like(p, 10.0)
        module.clip_gradients = lambda o, v, a, m=module: setattr(m, "_clipped", (v, a))  # type: ignore[method-assign]
        module.configure_gradient_clipping(opt)
        assert module._clipped == (0.5, "norm")  # type: ignore[attr-defined]
        module.configure_gradient_clipping(opt, gradient_clip_val=2.0)
        assert module._clipped == (2.0, "norm")  # type: ignore[attr-defined]
