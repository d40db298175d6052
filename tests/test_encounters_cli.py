"""`fragrisk encounters`: the largest encounters and the risk windows of a results file, as a
table, CSV or JSON; one-line refusals (a file without the table, bad options, existing CSV)."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fragrisk import cli
from fragrisk.engine.results import write_results
from fragrisk.engine.results.windows import ENCOUNTER_COLUMNS, WINDOW_COLUMNS, risk_windows
from test_encounters import results_with_table

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("encounters_cli")
    res = results_with_table()
    new = write_results(folder / "run.h5", res)
    old = write_results(folder / "old.h5", dataclasses.replace(res, encounters=None))
    none = write_results(folder / "none.h5", dataclasses.replace(res, encounters=None,
                                                                  attrs={**res.attrs, "encounters": "none"}))
    return res, new, old, none


def fragrisk(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def one_line_error(code, out, err, needle):
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err


def test_largest_encounters_table(files, capsys):
    res, path, _, _ = files
    code, out, err = fragrisk(capsys, "encounters", path, "--target", "ISS", "--top", "3")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    n = int((res.encounters.target == 0).sum())
    assert lines[0].startswith(f"ISS: {n} encounters in 12 realizations") and lines[0].endswith("the 3 largest:")
    assert len(lines) == 5
    shares = res.encounters.expected_collisions[res.encounters.target == 0]
    assert f"{np.sort(shares)[-1]:.3e}" in lines[2]
    code, out, _ = fragrisk(capsys, "encounters", path)  # every target, 10 each
    assert code == 0 and out.startswith("ISS: ") and "\nCSS: " in out


def test_csv_of_encounters_and_no_overwrite(files, capsys, tmp_path):
    res, path, _, _ = files
    out_csv = tmp_path / "enc.csv"
    code, out, err = fragrisk(capsys, "encounters", path, "--csv", out_csv)
    assert (code, err) == (0, "") and out == f"wrote {out_csv}: {len(res.encounters)} encounters\n"
    rows = list(csv.DictReader(out_csv.open()))
    assert list(rows[0]) == list(ENCOUNTER_COLUMNS) and len(rows) == len(res.encounters)
    got = sorted(float(r["expected_collisions"]) for r in rows)
    np.testing.assert_array_equal(got, np.sort(res.encounters.expected_collisions))  # 17 digits: exact
    before = out_csv.read_bytes()
    one_line_error(*fragrisk(capsys, "encounters", path, "--csv", out_csv, "--top", "2"), "exists; use --overwrite")
    assert out_csv.read_bytes() == before
    code, _, _ = fragrisk(capsys, "encounters", path, "--csv", out_csv, "--top", "2", "--overwrite")
    assert code == 0 and len(list(csv.DictReader(out_csv.open()))) == 2


def test_windows_table_csv_and_json(files, capsys, tmp_path):
    res, path, _, _ = files
    want = risk_windows(res, "CSS", share=0.99, width_s=300.0, within_h=24.0)
    assert len(want.windows) > 1
    args = ("encounters", path, "--target", "CSS", "--windows", "--share", "0.99", "--width-s", "300")
    code, out, err = fragrisk(capsys, *args)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"CSS: {len(want.windows)} windows of 300 s carry {100 * want.share:.1f} %")
    assert len(lines) == 2 + len(want.windows)
    assert want.windows[0].start_utc in lines[2]
    code, out, _ = fragrisk(capsys, *args, "--json")
    report = json.loads(out)
    got = report["targets"]["CSS"]["windows"]
    assert code == 0 and "encounters" not in report["targets"]["CSS"]  # windows only, unless --top
    assert [w["start_s"] for w in got["windows"]] == [w.start_s for w in want.windows]
    assert got["share"] == pytest.approx(want.share) and got["minutes"] == 5.0 * len(want.windows)
    code, out, _ = fragrisk(capsys, *args, "--json", "--top", "2")
    assert len(json.loads(out)["targets"]["CSS"]["encounters"]) == 2
    out_csv = tmp_path / "windows.csv"
    code, out, _ = fragrisk(capsys, *args, "--csv", out_csv)
    rows = list(csv.DictReader(out_csv.open()))
    assert code == 0 and list(rows[0]) == list(WINDOW_COLUMNS) and len(rows) == len(want.windows)


def test_a_period_past_the_files_window_ends_with_it(files, capsys):
    """--within-h longer than the file's window: the schedule covers the window, and says so
    (not "of the first 500 h" of a shorter file)."""
    res, path, _, _ = files
    end_h = res.time_edges_s[-1] / 3600.0
    code, out, err = fragrisk(capsys, "encounters", path, "--target", "CSS", "--windows", "--within-h", "500")
    assert (code, err) == (0, "")
    assert f"of the whole {end_h:g} h of the file's window" in out.splitlines()[0], out
    assert "500 h" not in out
    assert risk_windows(res, "CSS", within_h=500).period_s == (0.0, res.time_edges_s[-1])


@pytest.mark.parametrize("args, needle", [
    (("--top", "0"), "--top: must be >= 1"),
    (("--windows", "--share", "1.5"), "--share: 1.5 is not a share in (0, 1]"),
    (("--windows", "--width-s", "0"), "--width-s: 0.0 is not a width > 0 s"),
    (("--windows", "--within-h", "-1"), "--within-h: -1.0 is not a period > 0 h"),
    (("--target", "MIR"), "no target 'MIR'; the targets are ISS, CSS"),
])
def test_bad_options_are_one_line(files, capsys, args, needle):
    _, path, _, _ = files
    one_line_error(*fragrisk(capsys, "encounters", path, *args), needle)


def test_a_file_without_the_table_is_one_line(files, tmp_path):
    """As a user sees it: a fresh interpreter, one line on stderr, exit 2, no traceback."""
    _, _, old, none = files
    for path, why in ((old, "written before fragrisk recorded encounters"),
                      (none, 'encounters = "none"')):
        proc = subprocess.run([sys.executable, "-m", "fragrisk.cli", "encounters", str(path), "--windows"],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1 and f"{path}: no encounter table (" in proc.stderr and why in proc.stderr
