"""pyproject.toml lists every package of the repository: a folder with an __init__.py that the
list leaves out installs fine as an editable checkout but is missing from the wheel (engine/scenario
once was), so `pip install .` would give a fragrisk that cannot import itself."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_INSTALLED = {"tests", "benchmarks", "docs", "results"}


def test_every_package_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"fragrisk"}
    for init in ROOT.rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts and (rel.parts[0] in NOT_INSTALLED or rel.parts[0].startswith(".")):
            continue
        found.add(".".join(("fragrisk", *rel.parts)))
    found |= {"fragrisk.engine.data"}  # package data only (TOML and element sets), no __init__.py
    assert found == listed, f"missing from pyproject's packages: {sorted(found - listed)}; " \
                            f"listed but not in the tree: {sorted(listed - found)}"
