"""Encounters: every passage of a fragment through a target's kernel sphere, and risk windows.

Read top-down:

1. `Passages`            what both estimator paths record (engine/risk.py and kernels/risk.cuh):
                         runs of consecutive segments whose secant chord is inside the sphere.
2. `closest_approach`    time, miss distance and relative speed at closest approach, refined
                         below the time step with SGP4 itself (positions and velocities).
3. `EncounterTable`      the table of the results file (dim `encounter`): one row per passage,
                         validated; written and read with CF attributes; merged across shards.
4. `fewest_windows`, `risk_windows`
                         the fewest windows of a given width that carry a given share of the
                         mean expected collisions over a period (the shelter schedule).

A passage's share of lambda is sigma_ik / V_s times the chord lengths of its segments, so the
shares of a realization add up to its `expected_collisions` (same chords, summed in another
order). Times are minutes since the analysis start inside the engine, seconds in the table.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np

from . import sgp4
from .errors import InputError

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
    (engine.propagation, which also handles deep-space targets through python-sgp4)."""

    def __init__(self, table, offset_min, rows, targets, target_elements, start_jd, start_fr):
        self.table, self.offset_min, self.rows, self.targets = table, offset_min, rows, targets
        self.target_elements, self.start_jd, self.start_fr = target_elements, start_jd, start_fr

    def __call__(self, sel, t_min):
        """Relative position (km), velocity (km/s) and two-body relative acceleration (km/s^2)
        of passages `sel` at t_min (len(sel),); and ok (no SGP4 error)."""
        from .propagation import propagate_elements

        rows = self.rows[sel]
        r_f, v_f, e_f = sgp4.propagate(self.table[:, rows], (self.offset_min[rows] + t_min)[:, None])
        r_f, v_f, ok = r_f[:, 0], v_f[:, 0], e_f[:, 0] == 0
        r_t = np.empty_like(r_f)
        v_t = np.empty_like(v_f)
        tgt = self.targets[sel]
        for k in np.unique(tgt):
            at = np.flatnonzero(tgt == k)
            eph = propagate_elements(self.target_elements[k], self.start_jd, self.start_fr, t_min[at],
                                     device="cpu")
            r_t[at], v_t[at] = eph.r_km[0], eph.v_km_s[0]
            ok[at] &= eph.error[0] == 0
        accel = _gravity(r_f) - _gravity(r_t)
        return r_f - r_t, v_f - v_t, accel, ok


def _gravity(r):
    """Two-body acceleration (km/s^2): the derivative of SGP4's velocity to J2 order (1e-3),
    enough for Newton's derivative (the root is that of the exact r.v)."""
    norm = np.sqrt(np.einsum("...i,...i->...", r, r))
    return -sgp4.MU_KM3_S2 * r / (norm**3)[..., None]


def _dot(a, b):
    return np.einsum("...i,...i->...", a, b)


