"""``lazy_exports``: names load on first access, are cached, and unknown names fail clearly."""

from __future__ import annotations

import sys
import types

import pytest

from ballroom.core.lazy import lazy_exports


def test_lazy_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = types.ModuleType("fake_pkg")
    monkeypatch.setitem(sys.modules, "fake_pkg", pkg)
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    pkg.__getattr__, pkg.__dir__ = lazy_exports("fake_pkg", {"rgb_to_hsv": "colorsys"}, ["rgb_to_hsv"])  # type: ignore[method-assign]
    assert "colorsys" not in sys.modules and "rgb_to_hsv" in dir(pkg)
    fn = pkg.rgb_to_hsv  # loads colorsys now
    assert "colorsys" in sys.modules and fn is sys.modules["colorsys"].rgb_to_hsv
    assert vars(pkg)["rgb_to_hsv"] is fn  # cached in the namespace
    with pytest.raises(AttributeError, match="module 'fake_pkg' has no attribute 'nope'"):
        pkg.nope  # noqa: B018
    with pytest.raises(ValueError, match=r"no source module for \['hsv'\]"):
        lazy_exports("fake_pkg", {}, ["hsv"])
