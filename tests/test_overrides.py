"""Scenario fields from the command line: --set SECTION.FIELD=VALUE (engine.scenario.apply_overrides).

An override is validated like the file (the same one-line messages, saying which --set gave
the field) and recorded in the resolved scenario text that results files keep.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from conftest import write_tiny_scenario
from fragrisk.engine.errors import InputError
from fragrisk.engine.scenario import load_scenario, parse_override, scenario_from_text, scenario_to_toml


@pytest.mark.parametrize("text, path, value", [
    ("event.lc_min_m=0.01", ("event", "lc_min_m"), 0.01),
    ("analysis.duration_days=365", ("analysis", "duration_days"), 365),
    ("analysis.seed = 7", ("analysis", "seed"), 7),
    ("event.type=explosion", ("event", "type"), "explosion"),          # not TOML: a string
    ('event.am_sampling="weighted_sum"', ("event", "am_sampling"), "weighted_sum"),
    ("name=a=b", ("name",), "a=b"),
    ("analysis.start=2021-11-16T00:00:00Z", ("analysis", "start"),
     dt.datetime(2021, 11, 16, tzinfo=dt.timezone.utc)),
    ("targets.2.hard_body_radius_m=5e1", ("targets", 1, "hard_body_radius_m"), 50.0),
])
def test_parse_override(text, path, value):
    assert parse_override(text) == (path, value)


@pytest.mark.parametrize("text, message", [
    ("lc_min_m", "--set lc_min_m: expected SECTION.FIELD=VALUE, e.g. event.lc_min_m=0.01"),
    ("event.lc_min_m=", "--set event.lc_min_m=: expected SECTION.FIELD=VALUE"),
    ("event..lc_min_m=1", "--set event..lc_min_m=1: expected SECTION.FIELD=VALUE"),
    ("targets.0.name=x", "--set targets.0.name=x: [[targets]] are numbered from 1"),
])
def test_malformed_overrides(text, message):
    with pytest.raises(InputError) as exc:
        parse_override(text)
    assert str(exc.value).startswith(message)


def test_overrides_change_the_fields_and_leave_the_rest():
    base = load_scenario("cosmos1408")
    s = load_scenario("cosmos1408", ["event.lc_min_m=0.01", "analysis.duration_days=365",
                                     "targets.1.hard_body_radius_m=50", "analysis.seed=3", "analysis.seed=4"])
    assert s.event.lc_min_m == 0.01 and s.analysis.duration_days == 365.0
    assert s.targets[0].hard_body_radius_m == 50.0 and s.analysis.seed == 4  # the last one wins
    assert s.event.epoch == base.event.epoch and s.analysis.step_s == base.analysis.step_s
    assert s.parent.mass_kg == base.parent.mass_kg and s.name == base.name
    assert s.overrides == ("event.lc_min_m=0.01", "analysis.duration_days=365", "targets.1.hard_body_radius_m=50",
                           "analysis.seed=3", "analysis.seed=4")
    assert base.overrides == ()


def test_an_override_is_validated_like_the_file(tmp_path):
    """The file's message, the field and the value, plus the --set that gave them."""
    path = write_tiny_scenario(tmp_path)
    text = path.read_text().replace("lc_min_m = 0.3", "lc_min_m = 5")
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text(text)
    with pytest.raises(InputError) as in_file:
        load_scenario(bad_file)
    with pytest.raises(InputError) as from_set:
        load_scenario(path, ["event.lc_min_m=5"])
    assert str(in_file.value) == f"{bad_file}: [event] lc_min_m = 5: expected a size in [0.001, 1] m"
    assert str(from_set.value) == (f"{path}: [event] lc_min_m = 5 (from --set event.lc_min_m=5): "
                                   f"expected a size in [0.001, 1] m")


