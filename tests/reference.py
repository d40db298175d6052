"""Independent references shared by the tests and the checks in benchmarks/: python-sgp4 only,
plus engine.risk's exact chord (itself checked analytically in test_risk.py)."""

from __future__ import annotations

import numpy as np
from sgp4.api import WGS72, Satrec, SatrecArray

from fragrisk.engine import risk, sgp4



def brute_force_lambda(sats, target, jd0, fr0, duration_s, sigma_over_v, kernel_radius_km,
                       screen_step_s=10, screen_km=150.0):
    """Reference lambda per object: python-sgp4 at 1 s steps, exact chord of each 1 s segment.

    Objects are screened at 10 s steps first: an object farther than 150 km from the target at
    both ends of a 10 s step cannot enter a 10 km sphere in between (relative speeds < 16 km/s
    move it at most 80 km from either end). Decay: as design.md, from the first 1 s sample with
    an error or an altitude below engine.risk.DECAY_ALTITUDE_KM (100 km).
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
