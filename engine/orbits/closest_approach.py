"""Closest approach of a passage, refined below the time step with SGP4 itself.

A passage (engine.physics.risk.Passages: a run of consecutive segments whose secant chord is
inside a target's kernel sphere) gets its time of closest approach (TCA), miss distance and
relative speed here: a safeguarded Newton step on r_rel . v_rel with SGP4's own positions and
velocities, golden-section search where there is no sign change. Both backends record passages
the same way; this refinement runs on the host for both. Times are minutes since the analysis
start.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..physics import sgp4_numpy
from ..physics.risk import Passages
from .propagation import propagate_target

# --------------------------------------------------------------------------------------------
# 2. closest approach, refined with SGP4
# --------------------------------------------------------------------------------------------

#: Newton (with bisection safeguard) on d|r_rel|^2/dt = 2 r_rel . v_rel stops when a step is
#: below this (s): far below the 1 ms to which the backends agree and the 0.5 s to which
#: tests/test_encounters.py holds the TCA against python-sgp4.
TCA_TOLERANCE_S = 1.0e-6
#: Iterations of the safeguarded Newton: bisection alone halves a bracket of at most a few steps
#: (minutes) below 1e-6 s in about 30; Newton needs 3-5 from the secant minimum.
MAX_NEWTON_ITERATIONS = 40
_INVPHI = (math.sqrt(5.0) - 1.0) / 2.0


@dataclasses.dataclass
class ClosestApproach:
    """Per passage (P,): tca_min (minutes since the analysis start), miss_km, speed_km_s (|v_rel|
    at TCA), and refined (bool: False where SGP4 reported an error during the refinement and the
    secant estimate was kept)."""

    tca_min: np.ndarray
    miss_km: np.ndarray
    speed_km_s: np.ndarray
    refined: np.ndarray


class _States:
    """SGP4 states of the passages' fragments and targets at arbitrary times (minutes since the
    analysis start): fragments from their coefficient table, targets from their element sets
    (engine.orbits.propagation, which also handles deep-space targets through python-sgp4)."""

    def __init__(self, table, offset_min, rows, targets, target_elements, start_jd, start_fr,
                 target_states=None):
        self.table, self.offset_min, self.rows, self.targets = table, offset_min, rows, targets
        self.target_elements, self.start_jd, self.start_fr = target_elements, start_jd, start_fr
        self.target_states = target_states

    def __call__(self, sel, t_min):
        """Relative position (km), velocity (km/s) and two-body relative acceleration (km/s^2)
        of passages `sel` at t_min (len(sel),); and ok (no SGP4 error)."""

        rows = self.rows[sel]
        r_f, v_f, e_f = sgp4_numpy.propagate(self.table[:, rows], (self.offset_min[rows] + t_min)[:, None])
        r_f, v_f, ok = r_f[:, 0], v_f[:, 0], e_f[:, 0] == 0
        tgt = self.targets[sel]
        if self.target_states is not None:
            r_t, v_t, ok_t = self.target_states(tgt, t_min)
            return r_f - r_t, v_f - v_t, _gravity(r_f) - _gravity(r_t), ok & ok_t
        r_t = np.empty_like(r_f)
        v_t = np.empty_like(v_f)
        for k in np.unique(tgt):
            at = np.flatnonzero(tgt == k)
            eph = propagate_target(self.target_elements[k], self.start_jd, self.start_fr, t_min[at],
                                   device="cpu")
            r_t[at], v_t[at] = eph.r_km[0], eph.v_km_s[0]
            ok[at] &= eph.error[0] == 0
        accel = _gravity(r_f) - _gravity(r_t)
        return r_f - r_t, v_f - v_t, accel, ok


def _gravity(r):
    """Two-body acceleration (km/s^2): the derivative of SGP4's velocity to J2 order (1e-3),
    enough for Newton's derivative (the root is that of the exact r.v)."""
    norm = np.sqrt(np.einsum("...i,...i->...", r, r))
    return -sgp4_numpy.MU_KM3_S2 * r / (norm**3)[..., None]


def _dot(a, b):
    return np.einsum("...i,...i->...", a, b)


