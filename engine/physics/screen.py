"""Screening fragments against targets: the pairs close enough, per time sample, to matter.

The all-pairs estimator costs fragments x targets x samples. This screen costs the points (one
per object and sample) and the close pairs: at each sample the targets are hashed into a cubic
grid of cell edge D, and each fragment looks in the 27 cells around its own, so every pair
within D at that sample is found, and (almost) no other (`close_pairs`).

What D must be so that nothing is missed (`screen_radius_km`): between samples j and j+1 (step
dt) the fragment-target separation d(t) moves from d_j to d_j+1.

- Flux (the chord of the secant d_j -> d_j+1 inside the kernel sphere of radius R_s): a point of
  the segment within R_s of the target is within |d_j+1 - d_j| / 2 of the nearer end, and
  |d_j+1 - d_j| <= c_f + c_t, the two objects' own secant steps (their sampled positions).  So
  min(|d_j|, |d_j+1|) <= R_s + (c_f + c_t) / 2 for every segment with a positive chord.
- Conjunctions (a local minimum of the true, SGP4 distance below a threshold D_c): |d(t) - d_j|
  <= (v_f + v_t)(t - t_j) with v the objects' speed bounds, so a separation <= D_c anywhere in
  [t_j, t_j+1] means min(|d_j|, |d_j+1|) <= D_c + (v_f + v_t) dt / 2.

With D the larger of the two, a pair found at neither end of a segment has no chord and no
conjunction there: the screen misses nothing the all-pairs evaluation would find
(tests/test_screen.py checks it against brute force).  The speed bound of an object is the
perigee speed of the ellipse spanning its radius bounds (engine.physics.risk.speed_bound_km_s,
2 % margin); where those bounds are not certain (B* < 0, deep space) the escape speed at the
decay altitude, which no object in orbit above it exceeds (v^2 = mu (2/r - 1/a) < 2 mu / r).
"""

from __future__ import annotations

import math

import numpy as np

from . import risk
from . import sgp4_numpy as sgp4
from .constants import DECAY_RADIUS_KM

#: Speed no bound orbit above the decay altitude reaches (km/s), with risk.SPEED_MARGIN.
UNIVERSAL_SPEED_KM_S = risk.SPEED_MARGIN * math.sqrt(2.0 * sgp4.MU_KM3_S2 / DECAY_RADIUS_KM)
#: Points (objects x samples) of the fragments looked up at once: bounds the temporaries
#: (27 lookups each) to some hundreds of MB whatever the run.
POINTS_PER_LOOKUP = 1 << 18
#: Candidate pairs (a point and the b points of one of its cells) checked at once: about 100
#: bytes each in temporaries.
PAIRS_PER_SLICE = 1 << 21
_OFFSETS = np.array([(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)],
                    dtype=np.int64)


def speed_bounds_km_s(table, t0_min, t1_min) -> np.ndarray:
    """(n,) upper bounds on the speed of n near-earth objects over [t0_min, t1_min] (minutes
    since each epoch): risk.speed_bound_km_s of their radius bounds where those are certain,
    else UNIVERSAL_SPEED_KM_S."""
    r_min, r_max, certain = risk.radius_bounds_km(table, t0_min, t1_min)
    with np.errstate(all="ignore"):
        v = risk.speed_bound_km_s(r_min, r_max)
    ok = certain & np.isfinite(v) & (v > 0.0)
    return np.where(ok, np.minimum(v, UNIVERSAL_SPEED_KM_S), UNIVERSAL_SPEED_KM_S)


def screen_radius_km(kernel_radius_km: float, max_threshold_km: float, frag_step_km: float,
                     target_step_km: float, frag_speed_km_s: float, target_speed_km_s: float,
                     step_s: float) -> float:
    """D of the module docstring: the larger of R_s + (c_f + c_t) / 2 (flux; c the largest
    secant steps, km) and D_c + (v_f + v_t) dt / 2 (conjunctions; v the largest speed bounds;
    0 thresholds: no conjunctions counted)."""
    flux = kernel_radius_km + 0.5 * (frag_step_km + target_step_km)
    conj = 0.0
    if max_threshold_km > 0.0:
        conj = max_threshold_km + 0.5 * (frag_speed_km_s + target_speed_km_s) * step_s
    return float(max(flux, conj))


