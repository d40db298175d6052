"""The Monte Carlo risk engine: realizations of the cloud -> expected collisions per target.

Read top-down:
1. `Window`            the sample times, time bins and segment -> bin map of the analysis.
2. `TargetTrack`       the targets, propagated once per run (not once per fragment).
3. `Setup`             everything a batch needs that does not depend on the realization.
4. `run_batch`         one batch of realizations: sample, fit, prefilter, estimate, aggregate,
                       and the batch's encounter table (engine.encounters).
5. `run`               batches -> engine.results.RunResults.

Realization r of seed s depends only on (s, r) (engine.breakup.realization_rng), and every
aggregate is a sum over a realization's own fragments in their own order, so results do not
depend on batch sizes, shards or workers. The NumPy path (engine.risk.fragment_rates) and the
CUDA path (kernels/risk.cu) compute the same per-fragment rates; the aggregation is shared.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from . import cloud as cloud_mod
from . import encounters as encounters_mod
from . import risk
from .errors import DeviceMemoryError, one_line
from .results import RunResults
from .timeutil import minutes_between

#: Default realizations of the CPU backend when none are asked for: sized so the built-in
#: scenario (7 days at 60 s, ~1,400 propagated fragments a realization) ends within a few
#: minutes on two cores, with room for a busy machine (the NumPy path's measured rate:
#: benchmarks/results/run_cpu.json, `python -m benchmarks.run`).
CPU_DEFAULT_REALIZATIONS = 30


@dataclasses.dataclass(frozen=True)
class Window:
    """Sample times and bins of an analysis.

    times_s (m,): sample times since the analysis start (0, step, ..., <= duration).
    time_edges_s (T+1,): time bins (default hourly; the last bin ends at the last sample).
    seg_bin (m-1,): time bin of each segment between consecutive samples.
    start_jd, start_fr: the analysis start (split Julian date).
    """

    times_s: np.ndarray
    time_edges_s: np.ndarray
    seg_bin: np.ndarray
    start_jd: float
    start_fr: float
    step_s: float

    @property
    def times_min(self) -> np.ndarray:
        return self.times_s / 60.0

    @property
    def n_bins(self) -> int:
        return self.time_edges_s.size - 1

    def segments_per_bin(self) -> np.ndarray:
        return np.bincount(self.seg_bin, minlength=self.n_bins)


def analysis_window(analysis) -> Window:
    """Samples every step_s from the start up to the last whole step within the duration (uniform
    steps: the fused kernel's jumps and the prefilter's chord bounds rely on them), hourly (or
    time_bin_s) bins, the last one ending at the last sample."""
    duration_s = analysis.duration_days * 86400.0
    m = int(math.floor(duration_s / analysis.step_s + 1e-9)) + 1
    times_s = np.arange(m) * float(analysis.step_s)
    end_s = times_s[-1]
    edges = np.arange(0.0, end_s, float(analysis.time_bin_s))
    edges = np.append(edges, end_s) if edges.size else np.array([0.0, end_s])
    seg_bin = risk.segment_bins(times_s, edges).astype(np.int32)
    return Window(times_s, edges, seg_bin, analysis.start_jd, analysis.start_fr, float(analysis.step_s))


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
    from .elements import concat
    from .propagation import propagate_elements

    elements = concat([t.elements for t in targets])
    eph = propagate_elements(elements, window.start_jd, window.start_fr, window.times_min, device=device)
    return TargetTrack(tuple(t.name for t in targets), np.array([t.hard_body_radius_m for t in targets], float),
                       np.ascontiguousarray(eph.r_km), eph.error == 0,
                       np.asarray(elements.perigee_km, float), np.asarray(elements.apogee_km, float))


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


def make_setup(scenario, device: str, use_prefilter: bool = True) -> Setup:
    window = analysis_window(scenario.analysis)
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
    encounters: object = None          # engine.encounters.EncounterTable, None when not recorded


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
    fragments sampled per realization (R,) and the Gabbard data of realization 0 (or None)."""
    sc = setup.scenario
    cl = cloud_mod.sample_cloud(sc, realizations, setup.device)
    kept = cl.kept
    offset = minutes_between(setup.window.start_jd, setup.window.start_fr, cl.epoch_jd, cl.epoch_fr)
    # Fragments come by realization, then as sampled (engine.breakup.sample): the order of
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
    from .propagation import offset_minutes

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