def closest_approach(passages: Passages, table, offset_min, times_min, target_r_km, target_elements,
                     start_jd: float, start_fr: float, target_states=None) -> ClosestApproach:
    """Time, miss distance and relative speed of each passage's closest approach.

    passages: P runs (row indexes table / offset_min). table (N_COEFFICIENTS, n), offset_min (n,):
    the fragments' SGP4 coefficients and minutes from their epoch to the analysis start.
    times_min (m,): the sample times; target_r_km (K, m, 3): the targets' positions there (those
    the estimator used); target_elements: K ElementSets, one object each (one set, or a history: for states
    between samples);
    start_jd, start_fr: the analysis start. target_states: optionally, a callable (targets (P,),
    t_min (P,)) -> (r_km (P, 3), v_km_s (P, 3), ok (P,)) giving the same states for many targets
    at once (engine.orbits.screening.TargetStates), instead of one propagation per target.

    1. Secant minimum: the fragment is propagated at the run's samples; the segment whose straight
       chord passes closest to the target gives a first TCA (exact on the secant, which is off by
       up to a few hundred metres at 60 s steps: the relative path curves).
    2. Bracket: from that segment's ends, d|r_rel|^2/dt = 2 r_rel.v_rel (SGP4's own velocities) is
       checked for a sign change (- to +), moving out by whole steps within the run.
    3. Newton on r_rel.v_rel = 0 inside the bracket (derivative |v_rel|^2 + r_rel.a_rel with the
       two-body a_rel), falling back to bisection when a step leaves the bracket; to 1e-6 s.
       Without a sign change (a passage cut by the window start, a decay or an unusually curved
       slow path) a golden-section search of |r_rel| over the bracket takes its place.
    Where SGP4 fails during 2-3 (never seen between two valid samples) the secant values stay,
    flagged refined = False.
    """
    P = passages.size
    if P == 0:
        z = np.zeros(0)
        return ClosestApproach(z, z.copy(), z.copy(), np.zeros(0, dtype=bool))
    times_min = np.asarray(times_min, dtype=np.float64)
    table = np.asarray(table)
    offset_min = np.asarray(offset_min, dtype=np.float64)
    first, last, rows, tgt = passages.first, passages.last, passages.row, passages.target

    # 1. the secant minimum over each run's segments
    count = last - first + 2  # samples of the run
    starts = np.concatenate(([0], np.cumsum(count)[:-1]))
    owner = np.repeat(np.arange(P), count)
    sample = first[owner] + (np.arange(owner.size) - starts[owner])
    r, _, _ = sgp4_numpy.propagate(table[:, rows[owner]], (offset_min[rows[owner]] + times_min[sample])[:, None])
    d = r[:, 0] - target_r_km[tgt[owner], sample]
    seg = np.ones(owner.size, dtype=bool)
    seg[starts + count - 1] = False  # the last sample of a run starts no segment
    i0 = np.flatnonzero(seg)
    d0, d1 = d[i0], d[i0 + 1]
    delta = d1 - d0
    a = _dot(delta, delta)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.clip(np.where(a > 0.0, -_dot(d0, delta) / np.where(a > 0.0, a, 1.0), 0.0), 0.0, 1.0)
    closest = d0 + s[:, None] * delta
    dist2 = _dot(closest, closest)
    seg_owner = owner[i0]
    seg_starts = starts - np.arange(P)  # segments per run = samples - 1
    best = np.minimum.reduceat(dist2, seg_starts)
    is_best = dist2 == best[seg_owner]
    pick = np.full(P, owner.size, dtype=np.int64)
    np.minimum.at(pick, seg_owner[is_best], np.flatnonzero(is_best))  # the first segment reaching the minimum
    jmin = first + (pick - seg_starts)
    step_min = times_min[jmin + 1] - times_min[jmin]
    t_sec = times_min[jmin] + s[pick] * step_min
    miss_sec = np.sqrt(best)
    speed_sec = np.sqrt(a[pick]) / (60.0 * step_min)

    states = _States(table, offset_min, rows, tgt, target_elements, start_jd, start_fr, target_states)
    everyone = np.arange(P)

    def f_at(sel, sample_index):
        rr, vv, _, ok = states(sel, times_min[sample_index])
        return _dot(rr, vv), ok

    # 2. the bracket: samples lo < hi with r.v < 0 at lo and > 0 at hi, within the run
    lo, hi = jmin.copy(), jmin + 1
    f_lo, ok = f_at(everyone, lo)
    f_hi, ok_hi = f_at(everyone, hi)
    ok &= ok_hi
    while True:
        move = ok & (f_lo >= 0.0) & (lo > first)
        if not move.any():
            break
        sel = np.flatnonzero(move)
        lo[sel] -= 1
        f_lo[sel], o = f_at(sel, lo[sel])
        ok[sel] &= o
    while True:
        move = ok & (f_hi <= 0.0) & (hi < last + 1)
        if not move.any():
            break
        sel = np.flatnonzero(move)
        hi[sel] += 1
        f_hi[sel], o = f_at(sel, hi[sel])
        ok[sel] &= o
    t_lo, t_hi = times_min[lo], times_min[hi]

    tca = t_sec.copy()
    newton = np.flatnonzero(ok & (f_lo < 0.0) & (f_hi > 0.0))
    golden = np.flatnonzero(ok & ~((f_lo < 0.0) & (f_hi > 0.0)))
    ok[newton] &= _newton(states, newton, t_lo[newton], t_hi[newton], np.clip(t_sec[newton], t_lo[newton],
                                                                              t_hi[newton]), tca)
    ok[golden] &= _golden(states, golden, t_lo[golden], t_hi[golden], tca)

    # final states at the refined times
    miss = miss_sec.copy()
    speed = speed_sec.copy()
    good = np.flatnonzero(ok)
    if good.size:
        rr, vv, _, o = states(good, tca[good])
        miss[good] = np.sqrt(_dot(rr, rr))
        speed[good] = np.sqrt(_dot(vv, vv))
        ok[good] &= o
    bad = ~ok
    tca[bad], miss[bad], speed[bad] = t_sec[bad], miss_sec[bad], speed_sec[bad]
    return ClosestApproach(tca, miss, speed, ok)


