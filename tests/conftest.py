"""Shared pytest setup.  Keep additive: several test modules rely on it."""

from pathlib import Path

import pytest
from sgp4_backends import gpu_usable, sgp4_backend  # noqa: F401  (the fixture every SGP4 test runs on)

# fragrisk is imported as installed (`pip install -e .`); the element sets are read from the
# checkout, which is also the installed package in an editable install.
_REPO_ROOT = Path(__file__).resolve().parent.parent

#: The built-in scenario's element sets (engine/data), as 3-line TLE text.
COSMOS_TLE = (_REPO_ROOT / "engine" / "data" / "cosmos1408_2021-11-15.tle").read_text().strip()
ISS_TLE = (_REPO_ROOT / "engine" / "data" / "iss_2021-11-15.tle").read_text().strip()


def pytest_runtest_setup(item):
    """Tests marked `gpu` are skipped where CuPy sees no usable CUDA device; the device is probed
    once, when the first of them runs (never at import, never for a run that deselects them)."""
    if item.get_closest_marker("gpu") is not None and not gpu_usable():
        pytest.skip("no usable CUDA device (cupy.is_available() is false)")


def write_tiny_scenario(folder, **analysis) -> Path:
    """A small copy of the built-in scenario in `folder` (absolute element-set paths), for tests
    that run the whole pipeline: lc_min 0.3 m (about 200 fragments a realization), 2.4 hours at
    120 s steps, 30-minute bins; keyword arguments override [analysis] fields."""
    import re

    data = _REPO_ROOT / "engine" / "data"
    text = (data / "cosmos1408.toml").read_text()
    text = re.sub(r'tle_file = "([^"]+)"', lambda m: f'tle_file = "{(data / m.group(1)).as_posix()}"', text)
    text = text.replace("lc_min_m = 0.1", "lc_min_m = 0.3")
    values = dict(duration_days=0.1, step_s=120, time_bin_s=1800, realizations=4)
    values.update(analysis)
    for key, value in values.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"',
                          text, flags=re.MULTILINE)
        if n == 0:
            text = text.replace("[analysis]\n", f"[analysis]\n{key} = {value!r}\n")
    path = Path(folder) / "tiny.toml"
    path.write_text(text)
    return path
