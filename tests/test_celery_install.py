"""``flash_ws.celery`` without its extra installed says which package is missing and the install
line (issue 22, item 9): a fresh interpreter in which ``redis`` (or ``celery``) cannot be imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("missing", ["redis", "celery"])
def test_without_its_extra_flash_ws_celery_names_the_install_line(missing):
    probe = (f"import sys\nsys.modules[{missing!r}] = None\n"  # any import of it raises ModuleNotFoundError
             "try:\n    import flash_ws.celery\nexcept ModuleNotFoundError as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"flash_ws.celery needs the {missing} package: pip install 'flash_ws[celery]'"), result.stdout
