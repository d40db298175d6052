"""The screened estimator: flux chords and conjunctions of fragments with many targets, at the
cost of the close pairs (engine.physics.screen), never of all fragment-target pairs.

Over the window, a block of samples at a time: fragments (SGP4 table) and targets (element
sets; deep-space ones through python-sgp4) are propagated at the block's samples; the screen
gives every (fragment, target, sample) within D (the radius that misses nothing, see
engine.physics.screen); each such pair's segments on either side of the sample are evaluated:

- the secant chord inside the kernel sphere (engine.physics.risk.chord_length_km, the same as
  the all-pairs estimator: the positive chords are its Passages, identical in value);
- a conjunction bracket where d . v_rel goes from < 0 to >= 0 over the segment (a local minimum
  of the distance; SGP4's own velocities) and the secant's closest point is within the largest
  threshold plus the sag of the true paths from their secants (each |r''| dt^2 / 8, |r''| at
  most SAG_MARGIN x surface gravity); each bracket is refined to its time of closest approach
  with SGP4 (engine.orbits.closest_approach's safeguarded Newton), block by block, and kept
  where the miss distance is below the largest threshold.

A fragment is decayed from its first sample with an SGP4 error or below the decay altitude
(engine.physics.risk.decay_step), as in the all-pairs estimator; a target is skipped where SGP4
fails for it.  Memory: the block's states (objects x block samples) and the close pairs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..physics import risk
from ..physics import screen as screen_mod
from ..physics import sgp4_numpy as sgp4
from ..physics.risk import Passages
from .closest_approach import _newton
from .elements import ElementSet
from .propagation import offset_minutes, propagate_elements

#: Objects x samples of states held per block (fragments' and targets' positions and
#: velocities, float64): about 200 MB.
BLOCK_POINTS = 4_000_000
#: Close (fragment, target, sample) triples a block aims at (their int64 keys, sorted), and
#: segments evaluated at once (their relative states: about 200 bytes each).
PAIRS_PER_BLOCK = 20_000_000
#: Margin on surface gravity as the bound on an SGP4 path's second derivative (the J2 and drag
#: terms add 0.2 %; the margin leaves 25 times that), for the secant's sag over a step.
SAG_MARGIN = 1.05
SEGMENTS_PER_SLICE = 1 << 20


@dataclasses.dataclass
class Conjunctions:
    """Local minima of fragment-target distances below the largest threshold, C of them, (C,):
    row (fragment row of the table), target (index), tca_min (minutes since the analysis
    start), miss_km (at the refined TCA), refined (False where SGP4 failed during refinement and
    the secant estimate stands)."""

    row: np.ndarray
    target: np.ndarray
    tca_min: np.ndarray
    miss_km: np.ndarray
    refined: np.ndarray

    @classmethod
    def empty(cls) -> "Conjunctions":
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool))

    @property
    def size(self) -> int:
        return int(self.row.size)

    @classmethod
    def concat(cls, parts) -> "Conjunctions":
        parts = [p for p in parts if p.size]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))

    def take(self, index) -> "Conjunctions":
        return Conjunctions(self.row[index], self.target[index], self.tca_min[index],
                            self.miss_km[index], self.refined[index])


@dataclasses.dataclass
class ScreenResult:
    """passages (positive chords, as engine.physics.risk.Passages; rows index the table), decay
    (n,) first decayed sample (m if none), conjunctions, and close_pairs: the (fragment, target,
    sample) triples the screen found (its work, next to fragments x targets x samples)."""

    passages: Passages
    decay: np.ndarray
    conjunctions: Conjunctions
    close_pairs: int
    #: the positive chords one by one: (row, target, segment, length_km), each (S,)
    segments: tuple = ()


class TargetStates:
    """The targets' SGP4 states at arbitrary times (minutes since the analysis start): near-earth
    targets from their coefficient table (NumPy, vectorized over any (target, time) pairs),
    deep-space ones through engine.orbits.propagation (python-sgp4)."""

    def __init__(self, targets: ElementSet, start_jd: float, start_fr: float):
        self.targets, self.start_jd, self.start_fr = targets, start_jd, start_fr
        self.deep = np.asarray(targets.is_deep_space, dtype=bool)
        self.table = targets.sgp4_table()
        self.offset_min = offset_minutes(targets, start_jd, start_fr)

    def __call__(self, k, t_min):
        """r (P, 3), v (P, 3), ok (P,) of targets k (P,) at t_min (P,)."""
        k = np.asarray(k, dtype=np.int64)
        t_min = np.asarray(t_min, dtype=np.float64)
        r = np.full((k.size, 3), np.nan)
        v = np.full((k.size, 3), np.nan)
        ok = np.zeros(k.size, dtype=bool)
        near = ~self.deep[k]
        if near.any():
            rr, vv, ee = sgp4.propagate(self.table[:, k[near]], (self.offset_min[k[near]] + t_min[near])[:, None])
            r[near], v[near], ok[near] = rr[:, 0], vv[:, 0], ee[:, 0] == 0
        for kk in np.unique(k[~near]):
            at = np.flatnonzero(k == kk)
            eph = propagate_elements(self.targets.take([int(kk)]), self.start_jd, self.start_fr,
                                     t_min[at], device="cpu")
            r[at], v[at], ok[at] = eph.r_km[0], eph.v_km_s[0], eph.error[0] == 0
        return r, v, ok


def screen_window(table, offset_min, times_min, targets: ElementSet, start_jd: float, start_fr: float,
                  kernel_radius_km: float, thresholds_km=(), *, block_points: int = BLOCK_POINTS,
                  radius_km: float | None = None) -> ScreenResult:
    """Chords, decay and conjunctions of n fragments with K targets over the window.

    table (N_COEFFICIENTS, n), offset_min (n,): the fragments' SGP4 coefficients and minutes from
    their epochs to the analysis start; times_min (m,): the samples (uniform steps); targets: K
    objects; kernel_radius_km: R_s; thresholds_km: conjunction thresholds (the largest decides
    what is kept; none: no conjunctions).  radius_km: the screen's D (default: the one that
    misses nothing, engine.physics.screen.screen_radius_km; tests pass infinity for brute force).
    """
    table = np.ascontiguousarray(table)
    offset_min = np.asarray(offset_min, dtype=np.float64)
    times_min = np.asarray(times_min, dtype=np.float64)
    n, m, K = table.shape[1], times_min.size, len(targets)
    thr = float(max(thresholds_km)) if len(thresholds_km) else 0.0
    step_s = float(times_min[1] - times_min[0]) * 60.0 if m > 1 else 0.0
    decay = np.full(n, m, dtype=np.int64)
    if n == 0 or m < 2:
        z = np.zeros(0, dtype=np.int64)
        return ScreenResult(Passages.empty(), decay, Conjunctions.empty(), 0, (z, z, z, np.zeros(0)))
    states_t = TargetStates(targets, start_jd, start_fr)
    v_frag = screen_mod.speed_bounds_km_s(table, offset_min + times_min[0], offset_min + times_min[-1])
    v_targ = np.full(K, screen_mod.UNIVERSAL_SPEED_KM_S)
    near = ~states_t.deep
    if near.any():
        v_targ[near] = screen_mod.speed_bounds_km_s(states_t.table[:, near], states_t.offset_min[near] + times_min[0],
                                                    states_t.offset_min[near] + times_min[-1])
    # The true relative path lies within sag_km of the secant (linear interpolation of each
    # object's path: |r - secant| <= |r''| dt^2 / 8, |r''| <= SAG_MARGIN mu / R_E^2).
    sag_km = 2.0 * SAG_MARGIN * sgp4.MU_KM3_S2 / sgp4.RADIUS_EARTH_KM**2 * step_s**2 / 8.0
    block_max = int(max(2, min(m, block_points // max(n + K, 1))))
    block = block_max
    chords, brackets, found = [], [], 0
    s0 = 0
    while s0 < m - 1:
        s1 = min(m - 1, s0 + block - 1)
        t = times_min[s0:s1 + 1]
        rf, vf, ef = sgp4.propagate(table, offset_min[:, None] + t[None, :])
        first_dead = risk.decay_step(rf, ef)
        dec_block = np.where(first_dead < t.size, first_dead + s0, m)
        decay = np.minimum(decay, dec_block)
        dead = (s0 + np.arange(t.size))[None, :] >= decay[:, None]
        rf[dead] = np.nan
        eph = propagate_elements(targets, start_jd, start_fr, t, device="cpu")
        rt, vt = eph.r_km.copy(), eph.v_km_s
        rt[eph.error != 0] = np.nan
        if radius_km is not None and not np.isfinite(radius_km):   # brute force: every pair, every sample
            ia, ik, j = (x.ravel() for x in np.meshgrid(np.arange(n), np.arange(K), np.arange(t.size),
                                                         indexing="ij"))
        else:
            ia, ik, j = _close_pairs_by_reach(rf, rt, v_frag, v_targ, step_s, kernel_radius_km, thr, radius_km)
        found += ia.size
        for fi, ki, seg in _segments_of_close_pairs(ia, ik, j, K, t.size):
            d0 = rf[fi, seg] - rt[ki, seg]
            d1 = rf[fi, seg + 1] - rt[ki, seg + 1]
            length = risk.chord_length_km(d0, d1, kernel_radius_km)
            pos = length > 0.0
            chords.append((fi[pos], ki[pos], seg[pos] + s0, length[pos]))
            if thr > 0.0:
                w0 = vf[fi, seg] - vt[ki, seg]
                w1 = vf[fi, seg + 1] - vt[ki, seg + 1]
                with np.errstate(invalid="ignore", divide="ignore"):
                    g0 = np.einsum("ij,ij->i", d0, w0)
                    g1 = np.einsum("ij,ij->i", d1, w1)
                    take = (g0 < 0.0) & (g1 >= 0.0)
                    delta = d1 - d0
                    a = np.einsum("ij,ij->i", delta, delta)
                    frac = np.clip(-np.einsum("ij,ij->i", d0, delta) / np.where(a > 0, a, 1.0), 0.0, 1.0)
                    secant_min = np.linalg.norm(d0 + frac[:, None] * delta, axis=1)
                    take &= secant_min <= thr + sag_km
                if take.any():
                    c = refine_conjunctions(table, offset_min, times_min, states_t, fi[take], ki[take],
                                            seg[take] + s0)
                    brackets.append(c.take(np.flatnonzero(c.miss_km < thr)))
        # The next block's length: about PAIRS_PER_BLOCK close pairs (their keys are held at once).
        block = int(min(block_max, max(2, block * PAIRS_PER_BLOCK / max(ia.size, 1))))
        s0 = s1
    z = np.zeros(0, dtype=np.int64)
    segments = tuple(np.concatenate(x) for x in zip(*chords)) if chords else (z, z, z, np.zeros(0))
    passages = Passages.from_segments(*segments)
    conj = Conjunctions.concat(brackets)
    return ScreenResult(passages, decay, conj, int(found), segments)


#: Edges of the groups of objects by their reach per step (km): the larger of their largest secant
#: step in the block and their speed bound x the step. Each pair of groups is screened with its
#: own radius, so a few fast objects (a deep-space perigee, SGP4 far out of its range) do not
#: widen the grid of all the others (LEO objects move 450-500 km a minute).
REACH_EDGES_KM_PER_MIN = (0.0, 400.0, 520.0, 700.0, np.inf)


def _close_pairs_by_reach(rf, rt, v_frag, v_targ, step_s, kernel_radius_km, thr, radius_km=None):
    """close_pairs of fragments rf (n, s, 3) and targets rt (K, s, 3), objects grouped by reach
    (REACH_EDGES_KM_PER_MIN, scaled to the step), each pair of groups with the radius that
    misses nothing for its objects (engine.physics.screen.screen_radius_km), or radius_km."""
    with np.errstate(invalid="ignore"):
        c_f = np.nan_to_num(np.nanmax(np.linalg.norm(np.diff(rf, axis=1), axis=2), axis=1, initial=0.0))
        c_t = np.nan_to_num(np.nanmax(np.linalg.norm(np.diff(rt, axis=1), axis=2), axis=1, initial=0.0))
    edges = np.array(REACH_EDGES_KM_PER_MIN) * (step_s / 60.0)
    g_f = np.searchsorted(edges, np.maximum(c_f, v_frag * step_s), side="right") - 1
    g_t = np.searchsorted(edges, np.maximum(c_t, v_targ * step_s), side="right") - 1
    out = [[], [], []]
    for a in np.unique(g_f):
        fa = np.flatnonzero(g_f == a)
        for b in np.unique(g_t):
            tb = np.flatnonzero(g_t == b)
            D = radius_km if radius_km is not None else screen_mod.screen_radius_km(
                kernel_radius_km, thr, float(c_f[fa].max()), float(c_t[tb].max()),
                float(v_frag[fa].max()), float(v_targ[tb].max()), step_s)
            ia, ik, j = screen_mod.close_pairs(rf[fa], rt[tb], D)
            out[0].append(fa[ia])
            out[1].append(tb[ik])
            out[2].append(j)
    return tuple(np.concatenate(x) for x in out)


def _segments_of_close_pairs(ia, ik, j, n_targets: int, samples: int):
    """The segments (local index s: samples s, s+1) on either side of each close (fragment,
    target, sample), each once, in slices of SEGMENTS_PER_SLICE: yields (fragment, target, s)."""
    key = (ia * n_targets + ik) * samples + j
    key.sort()
    local = key % samples
    right = key[local < samples - 1]                       # segment j of a close sample j
    before = key - 1                                       # segment j - 1, unless sample j - 1 is close too
    at = np.searchsorted(key, before)
    listed = (at < key.size) & (key[np.minimum(at, key.size - 1)] == before)
    left = before[(local >= 1) & ~listed]
    for part in (right, left):
        for lo in range(0, part.size, SEGMENTS_PER_SLICE):
            k = part[lo:lo + SEGMENTS_PER_SLICE]
            pair, seg = k // samples, k % samples
            yield pair // n_targets, pair % n_targets, seg


def refine_conjunctions(table, offset_min, times_min, target_states: TargetStates, row, target, segment) -> Conjunctions:
    """Time of closest approach and miss distance of each bracket (fragment row, target, segment
    s with d.v_rel < 0 at sample s and >= 0 at s+1): safeguarded Newton on d.v_rel = 0 inside
    [t_s, t_s+1] with SGP4 states, started at the secant minimum."""
    t_lo, t_hi = times_min[segment].copy(), times_min[segment + 1].copy()

    def states(sel, t_min):
        rows, k = row[sel], target[sel]
        r_f, v_f, e_f = sgp4.propagate(table[:, rows], (offset_min[rows] + t_min)[:, None])
        r_t, v_t, ok_t = target_states(k, t_min)
        rr, vv = r_f[:, 0] - r_t, v_f[:, 0] - v_t
        norm_f = np.linalg.norm(r_f[:, 0], axis=1)[:, None]
        norm_t = np.linalg.norm(r_t, axis=1)[:, None]
        accel = -sgp4.MU_KM3_S2 * (r_f[:, 0] / norm_f**3 - r_t / norm_t**3)
        return rr, vv, accel, (e_f[:, 0] == 0) & ok_t

    every = np.arange(row.size)
    d_lo = states(every, t_lo)[0]
    d_hi = states(every, t_hi)[0]
    delta = d_hi - d_lo
    a = np.einsum("ij,ij->i", delta, delta)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip(np.where(a > 0, -np.einsum("ij,ij->i", d_lo, delta) / np.where(a > 0, a, 1.0), 0.5), 0.0, 1.0)
    tca = t_lo + frac * (t_hi - t_lo)
    guess = tca.copy()
    ok = _newton(states, every, t_lo.copy(), t_hi.copy(), guess, tca)
    rr, _, _, o = states(every, tca)
    miss = np.linalg.norm(rr, axis=1)
    ok &= o
    secant = np.linalg.norm(d_lo + frac[:, None] * delta, axis=1)
    miss = np.where(ok, miss, secant)
    return Conjunctions(row.astype(np.int64), target.astype(np.int64), tca, miss, ok)


def count_conjunctions(conj: Conjunctions, realization_index, n_realizations: int, n_targets: int,
                       thresholds_km, day_edges_min) -> np.ndarray:
    """(K, R, D, C) int64: conjunctions of each target, realization (realization_index (n,) maps
    a fragment row to 0..R-1), day bin (day_edges_min (D+1,), minutes since the start) and
    threshold (C,), each counted under every threshold above its miss distance."""
    thresholds = np.asarray(thresholds_km, dtype=np.float64)
    D = day_edges_min.size - 1
    out = np.zeros((n_targets, n_realizations, D, thresholds.size), dtype=np.int64)
    if conj.size == 0:
        return out
    day = np.clip(np.searchsorted(day_edges_min, conj.tca_min, side="right") - 1, 0, D - 1)
    r = np.asarray(realization_index)[conj.row]
    for c, limit in enumerate(thresholds):
        below = conj.miss_km < limit
        np.add.at(out[:, :, :, c], (conj.target[below], r[below], day[below]), 1)
    return out