def screen(setup: Setup, objs: ObjectBatch):
    """The prefilter (engine.risk.prefilter): indices of the objects to propagate, their per-step
    reach (km) for the fused kernel's jumps, and the order in which the kernel's threads take
    them. With the prefilter off: everything, no jumps, in order.

    The order groups objects of similar work (a warp runs as long as its slowest thread): those
    that cannot jump (they may decay) together, the rest by their lowest radius. It only assigns
    threads: each object's results land in its own row, so sums keep the object order.
    """
    w, tg = setup.window, setup.targets
    n = objs.lc_m.size
    if not setup.use_prefilter:
        return np.arange(n), np.zeros(n), np.arange(n)
    must, reach, r_min = risk.prefilter(objs.table, objs.offset_min, objs.offset_min + w.times_min[-1], w.step_s,
                                        tg.r_km, tg.valid, setup.kernel_radius_km)
    idx = np.flatnonzero(must)
    order = np.lexsort((np.nan_to_num(r_min[idx]), reach[idx] > 0))
    return idx, reach[idx], order


def records_encounters(setup: Setup) -> bool:
    """[analysis] encounters = "all": the estimator records every passage (engine.encounters)."""
    return setup.scenario.analysis.encounters == "all"


def object_rates(setup: Setup, objs: ObjectBatch, *, passages: bool = False):
    """Per-object rates (n, K, T) and decay samples (n,) on the setup's device, with the
    prefilter (the driver of engine.risk.fragment_rates and its CUDA twin kernels.risk_gpu.fragment_rates) (skipped objects: 0 and never decayed). Returns (lam, decay, propagated, seconds),
    and with passages=True also the passages (engine.encounters.Passages, rows index objs)."""
    w = setup.window
    n, K = objs.lc_m.size, len(setup.targets.names)
    idx, reach, order = screen(setup, objs)
    lam = np.zeros((n, K, w.n_bins))
    decay = np.full(n, w.times_s.size, dtype=np.int64)
    found = encounters_mod.Passages.empty()
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


def _rows_of_batch(found, idx):
    """Passages whose rows index the screened subset idx -> rows of the whole batch."""
    found.row = np.asarray(idx, dtype=np.int64)[found.row]
    return found


def object_rates_numpy(setup: Setup, objs: ObjectBatch, idx, reach, *, passages: bool = False):
    """engine.risk.fragment_rates on the objects idx (with their per-step reach, km, 0: no
    jumps): (lam (len(idx), K, T), decay[, passages]), rows as idx."""
    w, tg = setup.window, setup.targets
    return risk.fragment_rates(np.ascontiguousarray(objs.table[:, idx]), objs.offset_min[idx], w.times_min,
                               tg.r_km, tg.valid, sigma_over_volume(setup, objs)[idx], setup.kernel_radius_km,
                               w.seg_bin, w.n_bins, reach_km=reach, passages=passages)


def object_rates_gpu(setup: Setup, objs: ObjectBatch, idx, reach, order, *, passages: bool = False):
    """kernels/risk.cu on the objects idx (with their per-step reach, km, 0: no jumps; threads
    take them in `order`): (lam (len(idx), K, T), decay) as cupy arrays, rows as idx; with
    passages also the passages (NumPy; rows index idx)."""
    import cupy

    from ..kernels import risk_gpu

    w, tg = setup.window, setup.targets
    return risk_gpu.fragment_rates(
        cupy.asarray(np.ascontiguousarray(objs.table[:, idx])), cupy.asarray(objs.offset_min[idx]),
        cupy.asarray(w.times_min), cupy.asarray(tg.r_km), cupy.asarray(tg.valid.astype(np.uint8)),
        cupy.asarray(np.ascontiguousarray(sigma_over_volume(setup, objs)[idx])), setup.kernel_radius_km,
        cupy.asarray(w.seg_bin), w.n_bins, reach_km=cupy.asarray(np.ascontiguousarray(reach, dtype=np.float64)),
        order=cupy.asarray(np.asarray(order, dtype=np.int64)), passages=passages)


