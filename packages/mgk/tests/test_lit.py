"""The LightningModules: learning, determinism, checkpoints (zoo model, resume), DDP, CUDA, the CLI, the zoo."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ballroom.core.checkpoint import load_zoo_model
from ballroom.core.training import make_trainer
from ballroom.mgk import (
    CharLMDataModule,
    ListOpsDataModule,
    MGKClassifierModule,
    MGKEncoderClassifier,
    MGKLMModule,
)
from ballroom.mgk.cli import main as cli_main
from ballroom.mgk.zoo import ZOO, create


def _dm() -> ListOpsDataModule:
    return ListOpsDataModule(n_train=512, n_test=128, batch_size=32, seed=0)


def _fit(seed: int, epochs: int = 2, **kw: object) -> tuple[MGKClassifierModule, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = MGKClassifierModule(model="mgk-tiny", lr=3e-3, warmup_steps=5)
    trainer = make_trainer(max_epochs=epochs, **kw)
    trainer.fit(model, datamodule=_dm())
    return model, trainer


def test_tiny_classifier_learns_and_logs_counts() -> None:
    dm = _dm()
    dm.setup()
    _, trainer = _fit(0, epochs=3)
    metrics = trainer.callback_metrics
    assert metrics["val/acc"].item() > 1.5 * dm.majority_rate()
    assert metrics["model/params"].item() == sum(p.numel() for p in create("mgk-tiny").parameters())
    assert metrics["model/flops"].item() > 0


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=1)
    b, _ = _fit(1, epochs=1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    model, _ = _fit(2, epochs=1, enable_checkpointing=True, callbacks=[ckpt], default_root_dir=tmp_path)
    last = tmp_path / "ckpt" / "last.ckpt"
    net = load_zoo_model(last)  # weights_only=True inside
    x = torch.randint(1, 16, (5, 30))
    assert isinstance(net, MGKEncoderClassifier)
    assert torch.equal(net(x), model.eval()(x))
    restored = MGKClassifierModule.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.lr == 3e-3 and restored.hparams.warmup_steps == 5
    raw = torch.load(last, weights_only=True)
    assert raw["optimizer_states"][0]["state"]  # AdamW moments are saved
    trainer2 = make_trainer(tmp_path, max_epochs=2)
    resumed = MGKClassifierModule(model="mgk-tiny", lr=3e-3, warmup_steps=5)
    trainer2.fit(resumed, datamodule=_dm(), ckpt_path=str(last))
    assert trainer2.global_step == 2 * raw["global_step"] > 0


def test_lm_module_learns_and_reports_bits_per_character() -> None:
    pl.seed_everything(0, workers=True)
    dm = CharLMDataModule(context=32, batch_size=8, steps_per_epoch=40, val_chars=512)
    module = MGKLMModule(vocab_size=dm.vocab_size, d_model=32, head_dim=8, d_ff=64, max_len=32, lr=3e-3,
                         attn_kwargs={"sigma2": (1.0, 1 / 3), "pi_mode": "head"})  # fmt: skip
    trainer = make_trainer(max_epochs=2, num_sanity_val_steps=0)
    before = trainer.validate(module, datamodule=dm, verbose=False)[0]
    trainer.fit(module, datamodule=dm)
    after = trainer.callback_metrics
    assert after["val/bpc"].item() < before["val/bpc"] - 1.0
    torch.testing.assert_close(after["val/ppl"], torch.exp(after["val/bpc"] * math.log(2.0)))


def test_sliding_window_evaluation_scores_each_character_once() -> None:
    torch.manual_seed(0)
    module = MGKLMModule(vocab_size=99, d_model=16, head_dim=8, d_ff=32, max_len=16).eval()
    dm = CharLMDataModule(context=16, batch_size=4, val_chars=100, eval_stride=1)
    trainer = make_trainer(num_sanity_val_steps=0)
    got = trainer.validate(module, datamodule=dm, verbose=False)[0]["val/loss"]
    assert dm.val_ids is not None
    ids = dm.val_ids[:101]
    total = 0.0
    with torch.no_grad():
        for t in range(1, 101):  # predict ids[t] from (at most) the 16 preceding characters
            ctx = ids[max(0, t - 16) : t] if t >= 16 else ids[:16]
            logits = module(ctx[None])[0]
            pos = ctx.numel() - 1 if t >= 16 else t - 1
            total += float(torch.nn.functional.cross_entropy(logits[pos : pos + 1], ids[t : t + 1]))
    assert abs(got - total / 100) < 1e-5


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    _, trainer = _fit(0, epochs=1, devices=2, strategy="ddp_fork", default_root_dir=tmp_path)
    assert trainer.world_size == 2
    assert 0.0 <= trainer.callback_metrics["val/acc"].item() <= 1.0


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1, precision="bf16-mixed")
    assert trainer.callback_metrics["val/acc"].item() > 0.15
    x = torch.randint(1, 16, (8, 40))
    model = model.float().eval()
    cpu = model.cpu()(x)
    gpu = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)


def test_cli_fit_returns_exit_status_zero(tmp_path: Path) -> None:
    args = ["fit", "--trainer.fast_dev_run=true", "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}",
            "--data.n_train=64", "--data.n_test=32"]  # fmt: skip
    assert cli_main(args) == 0
    with pytest.raises(SystemExit):
        cli_main(["fit", "--print_config"])


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_entry_builds_and_runs(name: str) -> None:
    net = create(name).eval()
    x = torch.randint(1, net.vocab_size, (2, 20))
    out = net(x)
    expect = (
        (2, ZOO[name].kwargs["num_classes"]) if "num_classes" in ZOO[name].kwargs else (2, 20, net.vocab_size)
    )
    assert out.shape == expect


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.mgk.nn, ballroom.mgk.models, ballroom.mgk; ballroom.mgk.MGKAttention; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
