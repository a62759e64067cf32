"""make the console script honest: build_cli / run_cli, and checkpoints back into zoo models."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from ballroom.core.checkpoint import load_zoo_model, read_checkpoint, zoo_state_dict
from ballroom.core.cli import build_cli, run_cli
from ballroom.core.data import DigitsDataModule
from ballroom.core.lit import ClassifierModule
from ballroom.core.models import MLP
from ballroom.core.zoo import create_model, resolve_model

FAST = ["--trainer.fast_dev_run=true", "--trainer.logger=false", "--trainer.enable_progress_bar=false"]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "fit.yaml"
    path.write_text("model:\n  model: core-tiny\n  lr: 0.003\ndata:\n  batch_size: 32\n")
    return path


def test_run_cli_returns_zero_and_build_cli_the_object(tmp_path: Path) -> None:
    config = _config(tmp_path)

    def cli(args: list[str] | None = None) -> object:
        return build_cli(ClassifierModule, DigitsDataModule, config, args)

    assert run_cli(cli, ["fit", *FAST, f"--trainer.default_root_dir={tmp_path}"]) == 0
    obj = cli(["fit", *FAST, f"--trainer.default_root_dir={tmp_path}"])
    assert obj.model.hparams.lr == 0.003  # type: ignore[attr-defined]  # the default config was read
    with pytest.raises(SystemExit) as err:
        cli(["fit", "--model.no_such_option", "1"])
    assert err.value.code != 0
    with pytest.raises(FileNotFoundError, match="configs"):
        build_cli(ClassifierModule, DigitsDataModule, tmp_path / "missing.yaml", ["fit"])


def test_fit_checkpoint_loads_into_the_zoo_model(tmp_path: Path) -> None:
    pl.seed_everything(0)
    module = ClassifierModule(model="core-tiny", model_kwargs={"hidden": (16,)}, lr=3e-3)
    trainer = pl.Trainer(max_epochs=1, default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(module, datamodule=DigitsDataModule(seed=0))
    path = Path(trainer.checkpoint_callback.best_model_path)  # type: ignore[union-attr]
    net = load_zoo_model(path)
    assert isinstance(net, MLP) and not net.training
    x = torch.randn(4, 64)
    module.eval()
    torch.testing.assert_close(net(x), module(x), rtol=0, atol=0)
    assert set(zoo_state_dict(read_checkpoint(path)["state_dict"])) == set(net.state_dict())
    with pytest.raises(RuntimeError):  # strict loading: a different architecture is refused
        load_zoo_model(path, hidden=(8,))
    with pytest.raises(FileNotFoundError, match="path"):
        load_zoo_model(tmp_path / "nope.ckpt")
    with pytest.raises(KeyError, match="prefix"):
        load_zoo_model(path, prefix="model.")


def test_modules_take_a_zoo_name_or_a_built_network() -> None:
    net = create_model("core-tiny")
    assert resolve_model(net) is net
    module = ClassifierModule(model=net)
    assert module.net is net and "model" not in module.hparams
    with pytest.raises(ValueError, match="model_kwargs"):
        resolve_model(net, {"hidden": (3,)})
    with pytest.raises(TypeError, match="zoo name"):
        resolve_model(3)
    with pytest.raises(ValueError, match="num_classes"):
        ClassifierModule(num_classes=1)


def test_fit_defaults_leave_a_last_checkpoint_log_often_and_print_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    (tmp_path / "other.yaml").write_text("model:\n  lr: 0.005\n")
    args = ["fit", "--trainer.max_steps=6", "--trainer.val_check_interval=1000", "--trainer.max_epochs=-1",
            "--trainer.check_val_every_n_epoch=null", "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={tmp_path}", "--config", "other"]  # fmt: skip
    obj = build_cli(ClassifierModule, DigitsDataModule, config, args)
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file()  # no validation ran, yet fit left a checkpoint
    assert f"checkpoint (last): {last}" in capsys.readouterr().out
    assert obj.trainer.log_every_n_steps == 5
    assert obj.model.hparams.lr == 0.005  # type: ignore[attr-defined]  # --config other = the packaged other.yaml
    assert read_checkpoint(last)["global_step"] == 6


def test_resolve_config_names(tmp_path: Path) -> None:
    from ballroom.core.cli import resolve_config_names

    (tmp_path / "charlm.yaml").write_text("{}\n")
    packaged = str(tmp_path / "charlm.yaml")
    assert resolve_config_names(["fit", "--config", "charlm"], tmp_path) == ["fit", "--config", packaged]
    assert resolve_config_names(["fit", "--config=charlm.yaml"], tmp_path) == ["fit", f"--config={packaged}"]
    assert resolve_config_names(["fit", "--config", "nope"], tmp_path) == ["fit", "--config", "nope"]
    assert resolve_config_names(["--model.config", "charlm"], tmp_path) == ["--model.config", "charlm"]
