"""The Monte Carlo risk engine: realizations of the cloud -> expected collisions per target.

Read top-down:
1. `Window`            the sample times, time bins and segment -> bin map of the analysis, and
                       its time chunks (the estimator takes a long window a chunk at a time).
2. `TargetTrack`       the targets, propagated once per run (not once per fragment).
3. `Setup`             everything a batch needs that does not depend on the realization.
4. `prepare_batch`     the host stage of a batch: sample, fit, SGP4 table, prefilter (NumPy).
   `estimate_batch`    the estimator stage: every time chunk on the device, then aggregates
                       and the batch's encounter table (engine.results.encounter_table);
   `run_batch`         both.
5. `batch_size_for_memory`  GPU batches sized from the free device memory.
6. `run`               batches -> RunOutput, with the next batch's host stage done meanwhile
                       (`HostStage`: a host thread, or engine.run.pool's worker processes);
   `to_results`        -> engine.results.RunResults.

Realization r of seed s depends only on (s, r) (engine.physics.breakup.realization_rng), and every
aggregate is a sum over a realization's own fragments in their own order, so results do not
depend on batch sizes, shards, workers, prefetching or the device's memory. The NumPy path
(engine.physics.risk.fragment_rates) and the CUDA path (kernels/risk.cu) compute the same per-fragment
rates from the same host stage; the aggregation is shared.
"""

from __future__ import annotations

import dataclasses
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ...kernels import risk_gpu
from .. import cloud as cloud_mod
from ..errors import DeviceMemoryError, one_line
from ..orbits.closest_approach import closest_approach
from ..orbits.elements import concat
from ..orbits.propagation import offset_minutes, propagate_elements
from ..physics import risk
from ..physics.risk import Passages
from ..results import RunResults
from ..results.encounter_table import EncounterTable
from ..scenario import breakup_params
from ..timeutil import minutes_between

#: Default realizations of the CPU backend when none are asked for: sized so the built-in
#: scenario (7 days at 60 s, ~1,400 propagated fragments a realization) ends within 3 minutes
#: on one core: about 3 s of processor time a realization on this project's 2-core machines
#: (benchmarks/results/run_cpu.json), so 30 take about 90 s, spread over every core
#: (engine.run.pool), with room for a busy machine.
CPU_DEFAULT_REALIZATIONS = 30


#: Segments (time steps) the estimator takes at once: per-fragment work arrays and the
#: (objects, targets, bins) rate buffer cover one such time chunk, not the window, so a year at
#: 60 s steps needs no more memory than 11 days. A constant, never sized to the machine: chunk
#: boundaries decide the order of floating-point sums, and results must not depend on where a
#: run ran. Windows up to this long are one chunk.
CHUNK_SEGMENTS = 1 << 14


@dataclasses.dataclass(frozen=True)
class Window:
    """Sample times and bins of an analysis.

    times_s (m,): sample times since the analysis start (0, step, ..., <= duration).
    time_edges_s (T+1,): time bins (default hourly; the last bin ends at the last sample).
    seg_bin (m-1,): time bin of each segment between consecutive samples.
    start_jd, start_fr: the analysis start (split Julian date).
    chunks: time chunks ((s0, s1), ...): samples s0..s1 (segments s0..s1-1), consecutive chunks
        sharing a sample, covering the window (time_chunks).
    """

    times_s: np.ndarray
    time_edges_s: np.ndarray
    seg_bin: np.ndarray
    start_jd: float
    start_fr: float
    step_s: float
    chunks: tuple = ()

    @property
    def times_min(self) -> np.ndarray:
        return self.times_s / 60.0

    @property
    def n_bins(self) -> int:
        return self.time_edges_s.size - 1

    def segments_per_bin(self) -> np.ndarray:
        return np.bincount(self.seg_bin, minlength=self.n_bins)

    def chunk_bins(self, chunk) -> tuple[int, int]:
        """The time bins [b0, b1) that the segments of `chunk` (s0, s1) fall in."""
        s0, s1 = chunk
        if s1 <= s0:
            return 0, self.n_bins
        return int(self.seg_bin[s0]), int(self.seg_bin[s1 - 1]) + 1

    def max_chunk_bins(self) -> int:
        return max(b1 - b0 for b0, b1 in map(self.chunk_bins, self.chunks))


