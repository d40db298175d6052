"""fragrisk scenario export NAME DIR: the built-in and its element sets, ready to edit and run."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from fragrisk import cli
from fragrisk.engine.scenario import builtin_names

#: A short run of the built-in: the same --set for the built-in and its copy.
SHORT = ["--realizations", "1", "--device", "cpu", "--jobs", "1", "--set", "analysis.duration_days=0.05",
         "--set", "event.lc_min_m=0.3"]


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def variables(path) -> dict:
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("name", builtin_names())
def test_export_writes_the_scenario_and_its_element_sets(name, tmp_path):
    done = invoke("scenario", "export", name, tmp_path / "mine")
    assert done.exit_code == 0, done.output
    files = sorted(p.name for p in (tmp_path / "mine").iterdir())
    assert files == sorted([f"{name}.toml", "cosmos1408_2021-11-15.tle", "iss_2021-11-15.tle"])
    assert f"wrote {tmp_path / 'mine' / (name + '.toml')} and 2 element-set files" in done.output
    again = invoke("scenario", "export", name, tmp_path / "mine")
    assert again.exit_code != 0 and "exists; use --overwrite" in again.output
    assert invoke("scenario", "export", name, tmp_path / "mine", "--overwrite").exit_code == 0


def test_the_exported_builtin_runs_unchanged_to_the_same_results(tmp_path):
    assert invoke("scenario", "export", "cosmos1408", tmp_path / "mine").exit_code == 0
    a = invoke("run", "cosmos1408", *SHORT, "-o", tmp_path / "builtin.h5")
    b = invoke("run", tmp_path / "mine" / "cosmos1408.toml", *SHORT, "-o", tmp_path / "copy.h5")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    va, vb = variables(tmp_path / "builtin.h5"), variables(tmp_path / "copy.h5")
    assert sorted(va) == sorted(vb) and len(va) > 20
    for key in va:  # every variable equal, value for value (the attributes name the source)
        np.testing.assert_array_equal(va[key], vb[key], err_msg=key)


def test_export_refuses_unknown_names_and_files_as_folders(tmp_path):
    done = invoke("scenario", "export", "no-such", tmp_path / "x")
    assert done.exit_code != 0 and "no-such: not a built-in scenario (built-ins: cosmos1408" in done.output
    (tmp_path / "file").write_text("x")
    done = invoke("scenario", "export", "cosmos1408", tmp_path / "file")
    assert done.exit_code != 0 and "exists and is not a folder" in done.output
    assert not (tmp_path / "x").exists()
