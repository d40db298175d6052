"""Shared pytest setup.  Keep additive: several test modules rely on it."""

import importlib.util
import sys
from pathlib import Path

# cli.py and engine/ live at the repository root; put it on sys.path only where they are not
# importable already (e.g. pytest started from another folder without an installed fragrisk).
_REPO_ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("cli") is None or importlib.util.find_spec("engine") is None:
    sys.path.insert(0, str(_REPO_ROOT))