def time_chunks(seg_bin, max_segments: int = CHUNK_SEGMENTS) -> tuple:
    """Split the segments of a window into chunks of at most max_segments, each ending where a
    time bin starts (a bin longer than a chunk is split): ((s0, s1), ...) in samples."""
    n_seg = int(seg_bin.size)
    bounds = [0]
    while bounds[-1] < n_seg:
        lo, hi = bounds[-1], bounds[-1] + max_segments
        if hi < n_seg:
            bin_start = int(np.searchsorted(seg_bin, seg_bin[hi], side="left"))
            hi = bin_start if bin_start > lo else hi
        bounds.append(min(hi, n_seg))
    if len(bounds) == 1:  # a single sample: no segments
        return ((0, 0),)
    return tuple((a, b) for a, b in zip(bounds[:-1], bounds[1:]))


def analysis_window(analysis, chunk_segments: int = CHUNK_SEGMENTS) -> Window:
    """Samples every step_s from the start up to the last whole step within the duration (uniform
    steps: the fused kernel's jumps and the prefilter's chord bounds rely on them), hourly (or
    time_bin_s) bins, the last one ending at the last sample; time chunks of chunk_segments."""
    duration_s = analysis.duration_days * 86400.0
    m = int(math.floor(duration_s / analysis.step_s + 1e-9)) + 1
    times_s = np.arange(m) * float(analysis.step_s)
    end_s = times_s[-1]
    edges = np.arange(0.0, end_s, float(analysis.time_bin_s))
    edges = np.append(edges, end_s) if edges.size else np.array([0.0, end_s])
    seg_bin = risk.segment_bins(times_s, edges).astype(np.int32)
    return Window(times_s, edges, seg_bin, analysis.start_jd, analysis.start_fr, float(analysis.step_s),
                  time_chunks(seg_bin, chunk_segments))


def pc_edges_log10(bins_per_decade: int) -> np.ndarray:
    """log10 P bin edges of the collision-probability histogram: from 1e-12 to 1, bins_per_decade
    bins per decade (exact at the decades: integers divided by the count)."""
    n = int(bins_per_decade)
    return np.arange(-12 * n, 1, dtype=np.float64) / n


def size_edges_m(lc_min_m: float) -> np.ndarray:
    """Size bins: one per decade of Lc from lc_min up to 100 m (remnants can be metres)."""
    n_decades = int(math.ceil(math.log10(100.0 / lc_min_m) - 1e-9))
    return lc_min_m * 10.0 ** np.arange(n_decades + 1)


@dataclasses.dataclass(frozen=True)
class TargetTrack:
    """K targets at the m samples: names, hard-body radii (m), positions r_km (K, m, 3) TEME,
    valid (K, m) bool (SGP4 error code 0), perigee/apogee altitude (K,) km of their elements."""

    names: tuple
    hard_body_radius_m: np.ndarray
    r_km: np.ndarray
    valid: np.ndarray
    perigee_km: np.ndarray
    apogee_km: np.ndarray


def track_targets(targets, window: Window, device: str) -> TargetTrack:
    """The targets at every sample, propagated a time chunk at a time (SGP4's temporaries and the
    velocities, which the estimator does not need, then cover one chunk, not the window)."""

    elements = concat([t.elements for t in targets])
    m = window.times_s.size
    r_km = np.empty((len(targets), m, 3))
    valid = np.empty((len(targets), m), dtype=bool)
    for lo in range(0, m, CHUNK_SEGMENTS):
        hi = min(m, lo + CHUNK_SEGMENTS)
        eph = propagate_elements(elements, window.start_jd, window.start_fr, window.times_min[lo:hi], device=device)
        r_km[:, lo:hi], valid[:, lo:hi] = eph.r_km, eph.error == 0
    return TargetTrack(tuple(t.name for t in targets), np.array([t.hard_body_radius_m for t in targets], float),
                       r_km, valid, np.asarray(elements.perigee_km, float), np.asarray(elements.apogee_km, float))


@dataclasses.dataclass
class Setup:
    """What every batch of a run shares."""

    scenario: object
    device: str
    window: Window
    targets: TargetTrack
    size_edges_m: np.ndarray
    kernel_radius_km: float
    use_prefilter: bool = True


def make_setup(scenario, device: str, use_prefilter: bool = True, chunk_segments: int = CHUNK_SEGMENTS) -> Setup:
    window = analysis_window(scenario.analysis, chunk_segments)
    lc_min = scenario.event.lc_min_m if scenario.event is not None else 0.1
    return Setup(scenario, device, window, track_targets(scenario.targets, window, device),
                 size_edges_m(lc_min), float(scenario.analysis.kernel_radius_km), use_prefilter)


