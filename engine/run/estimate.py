"""The estimator on a batch's objects: screening (the prefilter and the threads' order), the
dispatch to the NumPy path (engine.physics.risk.fragment_rates) or the CUDA path
(kernels.risk_gpu.fragment_rates) over one time chunk, and the per-realization aggregates (rates
by time and size, objects in orbit, the encounter table). Both paths take the same inputs from
the same host stage; the reductions are shared.
"""

from __future__ import annotations

import time

import numpy as np

from ...kernels import risk_gpu
from ..orbits.closest_approach import closest_approach
from ..physics import risk
from ..physics.risk import Passages
from ..results.encounter_table import EncounterTable
from .objects import ObjectBatch
from .setup import Setup
from .window import Window

# --- screening: which objects each time chunk propagates, in which thread order ----------------

def sigma_over_volume(setup: Setup, objs: ObjectBatch):
    """sigma_ik / V_s (1/km), (n, K)."""
    return (risk.cross_section_km2(setup.targets.hard_body_radius_m, objs.lc_m)
            / risk.sphere_volume_km3(setup.kernel_radius_km))


def _whole_window(setup: Setup) -> tuple[int, int]:
    return 0, setup.window.times_s.size - 1


def screen(setup: Setup, objs: ObjectBatch, chunk=None):
    """The prefilter (engine.physics.risk.prefilter) over the time chunk (s0, s1) (default: the whole
    window): indices of the objects to propagate, their per-step reach (km) for the fused
    kernel's jumps, and the order in which the kernel's threads take them. With the prefilter
    off: everything, no jumps, in order.

    The order groups objects of similar work (a warp runs as long as its slowest thread): those
    that cannot jump (they may decay) together, the rest by their lowest radius. It only assigns
    threads: each object's results land in its own row, so sums keep the object order.
    """
    idx, reach, r_min = _prefilter(setup, objs, chunk)
    return idx, reach, thread_order(reach, r_min)


def _prefilter(setup: Setup, objs: ObjectBatch, chunk=None):
    """screen without the thread order: (idx, reach_km, r_min_km) of the objects to propagate."""
    w, tg = setup.window, setup.targets
    n = objs.lc_m.size
    if not setup.use_prefilter:
        return np.arange(n), np.zeros(n), np.zeros(n)
    s0, s1 = _whole_window(setup) if chunk is None else chunk
    must, reach, r_min = risk.prefilter(objs.table, objs.offset_min + w.times_min[s0], objs.offset_min + w.times_min[s1],
                                        w.step_s, tg.r_km[:, s0:s1 + 1], tg.valid[:, s0:s1 + 1],
                                        setup.kernel_radius_km)
    idx = np.flatnonzero(must)
    return idx, reach[idx], r_min[idx]


def thread_order(reach, r_min):
    """The order in which the kernel's threads take objects (see screen): those that cannot jump
    first, then the rest by their lowest radius."""
    return np.lexsort((np.nan_to_num(r_min), reach > 0))


# --- the estimator over one time chunk, on either device ------------------------------------------

def _rows_of_batch(found, idx, first_sample: int = 0):
    """Passages whose rows index the screened subset idx, and whose segments count from a time
    chunk's first sample -> rows of the whole batch, segments of the whole window."""
    found.row = np.asarray(idx, dtype=np.int64)[found.row]
    found.first = found.first + first_sample
    found.last = found.last + first_sample
    return found


def join_passages(parts) -> Passages:
    """The passages of consecutive time chunks as the whole window's: a run of segments that
    crosses from one chunk into the next was cut in two there, and is joined again (its chord
    lengths summed in time order, as one chunk would)."""
    p = Passages.concat(list(parts)).sorted()
    if p.size < 2:
        return p
    same_run = (p.row[1:] == p.row[:-1]) & (p.target[1:] == p.target[:-1]) & (p.first[1:] == p.last[:-1] + 1)
    if not same_run.any():
        return p
    starts = np.flatnonzero(np.r_[True, ~same_run])
    ends = np.append(starts[1:], p.size) - 1
    return Passages(p.row[starts], p.target[starts], p.first[starts], p.last[ends],
                                   np.add.reduceat(p.length_km, starts))


def _chunk_inputs(setup: Setup, chunk):
    """The window's samples, targets and bins of time chunk (s0, s1): (times_min, target r_km,
    target valid, seg_bin local to the chunk's first bin, number of bins)."""
    w, tg = setup.window, setup.targets
    s0, s1 = _whole_window(setup) if chunk is None else chunk
    b0, b1 = w.chunk_bins((s0, s1))
    return (w.times_min[s0:s1 + 1], tg.r_km[:, s0:s1 + 1], tg.valid[:, s0:s1 + 1],
            (w.seg_bin[s0:s1] - b0).astype(np.int32), b1 - b0)


