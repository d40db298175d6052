"""The flux estimator: expected number of collisions of fragments with targets (NumPy path).

For target k (hard-body radius R_k) and fragment i (size Lc_i) the cross-section is
sigma_ik = pi (R_k + Lc_i / 2)^2. Around the target sits a kernel sphere of radius R_s and volume
V_s = 4/3 pi R_s^3; over a window the expected number of collisions is

    lambda_ik = sigma_ik / V_s * (length of the relative trajectory r_i(t) - r_k(t) inside the sphere)

(docs/estimator.md §1: the continuous-time form of Liou's CUBE method). Between two time
samples the relative trajectory is the straight segment joining r_rel(t_j) and r_rel(t_j+1) (the
"secant chord"), and its length inside the sphere is computed exactly.

A fragment is decayed from the first sample where SGP4 reports an error or its altitude is below
DECAY_ALTITUDE_KM (100 km); a segment counts only if both its ends are before that sample (and the target is valid at
both). The CUDA twin of `fragment_rates` is kernels/risk.cu; both call the chord of
kernels/chord.cuh / `chord_length_km`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from . import sgp4_numpy as sgp4
from .constants import DECAY_RADIUS_KM


def cross_section_km2(hard_body_radius_m, lc_m):
    """sigma = pi (R_k + Lc/2)^2 in km^2; hard_body_radius_m (K,), lc_m (n,) -> (n, K)."""
    radius_km = (np.asarray(hard_body_radius_m)[None, :] + 0.5 * np.asarray(lc_m)[:, None]) * 1e-3
    return math.pi * radius_km * radius_km


def sphere_volume_km3(radius_km: float) -> float:
    return 4.0 / 3.0 * math.pi * radius_km**3


def chord_length_km(d0, d1, radius_km: float):
    """Length (km) of the straight segment d0 -> d1 inside the sphere |d| <= radius_km.

    d0, d1: (..., 3) relative positions in km. Solves |d0 + s (d1 - d0)|^2 = R^2 for s in [0, 1]
    (half-b form of the quadratic) and returns (s_out - s_in) |d1 - d0|, 0 where the line
    misses the sphere. Twin of chord_length_km in kernels/chord.cuh.
    """
    delta = d1 - d0
    a = np.einsum("...i,...i->...", delta, delta)
    b = np.einsum("...i,...i->...", d0, delta)
    c = np.einsum("...i,...i->...", d0, d0) - radius_km * radius_km
    disc = b * b - a * c
    hit = (disc > 0.0) & (a > 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.sqrt(np.where(hit, disc, 0.0))
        safe_a = np.where(hit, a, 1.0)
        s_in = np.clip((-b - root) / safe_a, 0.0, 1.0)
        s_out = np.clip((-b + root) / safe_a, 0.0, 1.0)
    return np.where(hit, (s_out - s_in) * np.sqrt(a), 0.0)


def decay_step(r_km, error):
    """Index of the first sample where an object is decayed, or m where it never is.

    r_km: (n, m, 3); error: (n, m) SGP4 error codes. Decayed = error != 0 or |r| < 6478.135 km.
    """
    radius2 = np.einsum("...i,...i->...", r_km, r_km)
    with np.errstate(invalid="ignore"):
        dead = (error != 0) | ~(radius2 >= DECAY_RADIUS_KM * DECAY_RADIUS_KM)
    m = error.shape[1]
    first = np.where(dead.any(axis=1), dead.argmax(axis=1), m)
    return first.astype(np.int64)


def segment_bins(times_s, bin_edges_s):
    """Time bin of each segment between consecutive samples, by the segment's midpoint.

    times_s: (m,) sample times since the analysis start; bin_edges_s: (T+1,). Returns (m-1,)
    int64 in [0, T).
    """
    mid = 0.5 * (times_s[:-1] + times_s[1:])
    return np.clip(np.searchsorted(bin_edges_s, mid, side="right") - 1, 0, len(bin_edges_s) - 2)


#: Coarse stride of the NumPy path's screening (samples). Of the strides 2 to 8 tried on the
#: built-in scenario, 4 and 6 were the fastest: a shorter stride screens more often, a longer
#: one evaluates longer intervals sample by sample near a target. The results do not depend on it.
COARSE_STRIDE = 4
#: Fragments x coarse samples whose gaps the screening holds at once (8 MiB of float64): the
#: memory of the NumPy path then grows with neither the fragments nor the window.
GAP_ELEMENTS = 1 << 20


def fragment_rates(table, offset_min, times_min, target_r_km, target_valid, sigma_over_volume,
                   kernel_radius_km, seg_bin, n_bins, *, reach_km=None, max_elements=1 << 13,
                   block_samples=1024, passages=False):
    """Expected collisions per fragment, target and time bin; and each fragment's decay sample.

    table: (N_COEFFICIENTS, n) SGP4 coefficients of the fragments.
    offset_min: (n,) minutes from each fragment's epoch to the analysis start.
    times_min: (m,) sample times, minutes since the analysis start (uniform steps).
    target_r_km: (K, m, 3) target positions at the samples; target_valid: (K, m) bool.
    sigma_over_volume: (n, K) sigma_ik / V_s (1/km); kernel_radius_km: R_s.
    seg_bin: (m-1,) time bin of each segment (non-decreasing); n_bins: T.
    reach_km: (n,) per-step bound on each fragment's motion relative to the targets, > 0 only
        where it cannot decay (`prefilter`); those fragments are screened every COARSE_STRIDE
        samples and only the intervals that may touch a sphere are evaluated sample by sample
        (the NumPy form of the CUDA kernel's jumps: the same bound, the same sums). None: none.
    max_elements, block_samples: fragments x samples evaluated at once, in blocks of
        block_samples samples (plus the one before, for the segment joining two blocks), so
        every temporary stays in cache and memory is bounded for any number of steps.
    passages: also return the passages through the spheres (engine.physics.risk.Passages, rows
        index the table): the runs of consecutive segments with a positive chord, as
        kernels/risk.cuh records them.
    Returns lam (n, K, T) float64 and decay (n,) int64 (first decayed sample, m if none)
    [, Passages].
    """
    n = table.shape[1]
    m = times_min.shape[0]
    K = target_r_km.shape[0]
    lam = np.zeros((n, K, n_bins))
    decay = np.full(n, m, dtype=np.int64)
    target_segment_ok = target_valid[:, :-1] & target_valid[:, 1:]
    screened = np.zeros(n, dtype=bool) if reach_km is None else np.asarray(reach_km) > 0.0
    found = _PositiveChords() if passages else None
    if screened.any() and m > COARSE_STRIDE:
        idx = np.flatnonzero(screened)
        failed = _rates_by_intervals(table[:, idx], offset_min[idx], times_min, target_r_km, target_valid,
                                     target_segment_ok, kernel_radius_km, seg_bin, n_bins, reach_km[idx],
                                     lam, idx, max_elements, found)
        screened[idx[failed]] = False
        if found is not None:
            found.drop_rows(idx[failed])
    else:
        screened[:] = False
    full = np.flatnonzero(~screened)
    rows = max(1, max_elements // (block_samples + 1))
    for lo in range(0, full.size, rows):
        sel = full[lo:lo + rows]
        dec = decay[sel]
        acc = np.zeros((sel.size, K, n_bins))
        for b0 in range(0, m, block_samples):
            b1 = min(m, b0 + block_samples)
            s0 = max(b0 - 1, 0)  # first sample evaluated: the last one of the previous block
            live = dec > s0
            if not live.any():
                break
            r, _, err = sgp4.propagate(table[:, sel], offset_min[sel, None] + times_min[None, s0:b1])
            first_dead = decay_step(r, err)
            dec = np.minimum(dec, np.where(first_dead < b1 - s0, first_dead + s0, m))
            if b1 - s0 < 2:
                continue
            # Segments s0 .. b1-2 (samples j, j+1); alive while their end sample is before decay.
            seg = np.arange(s0, b1 - 1)
            alive = (seg + 1)[None, :] < dec[:, None]
            bins = seg_bin[s0:b1 - 1]
            cut = np.flatnonzero(np.diff(bins)) + 1
            starts = np.concatenate(([0], cut))
            for k in range(K):
                d = r - target_r_km[k, s0:b1][None]
                length = chord_length_km(d[:, :-1], d[:, 1:], kernel_radius_km)
                length *= alive & target_segment_ok[k, s0:b1 - 1][None, :]
                acc[:, k, bins[starts]] += np.add.reduceat(length, starts, axis=1)
                if found is not None:
                    found.add(length, sel, k, s0)
        lam[sel] = acc
        decay[sel] = dec
    lam *= sigma_over_volume[:, :, None]
    if found is not None:
        return lam, decay, found.passages()
    return lam, decay


class _PositiveChords:
    """The (fragment, target, segment, chord) of every segment with a chord inside a sphere,
    gathered block by block, then grouped into passages (engine.physics.risk.Passages)."""

    def __init__(self):
        self.parts = []

    def add(self, length, rows, k, first_segment, segments=None):
        """length (p, s) chords; rows (p,) fragment rows; segment of column c: first_segment + c,
        or segments (p, s) where given."""
        i, c = np.nonzero(length)
        if i.size:
            seg = first_segment + c if segments is None else segments[i, c]
            self.parts.append((rows[i], np.full(i.size, k), seg, length[i, c]))

    def drop_rows(self, rows):
        if len(rows):
            self.parts = [tuple(x[~np.isin(p[0], rows)] for x in p) for p in self.parts]

    def passages(self):

        if not self.parts:
            return Passages.empty()
        return Passages.from_segments(*(np.concatenate(x) for x in zip(*self.parts)))


def _rates_by_intervals(table, offset_min, times_min, target_r_km, target_valid, target_segment_ok,
                        kernel_radius_km, seg_bin, n_bins, reach_km, lam, rows_out, max_elements, found=None):
    """Chord lengths (not yet times sigma/V) of fragments that cannot decay, added into
    lam[rows_out], evaluating only the coarse intervals that may touch a sphere.

    Interval c spans samples coarse[c] .. coarse[c+1] (COARSE_STRIDE apart); every point of its
    segments lies within (span x reach) of the relative position at either end, so where the gap
    to the nearest sphere at one end exceeds that, all its chords are exactly 0. Returns a bool
    (n,) of fragments whose samples broke the no-decay bound after all (never expected; they go
    back to the full path, their partial sums removed). found: a _PositiveChords that collects
    the positive chords (rows as rows_out), or None.
    """
    n, m, K = table.shape[1], times_min.shape[0], target_r_km.shape[0]
    S = COARSE_STRIDE
    coarse = np.arange(0, m, S)
    if coarse[-1] != m - 1:
        coarse = np.append(coarse, m - 1)
    span = np.diff(coarse)
    failed = np.zeros(n, dtype=bool)
    T = n_bins
    step = np.arange(S + 1)
    per_chunk = max(1, max_elements // (S + 1))
    rows = max(1, max_elements // coarse.size)
    # Fragments a group at a time, so the gaps (fragments x coarse samples) stay GAP_ELEMENTS.
    group = max(rows, GAP_ELEMENTS // coarse.size)
    for g0 in range(0, n, group):
        g1 = min(n, g0 + group)
        # 1. Gaps at the coarse samples: distance to the nearest valid target's sphere.
        gap = np.empty((g1 - g0, coarse.size))
        for lo in range(g0, g1, rows):
            hi = min(g1, lo + rows)
            r, _, err = sgp4.propagate(table[:, lo:hi], offset_min[lo:hi, None] + times_min[None, coarse])
            failed[lo:hi] |= decay_step(r, err) < coarse.size
            g = np.full((hi - lo, coarse.size), np.inf)
            for k in range(K):
                dk = r - target_r_km[k, coarse][None]
                gk = np.sqrt(np.einsum("...i,...i->...", dk, dk))
                g = np.minimum(g, np.where(target_valid[k, coarse][None, :], gk - kernel_radius_km, -np.inf))
            gap[lo - g0:hi - g0] = g

        # 2. The intervals that may touch a sphere, sample by sample (pairs in fragment, time order).
        null = np.maximum(gap[:, :-1], gap[:, 1:]) > span[None, :] * reach_km[g0:g1, None]
        frag, interval = np.nonzero(~null)
        out = rows_out[g0:g1]
        for lo in range(0, frag.size, per_chunk):
            f_local = frag[lo:lo + per_chunk]
            f = f_local + g0
            c = interval[lo:lo + per_chunk]
            first, last = coarse[c], coarse[c + 1]
            samples = np.minimum(first[:, None] + step[None, :], last[:, None])    # (p, S+1)
            segments = np.minimum(first[:, None] + step[None, :-1], m - 2)           # (p, S)
            in_interval = (first[:, None] + step[None, :-1]) < last[:, None]
            r, _, err = sgp4.propagate(table[:, f], offset_min[f, None] + times_min[samples])
            bad = decay_step(r, err) < S + 1
            failed[f[bad]] = True
            flat = (f_local[:, None] * T + seg_bin[segments]).ravel()
            for k in range(K):
                d = r - target_r_km[k][samples]
                length = chord_length_km(d[:, :-1], d[:, 1:], kernel_radius_km)
                length *= in_interval & target_segment_ok[k][segments]
                lam[out, k, :] += np.bincount(flat, weights=length.ravel(),
                                              minlength=(g1 - g0) * T).reshape(g1 - g0, T)
                if found is not None:
                    found.add(length, rows_out[f], k, 0, segments)
    lam[rows_out[failed]] = 0.0
    return failed


def radius_bounds_km(table, t0_min, t1_min):
    """Bounds on SGP4's geocentric radius of each object over [t0_min, t1_min] (minutes since
    its epoch), from its coefficients alone: no propagation.

    table: (N_COEFFICIENTS, n); t0_min, t1_min: (n,) or scalars. Returns (r_min_km, r_max_km,
    certain): where `certain` is False (B* < 0, or an eccentricity that may leave SGP4's valid
    range) the bounds are not guaranteed and the object must be propagated.

    Derivation, term by term from engine/sgp4.propagate_block: with B* >= 0 the drag factor
    tempa = 1 - cc1 t - d2 t^2 - d3 t^3 - d4 t^4 has only non-positive derivative terms, so
    am = am_coef tempa^2 is monotone and its extremes are at the window ends; em = ecco - tempe
    with tempe = B* cc4 t + B* cc5 (sin mm - sinmao) lies within the linear term's end values
    +- 2|B* cc5|; the long-period aynl adds at most |aycof| / pl to the eccentricity e_l;
    rl = am (1 - e_l cos E) lies in am (1 -+ e_l); and the short-period terms of mrt are bounded
    by their coefficients' magnitudes (|cos|, |betal| <= 1).
    """
    C = dict(zip(sgp4.COEFFICIENTS, np.asarray(table)))
    t0 = np.broadcast_to(np.asarray(t0_min, dtype=np.float64), C["cc1"].shape)
    t1 = np.broadcast_to(np.asarray(t1_min, dtype=np.float64), C["cc1"].shape)

    def tempa(t):
        return 1.0 - C["cc1"] * t - C["d2"] * t**2 - C["d3"] * t**3 - C["d4"] * t**4

    with np.errstate(all="ignore"):
        a0 = C["am_coef"] * tempa(t0) ** 2
        a1 = C["am_coef"] * tempa(t1) ** 2
        am_min, am_max = np.minimum(a0, a1), np.maximum(a0, a1)
        lin0 = C["bstar"] * C["cc4"] * t0
        lin1 = C["bstar"] * C["cc4"] * t1
        wobble = 2.0 * np.abs(C["bstar"] * C["cc5"])
        em_low = C["ecco"] - np.maximum(lin0, lin1) - wobble  # below -0.001 SGP4 fails (code 1)
        em_max = np.maximum(C["ecco"] - np.minimum(lin0, lin1) + wobble, 1.0e-6)
        pl_est_min = am_min * (1.0 - em_max * em_max)
        el_max = em_max + np.abs(C["aycof"]) / pl_est_min
        pl_min = am_min * (1.0 - el_max * el_max)
        temp1_max = 0.5 * sgp4.J2 / pl_min
        temp2_max = temp1_max / pl_min
        short = 1.5 * temp2_max * np.abs(C["con41"])
        additive = 0.5 * temp1_max * np.abs(C["x1mth2"])
        r_min = (am_min * (1.0 - el_max) * (1.0 - short) - additive) * sgp4.RADIUS_EARTH_KM
        r_max = (am_max * (1.0 + el_max) * (1.0 + short) + additive) * sgp4.RADIUS_EARTH_KM
        certain = ((C["bstar"] >= 0.0) & (C["no_unkozai"] > 0.0) & (em_low > -0.001)
                   & (em_max < 0.9) & (el_max < 0.9)
                   & (pl_min > 0.0) & (am_min > 0.0) & np.isfinite(r_min) & np.isfinite(r_max))
    return r_min, r_max, certain


def segment_radius_floor_km(r_min_km, step_s):
    """Smallest radius on a straight segment between two samples whose radii are >= r_min_km.

    For a segment from a to b, |p(s)|^2 = (1-s)|a|^2 + s|b|^2 - s(1-s)|b-a|^2 >= r_min^2 - L^2/4
    exactly; the chord length L is at most the escape speed at r_min times the step.
    """
    r = np.asarray(r_min_km, dtype=np.float64)
    speed_km_s = np.sqrt(2.0 * sgp4.MU_KM3_S2 / np.maximum(r, 1.0))
    half = 0.5 * speed_km_s * step_s
    return np.sqrt(np.maximum(r * r - half * half, 0.0))


#: Margin on the two-body speed bound: SGP4's speed differs from the osculating orbit's by
#: J2-order terms (1e-3); 2% leaves twenty times that.
SPEED_MARGIN = 1.02


def speed_bound_km_s(r_min_km, r_max_km):
    """Upper bound on the speed (km/s) of an orbit whose radius stays in [r_min, r_max]: the
    perigee speed of the ellipse with perigee r_min and apogee r_max (vis-viva), plus a margin."""
    r_min = np.asarray(r_min_km, dtype=np.float64)
    r_max = np.asarray(r_max_km, dtype=np.float64)
    return SPEED_MARGIN * np.sqrt(2.0 * sgp4.MU_KM3_S2 * r_max / (r_min * (r_min + r_max)))


def prefilter(table, t0_min, t1_min, step_s, target_r_km, target_valid, kernel_radius_km):
    """Work that provably contributes nothing, found before any propagation.

    (1) Fragments: one may be skipped when, over the whole window, for every target the radial
    gap between the fragment's segments and the target's segments exceeds the kernel radius (two
    points are at least their radii's difference apart), and it cannot decay (its radius stays
    above 100 km altitude and SGP4 cannot fail).
    (2) Steps, for the fused CUDA kernel: a fragment that cannot decay moves relative to any
    target by at most reach_km per step (speed bounds of both, times the step), so when it is a
    distance D from every target's sphere the next ceil(D / reach) - 1 segments cannot touch
    it, and kernels/risk.cuh jumps over their samples. reach_km = 0 (no jumps) where the
    fragment may decay.
    Both are exact: lambda and the decay bookkeeping are unchanged with them off (tests check).

    table (N_COEFFICIENTS, n); t0_min, t1_min (n,): the window in minutes since each epoch;
    target_r_km (K, m, 3) and target_valid (K, m): the targets' samples.
    Returns must (n,) bool, reach_km (n,) float64, and r_min_km (n,) (the radius bound: the
    fused kernel groups fragments of similar work by it).
    """
    r_min, r_max, certain = radius_bounds_km(table, t0_min, t1_min)
    frag_floor = segment_radius_floor_km(r_min, step_s)
    cannot_decay = certain & (frag_floor > DECAY_RADIUS_KM)
    must = ~cannot_decay
    target_speed = 0.0
    for k in range(target_r_km.shape[0]):
        valid = target_valid[k]
        if not valid.any():
            continue
        radius = np.linalg.norm(target_r_km[k][valid], axis=1)
        chord = np.linalg.norm(np.diff(target_r_km[k], axis=0), axis=1)
        chord = chord[valid[:-1] & valid[1:]]
        t_max = radius.max()
        half = 0.5 * (chord.max() if chord.size else 0.0)
        t_floor = math.sqrt(max(radius.min() ** 2 - half * half, 0.0))
        may_meet = (frag_floor - t_max <= kernel_radius_km) & (t_floor - r_max <= kernel_radius_km)
        must |= may_meet
        # The target's radius between samples: within its chord floor and its sample maximum.
        target_speed = max(target_speed, float(speed_bound_km_s(t_floor, t_max)))
    with np.errstate(all="ignore"):
        reach = (speed_bound_km_s(r_min, r_max) + target_speed) * step_s
    reach = np.where(cannot_decay & np.isfinite(reach), reach, 0.0)
    return must, reach, r_min


# --------------------------------------------------------------------------------------------
# 1. passages
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Passages:
    """Runs of consecutive segments (samples j -> j+1) of one fragment whose secant chord lies
    partly inside one target's kernel sphere: one passage each. P passages, all (P,):

    row        int64  the fragment's row in the estimator's table
    target     int64  target index k
    first      int64  first segment of the run (its start sample)
    last       int64  last segment of the run (the run ends at sample last + 1)
    length_km  float64  summed chord length inside the sphere over the run's segments (km)
    """

    row: np.ndarray
    target: np.ndarray
    first: np.ndarray
    last: np.ndarray
    length_km: np.ndarray

    @classmethod
    def empty(cls) -> "Passages":
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), z.copy(), np.zeros(0))

    @classmethod
    def from_segments(cls, row, target, segment, length_km) -> "Passages":
        """Group positive-chord segments (any order; each (row, target, segment) at most once)
        into runs of consecutive segments. Lengths are summed in segment order."""
        row = np.asarray(row, dtype=np.int64)
        target = np.asarray(target, dtype=np.int64)
        segment = np.asarray(segment, dtype=np.int64)
        length_km = np.asarray(length_km, dtype=np.float64)
        if row.size == 0:
            return cls.empty()
        order = np.lexsort((segment, target, row))
        row, target, segment, length_km = row[order], target[order], segment[order], length_km[order]
        new = np.ones(row.size, dtype=bool)
        new[1:] = (row[1:] != row[:-1]) | (target[1:] != target[:-1]) | (segment[1:] != segment[:-1] + 1)
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], row.size) - 1
        return cls(row[starts], target[starts], segment[starts], segment[ends],
                   np.add.reduceat(length_km, starts))

    @property
    def size(self) -> int:
        return int(self.row.size)

    def take(self, index) -> "Passages":
        return Passages(self.row[index], self.target[index], self.first[index], self.last[index],
                        self.length_km[index])

    def sorted(self) -> "Passages":
        """In (row, target, first) order: the order is then the same on every backend."""
        return self.take(np.lexsort((self.first, self.target, self.row)))

    @classmethod
    def concat(cls, parts: Sequence["Passages"]) -> "Passages":
        parts = [p for p in parts if p.size]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))