@dataclasses.dataclass
class BatchResult:
    """Per-realization aggregates of one batch (R realizations, K targets, T time bins, S sizes)."""

    realization: np.ndarray            # (R,)
    by_time: np.ndarray                # (K, R, T)
    by_size: np.ndarray                # (K, R, S)
    fragments_in_orbit: np.ndarray     # (R, T)
    n_fragments: np.ndarray            # (R,)
    status_counts: np.ndarray          # (5,) fragments per status over the batch
    gabbard: tuple | None              # (apogee_km, perigee_km, period_min) of realization 0
    fragment_steps: int                # kept fragments x samples
    propagated_steps: int              # fragment-samples propagated after the prefilter
    kernel_s: float                    # time in the estimator proper
    encounters: object = None          # engine.results.encounter_table.EncounterTable, None when not recorded
    host_s: float = 0.0                # time in the host stage (sampling, fit, table, prefilter)


@dataclasses.dataclass
class ObjectBatch:
    """The objects of one batch, as the estimator needs them: SGP4 table of the propagated
    objects (a cloud's kept fragments, or a [population] scenario's objects), their realization,
    size and minutes from epoch to the analysis start."""

    table: np.ndarray          # (N_COEFFICIENTS, n)
    realization: np.ndarray    # (n,) sorted
    lc_m: np.ndarray           # (n,)
    offset_min: np.ndarray     # (n,)
    #: (n,) int64, for the encounter table: each object's position among its realization's
    #: fragments in `fragrisk sample` order (None: the rows' own order within each realization)
    fragment: np.ndarray | None = None

    def fragment_index(self) -> np.ndarray:
        if self.fragment is not None:
            return np.asarray(self.fragment, dtype=np.int64)
        return _position_in_group(self.realization)

    def take(self, rows) -> "ObjectBatch":
        """The objects `rows` (their fragment index kept, whatever the rows left out)."""
        return ObjectBatch(np.ascontiguousarray(self.table[:, rows]), self.realization[rows], self.lc_m[rows],
                           self.offset_min[rows], self.fragment_index()[rows])


