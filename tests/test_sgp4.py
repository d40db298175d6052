"""SGP4 against independent references: Vallado's verification set and python-sgp4.

Every test runs on each backend (numpy, the CUDA source compiled by gcc, and CUDA on a GPU).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import sgp4 as sgp4_package
from fragrisk.engine.physics import sgp4_numpy as sgp4
from sgp4.api import WGS72, Satrec, SatrecArray

VERIFICATION_DIR = Path(os.path.dirname(sgp4_package.__file__))


def _verification_cases():
    """(satrec, start, stop, step, expected rows of tcppver.out) for the near-earth cases."""
    lines = (VERIFICATION_DIR / "SGP4-VER.TLE").read_text().splitlines()
    tle = [line for line in lines if line[:2] in ("1 ", "2 ")]
    expected, current = {}, None
    for line in (VERIFICATION_DIR / "tcppver.out").read_text().replace("\r", "").splitlines():
        if "xx" in line:
            current = int(line.split()[0])
            expected[current] = []
        elif line.strip():
            expected[current].append([float(x) for x in line.split()[:7]])
    cases = []
    for line1, line2 in zip(tle[0::2], tle[1::2]):
        sat = Satrec.twoline2rv(line1[:69], line2[:69])
        if sgp4.is_deep_space(sat.no_kozai, sat.ecco, sat.inclo):
            continue
        start, stop, step = (float(x) for x in line2[69:].split()[:3])
        cases.append((sat, start, stop, step, np.array(expected[sat.satnum])))
    return cases


CASES = _verification_cases()


def _table(sats):
    return sgp4.sgp4_init(*(np.array([getattr(s, k) for s in sats]) for k in
                            ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar")))


def test_verification_set_has_the_near_earth_cases():
    # SGP4-VER.TLE holds 33 objects; 9 are near-earth (period < 225 min), among them the
    # decaying, simplified-drag, low-perigee and circular special cases.
    assert sorted(c[0].satnum for c in CASES) == [5, 6251, 22312, 28057, 28350, 28872, 29141, 29238, 88888]


@pytest.mark.parametrize("case", CASES, ids=[str(c[0].satnum) for c in CASES])
def test_vallado_verification(case, sgp4_backend):
    sat, start, stop, step, expected = case
    times = expected[:, 0]
    r, v, err = sgp4_backend(_table([sat]), np.zeros(1), times)
    # tcppver.out prints positions to 1e-8 km and velocities to 1e-9 km/s; 1e-6 km and 1e-8 km/s
    # (100 and 10 times that) leave room for rounding of the printout and libm ulps, and nothing
    # for a wrong term (the smallest SGP4 term, J4 secular, moves positions by metres per day).
    np.testing.assert_allclose(r[0], expected[:, 1:4], rtol=0, atol=1e-6)
    np.testing.assert_allclose(v[0], expected[:, 4:7], rtol=0, atol=1e-8)
    assert (err[0] == 0).all() or (err[0][err[0] != 0] == 6).all()

    # Error codes on the case's whole grid, including the times past a decay that tcppver.out
    # leaves out: identical to python-sgp4's.
    grid = np.arange(start, stop + step / 2, step)
    _, _, grid_err = sgp4_backend(_table([sat]), np.zeros(1), grid)
    assert grid_err[0].tolist() == [sat.sgp4_tsince(t)[0] for t in grid]


def random_leo_population(n, rng):
    """n near-earth orbits: perigee 100-1500 km, e up to 0.2, any inclination, B* up to 1e-2
    (some negative, as real TLEs have); low perigees with high B* decay inside 7 days."""
    perigee_km = rng.uniform(100.0, 1500.0, n)
    ecco = rng.uniform(0.0, 0.2, n)
    a_km = (sgp4.RADIUS_EARTH_KM + perigee_km) / (1.0 - ecco)
    no_kozai = np.sqrt(sgp4.MU_KM3_S2 / a_km**3) * 60.0
    elements = dict(
        no_kozai=no_kozai, ecco=ecco, inclo=rng.uniform(0.0, np.pi, n), nodeo=rng.uniform(0.0, 2 * np.pi, n),
        argpo=rng.uniform(0.0, 2 * np.pi, n), mo=rng.uniform(0.0, 2 * np.pi, n),
        bstar=rng.uniform(-1e-4, 1e-2, n))
    keep = ~sgp4.is_deep_space(no_kozai, ecco, elements["inclo"])
    return {k: a[keep] for k, a in elements.items()}


@pytest.fixture(scope="module")
def random_population_reference():
    """10,000 random LEO orbits and python-sgp4's states of them over 7 days: built once for the
    module, not once per backend (the per-object reference calls dominate its cost).

    Returns (table, offset_min (n,), times_min (m,), ref_e, ref_r, ref_v)."""
    rng = np.random.default_rng(20211115)
    el = random_leo_population(10_000, rng)
    n = el["ecco"].size
    sats = []
    for i in range(n):
        s = Satrec()
        s.sgp4init(WGS72, "i", i, 25000.0, el["bstar"][i], 0.0, 0.0, el["ecco"][i], el["argpo"][i],
                   el["inclo"][i], el["mo"][i], el["no_kozai"][i], el["nodeo"][i])
        sats.append(s)
    table = sgp4.sgp4_init(el["no_kozai"], el["ecco"], el["inclo"], el["nodeo"], el["argpo"], el["mo"], el["bstar"])
    # 7 days: 64 times per object, each object offset differently, so every phase is covered
    # without propagating 10,000 x 10,080 states in a test.
    times = np.linspace(0.0, 7 * 1440.0, 64)
    offset = rng.uniform(-30.0, 30.0, n)
    offset[offset < 0] = 0.0
    jd = np.full(times.size, 2433281.5 + 25000.0)
    ref_e = np.empty((n, times.size), dtype=np.uint8)
    ref_r = np.empty((n, times.size, 3))
    ref_v = np.empty((n, times.size, 3))
    for lo in range(0, n, 2000):
        hi = min(n, lo + 2000)
        e_, r_, v_ = SatrecArray(sats[lo:hi]).sgp4(jd, times / 1440.0)
        ref_e[lo:hi], ref_r[lo:hi], ref_v[lo:hi] = e_, r_, v_
    # Recompute the offset objects one by one (SatrecArray shares times across objects).
    for i in np.flatnonzero(offset):
        for j, t in enumerate(offset[i] + times):
            ref_e[i, j], ref_r[i, j], ref_v[i, j] = sats[i].sgp4_tsince(t)
    return table, offset, times, ref_e, ref_r, ref_v


def test_random_population_against_satrec_array(sgp4_backend, random_population_reference):
    table, offset, times, ref_e, ref_r, ref_v = random_population_reference
    n = offset.size
    r, v, err = sgp4_backend(table, offset, times)
    assert (err == ref_e).all()
    decayed = (err == 6).any(axis=1)
    assert 50 < decayed.sum() < n // 2, "the population must contain decays inside the window"
    ok = err == 0
    # 1 mm and 1e-8 km/s: float64 round-off of SGP4 over 7 days is ~1e-9
    # relative on ~7000 km, i.e. micrometres; a wrong term would show as metres.
    np.testing.assert_allclose(r[ok], ref_r[ok], rtol=0, atol=1e-6)
    np.testing.assert_allclose(v[ok], ref_v[ok], rtol=0, atol=1e-8)
    # Decayed states keep their numbers, as python-sgp4 keeps them.
    np.testing.assert_allclose(r[err == 6], ref_r[err == 6], rtol=0, atol=1e-6)


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(7)
    el = random_leo_population(300, rng)
    table = sgp4.sgp4_init(*(el[k] for k in ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar")))
    times = np.linspace(0, 3000, 50)
    a = sgp4.propagate(table, times, max_elements=1 << 16)
    b = sgp4.propagate(table, times, max_elements=7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_epoch_only_table_gives_the_same_state_at_epoch():
    """The element fit's cheap table: bit for bit the full table's state at t = 0 (B* = 0)."""
    el = random_leo_population(2000, np.random.default_rng(4))
    args = [el[k] for k in ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo")]
    full = sgp4.propagate(sgp4.sgp4_init(*args, np.zeros(args[0].size)), np.zeros(1))
    lean = sgp4.propagate(sgp4.sgp4_init(*args, el["bstar"], epoch_only=True), np.zeros(1))
    for a, b in zip(full, lean):
        np.testing.assert_array_equal(a, b)
