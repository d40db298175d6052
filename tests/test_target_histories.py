"""Targets that do not decay like debris: element-set histories and `station_kept`.

References: python-sgp4 (Satrec.twoline2rv of the very lines the history picks) and SGP4's own
mean elements (B* = 0 holds the mean semi-major axis exactly).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_tiny_scenario
from fragrisk.engine.errors import InputError
from fragrisk.engine.orbits.elements import load_elements
from fragrisk.engine.orbits.propagation import history_set_index, propagate_target
from fragrisk.engine.physics import sgp4_numpy as sgp4
from fragrisk.engine.run.setup import track_targets
from fragrisk.engine.run.window import analysis_window
from fragrisk.engine.scenario import load_scenario
from fragrisk.engine.timeutil import parse_utc
from sgp4.api import Satrec

DATA = Path(__file__).resolve().parent.parent / "engine" / "data"
HISTORY = DATA / "iss_2021-11_2022-11_history.tle"
START = "2021-11-15T02:47:00Z"


def test_each_set_serves_from_its_epoch_until_the_next():
    el = load_elements(HISTORY)
    start_jd, start_fr = parse_utc(START)
    epoch_min = ((el.epoch_jd - start_jd) + (el.epoch_fr - start_fr)) * 1440.0
    order = np.argsort(epoch_min)
    # (a microminute past each epoch: the epochs here are summed differently from the code's)
    t = np.concatenate([epoch_min[order] + 1e-6, epoch_min[order] - 1.0, [-1e4, 1e6]])
    got = history_set_index(el, start_jd, start_fr, t)
    n = len(el)
    assert np.array_equal(got[:n], order)  # from its own epoch on, a set is in use
    assert np.array_equal(got[n + 1:2 * n], order[:-1])  # a minute before, the one before it
    assert got[n] == order[0] and got[-2] == order[0] and got[-1] == order[-1]


def test_history_states_are_python_sgp4s_of_the_set_in_use():
    el = load_elements(HISTORY)
    start_jd, start_fr = parse_utc(START)
    t = np.linspace(0.0, 360.0 * 1440.0, 50)
    eph = propagate_target(el, start_jd, start_fr, t)
    which = history_set_index(el, start_jd, start_fr, t)
    for j in range(t.size):
        sat = Satrec.twoline2rv(*el.tle_lines[which[j]])
        e, r, _ = sat.sgp4(start_jd, start_fr + t[j] / 1440.0)
        assert e == 0
        # 1e-6 km: the split-date bookkeeping of the two (tests/test_propagation.py's tolerance)
        assert np.linalg.norm(eph.r_km[0, j] - np.array(r)) < 1e-6


def test_station_kept_target_holds_its_mean_altitude(tmp_path):
    path = write_tiny_scenario(tmp_path, duration_days=100.0, step_s=3600, time_bin_s=86400)
    text = path.read_text().replace("hard_body_radius_m = 66.1", "hard_body_radius_m = 66.1\nstation_kept = true")
    (tmp_path / "kept.toml").write_text(text)
    kept = load_scenario(tmp_path / "kept.toml").targets[0]
    plain = load_scenario(path).targets[0]
    assert kept.station_kept and not plain.station_kept
    assert np.all(kept.elements.bstar == 0) and plain.elements.bstar[0] != 0
    coef = kept.elements.sgp4_table()
    a = sgp4.mean_elements(coef, np.linspace(0.0, 100 * 1440.0, 11)[None, :])["a_er"][0]
    assert np.ptp(a) == 0.0  # B* = 0: SGP4 has no secular change of a at all
    # The run tracks it at the set's altitude (within SGP4's short-period terms, +-10 km).
    s = load_scenario(tmp_path / "kept.toml")
    window = analysis_window(s.analysis)
    track = track_targets(s.targets, window, "cpu")
    altitude = np.linalg.norm(track.r_km[0], axis=1) - sgp4.RADIUS_EARTH_KM
    first, last = altitude[:24].mean(), altitude[-24:].mean()
    assert abs(last - first) < 1.0


def test_a_run_takes_the_iss_from_its_history(tmp_path):
    path = write_tiny_scenario(tmp_path, duration_days=60.0, step_s=3600, time_bin_s=86400)
    text = path.read_text().replace(str((DATA / "iss_2021-11-15.tle").as_posix()), HISTORY.as_posix())
    (tmp_path / "h.toml").write_text(text)
    s = load_scenario(tmp_path / "h.toml")
    assert len(s.targets[0].elements) == 46
    window = analysis_window(s.analysis)
    track = track_targets(s.targets, window, "cpu")
    start_jd, start_fr = parse_utc(START)
    want = propagate_target(s.targets[0].elements, start_jd, start_fr, window.times_min)
    assert np.array_equal(track.r_km[0], want.r_km[0])


def test_a_target_file_of_two_objects_is_one_line(tmp_path):
    iss = (DATA / "iss_2021-11-15.tle").read_text().strip()
    cosmos = (DATA / "cosmos1408_2021-11-15.tle").read_text().strip()
    (tmp_path / "two.tle").write_text(iss + "\n" + cosmos + "\n")
    path = write_tiny_scenario(tmp_path)
    text = path.read_text().replace(str((DATA / "iss_2021-11-15.tle").as_posix()), str(tmp_path / "two.tle"))
    (tmp_path / "two.toml").write_text(text)
    with pytest.raises(InputError, match="element sets of 2 objects; expected one object"):
        load_scenario(tmp_path / "two.toml")