def _position_in_group(labels) -> np.ndarray:
    """Position of each element among the consecutive elements with the same label: (n,) int64."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.r_[True, labels[1:] != labels[:-1]]
    start = np.flatnonzero(new)
    return np.arange(labels.size, dtype=np.int64) - start[np.cumsum(new) - 1]


def fragment_objects(setup: Setup, realizations):
    """The kept fragments of `realizations` as an ObjectBatch, with the batch's status counts (5,),
    fragments sampled per realization (R,) and the Gabbard data of realization 0 (or None).

    The element fit runs on the host (NumPy) whatever the device: the whole host stage then gives
    the same fragments and SGP4 tables, bit for bit, on either backend, and runs in any process
    or thread (engine.run.pool prepares GPU batches on every core while the kernel runs)."""
    sc = setup.scenario
    cl = cloud_mod.sample_cloud(sc, realizations, "cpu")
    kept = cl.kept
    offset = minutes_between(setup.window.start_jd, setup.window.start_fr, cl.epoch_jd, cl.epoch_fr)
    # Fragments come by realization, then as sampled (engine.physics.breakup.sample): the order of
    # `fragrisk sample`, whatever the batch.
    position = _position_in_group(cl.fragments.realization)
    objs = ObjectBatch(cl.sgp4_table(), cl.fragments.realization[kept], cl.fragments.lc_m[kept],
                       np.full(int(kept.sum()), offset), position[kept])
    counts = np.bincount(cl.status, minlength=cloud_mod.N_STATUSES)
    realizations = np.asarray(realizations, dtype=np.int64)
    by_value = np.argsort(realizations, kind="stable")  # one pass over the fragments, not R
    rows = by_value[np.searchsorted(realizations[by_value], cl.fragments.realization)]
    n_frag = np.bincount(rows, minlength=realizations.size).astype(np.int64)
    gabbard = None
    if 0 in set(int(r) for r in realizations):
        sel = (cl.fragments.realization == 0) & (cl.status != cloud_mod.STATUS_HYPERBOLIC)
        gabbard = cloud_mod.osculating_orbit(cl.position_km[sel], cl.velocity_km_s[sel])
    return objs, counts, n_frag, gabbard


def catalog_objects(setup: Setup):
    """A [population] scenario's near-earth objects as one realization (points: Lc = 0), with the
    same companions as fragment_objects (deep-space objects counted as status 4)."""

    el = setup.scenario.population.elements
    near = ~np.asarray(el.is_deep_space)
    objects = el.take(near)
    n = int(near.sum())
    objs = ObjectBatch(objects.sgp4_table(), np.zeros(n, dtype=np.int64), np.zeros(n),
                       offset_minutes(objects, setup.window.start_jd, setup.window.start_fr),
                       np.flatnonzero(near).astype(np.int64))
    counts = np.zeros(cloud_mod.N_STATUSES, dtype=np.int64)
    counts[cloud_mod.STATUS_KEPT], counts[cloud_mod.STATUS_DEEP_SPACE] = n, int((~near).sum())
    return objs, counts, np.array([len(el)], dtype=np.int64), None


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


def records_encounters(setup: Setup) -> bool:
    """[analysis] encounters = "all": the estimator records every passage (engine.results.encounter_table)."""
    return setup.scenario.analysis.encounters == "all"


def object_rates(setup: Setup, objs: ObjectBatch, *, passages: bool = False):
    """Per-object rates (n, K, T) and decay samples (n,) over the whole window on the setup's
    device, with the prefilter (the driver of engine.physics.risk.fragment_rates and its CUDA twin
    kernels.risk_gpu.fragment_rates; skipped objects: 0 and never decayed), in one piece (no time
    chunks: the reference that run_batch's chunks are tested against). Returns (lam, decay,
    propagated, seconds), and with passages=True also the passages (engine.physics.risk.Passages,
    rows index objs)."""
    w = setup.window
    n, K = objs.lc_m.size, len(setup.targets.names)
    idx, reach, order = screen(setup, objs)
    lam = np.zeros((n, K, w.n_bins))
    decay = np.full(n, w.times_s.size, dtype=np.int64)
    found = Passages.empty()
    start = time.perf_counter()
    if idx.size:
        if setup.device == "gpu":
            import cupy

            lam_d, decay_d, *more = object_rates_gpu(setup, objs, idx, reach, order, passages=passages)
            lam[idx], decay[idx] = cupy.asnumpy(lam_d), cupy.asnumpy(decay_d)
        else:
            lam[idx], decay[idx], *more = object_rates_numpy(setup, objs, idx, reach, passages=passages)
        if passages:
            found = _rows_of_batch(more[0], idx)
    seconds = time.perf_counter() - start
    if passages:
        return lam, decay, int(idx.size), seconds, found
    return lam, decay, int(idx.size), seconds


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


# --- a batch in two stages: the host's (sample, fit, table, prefilter), then the estimator's ------

@dataclasses.dataclass
class HostBatch:
    """A batch of realizations after the host stage: what the estimator needs, nothing more.

    objs: the objects that some time chunk must propagate (the prefilter), in object order.
    screens: per time chunk of the window, (idx into objs, reach_km, r_min_km, thread order)
    (screen).
    never_decay (R,): kept objects of each realization that no chunk propagates (they provably
    stay in orbit and never come near a target); kept (R,): all kept objects of each.
    """

    realization: np.ndarray
    objs: ObjectBatch
    screens: list
    never_decay: np.ndarray
    kept: np.ndarray
    n_fragments: np.ndarray
    status_counts: np.ndarray
    gabbard: tuple | None
    host_s: float


def prepare_batch(setup: Setup, realizations) -> HostBatch:
    """The host stage of a batch (sorted int array): sample, fit, SGP4 table, and the prefilter of
    every time chunk. NumPy only, so it runs in any thread or process, on either backend."""
    start = time.perf_counter()
    realizations = np.sort(np.asarray(realizations, dtype=np.int64))
    if setup.scenario.population is not None:
        objs, counts, n_frag, gabbard = catalog_objects(setup)
    else:
        objs, counts, n_frag, gabbard = fragment_objects(setup, realizations)
    screens = [_prefilter(setup, objs, chunk) for chunk in setup.window.chunks]
    screens = [(idx, reach, r_min, thread_order(reach, r_min)) for idx, reach, r_min in screens]
    used = np.zeros(objs.lc_m.size, dtype=bool)
    for idx, *_ in screens:
        used[idx] = True
    keep = np.flatnonzero(used)
    R = realizations.size
    kept = np.bincount(np.searchsorted(realizations, objs.realization), minlength=R).astype(np.int64)
    if keep.size < used.size:  # renumber the screens into the objects kept
        rows_left_out = np.searchsorted(realizations, objs.realization[~used])
        never = np.bincount(rows_left_out, minlength=R).astype(np.int64)
        screens = [(np.searchsorted(keep, idx), *rest) for idx, *rest in screens]
        objs = objs.take(keep)
    else:
        never = np.zeros(R, dtype=np.int64)
    return HostBatch(realizations, objs, screens, never, kept, n_frag, counts, gabbard,
                     time.perf_counter() - start)


def merge_host_batches(parts: list) -> HostBatch:
    """One HostBatch from the HostBatches of consecutive sub-batches (in realization order), as
    prepare_batch of the whole batch gives it (objects in the same order; thread orders made
    again over the whole batch)."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [p.objs.lc_m.size for p in parts])
    objs = ObjectBatch(np.concatenate([p.objs.table for p in parts], axis=1),
                       np.concatenate([p.objs.realization for p in parts]),
                       np.concatenate([p.objs.lc_m for p in parts]),
                       np.concatenate([p.objs.offset_min for p in parts]),
                       np.concatenate([p.objs.fragment_index() for p in parts]))
    screens = []
    for c in range(len(parts[0].screens)):
        idx = np.concatenate([p.screens[c][0] + off for p, off in zip(parts, offsets)])
        reach = np.concatenate([p.screens[c][1] for p in parts])
        r_min = np.concatenate([p.screens[c][2] for p in parts])
        screens.append((idx, reach, r_min, thread_order(reach, r_min)))
    gab = next((p.gabbard for p in parts if p.gabbard is not None), None)
    return HostBatch(np.concatenate([p.realization for p in parts]), objs, screens,
                     np.concatenate([p.never_decay for p in parts]), np.concatenate([p.kept for p in parts]),
                     np.concatenate([p.n_fragments for p in parts]), np.sum([p.status_counts for p in parts], axis=0),
                     gab, sum(p.host_s for p in parts))