def object_rates_numpy(setup: Setup, objs: ObjectBatch, idx, reach, chunk=None, *, passages: bool = False):
    """engine.physics.risk.fragment_rates on the objects idx (with their per-step reach, km, 0: no
    jumps) over the time chunk (s0, s1) (default: the whole window): lam (len(idx), K, the
    chunk's bins), decay samples counted from s0[, passages: rows index idx, segments from s0]."""
    times_min, r_km, valid, seg_bin, n_bins = _chunk_inputs(setup, chunk)
    return risk.fragment_rates(np.ascontiguousarray(objs.table[:, idx]), objs.offset_min[idx], times_min,
                               r_km, valid, sigma_over_volume(setup, objs)[idx], setup.kernel_radius_km,
                               seg_bin, n_bins, reach_km=reach, passages=passages)


def object_rates_gpu(setup: Setup, objs: ObjectBatch, idx, reach, order, chunk=None, *, passages: bool = False):
    """kernels/risk.cu on the objects idx (with their per-step reach, km, 0: no jumps; threads
    take them in `order`) over the time chunk (s0, s1) (default: the whole window): (lam
    (len(idx), K, the chunk's bins), decay counted from s0) as cupy arrays, rows as idx; with
    passages also the passages (NumPy; rows index idx, segments count from s0)."""
    import cupy

    times_min, r_km, valid, seg_bin, n_bins = _chunk_inputs(setup, chunk)
    return risk_gpu.fragment_rates(
        cupy.asarray(np.ascontiguousarray(objs.table[:, idx])), cupy.asarray(objs.offset_min[idx]),
        cupy.asarray(np.ascontiguousarray(times_min)), cupy.asarray(np.ascontiguousarray(r_km)),
        cupy.asarray(np.ascontiguousarray(valid).astype(np.uint8)),
        cupy.asarray(np.ascontiguousarray(sigma_over_volume(setup, objs)[idx])), setup.kernel_radius_km,
        cupy.asarray(seg_bin), n_bins, reach_km=cupy.asarray(np.ascontiguousarray(reach, dtype=np.float64)),
        order=cupy.asarray(np.asarray(order, dtype=np.int64)), passages=passages)


def chunk_rates(setup: Setup, objs: ObjectBatch, realizations, idx, reach, order, chunk, *, passages: bool = False):
    """The estimator on the objects idx over one time chunk, reduced where the rates live.

    realizations: sorted (R,). Returns by_time (R, K, the chunk's bins) (sums over each
    realization's objects in their order), totals (len(idx), K), decay (len(idx),) counted from
    the chunk's first sample (its sample count where none), seconds, and the passages
    (engine.physics.risk.Passages: rows index objs, segments the window's; None without
    passages). On the GPU the (objects, K, bins) rates never leave the device: kernels/risk.cu's
    segment_sum reduces them.
    """
    start = time.perf_counter()
    rows_realization = objs.realization[idx]
    s0 = _whole_window(setup)[0] if chunk is None else chunk[0]
    if setup.device != "gpu":
        lam, decay, *more = object_rates_numpy(setup, objs, idx, reach, chunk, passages=passages)
        return (_sum_by_realization(lam, rows_realization, realizations), lam.sum(axis=2), decay,
                time.perf_counter() - start, _rows_of_batch(more[0], idx, s0) if passages else None)
    import cupy

    lam_d, decay_d, *more = object_rates_gpu(setup, objs, idx, reach, order, chunk, passages=passages)
    n, K, T = lam_d.shape
    R = len(realizations)
    rows = np.searchsorted(realizations, rows_realization)
    starts = np.searchsorted(rows, np.arange(R + 1)).astype(np.int64)
    by_time = cupy.asnumpy(risk_gpu.segment_sum(lam_d.reshape(n, K * T), cupy.asarray(starts))).reshape(R, K, T)
    totals = cupy.asnumpy(lam_d.sum(axis=2))
    decay = cupy.asnumpy(decay_d)
    del lam_d
    return (by_time, totals, decay, time.perf_counter() - start,
            _rows_of_batch(more[0], idx, s0) if passages else None)


# --- aggregation: per-realization sums, objects in orbit, the encounter table ---------------------

