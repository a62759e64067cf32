"""The package namespace: lazy, light to import, every public name reachable, the renamed DataModule's alias."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ballroom.dualform as dualform


def test_import_and_building_blocks_do_not_load_lightning() -> None:
    code = (
        "import json, sys\n"
        "import ballroom.dualform as d\n"
        "import ballroom.dualform.functional, ballroom.dualform.nn, ballroom.dualform.metrics\n"
        "d.DualFormRecorder, d.DualLinear, d.sgd_coefficients, d.dual_primal_gap, d.DualFormMLP, d.ZOO\n"
        "print(json.dumps(sorted(m for m in ('pytorch_lightning', 'lightning', 'torchmetrics') if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_every_public_name_resolves() -> None:
    assert set(dualform.__all__) == {"__version__", *dualform._SOURCES}
    assert len(dualform.__all__) == len(set(dualform.__all__))
    for name in dualform._SOURCES:
        assert getattr(dualform, name) is not None
    assert set(dualform.__all__) <= set(dir(dualform))
    assert dualform.__version__.count(".") >= 2
    with pytest.raises(AttributeError, match="no attribute"):
        dualform.NotAThing  # noqa: B018


def test_old_digits_name_is_a_deprecated_alias() -> None:
    with pytest.warns(DeprecationWarning, match="TaskDigitsDataModule"):
        dm = dualform.DigitsDataModule(mode="multi", batch_size=16)
    assert isinstance(dm, dualform.TaskDigitsDataModule) and dm.mode == "multi" and dm.batch_size == 16
    from ballroom.core.data import DigitsDataModule as CoreDigits

    assert not issubclass(dualform.TaskDigitsDataModule, CoreDigits)
