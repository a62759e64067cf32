"""Every test solves bases into a per-session temporary cache (never the user's ~/.cache)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _basis_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    old = os.environ.get("BALLROOM_PDO3D_CACHE")
    os.environ["BALLROOM_PDO3D_CACHE"] = str(tmp_path_factory.mktemp("pdo3d-cache"))
    yield
    if old is None:
        os.environ.pop("BALLROOM_PDO3D_CACHE", None)
    else:
        os.environ["BALLROOM_PDO3D_CACHE"] = old