def _sum_by_realization(x, pop_realization, realizations):
    """Sums of x (n, ...) over the objects of each realization, in object order: (R, ...)."""
    rows = np.searchsorted(realizations, pop_realization)
    out = np.zeros((len(realizations),) + x.shape[1:])
    present = np.bincount(rows, minlength=len(realizations)) > 0
    if present.any():
        out[present] = np.add.reduceat(x, np.searchsorted(rows, np.flatnonzero(present)), axis=0)
    return out


def in_orbit_by_realization(decay, pop_realization, realizations, window: Window, never_decay=None):
    """Mean number of objects in orbit during each time bin, per realization: (R, T).

    Segment j (samples j, j+1) of an object is in orbit when j + 1 < its decay sample; a bin's
    value is the mean over its segments. never_decay (R,): objects of each realization left out
    of `decay` because they provably stay in orbit (the prefilter). Computed per bin from where
    each object's last segment falls, so memory and cost grow with objects and bins, not samples
    (integer counts: exact in float64, in any order).
    """
    m = window.times_s.size
    R, T = len(realizations), window.n_bins
    counts = window.segments_per_bin()
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))               # first segment of each bin
    rows = np.searchsorted(realizations, pop_realization)
    alive = np.clip(np.asarray(decay, dtype=np.int64) - 1, 0, max(m - 1, 0))  # segments 0..alive-1 in orbit
    ends = alive < m - 1                                                # out of orbit before the end
    end_bin = np.full(alive.shape, T)                                   # bin of the first segment out
    end_bin[ends] = window.seg_bin[alive[ends]]
    # Per realization: whole bins before each object's end bin, plus its segments in the end bin.
    ending = np.zeros((R, T + 1))
    np.add.at(ending, (rows, end_bin), 1.0)
    beyond = ending[:, ::-1].cumsum(axis=1)[:, ::-1]                    # beyond[:, b] = #(end_bin >= b)
    if never_decay is not None:
        beyond += np.asarray(never_decay, dtype=np.float64)[:, None]
    sums = beyond[:, 1:] * counts[None, :]
    np.add.at(sums, (rows[ends], end_bin[ends]), (alive[ends] - first[end_bin[ends]]).astype(np.float64))
    return sums / np.maximum(counts, 1)[None, :]


def aggregate(realizations, objs, by_time, totals, decay, window: Window, size_edges, never_decay=None):
    """Per-realization results of a batch: by_time (K, R, T), by_size (K, R, S), in orbit (R, T)."""
    R = len(realizations)
    S = size_edges.size - 1
    K = totals.shape[1]
    rows = np.searchsorted(realizations, objs.realization)
    size_bin = np.clip(np.searchsorted(size_edges, objs.lc_m, side="right") - 1, 0, S - 1)
    by_size = np.zeros((R, K, S))
    for k in range(K):
        np.add.at(by_size[:, k, :], (rows, size_bin), totals[:, k])
    in_orbit = in_orbit_by_realization(decay, objs.realization, realizations, window, never_decay)
    return by_time.transpose(1, 0, 2), by_size.transpose(1, 0, 2), in_orbit


def encounter_table(setup: Setup, objs: ObjectBatch, found) -> EncounterTable:
    """The batch's encounter table from its passages: closest approach refined with SGP4 on the
    host (engine.orbits.closest_approach; the same step for both devices), shares of lambda
    = chord length x sigma_ik / V_s, rows in canonical order."""
    w, tg = setup.window, setup.targets
    tca = closest_approach(
        found, objs.table, objs.offset_min, w.times_min, tg.r_km,
        [t.elements for t in setup.scenario.targets], w.start_jd, w.start_fr)
    sov = sigma_over_volume(setup, objs)
    return passages_table(objs, found, tca, found.length_km * sov[found.row, found.target])


def passages_table(objs: ObjectBatch, found, tca, expected_collisions) -> EncounterTable:
    """The encounter table of a batch's passages `found` (rows index objs), their closest
    approaches `tca` and their shares of lambda (P,), rows in canonical order."""
    return EncounterTable(
        realization=np.asarray(objs.realization, dtype=np.int64)[found.row],
        target=found.target.astype(np.int64),
        fragment=objs.fragment_index()[found.row],
        tca_s=tca.tca_min * 60.0,
        miss_km=tca.miss_km,
        speed_km_s=tca.speed_km_s,
        expected_collisions=expected_collisions,
        lc_m=np.asarray(objs.lc_m, dtype=np.float64)[found.row],
    ).canonical()
