"""run_quickstart: the first python block of a README runs as written and its output comes back."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballroom.core.testing import run_quickstart


def test_runs_the_first_python_block_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# pkg\n```bash\npip install pkg\n```\n```python\nx = 6 * 7\nprint('answer', x)\n```\n"
        "```python\nraise SystemExit('second block must not run')\n```\n"
    )
    assert run_quickstart(readme) == "answer 42\n"


def test_errors_surface(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no code here\n")
    with pytest.raises(AssertionError, match="no ```python block"):
        run_quickstart(readme)
    readme.write_text("```python\n1 / 0\n```\n")
    with pytest.raises(ZeroDivisionError):
        run_quickstart(readme)