def close_pairs(a_km, b_km, radius_km: float):
    """Every (a, b, sample) with |a_km[a, sample] - b_km[b, sample]| <= radius_km.

    a_km (na, s, 3), b_km (nb, s, 3): positions at s common samples (km), NaN where an object
    is not to be paired (decayed, or an SGP4 error).  Returns three int64 arrays (P,) in no
    particular order, P the number of such pairs.  Cost: (na + nb) s points hashed and looked
    up 27 times, plus the pairs found in the cells (within sqrt(12) D of each other).
    """
    a_km = np.asarray(a_km, dtype=np.float64)
    b_km = np.asarray(b_km, dtype=np.float64)
    empty = (np.zeros(0, dtype=np.int64),) * 3
    if a_km.size == 0 or b_km.size == 0:
        return empty
    cell = float(radius_km)
    if not cell > 0.0:
        raise ValueError(f"close_pairs: radius_km = {radius_km!r}, expected > 0")
    s = a_km.shape[1]
    b_obj, b_t = np.nonzero(np.isfinite(b_km).all(axis=2))
    a_valid = np.isfinite(a_km).all(axis=2)
    if a_valid.sum() > 2 * b_obj.size:   # hash the larger set, look the smaller one up: same pairs
        ib, ia, t = close_pairs(b_km, a_km, radius_km)
        return ia, ib, t
    if b_obj.size == 0 or not a_valid.any():
        return empty
    b_cell = np.floor(b_km[b_obj, b_t] / cell).astype(np.int64)
    a_cells = np.floor(np.where(a_valid[..., None], a_km, 0.0) / cell).astype(np.int64)
    lo = np.minimum(b_cell.min(axis=0), a_cells[a_valid].min(axis=0)) - 1
    hi = np.maximum(b_cell.max(axis=0), a_cells[a_valid].max(axis=0)) + 1
    span = hi - lo + 1
    if float(s) * float(np.prod(span.astype(np.float64))) >= 2.0**62:
        raise ValueError("close_pairs: the grid is too fine for its extent (radius_km too small)")
    stride = np.array([span[1] * span[2], span[2], 1], dtype=np.int64)
    sample_stride = int(np.prod(span))

    def key(t, c):
        return t * sample_stride + (c - lo) @ stride

    b_key = key(b_t, b_cell)
    order = np.argsort(b_key, kind="stable")
    b_key_sorted = b_key[order]
    cells, first = np.unique(b_key_sorted, return_index=True)
    count = np.diff(np.append(first, b_key_sorted.size))
    offsets = _OFFSETS @ stride

    a_obj_all, a_t_all = np.nonzero(a_valid)
    out = [[], [], []]
    for p0 in range(0, a_obj_all.size, POINTS_PER_LOOKUP):
        a_obj = a_obj_all[p0:p0 + POINTS_PER_LOOKUP]
        a_t = a_t_all[p0:p0 + POINTS_PER_LOOKUP]
        base = key(a_t, a_cells[a_obj, a_t])
        q = (base[:, None] + offsets[None, :]).ravel()
        at = np.searchsorted(cells, q)
        at_c = np.minimum(at, cells.size - 1)
        hit = cells[at_c] == q
        point_all = np.repeat(np.arange(a_obj.size), offsets.size)[hit]
        start_all, n_all = first[at_c[hit]], count[at_c[hit]]
        # The candidates (a point against every b point of a cell) in slices of PAIRS_PER_SLICE,
        # so their temporaries stay bounded however crowded the cells.
        edges = np.searchsorted(np.cumsum(n_all), np.arange(PAIRS_PER_SLICE, int(n_all.sum()) + PAIRS_PER_SLICE,
                                                          PAIRS_PER_SLICE), side="right")
        lo_cell = 0
        for hi_cell in np.append(np.unique(np.maximum(edges, 1)), n_all.size):
            hi_cell = int(min(max(hi_cell, lo_cell + 1), n_all.size))
            if hi_cell <= lo_cell:
                continue
            point, start, n = point_all[lo_cell:hi_cell], start_all[lo_cell:hi_cell], n_all[lo_cell:hi_cell]
            lo_cell = hi_cell
            total = int(n.sum())
            if total == 0:
                continue
            owner = np.repeat(np.arange(n.size), n)
            pos = np.arange(total) - np.repeat(np.cumsum(n) - n, n) + start[owner]
            b_row = order[pos]
            pa = point[owner]
            ia, t = a_obj[pa], a_t[pa]
            ib = b_obj[b_row]
            d = a_km[ia, t] - b_km[ib, t]
            near = np.einsum("ij,ij->i", d, d) <= cell * cell
            out[0].append(ia[near])
            out[1].append(ib[near])
            out[2].append(t[near])
    if not out[0]:
        return empty
    return tuple(np.concatenate(x).astype(np.int64) for x in out)
