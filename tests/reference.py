"""Independent references shared by the tests and the checks in benchmarks/: python-sgp4 only,
plus engine.physics.risk's exact chord (itself checked analytically in test_risk.py)."""

from __future__ import annotations

import numpy as np
from fragrisk.engine.physics import risk
from sgp4.api import WGS72, Satrec, SatrecArray


def brute_force_lambda(sats, target, jd0, fr0, duration_s, sigma_over_v, kernel_radius_km,
                       screen_step_s=10, screen_km=150.0):
    """Reference lambda per object: python-sgp4 at 1 s steps, exact chord of each 1 s segment.

    Objects are screened at 10 s steps first: an object farther than 150 km from the target at
    both ends of a 10 s step cannot enter a 10 km sphere in between (relative speeds < 16 km/s
    move it at most 80 km from either end). Decay: as docs/estimator.md §5, from the first 1 s
    sample with an error or an altitude below engine.physics.risk.DECAY_ALTITUDE_KM (100 km).
    """
    coarse = np.arange(0, duration_s + 1, screen_step_s, dtype=float)
    jd = np.full(coarse.size, jd0)
    fr = fr0 + coarse / 86400.0
    _, rt, _ = SatrecArray([target]).sgp4(jd, fr)
    e, r, _ = SatrecArray(sats).sgp4(jd, fr)
    dist = np.linalg.norm(r - rt, axis=2)
    near = (dist < screen_km) & (e == 0)
    lam = np.zeros(len(sats))
    for i in np.flatnonzero(near.any(axis=1)):
        e1, r1, _ = SatrecArray([sats[i]]).sgp4(np.full(int(duration_s) + 1, jd0),
                                                 fr0 + np.arange(int(duration_s) + 1) / 86400.0)
        _, rt1, _ = SatrecArray([target]).sgp4(np.full(int(duration_s) + 1, jd0),
                                               fr0 + np.arange(int(duration_s) + 1) / 86400.0)
        r1, e1, rt1 = r1[0], e1[0], rt1[0]
        dead = (e1 != 0) | (np.linalg.norm(r1, axis=1) < risk.DECAY_RADIUS_KM)
        stop = int(np.argmax(dead)) if dead.any() else r1.shape[0]
        d = r1[:stop] - rt1[:stop]
        if d.shape[0] < 2:
            continue
        lam[i] = sigma_over_v[i] * risk.chord_length_km(d[:-1], d[1:], kernel_radius_km).sum()
    return lam


def satrec_from(elements, bstar, epoch_jd, epoch_fr, satnum=1):
    s = Satrec()
    s.sgp4init(WGS72, "i", satnum, (epoch_jd - 2433281.5) + epoch_fr, bstar, 0.0, 0.0, elements["ecco"],
               elements["argpo"], elements["inclo"], elements["mo"], elements["no_kozai"], elements["nodeo"])
    return s


def brute_force_closest_approach(sat, target, jd0, fr0, t_guess_s, half_width_s=30.0, step_s=0.1,
                                 t_min_s=None, t_max_s=None):
    """Closest approach of `sat` to `target` (python-sgp4 Satrecs) near t_guess_s (s since the
    split Julian date jd0 + fr0): both propagated every step_s over t_guess +- half_width_s
    (clipped to [t_min_s, t_max_s] where given), the relative motion taken as straight within
    each step (its curvature bends it by ~ a_rel dt^2 / 8 < 1 mm over 0.1 s), the closest point
    of each straight piece found exactly. Returns (tca_s, miss_km, speed_km_s)."""
    lo = t_guess_s - half_width_s if t_min_s is None else max(t_min_s, t_guess_s - half_width_s)
    hi = t_guess_s + half_width_s if t_max_s is None else min(t_max_s, t_guess_s + half_width_s)
    t = np.arange(lo, hi + 0.5 * step_s, step_s)
    t = t[t <= hi + 1e-9]
    jd = np.full(t.size, jd0)
    fr = fr0 + t / 86400.0
    e1, r1, v1 = sat.sgp4_array(jd, fr)
    e2, r2, v2 = target.sgp4_array(jd, fr)
    assert not e1.any() and not e2.any(), "SGP4 errors in the brute-force window"
    d = r1 - r2
    w = v1 - v2
    d0, d1 = d[:-1], d[1:]
    delta = d1 - d0
    a = np.einsum("ij,ij->i", delta, delta)
    s = np.clip(-np.einsum("ij,ij->i", d0, delta) / a, 0.0, 1.0)
    p = d0 + s[:, None] * delta
    dist = np.sqrt(np.einsum("ij,ij->i", p, p))
    i = int(np.argmin(dist))
    vel = w[i] + s[i] * (w[i + 1] - w[i])
    return t[i] + s[i] * (t[i + 1] - t[i]), float(dist[i]), float(np.linalg.norm(vel))
