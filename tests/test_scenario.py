"""Scenario files: every field validated (through the CLI: one stderr line, exit 2, no traceback),
defaults, relative paths, warnings, the TOML round trip; and UTC epoch handling."""

import copy
import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fragrisk import cli
from fragrisk.engine.errors import InputError
from fragrisk.engine.orbits.elements import ElementSet, tle_checksum
from fragrisk.engine.scenario import (
    Scenario,
    builtin_names,
    load_scenario,
    scenario_to_toml,
)
from fragrisk.engine.timeutil import format_utc, minutes_between, parse_utc
from sgp4.functions import jday

REPO = Path(__file__).resolve().parent.parent

from conftest import COSMOS_TLE, ISS_TLE  # noqa: E402  (the built-in element sets)

BASE = {
    "name": "test",
    "parent": {"tle": COSMOS_TLE, "mass_kg": 2200, "kind": "spacecraft"},
    "event": {"epoch": "2021-11-15T02:47:00Z", "type": "collision", "projectile_mass_kg": 20,
              "impact_velocity_km_s": 7.5, "lc_min_m": 0.1},
    "targets": [{"name": "ISS", "tle": ISS_TLE, "hard_body_radius_m": 66.1}],
    "analysis": {"duration_days": 7, "step_s": 60, "realizations": 10, "seed": 1},
}
DELETE = object()


def _set_columns(line, start, end, text):
    line = line[:start] + text + line[end:]
    return line[:68] + str(tle_checksum(line))


def _tle_with(tle, line_no, start, end, text):
    rows = tle.split("\n")
    rows[line_no] = _set_columns(rows[line_no], start, end, text)
    return "\n".join(rows)


# A parent that re-enters within days (perigee ~230 km, B* 0.01), and a geostationary one.
DECAYING_TLE = _tle_with(_tle_with(COSMOS_TLE, 1, 53, 61, " 10000-1"), 2, 52, 63, "16.20000000")
GEO_TLE = _tle_with(COSMOS_TLE, 2, 52, 63, " 1.00270000")


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string (ASCII here)
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return repr(v)


def to_toml(d):
    """A tiny TOML writer for test inputs (independent of engine.scenario's writer)."""
    out = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, (dict, list))]
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(f"[{k}]")
            out += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list):
            for item in v:
                out.append(f"[[{k}]]")
                out += [f"{kk} = {_toml_value(vv)}" for kk, vv in item.items()]
    return "\n".join(out) + "\n"


def scenario_dict(**changes):
    """BASE with changes: {"event": {"lc_min_m": 5}}; DELETE removes a field or table."""
    d = copy.deepcopy(BASE)
    for table, value in changes.items():
        if value is DELETE:
            d.pop(table, None)
        elif isinstance(value, dict) and isinstance(d.get(table), dict):
            for k, v in value.items():
                if v is DELETE:
                    d[table].pop(k, None)
                else:
                    d[table][k] = v
        else:
            d[table] = value
    return d


def write(tmp_path, d, name="scen.toml"):
    path = tmp_path / name
    path.write_text(d if isinstance(d, str) else to_toml(d))
    return path


def run_info(path, *args):
    return CliRunner().invoke(cli.cli, ["info", str(path), "--device", "cpu", *args],
                              catch_exceptions=False)


def assert_one_line_error(result, *parts):
    assert result.exit_code == 2, (result.exit_code, result.output)
    err = result.stderr
    assert "Traceback" not in err and "Traceback" not in result.stdout
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("error: ")
    for part in parts:
        assert part in err, (part, err)
    return err