@pytest.mark.parametrize("overrides, message", [
    (["analysis.duration_days=abc"], '[analysis] duration_days = "abc" (from --set analysis.duration_days=abc): '
                                     "expected a number, not a string"),
    (["event.lc_mn=0.01"], "unknown field [event] lc_mn (from --set event.lc_mn=0.01) (did you mean lc_min_m?)"),
    (["evnt.lc_min_m=0.01"], "unknown table [evnt] (from --set evnt.lc_min_m=0.01) (did you mean [event]?)"),
    (["targets.1.hard_body_radius_m=-1"], "[[targets]] #1 hard_body_radius_m = -1 (from --set "
                                          "targets.1.hard_body_radius_m=-1): expected a radius > 0 m"),
    (["analysis.start=yesterday"], "[analysis] start (from --set analysis.start=yesterday): 'yesterday' is not a "
                                   "valid UTC time"),
    (["analysis.step_s=1e9"], "[analysis] step_s = 1000000000.0 (from --set analysis.step_s=1e9): expected a step "
                              "no longer than"),
    (["event=3"], "event = 3 (from --set event=3): expected a table [event]"),
])
def test_bad_overrides_name_their_field_and_value(overrides, message):
    with pytest.raises(InputError) as exc:
        load_scenario("cosmos1408", overrides)
    text = str(exc.value)
    assert text.startswith("cosmos1408 (built-in): ") and message in text and "\n" not in text


@pytest.mark.parametrize("overrides, message", [
    (["targets.2.name=x"], "--set targets.2.name=x: the scenario has 1 [[targets]] table"),
    (["targets.name=x"], "--set targets.name=x: targets is not a table: give the number of one of its tables, "
                         "e.g. targets.1.name"),
    (["event.type.x=1"], "--set event.type.x=1: expected FIELD, SECTION.FIELD or SECTION.N.FIELD"),
    (["event.1.type=x"], "--set event.1.type=x: event is not an array of tables"),
])
def test_overrides_that_cannot_apply(overrides, message):
    with pytest.raises(InputError) as exc:
        load_scenario("cosmos1408", overrides)
    assert str(exc.value).startswith(message)


def test_the_resolved_text_records_the_overrides():
    s = load_scenario("cosmos1408", ["event.lc_min_m=0.01", "analysis.duration_days=365"])
    text = scenario_to_toml(s)
    assert "# with --set event.lc_min_m=0.01\n# with --set analysis.duration_days=365\n" in text
    assert "lc_min_m = 0.01\n" in text and "duration_days = 365.0\n" in text
    again = scenario_from_text(text, "resolved", None)
    assert again.event.lc_min_m == 0.01 and again.analysis.duration_days == 365.0


def fragrisk(*args):
    return subprocess.run([sys.executable, "-m", "fragrisk.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_info_with_set():
    r = fragrisk("info", "--device", "cpu", "--set", "event.lc_min_m=0.01", "--set", "analysis.duration_days=365")
    assert r.returncode == 0, r.stderr
    assert "with --set event.lc_min_m=0.01 --set analysis.duration_days=365" in r.stdout
    # The built-in's fitted fragmenting mass (2,693 kg) sets the count: 0.1 M^0.75 0.01^-1.71.
    assert "N(>= 0.01 m) = 98,328.0" in r.stdout and "365 days, 525,600 steps of 60 s" in r.stdout
    bad = fragrisk("info", "--device", "cpu", "--set", "event.lc_min_m=5")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: cosmos1408 (built-in): [event] lc_min_m = 5 (from --set event.lc_min_m=5)")


@pytest.mark.slow
def test_run_and_sample_record_the_overrides(tmp_path):
    import h5py

    scenario = write_tiny_scenario(tmp_path)
    out = tmp_path / "run.h5"
    r = fragrisk("run", scenario, "--device", "cpu", "--jobs", 1, "--realizations", 2, "-o", out,
                 "--set", "analysis.duration_days=0.05", "--set", "event.lc_min_m=0.5")
    assert r.returncode == 0, r.stderr
    with h5py.File(out, "r") as f:
        text = f.attrs["scenario"]
        assert "# with --set analysis.duration_days=0.05" in text and "lc_min_m = 0.5\n" in text
        assert f.attrs["duration_days"] == 0.05 and f.attrs["lc_min_m"] == 0.5
        assert f["time_bnds"][-1, 1] == 0.05 * 86400
    frag = tmp_path / "fragments.h5"
    r = fragrisk("sample", scenario, "--realizations", 1, "-o", frag, "--set", "event.lc_min_m=0.5")
    assert r.returncode == 0, r.stderr
    with h5py.File(frag, "r") as f:
        assert f["lc_m"][()].min() >= 0.5
    bad = fragrisk("run", scenario, "--device", "cpu", "-o", tmp_path / "bad.h5", "--set", "analysis.realizations=0")
    assert bad.returncode == 2 and "(from --set analysis.realizations=0)" in bad.stderr
    assert not (tmp_path / "bad.h5").exists()