def _newton(states, sel, lo, hi, t, out):
    """Safeguarded Newton for r.v = 0 on [lo, hi] (minutes), r.v(lo) < 0 < r.v(hi); writes the
    roots into out[sel]; returns ok (no SGP4 error) per element of sel."""
    ok = np.ones(sel.size, dtype=bool)
    active = np.arange(sel.size)
    tol_min = TCA_TOLERANCE_S / 60.0
    for _ in range(MAX_NEWTON_ITERATIONS):
        if active.size == 0:
            break
        rr, vv, acc, o = states(sel[active], t[active])
        ok[active] &= o
        f = _dot(rr, vv)                      # km^2/s
        g = _dot(vv, vv) + _dot(rr, acc)      # km^2/s^2
        neg = f < 0.0
        lo[active] = np.where(neg, t[active], lo[active])
        hi[active] = np.where(neg, hi[active], t[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            step = -f / g / 60.0
        nxt = t[active] + step
        inside = (g > 0.0) & (nxt > lo[active]) & (nxt < hi[active])
        nxt = np.where(inside, nxt, 0.5 * (lo[active] + hi[active]))
        moved = np.abs(nxt - t[active])
        t[active] = nxt
        done = (moved < tol_min) | (hi[active] - lo[active] < tol_min) | ~o | (f == 0.0)
        active = active[~done]
    out[sel] = t
    return ok


def _golden(states, sel, lo, hi, out):
    """Minimum of |r_rel| on [lo, hi] (minutes) by golden-section search, edges included; writes
    it into out[sel]; returns ok per element of sel."""
    if sel.size == 0:
        return np.ones(0, dtype=bool)

    def dist2(t):
        rr, _, _, o = states(sel, t)
        return _dot(rr, rr), o

    a, b = lo.copy(), hi.copy()
    c = b - _INVPHI * (b - a)
    e = a + _INVPHI * (b - a)
    fc, ok = dist2(c)
    fe, o = dist2(e)
    ok &= o
    tol_min = TCA_TOLERANCE_S / 60.0
    while np.any(b - a > tol_min):
        left = fc < fe  # the minimum is in [a, e]: e moves to c; else in [c, b]: c moves to e
        b = np.where(left, e, b)
        a = np.where(left, a, c)
        c_new = np.where(left, b - _INVPHI * (b - a), e)
        e_new = np.where(left, c, a + _INVPHI * (b - a))
        fp, o = dist2(np.where(left, c_new, e_new))
        ok &= o
        fc, fe = np.where(left, fp, fe), np.where(left, fc, fp)
        c, e = c_new, e_new
    t = 0.5 * (a + b)
    f_mid, o = dist2(t)
    ok &= o
    f_lo, o1 = dist2(lo)
    f_hi, o2 = dist2(hi)
    ok &= o1 & o2
    t = np.where(f_lo < f_mid, lo, t)
    f_mid = np.minimum(f_mid, f_lo)
    t = np.where(f_hi < f_mid, hi, t)
    out[sel] = t
    return ok