def closest_approach(passages: Passages, table, offset_min, times_min, target_r_km, target_elements,
                     start_jd: float, start_fr: float) -> ClosestApproach:
    """Time, miss distance and relative speed of each passage's closest approach.

    passages: P runs (row indexes table / offset_min). table (N_COEFFICIENTS, n), offset_min (n,):
    the fragments' SGP4 coefficients and minutes from their epoch to the analysis start.
    times_min (m,): the sample times; target_r_km (K, m, 3): the targets' positions there (those
    the estimator used); target_elements: K one-object ElementSets (for states between samples);
    start_jd, start_fr: the analysis start.

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
    r, _, _ = sgp4.propagate(table[:, rows[owner]], (offset_min[rows[owner]] + times_min[sample])[:, None])
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

    states = _States(table, offset_min, rows, tgt, target_elements, start_jd, start_fr)
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


# --------------------------------------------------------------------------------------------
# 3. the table of the results file
# --------------------------------------------------------------------------------------------

#: (variable, EncounterTable field, dtype, units, long_name): the results file's encounter table.
VARIABLES = (
    ("encounter_realization", "realization", np.int64, "1", "realization index of the encounter"),
    ("encounter_target", "target", np.int64, "1",
     "index of the target along dimension target"),
    ("encounter_fragment", "fragment", np.int64, "1",
     "position of the fragment among its realization's fragments, in the order of fragrisk sample "
     "(for a [population] scenario: its position in the population's element sets)"),
    ("encounter_tca_s", "tca_s", np.float64, "s",
     "time of closest approach, seconds since the analysis start (global attribute analysis_start)"),
    ("encounter_miss_km", "miss_km", np.float64, "km", "miss distance at the time of closest approach"),
    ("encounter_speed_km_s", "speed_km_s", np.float64, "km s-1",
     "relative speed at the time of closest approach"),
    ("encounter_expected_collisions", "expected_collisions", np.float64, "1",
     "the encounter's share of expected_collisions (flux through the target during the passage)"),
    ("encounter_lc_m", "lc_m", np.float64, "m", "fragment characteristic length Lc"),
)
VARIABLE_NAMES = tuple(v[0] for v in VARIABLES)
DIMENSION = "encounter"
#: Relative tolerance of the check that a realization's shares add up to its expected_collisions:
#: the same chords summed per passage instead of per time bin (rounding only, ~1e-15).
SUM_RTOL = 1.0e-9


class TableError(ValueError):
    """A problem with an encounter table (one line); results.py names the file or object."""


@dataclasses.dataclass(eq=False)
class EncounterTable:
    """The encounter table: n rows, every column (n,).

    realization  int64   global realization index
    target       int64   target index (along the results' target dimension)
    fragment     int64   the fragment's position among its realization's fragments, in the order
                         `fragrisk sample` writes them (seed and scenario as the run)
    tca_s        float64 time of closest approach, s since the analysis start
    miss_km      float64 miss distance at TCA, km
    speed_km_s   float64 relative speed at TCA, km/s
    expected_collisions  float64 the passage's share of lambda
    lc_m         float64 the fragment's characteristic length, m
    Rows are kept in canonical order (realization, target, tca_s, fragment), so the table of a
    run does not depend on batches, shards, workers or device.
    """

    realization: np.ndarray
    target: np.ndarray
    fragment: np.ndarray
    tca_s: np.ndarray
    miss_km: np.ndarray
    speed_km_s: np.ndarray
    expected_collisions: np.ndarray
    lc_m: np.ndarray

    @classmethod
    def empty(cls) -> "EncounterTable":
        return cls(**{field: np.zeros(0, dtype=dtype) for _, field, dtype, _, _ in VARIABLES})

    def __len__(self) -> int:
        return int(self.realization.size)

    def take(self, index) -> "EncounterTable":
        return EncounterTable(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def canonical(self) -> "EncounterTable":
        return self.take(np.lexsort((self.fragment, self.tca_s, self.target, self.realization)))

    @classmethod
    def concat(cls, tables: Sequence["EncounterTable"]) -> "EncounterTable":
        tables = list(tables)
        if not tables:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(t, f.name) for t in tables])
                      for f in dataclasses.fields(cls)}).canonical()

    def to_fields(self) -> dict:
        """{file variable: array}."""
        return {var: getattr(self, field) for var, field, _, _, _ in VARIABLES}

    def sums(self, n_targets: int, realization) -> np.ndarray:
        """(K, R) sum of the shares per target and held realization (R = len(realization))."""
        realization = np.asarray(realization)
        order = np.argsort(realization, kind="stable")
        pos = order[np.searchsorted(realization[order], self.realization)]
        out = np.zeros(n_targets * realization.size)
        np.add.at(out, self.target * realization.size + pos, self.expected_collisions)
        return out.reshape(n_targets, realization.size)


def from_fields(fields: Mapping[str, Any], label: str = "results") -> EncounterTable | None:
    """The table from {file variable: array} (e.g. a file's variables); None when the source has
    none of them (a file written without the table); TableError if only some are there."""
    present = [v for v in VARIABLE_NAMES if v in fields]
    if not present:
        return None
    missing = [v for v in VARIABLE_NAMES if v not in fields]
    if missing:
        raise TableError(f"encounter table incomplete: variable {missing[0]!r} is missing")
    return EncounterTable(**{field: np.asarray(fields[var]) for var, field, _, _, _ in VARIABLES})


def checked(table: Any, n_targets: int, realization: np.ndarray, expected_collisions: np.ndarray):
    """`table` converted and validated against the results it belongs to (K targets, realization
    (R,), expected_collisions (K, R)); None stays None. Raises TableError (one line)."""
    if table is None:
        return None
    if not isinstance(table, EncounterTable):
        raise TableError(f"encounters: {type(table).__name__} is not an EncounterTable")
    cols = {}
    n = None
    for var, field, dtype, _, _ in VARIABLES:
        a = np.asarray(getattr(table, field))
        if a.ndim != 1:
            raise TableError(f"{var}: shape {a.shape}; expected ({DIMENSION},)")
        if n is None:
            n = a.size
        elif a.size != n:
            raise TableError(f"{var}: {a.size} rows; {VARIABLES[0][0]} has {n}")
        if dtype is np.int64:
            if a.size and a.dtype.kind not in "iu":
                raise TableError(f"{var}: dtype {a.dtype}; expected integers")
            a = a.astype(np.int64)
            if (a < 0).any():
                raise TableError(f"{var}: value {int(a[a < 0][0])} is negative")
        else:
            try:
                a = a.astype(np.float64)
            except (TypeError, ValueError):
                raise TableError(f"{var}: dtype {a.dtype}; expected numbers") from None
            bad = ~np.isfinite(a) | (a < 0)
            if bad.any():
                raise TableError(f"{var}: value {a[bad][0]!r} is not a finite number >= 0")
        cols[field] = a
    out = EncounterTable(**cols)
    if (out.target >= n_targets).any():
        raise TableError(f"encounter_target: index {int(out.target.max())} is not below the "
                         f"{n_targets} target(s)")
    known = np.isin(out.realization, realization)
    if not known.all():
        raise TableError(f"encounter_realization: realization {int(out.realization[~known][0])} is "
                         f"not among this file's realizations")
    sums = out.sums(n_targets, realization)
    lam = np.asarray(expected_collisions, dtype=np.float64)
    off = np.abs(sums - lam) > SUM_RTOL * lam
    if off.any():
        k, r = (int(x[0]) for x in np.nonzero(off))
        raise TableError(f"encounter_expected_collisions: the shares of target {k}, realization "
                         f"{int(np.asarray(realization)[r])} add up to {sums[k, r]!r}, not to its "
                         f"expected_collisions {lam[k, r]!r}")
    return out


def write_h5(dims, table: EncounterTable, compress_min_elements: int = 4096) -> None:
    """The table as variables on a new dimension `encounter` of an open results file.

    dims: an engine.h5io.NetCDFDimensions of that file (the other dimensions already made).
    """
    n = len(table)
    dims.dimension(DIMENSION, n)
    kw = dict(chunks=True, compression="gzip", compression_opts=4, shuffle=True) if n >= compress_min_elements else {}
    for var, field, dtype, units, long_name in VARIABLES:
        dims.variable(var, np.asarray(getattr(table, field), dtype=dtype), (DIMENSION,), units, long_name, **kw)


# --------------------------------------------------------------------------------------------
# 4. risk windows
# --------------------------------------------------------------------------------------------

#: Level x point cells of the window search's back-pointers (int32) beyond which it refuses
#: (about 400 MB); shorter periods or wider windows make fewer.
MAX_WINDOW_CELLS = 100_000_000


def fewest_windows(times_s, weights, width_s: float, share: float):
    """The fewest windows of width `width_s` whose union holds at least `share` of the total
    weight of the points (times_s, weights >= 0); among those, the one holding the most.

    Exact (optimal), not greedy. Any set of k windows can be replaced by k windows that each
    start at a point and hold disjoint sets of points, without losing any point (sweep left to
    right, starting each window at the first point not yet held: the greedy cover of the held
    points, which needs no more windows than they were held by). So with the points sorted and
    best_k(i) = the most weight k windows can hold among points i..n-1,

        best_k(i) = max over j >= i of [ W(j .. next(j)-1) + best_{k-1}(next(j)) ],

    next(j) = the first point after t_j + width_s. Each level is a suffix maximum (vectorized);
    levels are added until best_k(0) reaches the goal. Time O(k n), memory O(k n) int32.

    Returns (anchors (k,) int: index into the sorted order of each window's first point,
    order (n,) the sorting permutation, covered weight). Windows are [t, t + width_s].
    """
    t = np.asarray(times_s, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if t.shape != w.shape or t.ndim != 1:
        raise InputError(f"risk windows: times {t.shape} and weights {w.shape} must be (n,) alike")
    if not (width_s > 0 and math.isfinite(width_s)):
        raise InputError(f"risk windows: width {width_s!r} s is not > 0")
    if not (0.0 < share <= 1.0):
        raise InputError(f"risk windows: share {share!r} is not in (0, 1]")
    order = np.argsort(t, kind="stable")
    t, w = t[order], w[order]
    n = t.size
    total = float(w.sum())
    if n == 0 or total <= 0.0:
        return np.zeros(0, dtype=np.int64), order, 0.0
    goal = share * total * (1.0 - 1e-12)  # the DP's sums and the direct sum differ by rounding
    cum = np.concatenate(([0.0], np.cumsum(w)))
    nxt = np.searchsorted(t, t + width_s, side="right")
    held = cum[nxt] - cum[:-1]
    best = np.zeros(n + 1)
    idx = np.arange(n)
    back = []
    while True:
        if (len(back) + 1) * n > MAX_WINDOW_CELLS:
            raise InputError(f"risk windows: {n:,} encounters need more than {len(back):,} windows; "
                             f"choose a shorter period or wider windows")
        g = held + best[nxt]
        suffix = np.maximum.accumulate(g[::-1])[::-1]
        after = np.append(suffix[1:], -np.inf)
        record = np.where(g >= after, idx, n)
        arg = np.minimum.accumulate(record[::-1])[::-1].astype(np.int32)
        back.append(arg)
        best = np.append(suffix, 0.0)
        if best[0] >= goal or len(back) >= n:
            break
    anchors = []
    i = 0
    for arg in reversed(back):  # level k, then k-1, ... from the first point not yet held
        if i >= n:
            break
        j = int(arg[i])
        anchors.append(j)
        i = int(nxt[j])
    return np.array(anchors, dtype=np.int64), order, float(best[0])


@dataclasses.dataclass
class RiskWindow:
    start_s: float            # s since the analysis start
    end_s: float
    start_utc: str
    end_utc: str
    expected_collisions: float  # mean over realizations of the expected collisions in the window
    share: float                # of the period's mean expected collisions
    realizations: int           # realizations with an encounter in the window
    encounters: int


@dataclasses.dataclass
class RiskWindows:
    """The shelter schedule of one target: `windows` in time order, together holding `covered`
    of the period's mean expected collisions `total` (mean over `n_realizations`)."""

    target: str
    share_goal: float
    width_s: float
    period_s: tuple
    n_realizations: int
    total: float
    covered: float
    windows: list

    @property
    def share(self) -> float:
        return self.covered / self.total if self.total > 0 else 0.0

    @property
    def minutes(self) -> float:
        return len(self.windows) * self.width_s / 60.0

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["period_s"] = list(self.period_s)
        d["share"] = self.share
        d["minutes"] = self.minutes
        return d


def risk_windows(results, target=None, *, share: float = 0.9, width_s: float = 120.0,
                 within_h: float = 24.0, start_h: float = 0.0) -> RiskWindows:
    """The shelter schedule of a run: the fewest windows of `width_s` seconds that together carry
    `share` of the mean expected collisions of `target` between start_h and start_h + within_h
    hours after the analysis start (see `table_risk_windows`, exact).

    results: an engine.results.RunResults or a results file path. target: a target name or
    index; None for a run with one target. InputError (one line) if the results hold no
    encounter table (written before fragrisk recorded it, or with [analysis] encounters =
    "none") or the target is unknown.
    """
    from .results import RunResults, read_results

    label = "results"
    if not isinstance(results, RunResults):
        label = str(results)
        results = read_results(results)
    table = results.encounters
    if table is None:
        raise InputError(no_table_message(label, results.attrs))
    names = results.target_names.tolist()
    k = target_index(names, target, label)
    if not (within_h > 0 and math.isfinite(within_h)):
        raise InputError(f"risk windows: period of {within_h!r} h is not > 0")
    return table_risk_windows(table, k, results.n_realizations_held, share=share, width_s=width_s,
                              start_s=3600.0 * start_h, end_s=3600.0 * (start_h + within_h),
                              analysis_start=str(results.attrs.get("analysis_start")), target_name=names[k])


def no_table_message(label: str, attrs: Mapping[str, Any]) -> str:
    """The one line for results without an encounter table."""
    if attrs.get("encounters") == "none":
        why = 'the run had [analysis] encounters = "none"'
    else:
        why = "the file was written before fragrisk recorded encounters"
    return f"{label}: no encounter table ({why}); run the scenario again with [analysis] encounters = \"all\""


def target_index(names: Sequence[str], target, label: str) -> int:
    """Index of `target` (a name, an index or None for the only target) among names."""
    if target is None:
        if len(names) != 1:
            raise InputError(f"{label}: {len(names)} targets ({', '.join(names)}); name one")
        return 0
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if 0 <= int(target) < len(names):
            return int(target)
    elif str(target) in names:
        return names.index(str(target))
    raise InputError(f"{label}: no target {target!r}; the targets are {', '.join(names)}")


def table_risk_windows(table: EncounterTable, target: int, n_realizations: int, *, share: float = 0.9,
                       width_s: float = 120.0, start_s: float = 0.0, end_s: float = 86400.0,
                       analysis_start: str | None = None, target_name: str | None = None) -> RiskWindows:
    """The fewest windows of `width_s` seconds that together carry `share` of the mean expected
    collisions of target `target` between start_s and end_s (s since the analysis start).

    table: an EncounterTable; n_realizations: the realizations the mean is over (those of the
    results, including the ones without an encounter). Each encounter counts at its TCA with
    weight share / n_realizations. The count of windows is optimal (see `fewest_windows`); each
    window is then centred on the encounters it was chosen for, moved only as far as needed to
    stay clear of the window before it. For each window: start and end (s, and UTC when
    analysis_start is given), its mean expected collisions and share of the period's, and the
    number of realizations with an encounter in it.
    """
    if n_realizations < 1:
        raise InputError(f"risk windows: {n_realizations} realizations; expected >= 1")
    if not end_s > start_s:
        raise InputError(f"risk windows: period {start_s!r} .. {end_s!r} s is empty")
    sel = (table.target == target) & (table.tca_s >= start_s) & (table.tca_s <= end_s)
    t = table.tca_s[sel]
    w = table.expected_collisions[sel] / n_realizations
    reals = table.realization[sel]
    anchors, order, _ = fewest_windows(t, w, width_s, share)
    t, w, reals = t[order], w[order], reals[order]
    total = float(w.sum())
    nxt = np.searchsorted(t, t + width_s, side="right")
    starts = []
    prev_end = -np.inf
    for j in sorted(int(a) for a in anchors):
        a, b = t[j], t[nxt[j] - 1]
        s = max(0.5 * (a + b) - 0.5 * width_s, prev_end)
        starts.append(s)
        prev_end = s + width_s
    starts = np.array(starts)
    windows = []
    owner = np.searchsorted(starts, t, side="right") - 1
    inside = (owner >= 0) & (t <= starts[np.maximum(owner, 0)] + width_s) if starts.size else np.zeros(t.size, bool)
    covered = 0.0
    for i, s in enumerate(starts):
        mine = inside & (owner == i)
        lam = float(w[mine].sum())
        covered += lam
        windows.append(RiskWindow(
            start_s=float(s), end_s=float(s + width_s),
            start_utc=utc_after(analysis_start, s), end_utc=utc_after(analysis_start, s + width_s),
            expected_collisions=lam, share=lam / total if total > 0 else 0.0,
            realizations=int(np.unique(reals[mine]).size), encounters=int(mine.sum())))
    return RiskWindows(target_name if target_name is not None else str(target), float(share), float(width_s),
                       (float(start_s), float(end_s)), int(n_realizations), total, covered, windows)


def utc_after(analysis_start: str | None, seconds: float) -> str:
    """ISO 8601 UTC of `seconds` after analysis_start, to the millisecond ("" without a start)."""
    if analysis_start is None:
        return ""
    import datetime as _dt

    t = _dt.datetime.fromisoformat(str(analysis_start).replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    t = (t + _dt.timedelta(seconds=float(seconds))).astimezone(_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond // 1000:03d}Z"


def rate_per_bin(table: EncounterTable, target: int, n_realizations: int, edges_s) -> np.ndarray:
    """Mean expected collisions of `target` per time bin (edges_s, s since the analysis start),
    from the encounters at their TCA: (len(edges_s) - 1,)."""
    sel = table.target == target
    counts, _ = np.histogram(table.tca_s[sel], bins=np.asarray(edges_s, dtype=np.float64),
                             weights=table.expected_collisions[sel])
    return counts / max(int(n_realizations), 1)


# --------------------------------------------------------------------------------------------
# 5. rows for people: the largest encounters, CSV
# --------------------------------------------------------------------------------------------

#: Columns of encounter rows (`encounter_rows`), in CSV order.
ENCOUNTER_COLUMNS = ("target", "realization", "fragment", "tca_utc", "tca_s", "miss_km", "speed_km_s",
                     "expected_collisions", "lc_m")
#: Columns of window rows (`window_rows`), in CSV order.
WINDOW_COLUMNS = ("target", "start_utc", "end_utc", "start_s", "end_s", "expected_collisions", "share",
                  "realizations", "encounters")


def largest(table: EncounterTable, targets, top: int | None = None) -> np.ndarray:
    """Row indices of the encounters of `targets` (indices), largest share first (ties: table
    order), at most `top` of them (None: all)."""
    rows = np.flatnonzero(np.isin(table.target, np.asarray(list(targets), dtype=np.int64)))
    rows = rows[np.argsort(-table.expected_collisions[rows], kind="stable")]
    return rows if top is None else rows[:top]


def encounter_rows(table: EncounterTable, rows, target_names, analysis_start: str | None) -> list[dict]:
    """Plain dicts (ENCOUNTER_COLUMNS) of the table's `rows`: JSON- and CSV-ready."""
    out = []
    for i in np.asarray(rows, dtype=np.int64):
        out.append({
            "target": str(target_names[int(table.target[i])]),
            "realization": int(table.realization[i]), "fragment": int(table.fragment[i]),
            "tca_utc": utc_after(analysis_start, float(table.tca_s[i])), "tca_s": float(table.tca_s[i]),
            "miss_km": float(table.miss_km[i]), "speed_km_s": float(table.speed_km_s[i]),
            "expected_collisions": float(table.expected_collisions[i]), "lc_m": float(table.lc_m[i]),
        })
    return out


def window_rows(windows: RiskWindows) -> list[dict]:
    """Plain dicts (WINDOW_COLUMNS) of a schedule's windows."""
    return [{"target": windows.target, **{k: getattr(w, k) for k in WINDOW_COLUMNS if k != "target"}}
            for w in windows.windows]


def csv_text(rows: list[dict], columns: Sequence[str]) -> str:
    """CSV (RFC 4180, header first) of dict rows; floats with 17 significant digits."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([repr(v) if isinstance(v, float) else v for v in (row[c] for c in columns)])
    return buf.getvalue()