def rates_by_realization(setup: Setup, objs: ObjectBatch, realizations):
    """The estimator for a batch, reduced per realization where the rates live.

    realizations: sorted (R,). Returns by_time (R, K, T) (sums over each realization's objects
    in their order), totals (n, K) per object, decay (n,), propagated objects, seconds, and the
    passages (engine.encounters.Passages, rows index objs; None where encounters are not
    recorded). On the GPU the (objects, K, T) rates never leave the device: kernels/risk.cu's
    segment_sum reduces them there.
    """
    w = setup.window
    n, K, T = objs.lc_m.size, len(setup.targets.names), w.n_bins
    R = len(realizations)
    want = records_encounters(setup)
    if setup.device != "gpu":
        lam, decay, n_prop, seconds, *found = object_rates(setup, objs, passages=want)
        return (_sum_by_realization(lam, objs.realization, realizations), lam.sum(axis=2), decay, n_prop, seconds,
                found[0] if want else None)
    import cupy

    from ..kernels import risk_gpu

    idx, reach, order = screen(setup, objs)
    totals = np.zeros((n, K))
    decay = np.full(n, w.times_s.size, dtype=np.int64)
    by_time = np.zeros((R, K, T))
    found = encounters_mod.Passages.empty() if want else None
    start = time.perf_counter()
    if idx.size:
        lam_d, decay_d, *more = object_rates_gpu(setup, objs, idx, reach, order, passages=want)
        if want:
            found = _rows_of_batch(more[0], idx)
        rows = np.searchsorted(realizations, objs.realization[idx])
        starts = np.searchsorted(rows, np.arange(R + 1)).astype(np.int64)
        by_time = cupy.asnumpy(risk_gpu.segment_sum(lam_d.reshape(idx.size, K * T), cupy.asarray(starts)))
        by_time = by_time.reshape(R, K, T)
        totals[idx] = cupy.asnumpy(lam_d.sum(axis=2))
        decay[idx] = cupy.asnumpy(decay_d)
        del lam_d
    return by_time, totals, decay, int(idx.size), time.perf_counter() - start, found


def _sum_by_realization(x, pop_realization, realizations):
    """Sums of x (n, ...) over the objects of each realization, in object order: (R, ...)."""
    rows = np.searchsorted(realizations, pop_realization)
    out = np.zeros((len(realizations),) + x.shape[1:])
    present = np.bincount(rows, minlength=len(realizations)) > 0
    if present.any():
        out[present] = np.add.reduceat(x, np.searchsorted(rows, np.flatnonzero(present)), axis=0)
    return out


def in_orbit_by_realization(decay, pop_realization, realizations, window: Window):
    """Mean number of objects in orbit during each time bin, per realization: (R, T).

    Segment j (samples j, j+1) of an object is in orbit when j + 1 < its decay sample; a bin's
    value is the mean over its segments. Computed from a histogram of decay samples, so the cost
    does not grow with objects x bins.
    """
    m = window.times_s.size
    R = len(realizations)
    rows = np.searchsorted(realizations, pop_realization)
    hist = np.zeros((R, m + 1))
    np.add.at(hist, (rows, decay), 1.0)
    # alive[r, j] = objects of r with decay > j + 1, for segments j = 0 .. m-2.
    survivors = hist[:, ::-1].cumsum(axis=1)[:, ::-1]  # survivors[:, d] = #(decay >= d)
    alive = survivors[:, 2:m + 1]
    counts = window.segments_per_bin()
    sums = np.zeros((R, window.n_bins))
    np.add.at(sums.T, window.seg_bin, alive.T)
    return sums / np.maximum(counts, 1)[None, :]


def aggregate(realizations, objs, by_time, totals, decay, window: Window, size_edges):
    """Per-realization results of a batch: by_time (K, R, T), by_size (K, R, S), in orbit (R, T)."""
    R = len(realizations)
    S = size_edges.size - 1
    K = totals.shape[1]
    rows = np.searchsorted(realizations, objs.realization)
    size_bin = np.clip(np.searchsorted(size_edges, objs.lc_m, side="right") - 1, 0, S - 1)
    by_size = np.zeros((R, K, S))
    for k in range(K):
        np.add.at(by_size[:, k, :], (rows, size_bin), totals[:, k])
    in_orbit = in_orbit_by_realization(decay, objs.realization, realizations, window)
    return by_time.transpose(1, 0, 2), by_size.transpose(1, 0, 2), in_orbit


def run_batch(setup: Setup, realizations) -> BatchResult:
    """One batch of realizations (sorted int array) through the whole pipeline."""
    realizations = np.sort(np.asarray(realizations, dtype=np.int64))
    if setup.scenario.population is not None:
        objs, counts, n_frag, gabbard = catalog_objects(setup)
    else:
        objs, counts, n_frag, gabbard = fragment_objects(setup, realizations)
    by_time, totals, decay, n_prop, kernel_s, found = rates_by_realization(setup, objs, realizations)
    by_time, by_size, in_orbit = aggregate(realizations, objs, by_time, totals, decay, setup.window,
                                           setup.size_edges_m)
    table = None if found is None else encounter_table(setup, objs, found)
    m = setup.window.times_s.size
    return BatchResult(realizations, by_time, by_size, in_orbit, n_frag, counts, gabbard,
                       objs.lc_m.size * m, n_prop * m, kernel_s, table)


