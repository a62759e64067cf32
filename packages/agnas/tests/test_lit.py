"""The LightningModules: search + derivation, retraining, determinism, checkpoints, DDP, CUDA, CLI, zoo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ballroom.agnas import AgnasDigitsDataModule, AGNASSearch, ArchitectureTrainer, EvalNetwork, Genotype
from ballroom.agnas.cli import main as cli_main
from ballroom.agnas.zoo import ZOO, create
from ballroom.core.checkpoint import load_zoo_model
from ballroom.core.training import make_trainer


def _dm(size: int = 8) -> AgnasDigitsDataModule:
    return AgnasDigitsDataModule(size=size, seed=0)


def _fit(seed: int, epochs: int = 2, **kw: object) -> tuple[ArchitectureTrainer, pl.Trainer]:
    pl.seed_everything(seed, workers=True)
    model = ArchitectureTrainer(model="agnas-tiny", lr=0.05)
    trainer = make_trainer(max_epochs=epochs, **kw)
    trainer.fit(model, datamodule=_dm())
    return model, trainer


def test_digits_split_is_the_spec_three_way_split() -> None:
    dm = AgnasDigitsDataModule()
    dm.setup()
    sizes = {s: len(dm.tensors(s)[1]) for s in ("train", "val", "test")}
    assert sizes == {"train": 900, "val": 450, "test": 447}
    x = dm.tensors("train")[0]
    assert x.shape[1:] == (3, 16, 16) and torch.equal(x[:, 0], x[:, 2])
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    idx = torch.cat([dm.indices[s] for s in ("train", "val", "test")])
    assert len(set(idx.tolist())) == 1797


def test_search_module_accumulates_on_the_selection_split_and_derives() -> None:
    pl.seed_everything(0)
    model = AGNASSearch(space="darts", C=2, layers=3, reductions=[1])
    trainer = make_trainer(max_epochs=1, limit_train_batches=3)
    trainer.fit(model, datamodule=_dm())
    assert model.importance is not None and model.importance.shape == (3, 14, 8)
    # the sum runs over the whole selection split: each op's total is 450 * (channels of its chunk) * mean a
    assert model.accumulator.batches == 8  # ceil(450 / 64)
    assert trainer.callback_metrics["val/selection_samples"].item() == 450
    assert len(model.genotypes) == 3 and all(isinstance(g, Genotype) for g in model.genotypes)
    assert all(op != "none" for g in model.genotypes for op, _ in g.gene)
    assert model.history[-1]["epoch"] == 0
    nb = AGNASSearch(space="nb201", C=4, layers=1)
    make_trainer(max_epochs=1, limit_train_batches=2).fit(nb, datamodule=_dm())
    assert isinstance(nb.genotypes, str) and nb.genotypes.count("~") == 6


def test_tiny_network_learns() -> None:
    _, trainer = _fit(0, epochs=3)
    assert trainer.callback_metrics["val/acc"].item() > 0.85


def test_seeded_fits_are_bitwise_equal() -> None:
    a, _ = _fit(1, epochs=1, limit_train_batches=4)
    b, _ = _fit(1, epochs=1, limit_train_batches=4)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_loads_into_the_zoo_model_and_resumes(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    model, _ = _fit(2, epochs=1, enable_checkpointing=True, callbacks=[ckpt], default_root_dir=tmp_path)
    last = tmp_path / "ckpt" / "last.ckpt"
    net = load_zoo_model(last)  # weights_only=True inside
    x = torch.randn(5, 3, 8, 8)
    assert isinstance(net, EvalNetwork)
    assert torch.equal(net.eval()(x), model.eval()(x))
    restored = ArchitectureTrainer.load_from_checkpoint(last, weights_only=True)
    assert restored.hparams.lr == 0.05
    raw = torch.load(last, weights_only=True)
    assert raw["optimizer_states"][0]["state"]  # momentum buffers saved
    trainer2 = make_trainer(tmp_path, max_epochs=2)
    resumed = ArchitectureTrainer(model="agnas-tiny", lr=0.05)
    trainer2.fit(resumed, datamodule=_dm(), ckpt_path=str(last))
    assert trainer2.global_step == 2 * raw["global_step"] > 0


def test_auxiliary_head_and_drop_path_are_used_in_training() -> None:
    net = EvalNetwork(C=4, layers=3, reductions=[1], auxiliary=True)
    module = ArchitectureTrainer(model=net, drop_path_prob=0.2, auxiliary_weight=0.4)
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    torch.manual_seed(0)
    loss, _, _ = module._step((x, y))
    torch.manual_seed(0)
    main, aux = net.forward_with_aux(x)
    ref = torch.nn.functional.cross_entropy(main, y) + 0.4 * torch.nn.functional.cross_entropy(aux, y)
    torch.testing.assert_close(loss, ref)
    assert "model" not in module.hparams


@pytest.mark.ddp
def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    pl.seed_everything(0)
    model = AGNASSearch(space="nb201", C=4, layers=1)
    trainer = make_trainer(
        max_epochs=1, devices=2, strategy="ddp_fork", default_root_dir=tmp_path, limit_train_batches=3
    )
    trainer.fit(model, datamodule=_dm())
    assert trainer.world_size == 2
    # the importance sums of both ranks were gathered: together they cover the 450 selection images
    assert trainer.callback_metrics["val/selection_samples"].item() == 450


def test_bf16_mixed_search_and_retrain_on_cpu() -> None:
    """bf16-mixed autocast (CPU here; the same flag on CUDA): finite losses, importances summed in float64."""
    pl.seed_everything(0)
    search = AGNASSearch(space="nb201", C=4, layers=1)
    make_trainer(max_epochs=1, limit_train_batches=2, precision="bf16-mixed").fit(search, datamodule=_dm())
    assert search.importance is not None and search.importance.dtype == torch.float64
    assert torch.isfinite(search.importance).all() and isinstance(search.genotypes, str)
    _, trainer = _fit(0, epochs=1, limit_train_batches=3, precision="bf16-mixed")
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


@pytest.mark.cuda
def test_cuda_fit_and_parity_with_cpu() -> None:
    model, trainer = _fit(0, epochs=2, accelerator="gpu", devices=1)
    assert trainer.callback_metrics["val/acc"].item() > 0.8
    x = torch.randn(16, 3, 8, 8)
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
    side = 32 if "cifar" in name else 16
    with torch.no_grad():
        assert net(torch.randn(2, 3, side, side)).shape == (2, ZOO[name].kwargs["num_classes"])


def test_building_blocks_import_without_lightning() -> None:
    code = "import sys, ballroom.agnas.nn, ballroom.agnas; ballroom.agnas.AttentionSupernet; ballroom.agnas.derive_genotype; "
    code += "ballroom.agnas.NB201Supernet; ballroom.agnas.MacroSupernet; ballroom.agnas.DartsSupernet; "
    code += "sys.exit('pytorch_lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
