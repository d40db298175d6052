"""The import layers of docs/maintainers.md hold: pyproject.toml's import-linter contracts (each
layer imports only from those below it; no import cycle between the modules of a package),
checked by lint-imports on the installed package. A deferred import inside a function counts
like any other, so a cycle cannot hide there."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_hold():
    pytest.importorskip("importlinter")
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout
