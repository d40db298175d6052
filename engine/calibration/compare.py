"""What calibration compares, on either side (docs/calibration.md §2): SGP4's mean orbits at the
common epoch, as the four MARGINALS, and the rule that a fragment has decayed by then."""

from __future__ import annotations

import numpy as np

from ..orbits.elements import EARTH_RADIUS_KM
from ..physics import sgp4_numpy as sgp4
from ..physics.constants import DECAY_ALTITUDE_KM

MARGINALS = ("apogee_km", "perigee_km", "inclination_deg", "node_deg")
MARGINAL_LABELS = ("apogee altitude (km)", "perigee altitude (km)", "inclination (deg)",
                   "right ascension of the node (deg)")


def mean_orbits(coef, tsince_min, xp=np) -> dict:
    """The compared quantities of n objects at given times, from SGP4's mean elements.

    coef: (N_COEFFICIENTS, n) SGP4 table (engine.physics.sgp4_numpy.sgp4_init); tsince_min: (n,) or (n, m)
    minutes since each object's epoch. Returns arrays of the shape of tsince_min: ``apogee_km``,
    ``perigee_km`` (altitudes over the WGS-72 radius with the semi-major axis of the Kozai mean
    motion, a TLE's convention), ``inclination_deg``, ``node_deg`` (in [0, 360)),
    ``perigee_mean_km`` (with SGP4's own, Brouwer, semi-major axis: the decay test), ``tempa``
    and ``error`` (engine.physics.sgp4_numpy.mean_elements).
    """
    m = sgp4.mean_elements(coef, tsince_min, xp)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_kozai = sgp4.kozai_mean_motion(m["no_unkozai"], m["ecco"], xp.cos(m["inclo"]), xp)
        a_km = (sgp4.XKE / n_kozai) ** (2.0 / 3.0) * EARTH_RADIUS_KM
    return {
        "apogee_km": a_km * (1.0 + m["ecco"]) - EARTH_RADIUS_KM,
        "perigee_km": a_km * (1.0 - m["ecco"]) - EARTH_RADIUS_KM,
        "inclination_deg": xp.degrees(m["inclo"]),
        "node_deg": xp.degrees(m["nodeo"]) % 360.0,
        "perigee_mean_km": (m["a_er"] * (1.0 - m["ecco"]) - 1.0) * EARTH_RADIUS_KM,
        "tempa": m["tempa"],
        "error": m["error"],
    }


def in_orbit(orbit: dict):
    """Not decayed (docs/calibration.md §2): no SGP4 error, mean perigee >= 100 km, and SGP4's
    drag factor tempa still positive (it falls monotonically from 1 and its polynomial turns back
    up only after passing 0, long after the model's reentry; on the built-in cloud this rule
    agrees object for object with an hourly grid of the same tests, and with osculating altitudes
    sampled every 10 minutes for all but 0.3 % of the decayed: those whose mean perigee is already
    below 100 km a few hours before their sampled altitude is).
    orbit: from mean_orbits; same shape and array module out (bool)."""
    with np.errstate(invalid="ignore"):
        return ((orbit["error"] == 0) & (orbit["perigee_mean_km"] >= DECAY_ALTITUDE_KM)
                & (orbit["tempa"] > 0.0))


def stack_marginals(orbit: dict) -> np.ndarray:
    """The MARGINALS of a mean_orbits dict as one (..., 4) float64 host array."""
    return np.stack([to_host(orbit[k]) for k in MARGINALS], axis=-1).astype(np.float64)


def to_host(a) -> np.ndarray:
    """A NumPy array of a NumPy or CuPy one."""
    return a.get() if hasattr(a, "get") else np.asarray(a)
