"""`fragrisk run`'s summary with its uncertainty: the mean expected collisions, its standard
error and the realizations a +-10 % error needs, in the printed summary and in --json, from the
file's own realizations."""

from __future__ import annotations

import json
import math

import pytest
from conftest import write_tiny_scenario

from fragrisk import cli
from fragrisk.engine.results import read_results


def fragrisk(argv, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_run_prints_and_reports_the_standard_error(tmp_path, capsys):
    path = write_tiny_scenario(tmp_path, duration_days=0.3, lc_min_m=0.1, realizations=4)
    argv = ["run", path, "--device", "cpu", "--jobs", 1, "-o", tmp_path / "r.h5"]
    code, out, err = fragrisk(argv + ["--json"], capsys)
    assert code == 0, err
    iss = json.loads(out)["targets"]["ISS"]
    lam = read_results(tmp_path / "r.h5").expected_collisions[0]
    assert lam.size == 4 and lam.std() > 0
    assert iss["lambda_mean"] == pytest.approx(lam.mean(), rel=1e-12)
    assert iss["lambda_stderr"] == pytest.approx(lam.std(ddof=1) / 2.0, rel=1e-12)
    assert iss["realizations_for_10pct"] == math.ceil((lam.std(ddof=1) / (0.1 * lam.mean())) ** 2 - 1e-9)
    assert iss["peak_rate_utc"].startswith("2021-11-15T") and iss["peak_rate_utc"].endswith("Z")
    code, out, err = fragrisk(argv + ["--overwrite"], capsys)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("  ISS:"))
    assert f"mean expected collisions {lam.mean():.3g} ± {lam.std(ddof=1) / 2:.2g} (standard error" in line
    assert f"±10 % needs about {iss['realizations_for_10pct']:,} realization" in line
    assert out.startswith(f"wrote {tmp_path / 'r.h5'}: 4 realizations of cosmos1408")
