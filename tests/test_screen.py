"""The screen (engine.physics.screen, engine.orbits.screening) against brute force: the same
close pairs, the same positive chords as the all-pairs estimator, the same conjunctions as every
pair evaluated at every sample, and the conjunctions of a 1 s sampling."""

from pathlib import Path

import numpy as np
import pytest
from fragrisk.engine.orbits import screening
from fragrisk.engine.orbits.elements import ElementSet, concat, read_tle_file
from fragrisk.engine.orbits.propagation import offset_minutes, propagate_elements
from fragrisk.engine.physics import risk
from fragrisk.engine.physics.screen import close_pairs
from fragrisk.engine.timeutil import parse_utc

DATA = Path(__file__).parents[1] / "engine" / "data"
START = parse_utc("2022-01-12T00:00:00Z")
THRESHOLDS_KM = (1.0, 5.0, 10.0)
KERNEL_KM = 10.0


@pytest.fixture(scope="module")
def case():
    """40 tracked COSMOS 1408 fragments against 25 targets: near-copies of 14 of them (mean
    anomaly and inclination moved by up to 2e-3 and 1e-3 rad: close approaches of a few km every
    revolution) and 11 other fragments as they are; 3 hours at 60 s."""
    debris = read_tle_file(DATA / "cosmos1408_debris_2022-01-11_half.tle")
    frag = debris.take(np.arange(0, 400, 10))
    base = concat([frag.take(np.arange(0, 40, 3)), debris.take(np.arange(1, 400, 37))])
    rng = np.random.default_rng(24)
    fields = {f: getattr(base, f).copy() for f in ("epoch_jd", "epoch_fr", "no_kozai", "ecco", "inclo",
                                                    "nodeo", "argpo", "mo", "bstar")}
    fields["mo"][:14] += rng.uniform(-2e-3, 2e-3, 14)
    fields["inclo"][:14] += rng.uniform(-1e-3, 1e-3, 14)
    targets = ElementSet(satnum=base.satnum, name=base.name, **fields)
    times = np.arange(0.0, 181.0, 1.0)
    return frag, targets, times


def run(case, **kw):
    frag, targets, times = case
    return screening.screen_window(frag.sgp4_table(), offset_minutes(frag, *START), times, targets,
                                   *START, KERNEL_KM, THRESHOLDS_KM, **kw)


def test_close_pairs_are_exactly_the_pairs_within_the_radius():
    rng = np.random.default_rng(1)
    a = rng.uniform(-7000, 7000, (300, 12, 3))
    b = rng.uniform(-7000, 7000, (200, 12, 3))
    a[3, 5] = np.nan
    b[7] = np.nan
    b[:50, :, :] = a[:50, :, :] + rng.normal(0, 20, (50, 12, 3))   # close ones too
    for radius in (50.0, 800.0):
        got = set(zip(*close_pairs(a, b, radius)))
        with np.errstate(invalid="ignore"):
            dist = np.linalg.norm(a[:, None] - b[None], axis=-1)
        want = set(zip(*np.nonzero(dist <= radius)))
        assert got == want and len(want) > 50


@pytest.fixture(scope="module")
def screened(case):
    return run(case)


@pytest.fixture(scope="module")
def brute(case):
    return run(case, radius_km=np.inf)


def test_screen_finds_every_chord_and_conjunction_of_brute_force(screened, brute):
    a, b = screened.passages.sorted(), brute.passages.sorted()
    assert b.size > 0
    for f in ("row", "target", "first", "last", "length_km"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    ca = sorted(zip(screened.conjunctions.row, screened.conjunctions.target, screened.conjunctions.tca_min,
                    screened.conjunctions.miss_km))
    cb = sorted(zip(brute.conjunctions.row, brute.conjunctions.target, brute.conjunctions.tca_min,
                    brute.conjunctions.miss_km))
    assert len(cb) >= 20 and ca == cb          # bit for bit: the same refinement of the same brackets
    assert (brute.conjunctions.miss_km < 1.0).any() and screened.conjunctions.refined.all()
    np.testing.assert_array_equal(screened.decay, brute.decay)
    assert screened.close_pairs < brute.close_pairs / 20   # the point of it


def test_a_screen_radius_too_small_misses(case, brute):
    """The comparison can fail: at a fifth of the radius the screen loses conjunctions."""
    small = run(case, radius_km=8.0)
    assert small.conjunctions.size < brute.conjunctions.size


def test_chords_are_those_of_the_all_pairs_estimator(case, screened):
    frag, targets, times = case
    eph = propagate_elements(targets, *START, times)
    seg_bin = np.zeros(times.size - 1, dtype=np.int32)
    sov = np.ones((len(frag), len(targets)))
    lam, decay, passages = risk.fragment_rates(frag.sgp4_table(), offset_minutes(frag, *START), times,
                                               eph.r_km, eph.error == 0, sov, KERNEL_KM, seg_bin, 1,
                                               passages=True)
    p, q = passages.sorted(), screened.passages.sorted()
    for f in ("row", "target", "first", "last"):
        np.testing.assert_array_equal(getattr(p, f), getattr(q, f))
    # Chords per segment are the same numbers; runs are summed in the same order: 1e-12 km.
    np.testing.assert_allclose(q.length_km, p.length_km, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(decay, screened.decay)


def test_conjunctions_match_a_one_second_sampling(case, screened):
    """Every local minimum below 10 km of the distance sampled every second (SGP4 at each second,
    for the pairs the screen reports and for all others alike) is a conjunction of the screen,
    within 1 s and 5 m; and no other."""
    frag, targets, times = case
    fine = np.arange(times[0], times[-1] + 1e-9, 1.0 / 60.0)
    table, off = frag.sgp4_table(), offset_minutes(frag, *START)
    from fragrisk.engine.physics import sgp4_numpy as sgp4

    rf, _, ef = sgp4.propagate(table, off[:, None] + fine[None, :])
    rt = propagate_elements(targets, *START, fine).r_km
    found = []
    for k in range(len(targets)):
        d = np.linalg.norm(rf - rt[k][None], axis=2)                # (n, samples)
        is_min = (d[:, 1:-1] < d[:, :-2]) & (d[:, 1:-1] <= d[:, 2:]) & (d[:, 1:-1] < 10.0)
        for i, j in zip(*np.nonzero(is_min)):
            found.append((int(i), k, fine[j + 1], d[i, j + 1]))
    c = screened.conjunctions
    ours = sorted(zip(c.row.tolist(), c.target.tolist(), c.tca_min.tolist(), c.miss_km.tolist()))
    found.sort()
    assert len(found) == len(ours) >= 20
    for (i, k, t, miss), (i2, k2, t2, miss2) in zip(found, ours):
        # 1 s sampling: its minimum lies above the miss distance by at most v_rel^2 (0.5 s)^2 /
        # (2 miss) (metres at these relative speeds), and in time near the TCA (a few seconds
        # where the relative speed is low and the minimum flat: these near-copies pass at m/s)
        assert (i, k) == (i2, k2) and abs(t - t2) * 60.0 <= 3.0
        assert miss2 <= miss + 1e-5 and miss - miss2 < 5e-3   # 1 cm: the TCA to 1e-6 s
