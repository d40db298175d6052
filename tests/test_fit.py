"""The element fit (engine.physics.fit): SGP4's epoch map inverted, checked against python-sgp4.

python-sgp4's own sgp4init/sgp4 is the independent reference throughout: it makes the states
from known mean elements, and it propagates the fitted elements back.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from fragrisk.engine import cloud
from fragrisk.engine.physics import fit
from fragrisk.engine.physics import sgp4_numpy as sgp4
from sgp4.api import WGS72, Satrec, SatrecArray

EPOCH_JD, EPOCH_FR = 2459533.5, 0.25  # 2021-11-15 06:00 UTC: any epoch would do
SGP4_EPOCH0_JD = 2433281.5  # sgp4init counts days from 1949-12-31 0h UT
ANGLES = ("inclo", "nodeo", "argpo", "mo")


def random_near_earth_elements(n, seed, ecc_max=0.2):
    """n random SGP4 mean-element sets: periods 88-200 min, perigee above 150 km altitude,
    inclination 0.01-179.4 deg, the three angles uniform; e log-uniform in [1e-5, ecc_max]."""
    rng = np.random.default_rng(seed)
    period_min = rng.uniform(88.0, 200.0, n)
    no_kozai = 2.0 * math.pi / period_min
    a_er = (sgp4.XKE / no_kozai) ** (2.0 / 3.0)
    ecc_perigee = 1.0 - (1.0 + 150.0 / sgp4.RADIUS_EARTH_KM) / a_er  # perigee at 150 km
    ecco = np.minimum(10.0 ** rng.uniform(-5.0, math.log10(ecc_max), n), np.maximum(ecc_perigee, 1e-5))
    return dict(no_kozai=no_kozai, ecco=ecco, inclo=rng.uniform(0.0002, 3.13, n),
                nodeo=rng.uniform(0.0, 2.0 * math.pi, n), argpo=rng.uniform(0.0, 2.0 * math.pi, n),
                mo=rng.uniform(0.0, 2.0 * math.pi, n))


def python_sgp4_epoch_states(el):
    """TEME r (km), v (km/s) of python-sgp4 at the epoch of its own sgp4init of each element set."""
    sats = []
    for k in range(el["ecco"].size):
        sat = Satrec()
        sat.sgp4init(WGS72, "i", k, (EPOCH_JD - SGP4_EPOCH0_JD) + EPOCH_FR, 1e-4, 0.0, 0.0,
                     el["ecco"][k], el["argpo"][k], el["inclo"][k], el["mo"][k], el["no_kozai"][k],
                     el["nodeo"][k])
        sats.append(sat)
    err, r, v = SatrecArray(sats).sgp4(np.array([EPOCH_JD]), np.array([EPOCH_FR]))
    assert not err.any()
    return r[:, 0], v[:, 0]


def counting_propagator():
    """engine.cloud.propagate_at_epoch_numpy, and the list of the sizes it was called with (one
    entry per SGP4 evaluation pass of the fit)."""
    calls = []

    def counting(table):
        calls.append(table.shape[1])
        return cloud.propagate_at_epoch_numpy(table)

    return counting, calls


def angle_difference(a, b):
    return np.abs((a - b + math.pi) % (2.0 * math.pi) - math.pi)


def test_inversion_recovers_the_mean_elements_python_sgp4_started_from():
    """Known elements -> python-sgp4 state at t = 0 -> invert_sgp4_at_epoch -> the same elements.

    Tolerances: each short-period pass gains ~3e-3, so INVERSION_PASSES = 4 leaves ~4e-13
    relative in n and e and ~1e-14 rad in i and the node (measured; 10x margin here). The node
    is the node of the plane: 1/sin(i) times rounding at the lowest inclination (0.01 deg). At
    e < 1e-3 the perigee direction is ill-conditioned (its error is that of e over e), so there
    only the argument of latitude argpo + mo (the position) is compared; above it, argpo and mo
    each to 5e-10 rad (5e-13 / 1e-3)."""
    el = random_near_earth_elements(3000, seed=1)
    r, v = python_sgp4_epoch_states(el)
    got = fit.invert_sgp4_at_epoch(r, v)
    np.testing.assert_allclose(got["no_kozai"], el["no_kozai"], rtol=5e-12, atol=0)
    np.testing.assert_allclose(got["ecco"], el["ecco"], rtol=0, atol=5e-12)
    assert angle_difference(got["inclo"], el["inclo"]).max() < 1e-12
    assert angle_difference(got["nodeo"], el["nodeo"]).max() < 1e-11
    eccentric = el["ecco"] > 1e-3
    assert eccentric.sum() > 1000 and (~eccentric).sum() > 1000
    for name in ("argpo", "mo"):
        assert angle_difference(got[name], el[name])[eccentric].max() < 5e-10, name
    latitude = angle_difference(got["argpo"] + got["mo"], el["argpo"] + el["mo"])
    assert latitude.max() < 1e-11
    for name in ANGLES[1:]:
        assert ((got[name] >= 0.0) & (got[name] < 2.0 * math.pi)).all(), name


def test_fit_reproduces_python_sgp4_states_in_one_evaluation():
    """The full fit on states python-sgp4 made: every one converges at the first SGP4 check, and
    python-sgp4 with the fitted elements gives the state back within 1 mm and 1 um/s (1e-4 km
    is the fit's tolerance on each coordinate; the round trip here is far inside it)."""
    el = random_near_earth_elements(2000, seed=2)
    r, v = python_sgp4_epoch_states(el)
    counting, calls = counting_propagator()
    got, ok = fit.fit_mean_elements(r, v, counting)
    assert ok.all()
    assert calls == [r.shape[0]]
    r2, v2 = python_sgp4_epoch_states(got)
    assert np.linalg.norm(r2 - r, axis=1).max() < 1e-6
    assert np.linalg.norm(v2 - v, axis=1).max() < 1e-9


def test_the_corrector_takes_over_where_the_inversion_is_short(monkeypatch):
    """With a single short-period pass the inversion misses by metres: the equinoctial
    corrector, fed by SGP4 evaluations, brings every state within the tolerance all the same."""
    el = random_near_earth_elements(500, seed=3)
    r, v = python_sgp4_epoch_states(el)
    monkeypatch.setattr(fit, "INVERSION_PASSES", 1)
    crude = fit.invert_sgp4_at_epoch(r, v)
    table = sgp4.sgp4_init(*(crude[k] for k in cloud.MEAN_ELEMENTS), np.zeros(500), epoch_only=True)
    r1, _, _ = cloud.propagate_at_epoch_numpy(table)
    assert np.abs(r1 - r).max() > 1e-3  # metres off: the corrector has work to do
    counting, calls = counting_propagator()
    got, ok = fit.fit_mean_elements(r, v, counting)
    assert ok.all() and len(calls) >= 2 and calls[1] > 0
    r2, v2 = python_sgp4_epoch_states(got)
    assert np.abs(r2 - r).max() < fit.TOLERANCE_POSITION_KM
    assert np.abs(v2 - v).max() < fit.TOLERANCE_VELOCITY_KM_S


@pytest.mark.parametrize("case", ["equatorial", "circular", "polar"])
def test_degenerate_geometries_converge(case):
    """States where classical elements are singular. Exactly equatorial: the inversion has no
    node (NaN), so the corrector starts from the osculating equinoctial elements. Circular
    (e = 0 in SGP4's input, which it floors at 1e-6) and polar: the inversion itself."""
    if case == "equatorial":
        r = np.array([[7000.0, 0.0, 0.0], [0.0, -6900.0, 0.0]])
        v = np.array([[0.0, 7.6, 0.0], [7.7, 0.0, 0.0]])  # both prograde (retrograde equatorial
        # is a singularity of SGP4's own: 1 + cos i = 0)
    else:
        el = random_near_earth_elements(50, seed=4)
        if case == "circular":
            el["ecco"][:] = 0.0
        else:
            el["inclo"][:] = 0.5 * math.pi
        r, v = python_sgp4_epoch_states(el)
    got, ok = fit.fit_mean_elements(r, v, cloud.propagate_at_epoch_numpy)
    assert ok.all(), case
    r2, v2 = python_sgp4_epoch_states(got)
    assert np.abs(r2 - r).max() < fit.TOLERANCE_POSITION_KM
    assert np.abs(v2 - v).max() < fit.TOLERANCE_VELOCITY_KM_S


def test_deep_space_states_are_not_refined():
    """A Molniya-like state (12 h period): one SGP4 evaluation, no corrector, and elements that
    engine.physics.sgp4_numpy.is_deep_space recognises, so engine.cloud reports it as deep space."""
    el = dict(no_kozai=np.array([2.0 * math.pi / 718.0]), ecco=np.array([0.74]),
              inclo=np.array([1.1]), nodeo=np.array([0.3]), argpo=np.array([4.7]), mo=np.array([0.2]))
    r, v = python_sgp4_epoch_states(el)
    counting, calls = counting_propagator()
    got, _ = fit.fit_mean_elements(r, v, counting)
    assert calls == [1]
    assert sgp4.is_deep_space(got["no_kozai"], got["ecco"], got["inclo"]).all()
    np.testing.assert_allclose(got["no_kozai"], el["no_kozai"], rtol=1e-3)


def test_kozai_mean_motion_inverts_unkozai():
    """engine.physics.sgp4_numpy.kozai_mean_motion undoes initl's un-Kozai step to 1e-14 relative: its 6 steps
    each gain 4/3 delta (< 1e-2 up to e = 0.7) from an error of delta, and its series error is
    below 1e-14 there."""
    rng = np.random.default_rng(5)
    no_kozai = 2.0 * math.pi / rng.uniform(88.0, 220.0, 10000)
    ecco = rng.uniform(0.0, 0.7, 10000)
    inclo = rng.uniform(0.0, math.pi, 10000)
    no_unkozai = sgp4.unkozai_mean_motion(no_kozai, ecco, inclo)
    assert np.abs(no_unkozai / no_kozai - 1.0).max() > 1e-4  # the step is not the identity
    back = sgp4.kozai_mean_motion(no_unkozai, ecco, np.cos(inclo))
    np.testing.assert_allclose(back, no_kozai, rtol=1e-14, atol=0)


def test_equinoctial_and_classical_conversions_are_inverse():
    el = random_near_earth_elements(1000, seed=6)
    back = fit.classical_from_equinoctial(fit.equinoctial_from_classical(el))
    np.testing.assert_allclose(back["no_kozai"], el["no_kozai"], rtol=1e-15)
    np.testing.assert_allclose(back["ecco"], el["ecco"], rtol=1e-12)
    for name in ANGLES:
        assert angle_difference(back[name], el[name]).max() < 1e-9, name


def test_blocks_do_not_change_the_result(monkeypatch):
    """NumPy fits (and sgp4_init fills) engine.physics.sgp4_numpy.NUMPY_BLOCK states at a time; each state's
    elements depend on it alone, so any block size gives the same bits (the same seed gives the
    same fragments file, whatever the batch)."""
    el = random_near_earth_elements(3000, seed=7)
    r, v = python_sgp4_epoch_states(el)
    whole, ok_whole = fit.fit_mean_elements(r, v, cloud.propagate_at_epoch_numpy)
    monkeypatch.setattr(sgp4, "NUMPY_BLOCK", 700)
    blocks, ok_blocks = fit.fit_mean_elements(r, v, cloud.propagate_at_epoch_numpy)
    np.testing.assert_array_equal(ok_blocks, ok_whole)
    for name in cloud.MEAN_ELEMENTS:
        np.testing.assert_array_equal(blocks[name], whole[name], err_msg=name)
