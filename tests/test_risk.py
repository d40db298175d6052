"""The estimator against independent references: analytic chords, and brute force with
python-sgp4 at 1 s steps summing the exact chord of each 1 s segment (docs/estimator.md §8)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from fragrisk.engine import cloud
from fragrisk.engine.physics import fit, risk
from fragrisk.engine.physics import sgp4_numpy as sgp4
from fragrisk.engine.run.batches import run_batch
from fragrisk.engine.run.objects import ObjectBatch
from fragrisk.engine.run.setup import make_setup
from fragrisk.engine.scenario import load_scenario
from helpers import object_rates
from reference import brute_force_lambda, satrec_from
from sgp4.api import Satrec

# --- the chord ---------------------------------------------------------------------------------

@pytest.mark.parametrize("d0, d1, expected", [
    ((-20.0, 0, 0), (20.0, 0, 0), 20.0),            # through the centre: the diameter
    ((-20.0, 6.0, 0), (20.0, 6.0, 0), 16.0),        # offset 6 km: 2 sqrt(100 - 36)
    ((-20.0, 10.0, 0), (20.0, 10.0, 0), 0.0),       # tangent
    ((-20.0, 11.0, 0), (20.0, 11.0, 0), 0.0),       # miss
    ((-3.0, 0, 0), (4.0, 0, 0), 7.0),               # wholly inside
    ((0.0, 0, 0), (30.0, 0, 0), 10.0),              # starts at the centre
    ((12.0, 0, 0), (30.0, 0, 0), 0.0),              # on the line, outside, moving away
    ((5.0, 5.0, 5.0), (5.0, 5.0, 5.0), 0.0),        # no motion
])
def test_chord_length_analytic(d0, d1, expected):
    got = risk.chord_length_km(np.array(d0, float), np.array(d1, float), 10.0)
    assert got == pytest.approx(expected, abs=1e-12)


def test_chord_is_additive_along_a_line():
    # Splitting a segment anywhere must not change the length inside: the estimator's sum over
    # samples is then independent of where the samples fall on a straight path.
    rng = np.random.default_rng(5)
    a = rng.normal(size=(1000, 3)) * 15
    b = rng.normal(size=(1000, 3)) * 15
    s = rng.uniform(size=(1000, 1))
    mid = a + s * (b - a)
    whole = risk.chord_length_km(a, b, 10.0)
    parts = risk.chord_length_km(a, mid, 10.0) + risk.chord_length_km(mid, b, 10.0)
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-9)


# --- against brute force (tests/reference.py) -------------------------------------------------

def _encounter_population(n, rng, iss, jd0, fr0, duration_s):
    """n objects whose states at random times t_c pass the ISS within 0-9 km at crossing angles
    of 0.2-2.8 rad (velocity turned about the local vertical); SGP4 elements fitted to those
    states with epoch t_c. Returns the elements (dict of (n,)) and t_c (s since the start)."""
    rs, vs, tcs = [], [], []
    for _ in range(n):
        t_c = rng.uniform(0.1, 0.9) * duration_s
        _, r, v = iss.sgp4(jd0, fr0 + t_c / 86400.0)
        r, v = np.array(r), np.array(v)
        up = r / np.linalg.norm(r)
        angle = rng.uniform(0.2, 2.8)
        turned = v * math.cos(angle) + np.cross(up, v) * math.sin(angle) + up * (up @ v) * (1 - math.cos(angle))
        side = np.cross(up, turned - v)
        rs.append(r + side * rng.uniform(0.0, 9.0) / np.linalg.norm(side))
        vs.append(turned)
        tcs.append(t_c)
    el, ok = fit.fit_mean_elements(np.array(rs), np.array(vs), cloud.propagate_at_epoch_numpy)
    assert ok.all()
    return el, np.array(tcs)


@pytest.fixture(scope="module")
def short_setup():
    sc = load_scenario("cosmos1408")
    sc = dataclasses.replace(sc, analysis=dataclasses.replace(sc.analysis, duration_days=0.25))
    return make_setup(sc, "cpu")


def test_population_of_close_approaches_against_brute_force(short_setup):
    """lambda at 60 s steps (secant chord) within 2% of python-sgp4 at 1 s steps, per object."""
    setup = short_setup
    w = setup.window
    duration_s = float(w.times_s[-1])
    iss = setup.scenario.targets[0].elements.to_satrecs()[0]
    rng = np.random.default_rng(11)
    n = 16
    el, t_c = _encounter_population(n, rng, iss, w.start_jd, w.start_fr, duration_s)
    bstar = rng.uniform(0.0, 2e-4, n)
    table = sgp4.sgp4_init(*(el[k] for k in cloud.MEAN_ELEMENTS), bstar)
    pop = ObjectBatch(table, np.zeros(n, dtype=np.int64), np.zeros(n), -t_c / 60.0)
    lam, decay, _, _ = object_rates(setup, pop)
    got = lam.sum(axis=(1, 2))
    sigma_over_v = risk.cross_section_km2([66.1], np.zeros(n))[:, 0] / risk.sphere_volume_km3(10.0)
    sats = [satrec_from({k: el[k][i] for k in el}, bstar[i], w.start_jd, w.start_fr + t_c[i] / 86400.0, i + 1)
            for i in range(n)]
    ref = brute_force_lambda(sats, iss, w.start_jd, w.start_fr, duration_s, sigma_over_v, 10.0)
    assert (ref > 0).all(), "every object was built to cross the sphere"
    # 2%: the secant chord at 60 s steps misses ~1e-3 of a pass's length through the sphere (the
    # relative path's curvature over one step), the 1 s reference ~1e-6; a lost or doubled pass,
    # or a wrong cross-section, would be off by far more than 2%.
    np.testing.assert_allclose(got, ref, rtol=0.02)


@pytest.mark.slow
def test_sampled_realizations_against_brute_force(short_setup):
    """Realizations 0-5 of the built-in scenario over 6 hours: every fragment screened, then
    python-sgp4 at 1 s steps. lambda within 2% per realization."""
    setup = short_setup
    w = setup.window
    reals = np.arange(6)
    batch = run_batch(setup, reals)
    got = batch.by_time.sum(axis=2)[0]
    cl = cloud.sample_cloud(setup.scenario, reals)
    k = np.flatnonzero(cl.kept)
    sats = [satrec_from({name: cl.elements[name][i] for name in cloud.MEAN_ELEMENTS}, cl.bstar[i],
                        cl.epoch_jd, cl.epoch_fr, j + 1) for j, i in enumerate(k)]
    iss = setup.scenario.targets[0].elements.to_satrecs()[0]
    sigma_over_v = risk.cross_section_km2([66.1], cl.fragments.lc_m[k])[:, 0] / risk.sphere_volume_km3(10.0)
    ref_each = brute_force_lambda(sats, iss, w.start_jd, w.start_fr, float(w.times_s[-1]), sigma_over_v, 10.0)
    ref = np.array([ref_each[cl.fragments.realization[k] == r].sum() for r in reals])
    assert (ref > 0).sum() >= 2, "the check needs realizations with close approaches"
    np.testing.assert_allclose(got, ref, rtol=0.02, atol=0)


def test_prefilter_is_exact_and_batches_do_not_matter(short_setup):
    setup = short_setup
    reals = np.arange(7)
    one_by_one = [run_batch(setup, [r]) for r in reals]
    all_at_once = run_batch(setup, reals)
    for r, b in zip(reals, one_by_one):
        np.testing.assert_array_equal(b.by_time[:, 0], all_at_once.by_time[:, r])
        np.testing.assert_array_equal(b.by_size[:, 0], all_at_once.by_size[:, r])
        np.testing.assert_array_equal(b.fragments_in_orbit[0], all_at_once.fragments_in_orbit[r])
    unfiltered = dataclasses.replace(setup, use_prefilter=False)
    off = run_batch(unfiltered, reals)
    assert off.propagated_steps > all_at_once.propagated_steps, "the prefilter must skip something here"
    # The prefilter skips only fragments whose every chord is exactly 0, and the jumps skip only
    # exactly-zero chords, so the sums take the same terms: what may differ is float64 rounding
    # (~1e-15 relative a sum), far inside 1e-9.
    np.testing.assert_allclose(all_at_once.by_time, off.by_time, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(all_at_once.fragments_in_orbit, off.fragments_in_orbit)


def test_radius_bounds_hold_over_the_window():
    """The prefilter's bounds contain every SGP4 radius of a random population over 7 days."""
    from test_sgp4 import random_leo_population

    rng = np.random.default_rng(3)
    el = random_leo_population(3000, rng)
    table = sgp4.sgp4_init(*(el[k] for k in ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar")))
    times = np.linspace(0.0, 7 * 1440.0, 400)
    r, _, err = sgp4.propagate(table, times)
    radius = np.linalg.norm(r, axis=2)
    lo, hi, certain = risk.radius_bounds_km(table, 0.0, times[-1])
    assert certain.mean() > 0.5
    ok = (err == 0) & certain[:, None]
    assert (radius[ok] >= np.broadcast_to(lo[:, None], radius.shape)[ok]).all()
    assert (radius[ok] <= np.broadcast_to(hi[:, None], radius.shape)[ok]).all()
    # Certain objects whose lower bound is above 100 km altitude never fail in the window.
    safe = certain & (lo > risk.DECAY_RADIUS_KM)
    assert (err[safe] == 0).all()


def test_population_scenario_run_against_brute_force(short_setup, tmp_path):
    """`fragrisk run` on a [population] scenario (a catalog as the cloud, counted as points:
    sigma = pi R^2): the objects built to pass the ISS, written as TLEs; lambda of the one
    realization within 2% of python-sgp4 at 1 s steps on the very same TLEs."""
    from fragrisk import cli
    from fragrisk.engine.results import read_results
    from fragrisk.engine.timeutil import format_utc
    from sgp4.exporter import export_tle

    w = short_setup.window
    duration_s = float(w.times_s[-1])
    iss_el = short_setup.scenario.targets[0].elements
    iss = iss_el.to_satrecs()[0]
    el, t_c = _encounter_population(12, np.random.default_rng(23), iss, w.start_jd, w.start_fr, duration_s)
    lines = []
    for i in range(t_c.size):
        sat = satrec_from({k: el[k][i] for k in el}, 1e-4, w.start_jd, w.start_fr + t_c[i] / 86400.0, 90001 + i)
        lines += [f"DEBRIS {i}", *export_tle(sat)]
    (tmp_path / "catalog.tle").write_text("\n".join(lines) + "\n")
    iss_tle = "\n".join(iss_el.tle_lines[0])
    (tmp_path / "pop.toml").write_text(f'''name = "catalog"
[population]
tle_file = "catalog.tle"
[[targets]]
name = "ISS"
tle = """{iss_tle}"""
hard_body_radius_m = 66.1
[analysis]
start = "{format_utc(w.start_jd, w.start_fr)}"
duration_days = {duration_s / 86400.0!r}
step_s = 60
''')
    out = tmp_path / "pop.h5"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", str(tmp_path / "pop.toml"), "--device", "cpu", "-o", str(out)])
    assert exit_.value.code == 0
    got = read_results(out).expected_collisions[0, 0]
    sats = [Satrec.twoline2rv(lines[3 * i + 1], lines[3 * i + 2]) for i in range(t_c.size)]
    sigma_over_v = np.full(t_c.size, math.pi * 0.0661**2 / risk.sphere_volume_km3(10.0))
    ref = brute_force_lambda(sats, iss, w.start_jd, w.start_fr, duration_s, sigma_over_v, 10.0)
    assert (ref > 0).sum() >= 6, "most objects still cross the sphere after the TLE rounding"
    assert got == pytest.approx(ref.sum(), rel=0.02)
