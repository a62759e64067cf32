"""Named model configurations across every installed ballroom package (timm's registry, across wheels).

Each package's ``zoo.py`` exports ``ZOO: dict[str, ModelCfg]`` and registers it under the
``ballroom.zoo`` entry-point group::

    [project.entry-points."ballroom.zoo"]
    flowformer = "ballroom.flowformer.zoo:ZOO"

:func:`list_models` and :func:`create_model` then find every installed package's models without
importing any of them until asked. Builders are ``"module:callable"`` strings, imported on demand.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

from ballroom.core import __version__ as _core_version

__all__ = [
    "ZOO",
    "ModelCfg",
    "create",
    "create_model",
    "get_config",
    "list_models",
    "load_zoo",
    "resolve_model",
]

ENTRY_POINT_GROUP = "ballroom.zoo"


@dataclass(frozen=True)
class ModelCfg:
    """A named model: its builder, default keyword arguments and provenance.

    Attributes:
        builder: ``"package.module:callable"`` returning an ``nn.Module``.
        kwargs: default keyword arguments (read-only); ``build(**overrides)`` replaces some.
        paper: the paper the configuration comes from.
        section: the spec section (or paper table) it reproduces.
        license: licence of the configuration (and of weights, if any ever ship).
        notes: anything a user should know (deviations, expected accuracy, runtime).
        input: what the model takes and returns, e.g. ``"images (B, 1, 28, 28) float -> logits (B, 10)"``.

    No pretrained weights ship with ballroom: ``build(pretrained=True)`` says so and how to train
    them (``pretrained=False`` is accepted and ignored, for timm-style code). Overrides the builder
    does not accept are refused with the accepted names (nothing is dropped silently).
    """

    builder: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    paper: str = ""
    section: str = ""
    license: str = "MIT"
    notes: str = ""
    input: str = ""

    def __post_init__(self) -> None:
        module, sep, attr = self.builder.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"builder must look like 'package.module:callable', got {self.builder!r}")
        object.__setattr__(self, "kwargs", MappingProxyType(dict(self.kwargs)))

    def resolve(self) -> Callable[..., Any]:
        """Import and return the builder callable."""
        module, _, attr = self.builder.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        if not callable(obj):
            raise TypeError(f"builder {self.builder!r} is not callable")
        builder: Callable[..., Any] = obj
        return builder

    def build(self, **overrides: Any) -> Any:
        """Call the builder with the default kwargs updated by ``overrides``."""
        if overrides.pop("pretrained", False):
            raise ValueError(
                f"pretrained: no pretrained weights ship for {self.builder!r}; train the model with the "
                "package's `ballroom-<name> fit` and load the checkpoint with "
                "ballroom.core.checkpoint.load_zoo_model(path)"
            )
        builder = self.resolve()
        kwargs = {**self.kwargs, **overrides}
        _check_kwargs(builder, self.builder, kwargs)
        return builder(**kwargs)


def _check_kwargs(builder: Callable[..., Any], label: str, kwargs: Mapping[str, Any]) -> None:
    """Refuse keyword arguments the builder has no parameter for (unless it takes ``**kwargs``)."""
    try:
        params = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise TypeError(f"{label} got unknown option(s) {unknown}; it accepts {sorted(accepted)}")


def create(zoo: Mapping[str, ModelCfg], name: str, **overrides: Any) -> Any:
    """Build ``name`` from one package's ``zoo`` (what each package's ``zoo.create`` calls)."""
    if name not in zoo:
        close = difflib.get_close_matches(name, list(zoo), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; available: {', '.join(sorted(zoo))}"
        raise KeyError(f"unknown model {name!r}{hint}")
    try:
        return zoo[name].build(**overrides)
    except (TypeError, ValueError) as err:
        if str(err).startswith(("pretrained:", zoo[name].builder)):
            raise type(err)(f"model {name!r}: {err}") from None
        raise


def load_zoo() -> dict[str, ModelCfg]:
    """Merge every installed package's ``ZOO`` (``ballroom.zoo`` entry points); duplicate names are an error."""
    return _load_zoo()[0]