# --- bad input: each case -> exit 2, one line naming the file, the field and the value -----------
BAD = [
    ("unknown field", dict(event={"lc_mn_m": 0.1}),
     ["scen.toml: unknown field [event] lc_mn_m (did you mean lc_min_m?)"]),
    ("unknown table", dict(evnt={"x": 1}), ["unknown table [evnt] (did you mean [event]?)"]),
    ("unknown target field", dict(targets=[dict(BASE["targets"][0], radius_m=3)]),
     ["unknown field [[targets]] #1 radius_m"]),
    ("missing mass", dict(parent={"mass_kg": DELETE}), ["missing required field [parent] mass_kg"]),
    ("missing lc_min", dict(event={"lc_min_m": DELETE}), ["missing required field [event] lc_min_m"]),
    ("missing projectile", dict(event={"projectile_mass_kg": DELETE}),
     ["missing required field [event] projectile_mass_kg"]),
    ("missing duration", dict(analysis={"duration_days": DELETE}),
     ["missing required field [analysis] duration_days"]),
    ("missing realizations", dict(analysis={"realizations": DELETE}),
     ["missing required field [analysis] realizations"]),
    ("missing seed", dict(analysis={"seed": DELETE}), ["missing required field [analysis] seed"]),
    ("missing kind", dict(parent={"kind": DELETE}), ["missing required field [parent] kind"]),
    ("missing elements", dict(parent={"tle": DELETE}), ["missing required field [parent] tle"]),
    ("missing event table", dict(event=DELETE), ["missing required table [event]"]),
    ("missing analysis table", dict(analysis=DELETE), ["missing required table [analysis]"]),
    ("no targets", dict(targets=DELETE), ["missing required field [[targets]]"]),
    ("bool mass", dict(parent={"mass_kg": True}),
     ["[parent] mass_kg = true", "not a boolean"]),
    ("string mass", dict(parent={"mass_kg": "2200"}), ['[parent] mass_kg = "2200"', "number"]),
    ("nan mass", dict(parent={"mass_kg": float("nan")}), ["[parent] mass_kg = nan"]),
    ("zero mass", dict(parent={"mass_kg": 0}), ["[parent] mass_kg = 0", "> 0 kg"]),
    ("negative mass", dict(parent={"mass_kg": -5.0}), ["[parent] mass_kg = -5.0"]),
    ("zero projectile", dict(event={"projectile_mass_kg": 0}),
     ["[event] projectile_mass_kg = 0", "> 0 kg"]),
    ("bool velocity", dict(event={"impact_velocity_km_s": False}),
     ["[event] impact_velocity_km_s = false"]),
    ("zero velocity", dict(event={"impact_velocity_km_s": 0.0}),
     ["[event] impact_velocity_km_s = 0.0", "> 0 km/s"]),
    ("negative velocity", dict(event={"impact_velocity_km_s": -7.5}),
     ["[event] impact_velocity_km_s = -7.5"]),
    ("lc_min too small", dict(event={"lc_min_m": 0.0005}),
     ["[event] lc_min_m = 0.0005", "[0.001, 1] m"]),
    ("lc_min too large", dict(event={"lc_min_m": 2}), ["[event] lc_min_m = 2", "[0.001, 1] m"]),
    ("zero duration", dict(analysis={"duration_days": 0}), ["[analysis] duration_days = 0"]),
    ("negative duration", dict(analysis={"duration_days": -1.5}),
     ["[analysis] duration_days = -1.5"]),
    ("zero step", dict(analysis={"step_s": 0}), ["[analysis] step_s = 0", "> 0 s"]),
    ("step beyond duration", dict(analysis={"duration_days": 0.01, "step_s": 900}),
     ["[analysis] step_s = 900", "no longer than"]),
    ("zero realizations", dict(analysis={"realizations": 0}),
     ["[analysis] realizations = 0", ">= 1"]),
    ("float realizations", dict(analysis={"realizations": 10.0}),
     ["[analysis] realizations = 10.0", "integer"]),
    ("bool realizations", dict(analysis={"realizations": True}),
     ["[analysis] realizations = true"]),
    ("negative seed", dict(analysis={"seed": -1}), ["[analysis] seed = -1", ">= 0"]),
    ("float seed", dict(analysis={"seed": 1.5}), ["[analysis] seed = 1.5", "integer"]),
    ("string seed", dict(analysis={"seed": "abc"}), ['[analysis] seed = "abc"']),
    ("zero kernel radius", dict(analysis={"kernel_radius_km": 0}),
     ["[analysis] kernel_radius_km = 0", "> 0 km"]),
    ("zero time bin", dict(analysis={"time_bin_s": 0}), ["[analysis] time_bin_s = 0"]),
    ("bad encounters", dict(analysis={"encounters": "some"}),
     ['[analysis] encounters = "some"', '"all", "none"']),
    ("bool encounters", dict(analysis={"encounters": True}), ["[analysis] encounters = true"]),
    ("zero pc bins", dict(analysis={"pc_bins_per_decade": 0}),
     ["[analysis] pc_bins_per_decade = 0", "an integer from 1 to 1000"]),
    ("float pc bins", dict(analysis={"pc_bins_per_decade": 2.5}),
     ["[analysis] pc_bins_per_decade = 2.5", "integer"]),
    ("zero hard body", dict(targets=[dict(BASE["targets"][0], hard_body_radius_m=0)]),
     ["[[targets]] #1 hard_body_radius_m = 0", "> 0 m"]),
    ("negative hard body", dict(targets=[dict(BASE["targets"][0], hard_body_radius_m=-1)]),
     ["[[targets]] #1 hard_body_radius_m = -1"]),
    ("bad kind", dict(parent={"kind": "debris"}),
     ['[parent] kind = "debris"', '"spacecraft", "rocket_body"']),
    ("bad type", dict(event={"type": "implosion"}),
     ['[event] type = "implosion"', '"collision", "explosion"']),
    ("bad am_sampling", dict(event={"am_sampling": "bimodal"}),
     ['[event] am_sampling = "bimodal"', '"mixture", "weighted_sum"']),
    ("bad mass_policy", dict(event={"mass_policy": "keep"}),
     ['[event] mass_policy = "keep"', '"remnants", "none", "drop"']),
    ("bad kernel", dict(analysis={"kernel": "gauss"}), ['[analysis] kernel = "gauss"', '"sphere"']),
    ("zero drag coefficient", dict(event={"drag_coefficient": 0}),
     ["[event] drag_coefficient = 0"]),
    ("zero drag scale", dict(event={"drag_scale": 0.0}), ["[event] drag_scale = 0.0"]),
    ("zero explosion scale", dict(event={"explosion_scale": 0}), ["[event] explosion_scale = 0"]),
    ("bad epoch", dict(event={"epoch": "2021-13-01T00:00:00Z"}),
     ["[event] epoch: '2021-13-01T00:00:00Z' is not a valid UTC time"]),
    ("non-UTC epoch", dict(event={"epoch": "2021-11-15T02:47:00+03:00"}),
     ["[event] epoch", "+03:00 is not UTC"]),
    ("start before event", dict(analysis={"start": "2021-11-15T02:46:00Z"}),
     ['[analysis] start = "2021-11-15T02:46:00Z"', "at or after"]),
    ("deep-space parent", dict(parent={"tle": GEO_TLE}),
     ["[parent] tle", "COSMOS 1408 (NORAD 13552)", ">= 225 min"]),
    ("parent below 100 km", dict(parent={"tle": DECAYING_TLE},
                                 event={"epoch": "2021-11-17T01:00:00Z"}),
     ["[parent] tle", '"2021-11-17T01:00:00Z"', "has decayed", "< 100 km"]),
    ("parent SGP4 error", dict(parent={"tle": DECAYING_TLE},
                               event={"epoch": "2021-11-20T01:00:00Z"}),
     ["[parent] tle", '"2021-11-20T01:00:00Z"', "has decayed", "SGP4 error"]),
    ("bad inline checksum", dict(parent={"tle": COSMOS_TLE[:-1] + "0"}),
     ["scen.toml: [parent] tle: line 3: checksum is 0, expected 7"]),
    ("short inline line", dict(parent={"tle": COSMOS_TLE.replace("0  9995", "0 9995")}),
     ["scen.toml: [parent] tle: line 2 has 68 characters, expected 69"]),
    ("two element sources", dict(parent={"tle_file": "x.tle"}),
     ["[parent]: give one of tle, tle_file, omm_file, not both tle and tle_file"]),
    ("missing tle file", dict(parent={"tle": DELETE, "tle_file": "nowhere.tle"}),
     ['[parent] tle_file = "nowhere.tle": file not found']),
    ("two objects as parent", dict(parent={"tle": COSMOS_TLE + "\n" + ISS_TLE}),
     ["[parent] tle: 2 element sets, expected exactly 1"]),
    ("duplicate target names", dict(targets=[BASE["targets"][0], BASE["targets"][0]]),
     ['[[targets]] #2 name = "ISS"']),
    ("targets as one table", dict(targets={"name": "ISS"}), ["[[targets]]"]),
    ("population with parent", dict(population={"tle": ISS_TLE}),
     ["[parent]: not allowed with [population]"]),
    ("wrong-typed table", dict(parent="COSMOS"), ['parent = "COSMOS": expected a table']),
]


