"""All installed ballroom packages coexist in one environment: one namespace, one zoo, one plugin."""

from __future__ import annotations

import importlib
from importlib.metadata import distributions

import pytest

INSTALLED = sorted(
    {
        d.metadata["Name"].lower().removeprefix("ballroom-")
        for d in distributions()
        if (d.metadata["Name"] or "").lower().startswith("ballroom-")
    }
)


def test_something_is_installed() -> None:
    assert "core" in INSTALLED


def test_ballroom_is_a_namespace_package() -> None:
    ballroom = importlib.import_module("ballroom")
    assert getattr(ballroom, "__file__", None) is None, "some wheel shipped ballroom/__init__.py"
    assert type(ballroom.__path__).__name__ == "_NamespacePath"


@pytest.mark.parametrize("name", INSTALLED)
def test_every_installed_package_imports_from_site_packages(name: str) -> None:
    module = importlib.import_module(f"ballroom.{name}")
    assert "site-packages" in module.__file__, f"ballroom.{name} is not the installed (non-editable) copy"
    assert hasattr(module, "__all__")


def test_zoo_finds_every_installed_package() -> None:
    from ballroom.core.zoo import create_model, list_models

    names = list_models()
    for name in INSTALLED:
        assert f"{name}-tiny" in names, f"ballroom-{name} registered no {name}-tiny model"
        assert create_model(f"{name}-tiny") is not None


def test_plugin_is_loaded(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("ballroom")
    assert pytestconfig.getoption("--device") == "cpu"