def estimate_chunks(setup: Setup, host: HostBatch):
    """The estimator over every time chunk of the window, on the setup's device.

    A chunk propagates only the objects in orbit at its first sample (decay is carried from
    chunk to chunk) that its prefilter keeps; each bin's sums land in the chunk that holds it
    (or add up across chunks where a bin is longer than a chunk). Returns by_time (R, K, T),
    totals (n, K) per object of host.objs, decay (n,), fragment-samples propagated, seconds, and
    the passages (rows index host.objs; None where encounters are not recorded)."""
    w = setup.window
    realizations, objs = host.realization, host.objs
    n, K, T, m = objs.lc_m.size, len(setup.targets.names), w.n_bins, w.times_s.size
    R = realizations.size
    want = records_encounters(setup)
    by_time = np.zeros((R, K, T))
    totals = np.zeros((n, K))
    decay = np.full(n, m, dtype=np.int64)
    kernel_s, propagated, found = 0.0, 0, []
    for chunk, (idx, reach, _, order) in zip(w.chunks, host.screens):
        s0, s1 = chunk
        if len(w.chunks) > 1:  # objects decayed in an earlier chunk stay decayed
            live = decay[idx] > s0
            if not live.all():
                position = np.cumsum(live) - 1
                order = position[order[live[order]]]
                idx, reach = idx[live], reach[live]
        if idx.size == 0:
            continue
        b0, b1 = w.chunk_bins(chunk)
        part, tot, dec, seconds, passages = chunk_rates(setup, objs, realizations, idx, reach, order, chunk,
                                                        passages=want)
        by_time[:, :, b0:b1] += part
        totals[idx] += tot
        decay[idx] = np.where(dec < s1 - s0 + 1, dec + s0, m)
        kernel_s += seconds
        propagated += idx.size * (s1 - s0 + 1)
        if want:
            found.append(passages)
    return by_time, totals, decay, propagated, kernel_s, join_passages(found) if want else None


def estimate_batch(setup: Setup, host: HostBatch) -> BatchResult:
    """The estimator stage of a batch: every time chunk on the setup's device (estimate_chunks),
    then the aggregates and the batch's encounter table (finish_batch)."""
    return finish_batch(setup, host, estimate_chunks(setup, host))


def finish_batch(setup: Setup, host: HostBatch, estimated) -> BatchResult:
    """A batch's aggregates and encounter table (host only) from estimate_chunks' output."""
    by_time, totals, decay, propagated, kernel_s, found = estimated
    by_time, by_size, in_orbit = aggregate(host.realization, host.objs, by_time, totals, decay, setup.window,
                                           setup.size_edges_m, host.never_decay)
    table = None if found is None else encounter_table(setup, host.objs, found)
    return BatchResult(host.realization, by_time, by_size, in_orbit, host.n_fragments, host.status_counts,
                       host.gabbard, int(host.kept.sum()) * setup.window.times_s.size, propagated, kernel_s,
                       table, host.host_s)


def run_batch(setup: Setup, realizations) -> BatchResult:
    """One batch of realizations (sorted int array) through the whole pipeline."""
    return estimate_batch(setup, prepare_batch(setup, realizations))