@pytest.mark.parametrize("changes,parts", [(c, p) for _, c, p in BAD], ids=[i for i, _, _ in BAD])
def test_bad_scenarios_fail_with_one_line(tmp_path, changes, parts):
    path = write(tmp_path, scenario_dict(**changes))
    err = assert_one_line_error(run_info(path), *parts)
    assert str(path) in err  # the file is named


def test_not_toml_gives_parser_line(tmp_path):
    path = write(tmp_path, 'name = "x"\n[event]\nepoch = 2021-11-15T02:47\n')
    assert_one_line_error(run_info(path), str(path), "not valid TOML", "line 3")


def test_population_needs_start(tmp_path):
    d = scenario_dict(parent=DELETE, event=DELETE, population={"tle": COSMOS_TLE})
    path = write(tmp_path, d)
    assert_one_line_error(run_info(path), str(path),
                          "missing required field [analysis] start (required for [population]")


def test_missing_scenario_file(tmp_path):
    path = tmp_path / "absent.toml"
    assert_one_line_error(run_info(path), f"{path}: file not found")


def test_bad_input_through_console_entry_point(tmp_path):
    """The real process: main() turns the error into one stderr line and exit code 2."""
    path = write(tmp_path, scenario_dict(event={"lc_mn_m": 0.1}))
    proc = subprocess.run([sys.executable, "-c", "from fragrisk import cli; cli.main()", "info", str(path),
                           "--device", "cpu"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == (f"error: {path}: unknown field [event] lc_mn_m "
                           f"(did you mean lc_min_m?)\n")
    assert proc.stdout == ""


# --- good input ------------------------------------------------------------------------------------
def test_defaults_are_filled_in(tmp_path):
    s = load_scenario(write(tmp_path, scenario_dict(analysis={"step_s": DELETE})))
    e, a = s.event, s.analysis
    assert (e.am_sampling, e.mass_policy, e.drag_coefficient, e.drag_scale, e.explosion_scale) \
        == ("mixture", "remnants", 2.2, 1.0, 1.0)
    assert (a.kernel, a.kernel_radius_km, a.step_s, a.time_bin_s) == ("sphere", 10.0, 60.0, 3600.0)
    assert (a.encounters, a.pc_bins_per_decade) == ("all", 10)
    assert (a.start, a.start_jd, a.start_fr) == (e.epoch, e.epoch_jd, e.epoch_fr)
    assert s.warnings == () and s.population is None
    assert isinstance(s.parent.mass_kg, float) and isinstance(a.realizations, int)


def test_relative_paths_resolve_against_the_scenario_folder(tmp_path, monkeypatch):
    (tmp_path / "tles").mkdir()
    (tmp_path / "tles" / "cosmos.tle").write_text(COSMOS_TLE + "\n")
    (tmp_path / "scen").mkdir()
    d = scenario_dict(parent={"tle": DELETE, "tle_file": "../tles/cosmos.tle"})
    path = write(tmp_path / "scen", d)
    monkeypatch.chdir(tmp_path / "tles")  # the working folder must not matter
    s = load_scenario(os.path.relpath(path))
    assert s.parent.elements.satnum[0] == 13552
    assert s.parent.elements.source == str((tmp_path / "tles" / "cosmos.tle").resolve())


def test_toml_datetime_epochs_are_accepted(tmp_path):
    text = to_toml(scenario_dict()).replace('epoch = "2021-11-15T02:47:00Z"',
                                            "epoch = 2021-11-15T02:47:00Z")
    s = load_scenario(write(tmp_path, text))
    assert (s.event.epoch_jd, s.event.epoch_fr) == parse_utc("2021-11-15T02:47:00Z")


def test_explosion_needs_no_projectile(tmp_path):
    d = scenario_dict(event={"type": "explosion", "projectile_mass_kg": DELETE,
                             "impact_velocity_km_s": DELETE, "explosion_scale": 0.5})
    s = load_scenario(write(tmp_path, d))
    assert s.event.projectile_mass_kg is None and s.event.explosion_scale == 0.5
    assert s.warnings == ()


def test_explosion_with_projectile_warns_that_it_is_ignored(tmp_path):
    s = load_scenario(write(tmp_path, scenario_dict(event={"type": "explosion"})))
    assert len(s.warnings) == 2 and "projectile_mass_kg is ignored" in s.warnings[0]


def test_event_far_from_element_epoch_is_refused_unless_allowed(tmp_path):
    path = write(tmp_path, scenario_dict(event={"epoch": "2021-12-20T00:00:00Z"}))
    with pytest.raises(InputError) as exc:
        load_scenario(path)
    assert str(exc.value).startswith(
        f'{path}: [parent] tle: [event] epoch = "2021-12-20T00:00:00Z" is 35.0 days after the '
        f"element epoch of COSMOS 1408 (NORAD 13552) (2021-11-15T00:55:06.488256Z), more than "
        f"[analysis] max_epoch_gap_days = 30")
    # Allowed by the command line or the file: loaded, with a warning that says so.
    for s in (load_scenario(path, max_epoch_gap_days=40),
              load_scenario(write(tmp_path, scenario_dict(
                  event={"epoch": "2021-12-20T00:00:00Z"}, analysis={"max_epoch_gap_days": 40}),
                  name="allowed.toml"))):
        assert s.analysis.max_epoch_gap_days == 40
        parent_warnings = [w for w in s.warnings if "[event] epoch" in w]
        assert len(parent_warnings) == 1 and "accepted by max_epoch_gap_days = 40" in parent_warnings[0]
    result = run_info(path, "--max-epoch-gap-days", "40")
    assert result.exit_code == 0
    shown = [w for w in load_scenario(path, max_epoch_gap_days=40).warnings if "[event] epoch" in w]
    assert f"warning: {shown[0]}" in result.stderr.splitlines()
    # 29 days is no warning.
    assert load_scenario(write(tmp_path, scenario_dict(
        event={"epoch": "2021-12-14T00:00:00Z"}))).warnings == ()


def test_population_scenario(tmp_path):
    d = scenario_dict(parent=DELETE, event=DELETE, population={"tle": COSMOS_TLE + "\n" + ISS_TLE},
                      analysis={"start": "2021-11-15T03:00:00Z", "realizations": DELETE,
                                "seed": DELETE})
    s = load_scenario(write(tmp_path, d))
    assert s.parent is None and s.event is None and len(s.population.elements) == 2
    assert s.analysis.realizations == 1
    bad = write(tmp_path, dict(d, analysis=dict(d["analysis"], realizations=5)), "bad.toml")
    assert_one_line_error(run_info(bad), "[analysis] realizations = 5")


# --- built-in and round trip ---------------------------------------------------------------------
@pytest.mark.parametrize("name, drag_scale", [("cosmos1408", 0.0632), ("cosmos1408-sbm", 1.0)])
def test_builtin_cosmos1408_values(name, drag_scale):
    """The calibrated built-in and the plain model: the same event; the knobs differ (their
    values are test_calibrate.py's business)."""
    assert name in builtin_names()
    s = load_scenario(name)
    assert s.name == name and s.warnings == ()
    assert s.parent.elements.satnum[0] == 13552 and s.parent.mass_kg == 2200.0
    assert s.parent.kind == "spacecraft"
    e = s.event
    assert (e.epoch, e.type, e.projectile_mass_kg, e.impact_velocity_km_s, e.lc_min_m) == \
        ("2021-11-15T02:47:00Z", "collision", 20.0, 7.5, 0.1)
    assert (e.am_sampling, e.mass_policy, e.drag_coefficient, e.drag_scale) == \
        ("mixture", "remnants", 2.2, drag_scale)
    (t,) = s.targets
    assert (t.name, t.hard_body_radius_m, int(t.elements.satnum[0])) == ("ISS", 66.1, 25544)
    a = s.analysis
    assert (a.duration_days, a.step_s, a.realizations, a.seed, a.kernel, a.kernel_radius_km,
            a.time_bin_s) == (7.0, 60.0, 1000, 20211115, "sphere", 10.0, 3600.0)
    assert a.start == "2021-11-15T02:47:00Z"


def assert_same_elements(a: ElementSet, b: ElementSet):
    assert a.name == b.name and a.tle_lines == b.tle_lines
    np.testing.assert_array_equal(a.satnum, b.satnum)
    for f in ("epoch_jd", "epoch_fr", "no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo",
              "bstar"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def assert_same_scenario(a: Scenario, b: Scenario):
    """Every field of every table, element arrays bit for bit; only source/warnings may differ."""
    assert a.name == b.name
    for part in ("parent", "event", "analysis", "population"):
        x, y = getattr(a, part), getattr(b, part)
        assert (x is None) == (y is None), part
        if x is None:
            continue
        for f in dataclasses.fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            if isinstance(u, ElementSet):
                assert_same_elements(u, v)
            else:
                assert u == v and type(u) is type(v), (part, f.name, u, v)
    assert len(a.targets) == len(b.targets)
    for t, u in zip(a.targets, b.targets):
        assert (t.name, t.hard_body_radius_m) == (u.name, u.hard_body_radius_m)
        assert_same_elements(t.elements, u.elements)
    # The dataclasses' own equality agrees (ElementSet compares by value, ignoring its source).
    assert dataclasses.replace(b, source=a.source, warnings=a.warnings) == a


def test_round_trip_builtin(tmp_path):
    s = load_scenario("cosmos1408")
    text = scenario_to_toml(s)
    assert "tle_file" not in text and "1 13552U 82092A" in text  # element sets inline
    back = load_scenario(write(tmp_path, text, "written.toml"))
    assert_same_scenario(s, back)
    assert scenario_to_toml(back).splitlines()[1:] == text.splitlines()[1:]


def test_round_trip_omm_explosion_and_odd_names(tmp_path):
    omm = {"OBJECT_NAME": "ISS (ZARYA)", "NORAD_CAT_ID": 25544,
           "EPOCH": "2021-11-15T20:43:34.526784", "MEAN_MOTION": 15.48581038,
           "ECCENTRICITY": 0.0004574, "INCLINATION": 51.6442, "RA_OF_ASC_NODE": 312.7312,
           "ARG_OF_PERICENTER": 201.3017, "MEAN_ANOMALY": 242.9752, "BSTAR": 3.9549e-05}
    (tmp_path / "iss.json").write_text(json.dumps([omm]))
    odd_name_tle = COSMOS_TLE.replace("COSMOS 1408", "0 1 'odd' \"name\"")
    d = scenario_dict(
        name="quo\"te",
        parent={"tle": odd_name_tle, "kind": "rocket_body"},
        event={"type": "explosion", "projectile_mass_kg": DELETE, "impact_velocity_km_s": DELETE,
               "explosion_scale": 0.25, "epoch": "2021-11-15T02:47:00.123456789Z"},
        targets=[{"name": "station", "omm_file": "iss.json", "hard_body_radius_m": 50.0}],
        analysis={"time_bin_s": 600.0, "kernel_radius_km": 2.5, "encounters": "none", "pc_bins_per_decade": 4})
    s = load_scenario(write(tmp_path, d))
    assert s.parent.elements.name == ("1 'odd' \"name\"",)
    text = scenario_to_toml(s)
    assert f"omm_file = {json.dumps(str((tmp_path / 'iss.json').resolve()))}" in text
    (tmp_path / "elsewhere").mkdir()
    back = load_scenario(write(tmp_path / "elsewhere", text, "w.toml"))
    assert_same_scenario(s, back)


def test_round_trip_population(tmp_path):
    d = scenario_dict(parent=DELETE, event=DELETE, population={"tle": COSMOS_TLE + "\n" + ISS_TLE},
                      analysis={"start": "2021-11-15T03:00:00+00:00"})
    d["analysis"]["realizations"] = 1
    s = load_scenario(write(tmp_path, d))
    back = load_scenario(write(tmp_path, scenario_to_toml(s), "w.toml"))
    assert_same_scenario(s, back)


# --- UTC epochs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,args", [
    ("2021-11-15T02:47:00Z", (2021, 11, 15, 2, 47, 0)),
    ("2021-11-15T02:47:00+00:00", (2021, 11, 15, 2, 47, 0)),
    ("2021-11-15T20:43:34.526784Z", (2021, 11, 15, 20, 43, 34.526784)),
    ("2000-02-29T23:59:59.5Z", (2000, 2, 29, 23, 59, 59.5)),
    ("1999-12-31T00:00:00", (1999, 12, 31, 0, 0, 0)),
])
def test_parse_utc_matches_jday(text, args):
    jd, fr = parse_utc(text)
    assert (jd, fr) == jday(*args)
    assert jd % 1.0 == 0.5 and 0.0 <= fr < 1.0


@pytest.mark.parametrize("text", ["2021-11-15T02:47:00Z", "2021-11-15T20:43:34.526784Z",
                                  "2016-12-31T23:59:59.999999Z", "1957-10-04T19:28:34Z"])
def test_format_utc_inverts_parse_utc(text):
    assert format_utc(*parse_utc(text)) == text


def test_format_utc_normalises_split_dates():
    assert format_utc(2459533.0, 0.75) == "2021-11-15T06:00:00Z"
    assert format_utc(2459533.5, 1.25) == "2021-11-16T06:00:00Z"


def test_minutes_between_keeps_dates_split():
    jd0, fr0 = parse_utc("2021-11-15T02:47:00Z")
    jd1, fr1 = parse_utc("2021-11-22T02:47:00.000001Z")
    minutes = minutes_between(jd1, fr1, jd0, fr0)
    assert abs(minutes - (7 * 1440 + 1e-6 / 60)) < 1e-12  # a microsecond survives
    assert minutes_between(jd0, fr0, jd1, fr1) == -minutes


@pytest.mark.parametrize("text", ["2021-02-29T00:00:00Z", "2021-11-15", "15/11/2021 02:47",
                                  "2021-11-15T24:00:00Z", "2021-11-15T02:47:00+01:00", ""])
def test_parse_utc_rejects_with_where(text):
    with pytest.raises(InputError) as exc:
        parse_utc(text, where="f.toml: [event] epoch")
    assert str(exc.value).startswith(f"f.toml: [event] epoch: {text!r} is not a valid UTC time")
