"""Rules said once: each test here would have caught a copy of a rule that drifted from another.

- `fragrisk info`'s step count is the run's (it took ceil where the run takes floor);
- the "lc_min_m >= X" hints of the loader and of the run's limits invert each event type's own
  count law (they took the collision slope 1.71 for explosions, whose slope is 1.6);
- the objects one realization may hold (the SBM count plus the remnants) bound every sampled
  realization, for the limits and the GPU batches alike (the driver added a literal 8);
- `fragrisk info` shows the engine's count mass and count (the CLI re-derived them);
- every file's `history` line starts with one UTC stamp (one writer wrote +00:00, four Z);
- the share of memory a command plans on and the share a GPU batch is sized to are two names.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ISS_TLE, write_tiny_scenario
from fragrisk import cli, engine
from fragrisk.engine import backend
from fragrisk.engine.errors import InputError
from fragrisk.engine.physics import breakup
from fragrisk.engine.run import limits, sizing
from fragrisk.engine.run.window import analysis_window
from fragrisk.engine.scenario import (
    breakup_params,
    load_scenario,
    objects_per_realization,
)

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")


def info(*args) -> str:
    result = CliRunner().invoke(cli.cli, ["info", "--device", "cpu", *map(str, args)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


# --- the window ------------------------------------------------------------------------------
@pytest.mark.parametrize("duration_days, step_s", [(1, 7), (7, 60), (1, 60), (0.1, 120),
                                                   (365, 60), (0.5, 86400 * 0.5), (1.0, 86400 / 3)])
def test_info_step_count_equals_the_runs(duration_days, step_s):
    s = load_scenario("cosmos1408", [f"analysis.duration_days={duration_days}",
                                     f"analysis.step_s={step_s!r}"])
    window = analysis_window(s.analysis)
    steps = window.times_s.size - 1
    shown = re.search(r"([\d,]+) steps of", info("--set", f"analysis.duration_days={duration_days}",
                                                 "--set", f"analysis.step_s={step_s!r}"))
    assert int(shown.group(1).replace(",", "")) == steps
    # The limits size the run from the same window, without building it.
    assert limits.window_sizes(s.analysis) == (window.times_s.size, window.time_edges_s.size - 1)


def test_one_day_at_seven_seconds_is_12342_steps():
    # 86,400 / 7 = 12,342.86: the window ends at the last whole step (docs/estimator.md §3).
    assert "12,342 steps of 7 s" in info("--set", "analysis.duration_days=1", "--set", "analysis.step_s=7")


# --- the lc_min_m hints --------------------------------------------------------------------------
@pytest.mark.parametrize("event_type, mass_kg, scale", [("collision", 2.0e3, 1.0),
                                                        ("collision", 1.0e6, 1.0),
                                                        ("explosion", 2.0e3, 1.0),
                                                        ("explosion", 2.0e3, 37.0)])
def test_lc_for_count_inverts_each_count_law(event_type, mass_kg, scale):
    for count in (1.0, 1660.0, 1.0e8):
        lc = breakup.lc_for_count(event_type, count, mass_kg, scale)
        # Relative 1e-12: a power and its inverse in float64, a few roundings.
        assert breakup.cumulative_count(event_type, mass_kg, lc, scale) == pytest.approx(count, rel=1e-12)


_TOO_MANY = {
    "collision": ["parent.mass_kg=1e6", "event.projectile_mass_kg=1e6", "event.lc_min_m=0.001"],
    "explosion": ["event.type=explosion", "event.explosion_scale=1000", "event.lc_min_m=0.001"],
}


@pytest.mark.parametrize("event_type", list(_TOO_MANY))
def test_the_loaders_lc_min_hint_fits_for_each_event_type(event_type):
    """The hint names the smallest lc_min_m within breakup.MAX_FRAGMENTS_PER_REALIZATION: 0.5 %
    above it loads, 0.5 % below it does not (the two slopes differ by 7 %, far more)."""
    # A collision whose count law takes the fragmenting mass, not the SBM M (2e6 kg) here.
    overrides = ["event.fragmenting_mass_kg=1e6"] * (event_type == "collision") + _TOO_MANY[event_type]
    with pytest.raises(InputError) as exc:
        load_scenario("cosmos1408-sbm", overrides)
    hint = float(re.search(r"lc_min_m >= ([0-9.e+-]+) would fit", str(exc.value)).group(1))
    # The hint is printed to 3 digits: take the ends of its rounding interval.
    s = load_scenario("cosmos1408-sbm", overrides + [f"event.lc_min_m={hint * 1.005!r}"])
    assert breakup_params(s.event, s.parent).n_fragments <= breakup.MAX_FRAGMENTS_PER_REALIZATION
    with pytest.raises(InputError, match="would fit"):
        load_scenario("cosmos1408-sbm", overrides + [f"event.lc_min_m={hint * 0.995!r}"])


@pytest.mark.parametrize("event_type", ["collision", "explosion"])
def test_the_limits_lc_min_hint_fits_for_each_event_type(event_type, tmp_path):
    """check_run's "lc_min_m >= X" for a machine too small for one realization: 2 % above X the
    realization fits the same memory, 2 % below it does not (X is the smallest that fits)."""
    overrides = ["event.lc_min_m=0.01"] + (["event.type=explosion", "event.explosion_scale=30"]
                                           if event_type == "explosion" else [])
    s = load_scenario(write_tiny_scenario(tmp_path), overrides)
    # Memory for about a tenth of the fragments (the rate buffers add a little per fragment).
    available = (limits.fragments_per_realization(s) * limits.BATCH_BYTES_PER_FRAGMENT
                 / 10 / backend.COMMAND_MEMORY_SHARE)
    with pytest.raises(InputError) as exc:
        limits.check_run(s, "cpu", 1, realizations_label="--realizations", available=available)
    hint = float(re.search(r"lc_min_m >= ([0-9.e+-]+)", str(exc.value)).group(1))
    fits = load_scenario(write_tiny_scenario(tmp_path), overrides + [f"event.lc_min_m={hint * 1.02!r}"])
    limits.check_run(fits, "cpu", 1, realizations_label="--realizations", available=available)
    too_small = load_scenario(write_tiny_scenario(tmp_path), overrides + [f"event.lc_min_m={hint * 0.98!r}"])
    with pytest.raises(InputError, match="lc_min_m >= "):
        limits.check_run(too_small, "cpu", 1, realizations_label="--realizations", available=available)


# --- the objects of one realization --------------------------------------------------------------
@pytest.mark.parametrize("overrides", [[], ["event.mass_policy=none"],
                                       ["event.type=explosion", "event.explosion_scale=0.3"]])
def test_objects_per_realization_bounds_every_sampled_realization(overrides):
    s = load_scenario("cosmos1408", ["event.lc_min_m=0.5", *overrides])
    fragments = breakup.sample(breakup_params(s.event, s.parent), 7, np.arange(200))
    per = np.bincount(np.asarray(fragments.realization), minlength=200)
    remnants = np.bincount(np.asarray(fragments.realization)[np.asarray(fragments.is_remnant)],
                           minlength=200)
    assert remnants.max() <= breakup.MAX_REMNANTS
    assert per.max() <= objects_per_realization(s)
    # The limits and the GPU batch sizes read this one count.
    assert limits.fragments_per_realization(s) == float(objects_per_realization(s))
    assert not hasattr(sizing, "_expected_fragments")


def test_objects_of_a_population_are_its_element_sets(tmp_path):
    from conftest import COSMOS_TLE, ISS_TLE

    path = tmp_path / "p.toml"
    tle = ISS_TLE + "\n" + COSMOS_TLE
    path.write_text(f"[population]\ntle = '''\n{tle}\n'''\n[[targets]]\ntle = '''\n{ISS_TLE}\n'''\n"
                    f"hard_body_radius_m = 60\n[analysis]\nstart = \"2021-11-16T00:00:00Z\"\n"
                    f"duration_days = 0.1\n")
    assert objects_per_realization(load_scenario(path)) == 2


# --- info's count mass -----------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", [[], ["event.fragmenting_mass_kg=5000"],
                                       ["event.type=explosion", "event.explosion_scale=2"],
                                       ["event.type=explosion", "event.fragmenting_mass_kg=5000"]])
def test_info_shows_the_engines_count_mass_and_count(overrides):
    text = info("cosmos1408-sbm", *[a for o in overrides for a in ("--set", o)])
    s = load_scenario("cosmos1408-sbm", overrides)
    p = breakup_params(s.event, s.parent)
    count = float(re.search(r"N\(>= [0-9.]+ m\) = ([\d,.]+)", text).group(1).replace(",", ""))
    assert count == pytest.approx(p.expected_count, abs=0.05)  # printed to 0.1
    if s.event.type == "collision":
        shown = float(re.search(r"knobs:    fragmenting mass ([\d,.]+) kg", text).group(1).replace(",", ""))
        assert shown == pytest.approx(p.count_mass_kg, rel=1e-5)  # printed to 6 digits
    else:
        assert "knobs:    fragmenting mass n/a" in text


# --- the history stamp ------------------------------------------------------------------------------
def fragrisk(*args):
    r = subprocess.run([sys.executable, "-m", "fragrisk.cli", *map(str, args)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def test_every_writer_stamps_history_alike(tmp_path):
    scenario = write_tiny_scenario(tmp_path, realizations=2, duration_days=0.02)
    out = {name: tmp_path / f"{name}.h5" for name in ("a", "b", "merged", "fragments", "ephemeris")}
    fragrisk("run", scenario, "--device", "cpu", "--jobs", 1, "--shard", "1/2", "-o", out["a"])
    fragrisk("run", scenario, "--device", "cpu", "--jobs", 1, "--shard", "2/2", "-o", out["b"])
    fragrisk("merge", out["a"], out["b"], "-o", out["merged"])
    fragrisk("sample", scenario, "--realizations", 1, "--device", "cpu", "-o", out["fragments"])
    tle = tmp_path / "iss.tle"
    tle.write_text(ISS_TLE + "\n")
    fragrisk("propagate", tle, "--start", "2021-11-16T00:00:00Z", "--duration-min", 10, "--step-s", 60,
             "--device", "cpu", "-o", out["ephemeris"])
    for name, path in out.items():
        with h5py.File(path, "r") as f:
            history = str(f.attrs["history"])
        for line in history.splitlines():
            assert STAMP.match(line), (name, line)


def test_results_written_without_history_get_the_stamp(tmp_path):
    from fragrisk.engine.results import read_results, write_results
    from test_bad_inputs import (
        synthetic_results,  # results whose attributes name no history
    )

    path = write_results(tmp_path / "s.h5", synthetic_results(np.arange(4)))
    assert STAMP.match(str(read_results(path).attrs["history"]))


# --- the memory shares ------------------------------------------------------------------------------
def test_the_two_memory_shares_have_two_names():
    """A command's planning budget (backend) and a GPU batch's size (engine.run.sizing) are different
    shares; no module keeps an unqualified MEMORY_SHARE that could be taken for the other."""
    assert 0 < sizing.GPU_BATCH_MEMORY_SHARE < backend.COMMAND_MEMORY_SHARE < 1
    for info_ in pkgutil.walk_packages(engine.__path__, "fragrisk.engine."):
        module = importlib.import_module(info_.name)
        assert not hasattr(module, "MEMORY_SHARE"), info_.name


def test_the_limits_plan_on_the_command_share():
    n, m = 1000, 5000
    need = n * m * limits.EPHEMERIS_BYTES_PER_SAMPLE
    limits.check_propagate(n, m, "x.tle", available=int(need / backend.COMMAND_MEMORY_SHARE * 1.001))
    with pytest.raises(InputError, match="--step-s"):
        limits.check_propagate(n, m, "x.tle", available=int(need / backend.COMMAND_MEMORY_SHARE * 0.999))