def _load_zoo() -> tuple[dict[str, ModelCfg], dict[str, str]]:
    merged: dict[str, ModelCfg] = {}
    owner: dict[str, str] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        table = ep.load()
        if not isinstance(table, Mapping):
            raise TypeError(
                f"entry point {ep.name!r} ({ep.value}) must be a dict of ModelCfg, got {type(table).__name__}"
            )
        for name, cfg in table.items():
            if not isinstance(cfg, ModelCfg):
                raise TypeError(f"{ep.value}[{name!r}] must be a ModelCfg, got {type(cfg).__name__}")
            if name in merged:
                raise ValueError(f"model name {name!r} is registered by both {owner[name]!r} and {ep.name!r}")
            merged[name] = cfg
            owner[name] = ep.name
    return merged, owner


def list_models(pattern: str | None = None, package: str | None = None) -> list[str]:
    """Sorted names of every installed model, optionally filtered by a shell-style ``pattern`` and by
    the ``package`` that registers them (its entry-point name: ``"flowformer"``, ``"core"``, ...)."""
    zoo, owner = _load_zoo()
    if package is not None and package not in set(owner.values()):
        raise ValueError(f"package: no installed ballroom package {package!r} registers models; "
                         f"installed: {sorted(set(owner.values()))}")  # fmt: skip
    names = sorted(n for n in zoo if package is None or owner[n] == package)
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names


def get_config(name: str) -> ModelCfg:
    """The :class:`ModelCfg` registered under ``name`` by any installed package."""
    zoo = load_zoo()
    if name not in zoo:
        create(zoo, name)  # raises the helpful KeyError
    return zoo[name]


def create_model(name: str, **overrides: Any) -> Any:
    """Build the model registered under ``name`` by any installed ballroom package."""
    return create(load_zoo(), name, **overrides)


def resolve_model(model: Any, model_kwargs: Mapping[str, Any] | None = None) -> Any:
    """The network a LightningModule trains: ``model`` is a zoo name (built with ``model_kwargs``) or a
    built ``nn.Module`` (used as is; ``model_kwargs`` must then be empty).

    This is the one path from a name to a model that every ballroom LightningModule takes (the
    Lightning style guide's model vs system): ``Module(model="flowformer-tiny")`` or
    ``Module(model=my_net)``.
    """
    from torch import nn

    if isinstance(model, str):
        return create_model(model, **dict(model_kwargs or {}))
    if isinstance(model, nn.Module):
        if model_kwargs:
            raise ValueError("model_kwargs: only allowed with a zoo name, not with a built nn.Module")
        return model
    raise TypeError(f"model: expected a zoo name (str) or an nn.Module, got {type(model).__name__}")


#: ballroom-core's own entries: the digits MLP used by the core sanity reproduction and tests.
ZOO: dict[str, ModelCfg] = {
    "core-tiny": ModelCfg(
        builder="ballroom.core.models:MLP",
        kwargs={"in_features": 64, "hidden": (32,), "num_classes": 10},
        paper="none (ballroom-core sanity model)",
        section="ballroom-core README, reproduction",
        notes=f"64-32-10 ReLU MLP for 8x8 digits; trains to >0.9 test accuracy in seconds (core {_core_version}).",
        input="flattened 8x8 digits (B, 64) float in [0, 1] -> logits (B, 10)",
    ),
    "core-mlp": ModelCfg(
        builder="ballroom.core.models:MLP",
        kwargs={"in_features": 64, "hidden": (128, 64), "num_classes": 10},
        paper="none (ballroom-core sanity model)",
        section="ballroom-core README",
        notes="64-128-64-10 ReLU MLP (the probe architecture of the RTD spec's digits experiment).",
        input="flattened 8x8 digits (B, 64) float in [0, 1] -> logits (B, 10)",
    ),
}
