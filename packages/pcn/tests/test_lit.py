"""The LightningModules: learning, energy decrease, determinism, checkpoints (zoo model, resume), DDP,
CUDA, the CLI, the zoo, the data."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from ballroom.core.testing import check_checkpoint_and_resume, check_ddp_fit
from ballroom.core.training import make_trainer
from ballroom.pcn import PCN, BackpropClassifier, PCNClassifier, PCNDigitsDataModule, PCNVisionDataModule
from ballroom.pcn.cli import main as cli_main
from ballroom.pcn.zoo import ZOO, create

TINY = [64, 16, 10]


class _Energies(Callback):
    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float]] = []

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        m = trainer.callback_metrics
        self.rows.append(
            (trainer.current_epoch, float(m["train/energy_before"]), float(m["train/energy_after"]))
        )


def _fit(seed: int, epochs: int = 2, **kw: object) -> tuple[PCNClassifier, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = PCNClassifier(layer_sizes=TINY, val_samples=4, val_steps=300)
    trainer = make_trainer(max_epochs=epochs, **kw)
    trainer.fit(model, datamodule=PCNDigitsDataModule(seed=0))
    return model, trainer


def test_inference_lowers_energy_and_the_pcn_learns() -> None:
    rec = _Energies()
    _, trainer = _fit(0, epochs=2, callbacks=[rec])
    first = [(b, a) for e, b, a in rec.rows if e == 0]
    later = [(b, a) for e, b, a in rec.rows if e == 1]
    assert first and all(a < b for b, a in first)
    assert np.mean([a for _, a in later]) < np.mean([b for b, _ in later])
    m = trainer.callback_metrics
    assert m["val/acc"].item() > 0.5
    assert {
        "train/inference_residual",
        "train/acc",
        "val/pred_stage_converged",
        "val/spectral_radius",
    } <= set(m)
    assert 0.0 <= m["val/pred_stage_converged"].item() <= 1.0 and m["val/spectral_radius"].item() > 0


def test_backprop_baseline_learns_on_the_same_mlp() -> None:
    pl.seed_everything(0, workers=True)
    model = BackpropClassifier(layer_sizes=TINY)
    trainer = make_trainer(max_epochs=2)
    trainer.fit(model, datamodule=PCNDigitsDataModule(seed=0))
    assert trainer.callback_metrics["val/acc"].item() > 0.5
    assert isinstance(model.net, PCN) and model.net.layer_sizes == TINY


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=1, limit_val_batches=0)
    b, _ = _fit(1, epochs=1, limit_val_batches=0)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    # zoo model == trained network bitwise, hparams restored, momentum buffers and step continue on resume
    net, _ = check_checkpoint_and_resume(
        lambda: PCNClassifier(layer_sizes=TINY, val_samples=4, val_steps=300),
        lambda: PCNDigitsDataModule(seed=0),
        torch.rand(5, 64),
        tmp_path,
        net_type=PCN,
        limit_val_batches=0,
    )
    assert net.layer_sizes == TINY


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    check_ddp_fit(
        lambda: PCNClassifier(layer_sizes=TINY, val_samples=4, val_steps=300),
        lambda: PCNDigitsDataModule(seed=0),
        tmp_path,
    )


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1)
    assert trainer.callback_metrics["val/acc"].item() > 0.5
    x = torch.rand(16, 64)
    model = model.eval()
    cpu = model.cpu()(x)
    gpu = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)


def test_relax_matches_infer_on_device(device: torch.device) -> None:
    torch.manual_seed(0)
    module = PCNClassifier(layer_sizes=TINY).to(device)
    x, y = torch.rand(6, 64, device=device), torch.arange(6, device=device)
    xs, before, after, residual = module.relax(x, y)
    target = torch.nn.functional.one_hot(y, 10).float()
    ref = module.net.infer(x, target, steps=20, gamma=0.1)
    assert all(torch.equal(a, b) for a, b in zip(xs, ref))
    assert float(after) < float(before) and float(residual) >= 0


def test_module_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="optimizer must be one of"):
        PCNClassifier(optimizer="lbfgs")
    with pytest.raises(ValueError, match="gamma must lie in"):
        PCNClassifier(gamma=0.0)
    with pytest.raises(ValueError, match="needs a hidden layer"):
        PCNClassifier(layer_sizes=[64, 10])
    with pytest.raises(ValueError, match="T must be an integer"):
        PCNClassifier(T=-1)
    assert isinstance(PCNClassifier(optimizer="adam").configure_optimizers(), torch.optim.Adam)


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
    assert net(torch.randn(2, 64)).shape == (2, ZOO[name].kwargs["layer_sizes"][-1])


def test_digits_split_is_stratified_and_scaled() -> None:
    dm = PCNDigitsDataModule(seed=0)
    dm.setup()
    xtr, ytr = dm.datasets["train"].tensors  # type: ignore[union-attr]
    _xte, yte = dm.datasets["test"].tensors  # type: ignore[union-attr]
    assert len(ytr) + len(yte) == 1797 and abs(len(yte) / 1797 - 0.3) < 0.01
    assert float(xtr.min()) >= 0.0 and float(xtr.max()) <= 1.0 and xtr.shape[1] == 64
    ftr, fte = torch.bincount(ytr, minlength=10) / len(ytr), torch.bincount(yte, minlength=10) / len(yte)
    assert float((ftr - fte).abs().max()) < 0.01


def _write_idx(path: Path, array: np.ndarray) -> None:
    code = {np.uint8: 0x08}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


def test_vision_datamodule_reads_real_format_files_offline(tmp_path: Path) -> None:
    folder = tmp_path / "fashion_mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 4)):
        _write_idx(
            folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        )
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,), dtype=np.uint8))
    dm = PCNVisionDataModule("fashion_mnist", data_dir=str(tmp_path), batch_size=2)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 784) and float(x.max()) <= 1.0 and y.dtype == torch.int64
    assert len(dm.datasets["test"]) == 4  # type: ignore[index,arg-type]
    with pytest.raises(FileNotFoundError, match="download=True"):
        PCNVisionDataModule("mnist", data_dir=str(tmp_path)).setup()
    with pytest.raises(ValueError, match="name must be one of"):
        PCNVisionDataModule("cifar10")


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.pcn.nn, ballroom.pcn.analysis, ballroom.pcn; ballroom.pcn.PCN; ballroom.pcn.NSToy; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