def encounter_table(setup: Setup, objs: ObjectBatch, found) -> encounters_mod.EncounterTable:
    """The batch's encounter table from its passages: closest approach refined with SGP4 on the
    host (engine.encounters.closest_approach; the same step for both devices), shares of lambda
    = chord length x sigma_ik / V_s, rows in canonical order."""
    w, tg = setup.window, setup.targets
    tca = encounters_mod.closest_approach(
        found, objs.table, objs.offset_min, w.times_min, tg.r_km,
        [t.elements for t in setup.scenario.targets], w.start_jd, w.start_fr)
    sov = sigma_over_volume(setup, objs)
    return encounters_mod.EncounterTable(
        realization=np.asarray(objs.realization, dtype=np.int64)[found.row],
        target=found.target.astype(np.int64),
        fragment=objs.fragment_index()[found.row],
        tca_s=tca.tca_min * 60.0,
        miss_km=tca.miss_km,
        speed_km_s=tca.speed_km_s,
        expected_collisions=found.length_km * sov[found.row, found.target],
        lc_m=np.asarray(objs.lc_m, dtype=np.float64)[found.row],
    ).canonical()


def default_batch_size(setup: Setup, n_realizations: int) -> int:
    """Realizations per batch: on the GPU enough fragments to fill it, within a quarter of its
    free memory for the (fragments, K, T) rate buffer; on the CPU small batches for progress."""
    if setup.device != "gpu":
        return 1
    import cupy

    free, _ = cupy.cuda.Device().mem_info
    K, T = len(setup.targets.names), setup.window.n_bins
    per_realization = 2 * _expected_fragments(setup) * (K * T + 8) * 8
    fit = max(1, int(free // 4 // max(per_realization, 1)))
    return int(min(n_realizations, fit, 512))


def _expected_fragments(setup: Setup) -> int:
    sc = setup.scenario
    if sc.population is not None:
        return len(sc.population.elements)
    return cloud_mod.breakup_params(sc.event, sc.parent).n_fragments + 8


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


def run(setup: Setup, realizations, *, batch_size: int | None = None, on_batch=None, batches=None) -> "RunOutput":
    """All batches of `realizations` (sorted int array) -> RunOutput (aggregates + statistics).

    on_batch(batch_result, done, total): called after each batch (progress, checkpoints).
    batches: optional iterable of already computed BatchResults to reuse (resume).
    On the GPU a batch that runs out of device memory is halved and run again (down to one
    realization; DeviceMemoryError if that does not fit either); RunOutput.notes says so.
    """
    realizations, results, n_done, todo = still_to_do(realizations, batches)
    size = batch_size or default_batch_size(setup, realizations.size)
    too_big = out_of_memory_errors(setup.device)
    first_size = size
    start = time.perf_counter()
    lo = 0
    while lo < todo.size:
        chunk = todo[lo:lo + size]
        try:
            b = run_batch(setup, chunk)
        except too_big as exc:  # GPU memory: halve the batch and go on (results do not depend on it)
            if chunk.size == 1:
                raise out_of_memory_error(setup, chunk, exc) from None
            free_device_memory(setup.device)
            size = max(1, chunk.size // 2)
            continue
        lo += chunk.size
        results.append(b)
        if on_batch is not None:
            on_batch(b, n_done + lo, realizations.size)
    notes = [shrink_note(first_size, size)] if size < first_size else []
    return RunOutput(results, time.perf_counter() - start, notes)


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

    def stats(self) -> dict:
        b = self.batches
        kernel_s = sum(x.kernel_s for x in b)
        steps = sum(x.fragment_steps for x in b)
        prop = sum(x.propagated_steps for x in b)
        return dict(fragment_steps=steps, propagated_fragment_steps=prop, kernel_s=kernel_s,
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
        table = encounters_mod.EncounterTable.concat([b.encounters for b in batches])
    return RunResults(
        target_names=np.array(tg.names), realization=cat(lambda b: b.realization, 0),
        time_edges_s=setup.window.time_edges_s, size_edges_m=setup.size_edges_m,
        expected_collisions=by_time.sum(axis=2), expected_collisions_by_time=by_time,
        expected_collisions_by_size=cat(lambda b: b.by_size, 1),
        fragments_in_orbit=cat(lambda b: b.fragments_in_orbit, 0), n_fragments=cat(lambda b: b.n_fragments, 0),
        gabbard_apogee_km=gab[0], gabbard_perigee_km=gab[1], gabbard_period_min=gab[2],
        target_perigee_km=tg.perigee_km, target_apogee_km=tg.apogee_km, attrs=attrs,
        pc_edges_log10=pc_edges_log10(setup.scenario.analysis.pc_bins_per_decade), encounters=table)