def encounter_table(setup: Setup, objs: ObjectBatch, found) -> EncounterTable:
    """The batch's encounter table from its passages: closest approach refined with SGP4 on the
    host (engine.orbits.closest_approach; the same step for both devices), shares of lambda
    = chord length x sigma_ik / V_s, rows in canonical order."""
    w, tg = setup.window, setup.targets
    tca = closest_approach(
        found, objs.table, objs.offset_min, w.times_min, tg.r_km,
        [t.elements for t in setup.scenario.targets], w.start_jd, w.start_fr)
    sov = sigma_over_volume(setup, objs)
    return EncounterTable(
        realization=np.asarray(objs.realization, dtype=np.int64)[found.row],
        target=found.target.astype(np.int64),
        fragment=objs.fragment_index()[found.row],
        tca_s=tca.tca_min * 60.0,
        miss_km=tca.miss_km,
        speed_km_s=tca.speed_km_s,
        expected_collisions=found.length_km * sov[found.row, found.target],
        lc_m=np.asarray(objs.lc_m, dtype=np.float64)[found.row],
    ).canonical()


# --- batch sizes: from the device's free memory ----------------------------------------------------

#: Bytes of host memory per sampled fragment while its batch is prepared: the breakup sample,
#: states, elements, status and the element fit's temporaries (about 60 float64 columns), then
#: the kept ones' SGP4 table.
HOST_BYTES_PER_FRAGMENT = 60 * 8 + 34 * 8
#: Share of the free memory a batch may plan on: CuPy's pool rounds allocations up and keeps
#: freed blocks, the prefetched batch's host arrays overlap the running one's, and the rest of
#: the machine needs room.
MEMORY_SHARE = 0.5
#: Most realizations in one GPU batch: beyond a few hundred thousand objects the GPU is full and
#: larger batches only delay the first checkpoint.
MAX_GPU_BATCH = 512


def device_bytes_per_object(n_targets: int, chunk_bins: int) -> int:
    """Device memory of one propagated object in a GPU batch's time chunk (chunk_rates): its rate
    row (n_targets x chunk_bins float64), sigma/V and total per target; its SGP4 table column
    (34 float64), offset, reach, thread order and decay sample, and the gather of its index."""
    return n_targets * (8 * chunk_bins + 2 * 8) + 34 * 8 + 5 * 8


def batch_size_for_memory(free_device_bytes: float, fragments_per_realization: float, n_targets: int,
                          chunk_bins: int, *, free_host_bytes: float | None = None,
                          max_batch: int = MAX_GPU_BATCH) -> int:
    """Realizations per GPU batch that fit in MEMORY_SHARE of the free device (and host) memory.

    Per realization the device holds device_bytes_per_object for each of its objects (one time
    chunk's bins, whatever the window's length); the host holds HOST_BYTES_PER_FRAGMENT per
    fragment for the batch being estimated and the one prepared meanwhile (two). At least 1
    (out-of-memory halving and its one-line error are the safety net), at most max_batch.
    """
    per_object = device_bytes_per_object(n_targets, chunk_bins)
    device = MEMORY_SHARE * free_device_bytes / max(per_object * fragments_per_realization, 1.0)
    fit = device
    if free_host_bytes is not None:
        host = MEMORY_SHARE * free_host_bytes / max(2.0 * HOST_BYTES_PER_FRAGMENT * fragments_per_realization, 1.0)
        fit = min(fit, host)
    return int(max(1, min(max_batch, math.floor(fit))))


def default_batch_size(setup: Setup, n_realizations: int) -> int:
    """Realizations per batch: on the GPU sized from its free memory (batch_size_for_memory), on
    the CPU one (each worker process holds one realization's arrays; progress after each)."""
    if setup.device != "gpu":
        return 1
    import cupy

    free = cupy.cuda.Device().mem_info[0] + cupy.get_default_memory_pool().free_bytes()  # CuPy's cache is free too
    size = batch_size_for_memory(free, _expected_fragments(setup), len(setup.targets.names),
                                 setup.window.max_chunk_bins(), free_host_bytes=available_host_bytes())
    return int(min(n_realizations, size)) if n_realizations > 0 else size


