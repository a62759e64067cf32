"""The cross-package model zoo (entry points) and ModelCfg."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
import torch

from ballroom.core import zoo
from ballroom.core.models import MLP


def test_core_entries_are_discovered_through_entry_points() -> None:
    names = zoo.list_models()
    assert "core-tiny" in names and "core-mlp" in names
    assert zoo.list_models("core-t*") == ["core-tiny"]
    model = zoo.create_model("core-tiny")
    assert isinstance(model, MLP)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_every_core_config_builds_and_overrides(name: str) -> None:
    cfg = zoo.get_config(name)
    model = zoo.create_model(name, num_classes=4)
    assert model(torch.randn(2, cfg.kwargs["in_features"])).shape == (2, 4)
    assert cfg.paper and cfg.notes


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(KeyError, match="did you mean core-tiny"):
        zoo.create_model("core-tinny")


def test_model_cfg_validates_and_is_read_only() -> None:
    with pytest.raises(ValueError, match="package.module:callable"):
        zoo.ModelCfg(builder="not_a_builder")
    cfg = zoo.ModelCfg(builder="ballroom.core.models:MLP", kwargs={"hidden": (4,)})
    with pytest.raises(TypeError):
        cfg.kwargs["hidden"] = (5,)  # type: ignore[index]
    assert cfg.build(in_features=3)(torch.zeros(1, 3)).shape == (1, 10)


def test_duplicate_names_across_packages_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        EntryPoint(name="a", value="ballroom.core.zoo:ZOO", group=zoo.ENTRY_POINT_GROUP),
        EntryPoint(name="b", value="ballroom.core.zoo:ZOO", group=zoo.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(zoo, "entry_points", lambda group: eps)
    with pytest.raises(ValueError, match="registered by both"):
        zoo.load_zoo()


def test_mlp_rejects_wrong_input_size() -> None:
    with pytest.raises(ValueError, match="64 features"):
        MLP()(torch.zeros(2, 10))


def test_pretrained_unknown_options_and_package_filter_answer_clearly() -> None:
    from ballroom.core.zoo import create_model, get_config, list_models

    with pytest.raises(ValueError, match=r"model 'core-tiny': pretrained: no pretrained weights ship"):
        create_model("core-tiny", pretrained=True)
    assert isinstance(create_model("core-tiny", pretrained=False), MLP)
    with pytest.raises(TypeError, match=r"model 'core-tiny': .* unknown option\(s\) \['bogus'\]; it accepts"):
        create_model("core-tiny", bogus=1)
    assert list_models(package="core") == ["core-mlp", "core-tiny"]
    assert set(list_models(package="core")) <= set(list_models())
    with pytest.raises(ValueError, match="package: no installed ballroom package 'nope'"):
        list_models(package="nope")
    assert "(B, 64)" in get_config("core-tiny").input
