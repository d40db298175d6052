"""`fragrisk pc`: the JSON every script can rely on, the text summary, CSV, and one-line refusals."""

from __future__ import annotations

import csv
import json

import pytest
from conjunction_cases import DATA
from fragrisk import cli

HIGH = DATA / "sample" / "OmitronTestCase_Test01_HighPc.cdm"
ALF12 = DATA / "sample" / "AlfanoTestCase12.cdm"
NO_HBR = DATA / "sample" / "OmitronTestCase_Test08_3DNc.cdm"
REQUIRED = ("cdm", "miss_km", "pc_2d", "pc_2d_unadjusted", "nc_3d", "pc_mc", "pc_mc_low", "pc_mc_high",
            "trials", "covariance_repaired")


def fragrisk(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_json_one_object_per_cdm(capsys):
    code, out, err = fragrisk(capsys, "pc", HIGH, DATA / "sample" / "AlfanoTestCase05.cdm", "--method", "2d", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["cdm"] for r in rows] == [str(HIGH), str(DATA / "sample" / "AlfanoTestCase05.cdm")]
    for r in rows:
        assert set(REQUIRED) <= set(r)
        assert r["nc_3d"] is None and r["pc_mc"] is None and r["trials"] is None  # not run
    assert rows[0]["pc_2d"] == pytest.approx(0.4202, abs=1e-4) and rows[0]["miss_km"] == pytest.approx(0.01196, rel=1e-3)


def test_all_methods_and_the_summary(capsys):
    code, out, err = fragrisk(capsys, "pc", HIGH, "--trials", "5000", "--seed", "3")
    assert code == 0
    assert "2D Pc (Foster): 0.4202" in out and "3D Nc (Hall):   0.4202" in out and "Monte Carlo:" in out
    assert "5,000 trials" in out
    assert "RELATIVE_VELOCITY_R is labelled [m]" in err  # the tolerated mislabel, as a warning


def test_2d_refused_in_one_line_3d_and_mc_apply(capsys):
    code, out, err = fragrisk(capsys, "pc", ALF12, "--method", "2d")
    assert code == 0
    assert "2D Pc: not applicable: relative speed 0 m/s" in out
    code, out, err = fragrisk(capsys, "pc", ALF12, "--method", "mc", "--trials", "20000", "--json")
    r = json.loads(out)[0]
    assert r["pc_2d"] is None and r["pc_mc"] > 0 and r["trials"] == 20000


def test_repair_is_reported(capsys):
    code, out, err = fragrisk(capsys, "pc", DATA / "sample" / "OmitronTestCase_Test07_NonPDCovariance.cdm",
                              "--method", "2d", "--json")
    r = json.loads(out)[0]
    assert r["covariance_repaired"] is True and any("clipped" in w for w in r["warnings"])


def test_hbr_option_and_missing_hbr(capsys):
    code, out, err = fragrisk(capsys, "pc", NO_HBR, "--method", "2d")
    assert code != 0 and err.count("\n") == 1 and "--hbr-m" in err and str(NO_HBR) in err
    code, out, err = fragrisk(capsys, "pc", NO_HBR, "--method", "2d", "--hbr-m", "20", "--json")
    assert code == 0 and json.loads(out)[0]["hbr_m"] == 20.0


def test_csv(capsys, tmp_path):
    path = tmp_path / "pc.csv"
    code, out, err = fragrisk(capsys, "pc", HIGH, "--method", "2d", "--csv", path)
    assert code == 0 and f"wrote {path}" in out
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 1 and float(rows[0]["pc_2d"]) == pytest.approx(0.4202, abs=1e-4) and rows[0]["nc_3d"] == ""
    code, out, err = fragrisk(capsys, "pc", HIGH, "--method", "2d", "--csv", path)
    assert code != 0 and "exists" in err and err.count("\n") == 1


@pytest.mark.parametrize("edit,expect", [
    (lambda t: t[: t.index("CT_T", len(t) // 2)], "truncated"),
    (lambda t: t.replace("TCA                                = ", "TCX                                = "), "TCX"),
    (lambda t: t.replace("[km/s]", "[m/s]", 1), "wrong unit"),
    (lambda t: "\n".join(l for l in t.splitlines() if not l.startswith("CNDOT_TDOT")), "wrong size"),
])
def test_bad_cdm_one_line_no_traceback(capsys, tmp_path, edit, expect):
    bad = tmp_path / "bad.cdm"
    bad.write_text(edit(HIGH.read_text()))
    code, out, err = fragrisk(capsys, "pc", bad, "--method", "2d")
    assert code != 0 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err and expect in err


def test_bad_options(capsys):
    for args, text in ((("--trials", "0"), "--trials"), (("--rel-halfwidth", "2"), "--rel-halfwidth")):
        code, out, err = fragrisk(capsys, "pc", HIGH, *args)
        assert code != 0 and text in err and err.count("\n") == 1