def available_host_bytes() -> float | None:
    """Memory the host can still give (Linux: MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return None


def _expected_fragments(setup: Setup) -> int:
    sc = setup.scenario
    if sc.population is not None:
        return len(sc.population.elements)
    return breakup_params(sc.event, sc.parent).n_fragments + 8


# --- the run: batches, with the next one's host stage done while this one is estimated ------------

class HostStage:
    """Runs prepare_batch ahead of the estimator: `submit(realizations)` starts the host stage of
    a batch and returns a handle whose `result()` is its HostBatch.

    threads=False: at once, in the caller's thread (no overlap). threads=True: on one host thread,
    so batch n+1 is sampled, fitted and tabled while batch n is estimated. pool: a
    concurrent.futures executor of processes whose workers hold the Setup (engine.run.pool),
    with prepare_in_worker the function its workers run on a piece (the executor hands it over,
    so the driver never imports its executors): each batch is split into one piece per worker
    and the pieces merged, on the host thread.
    The HostBatch is the same whichever way (tests check)."""

    def __init__(self, setup: Setup, threads: bool = True, pool=None, workers: int = 1, prepare_in_worker=None):
        self.setup, self.pool, self.workers = setup, pool, max(1, int(workers))
        self.prepare_in_worker = prepare_in_worker
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fragrisk-host") \
            if (threads or pool is not None) else None

    def _prepare(self, realizations) -> HostBatch:
        if self.pool is None:
            return prepare_batch(self.setup, realizations)
        pieces = [p for p in np.array_split(realizations, min(self.workers, realizations.size)) if p.size]
        futures = [self.pool.submit(self.prepare_in_worker, p) for p in pieces]
        return merge_host_batches([f.result() for f in futures])

    def submit(self, realizations):
        if self.thread is None:
            return _Done(prepare_batch(self.setup, realizations))
        return self.thread.submit(self._prepare, realizations)

    def close(self) -> None:
        if self.thread is not None:
            self.thread.shutdown(wait=True, cancel_futures=True)


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value

    def cancel(self):
        return False


def still_to_do(realizations, batches=None):
    """What a run of `realizations` still has to compute, given batches already computed.

    realizations: the run's realization indices (any order). batches: BatchResults computed
    before (a resumed checkpoint), or None. Returns (realizations sorted int64, the batches as a
    list, the number of realizations they hold, the realizations still to do: sorted int64).
    """
    realizations = np.sort(np.asarray(realizations, dtype=np.int64))
    results = list(batches or [])
    done = set(int(r) for b in results for r in b.realization)
    todo = np.array([r for r in realizations if int(r) not in done], dtype=np.int64)
    return realizations, results, len(done), todo


def run(setup: Setup, realizations, *, batch_size: int | None = None, on_batch=None, batches=None,
        prefetch: bool | None = None, host_stage: HostStage | None = None) -> "RunOutput":
    """All batches of `realizations` (sorted int array) -> RunOutput (aggregates + statistics).

    on_batch(batch_result, done, total): called after each batch (progress, checkpoints).
    batches: optional iterable of already computed BatchResults to reuse (resume).
    prefetch: prepare the next batch's host stage on a host thread while this one is estimated,
    and finish each batch (aggregates, encounter table: finish_batch) on another while the next
    one is estimated (default: on the GPU, where the estimator leaves the host idle);
    host_stage: one to use instead (engine.run.pool's process pool). Results do not depend on either.
    On the GPU a batch that runs out of device memory is halved and run again (down to one
    realization; DeviceMemoryError if that does not fit either); RunOutput.notes says so.
    """
    realizations, results, n_done, todo = still_to_do(realizations, batches)
    size = batch_size or default_batch_size(setup, todo.size)
    too_big = out_of_memory_errors(setup.device)
    first_size = size
    start = time.perf_counter()
    if prefetch is None:
        prefetch = setup.device == "gpu"
    stage = host_stage if host_stage is not None else HostStage(setup, threads=prefetch)
    finisher = None
    if stage.thread is not None:
        from concurrent.futures import ThreadPoolExecutor

        finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fragrisk-finish")
    lo = 0
    waited = 0.0
    delivered = n_done
    finishing = None  # the previous batch, being finished while this one is estimated

    def deliver(b):
        nonlocal delivered
        results.append(b)
        delivered += b.realization.size
        if on_batch is not None:
            on_batch(b, delivered, realizations.size)

    try:
        ahead = stage.submit(todo[lo:lo + size]) if todo.size else None
        while lo < todo.size:
            chunk = todo[lo:lo + size]
            t = time.perf_counter()
            host = ahead.result()
            waited += time.perf_counter() - t
            nxt = lo + chunk.size
            ahead = stage.submit(todo[nxt:nxt + size]) if nxt < todo.size else None
            try:
                estimated = estimate_chunks(setup, host)
            except too_big as exc:  # GPU memory: halve the batch and go on (results do not depend on it)
                if chunk.size == 1:
                    raise out_of_memory_error(setup, chunk, exc) from None
                if ahead is not None:
                    ahead.cancel()
                del host
                free_device_memory(setup.device)
                size = max(1, chunk.size // 2)
                ahead = stage.submit(todo[lo:lo + size])
                continue
            lo = nxt
            if finisher is None:
                deliver(finish_batch(setup, host, estimated))
                continue
            if finishing is not None:
                deliver(finishing.result())
            finishing = finisher.submit(finish_batch, setup, host, estimated)
        if finishing is not None:
            deliver(finishing.result())
    finally:
        if finisher is not None:
            finisher.shutdown(wait=True, cancel_futures=True)
        if host_stage is None:
            stage.close()
    notes = [shrink_note(first_size, size)] if size < first_size else []
    return RunOutput(results, time.perf_counter() - start, notes, waited if stage.thread is not None else None)


# --- device memory: a batch that does not fit is run again in halves -----------------------------

def out_of_memory_errors(device: str) -> tuple:
    """Exception types meaning "this batch does not fit in device memory" (none on the CPU)."""
    if device != "gpu":
        return ()
    import cupy

    return (cupy.cuda.memory.OutOfMemoryError,)


def free_device_memory(device: str) -> None:
    """Return CuPy's cached blocks to the device before a smaller batch tries again."""
    if device == "gpu":
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()


def shrink_note(old: int, new: int) -> str:
    return f"GPU out of memory with batches of {old} realizations: ran batches of {new} or fewer"


def out_of_memory_error(setup: Setup, chunk, exc) -> DeviceMemoryError:
    """The one-line error when a single realization does not fit in device memory."""
    detail = one_line(exc)
    return DeviceMemoryError(f"GPU out of memory with a single realization (realization {int(chunk[0])}, "
                             f"{len(setup.targets.names)} targets x {setup.window.n_bins} time bins): {detail}; "
                             f"use fewer time bins or targets, a larger lc_min_m, or --device cpu")


@dataclasses.dataclass
class RunOutput:
    batches: list
    elapsed_s: float
    notes: list = dataclasses.field(default_factory=list)  # e.g. a batch size halved for GPU memory
    #: Seconds the estimator waited for a prefetched host stage (None: the host stage ran inline);
    #: 0 when the host stage is hidden behind the estimator (the first batch's always counts).
    host_wait_s: float | None = None

    def stats(self) -> dict:
        b = self.batches
        kernel_s = sum(x.kernel_s for x in b)
        steps = sum(x.fragment_steps for x in b)
        prop = sum(x.propagated_steps for x in b)
        return dict(fragment_steps=steps, propagated_fragment_steps=prop, kernel_s=kernel_s,
                    host_s=sum(x.host_s for x in b), host_wait_s=self.host_wait_s,
                    effective_rate=steps / self.elapsed_s if self.elapsed_s > 0 else float("nan"),
                    raw_rate=prop / kernel_s if kernel_s > 0 else float("nan"),
                    status_counts=np.sum([x.status_counts for x in b], axis=0).tolist())


def to_results(setup: Setup, output: RunOutput, attrs: dict) -> RunResults:
    """Concatenate batches in realization order into engine.results.RunResults."""
    batches = sorted(output.batches, key=lambda b: int(b.realization[0]))
    cat = lambda f, axis: np.concatenate([f(b) for b in batches], axis=axis)  # noqa: E731
    gab = next((b.gabbard for b in batches if b.gabbard is not None), None)
    if gab is None:
        gab = (np.zeros(0), np.zeros(0), np.zeros(0))
    by_time = cat(lambda b: b.by_time, 1)
    tg = setup.targets
    table = None
    if records_encounters(setup):
        table = EncounterTable.concat([b.encounters for b in batches])
    return RunResults(
        target_names=np.array(tg.names), realization=cat(lambda b: b.realization, 0),
        time_edges_s=setup.window.time_edges_s, size_edges_m=setup.size_edges_m,
        expected_collisions=by_time.sum(axis=2), expected_collisions_by_time=by_time,
        expected_collisions_by_size=cat(lambda b: b.by_size, 1),
        fragments_in_orbit=cat(lambda b: b.fragments_in_orbit, 0), n_fragments=cat(lambda b: b.n_fragments, 0),
        gabbard_apogee_km=gab[0], gabbard_perigee_km=gab[1], gabbard_period_min=gab[2],
        target_perigee_km=tg.perigee_km, target_apogee_km=tg.apogee_km, attrs=attrs,
        pc_edges_log10=pc_edges_log10(setup.scenario.analysis.pc_bins_per_decade), encounters=table)
