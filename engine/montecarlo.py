"""The Monte Carlo risk engine: realizations of the cloud -> expected collisions per target.

Read top-down:
1. `Window`            the sample times, time bins and segment -> bin map of the analysis.
2. `TargetTrack`       the targets, propagated once per run (not once per fragment).
3. `Setup`             everything a batch needs that does not depend on the realization.
4. `run_batch`         one batch of realizations: sample, fit, prefilter, estimate, aggregate.
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

from engine import cloud as cloud_mod
from engine import risk, sgp4
from engine.results import RunResults
from engine.timeutil import minutes_between

#: Default realizations of the CPU backend when none are asked for: sized so the built-in
#: scenario (7 days at 60 s, ~1,400 propagated fragments a realization) ends within 3 minutes
#: on 2 cores (benchmarks/run.py measures the rate).
CPU_DEFAULT_REALIZATIONS = 10


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
    duration_s = analysis.duration_days * 86400.0
    m = int(math.floor(duration_s / analysis.step_s + 1e-9)) + 1
    times_s = np.arange(m) * float(analysis.step_s)
    end_s = times_s[-1]
    edges = np.arange(0.0, end_s, float(analysis.time_bin_s))
    edges = np.append(edges, end_s) if edges.size else np.array([0.0, end_s])
    seg_bin = risk.segment_bins(times_s, edges).astype(np.int32)
    return Window(times_s, edges, seg_bin, analysis.start_jd, analysis.start_fr, float(analysis.step_s))


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
    from engine.elements import concat
    from engine.propagation import propagate_elements

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


@dataclasses.dataclass
class Population:
    """What the estimator needs of a cloud: SGP4 table of the propagated objects, their
    realization, size and minutes from epoch to the analysis start."""

    table: np.ndarray          # (N_COEFFICIENTS, n)
    realization: np.ndarray    # (n,) sorted
    lc_m: np.ndarray           # (n,)
    offset_min: np.ndarray     # (n,)


def _fragments_population(setup: Setup, realizations):
    sc = setup.scenario
    cl = cloud_mod.sample_cloud(sc, realizations, setup.device)
    kept = cl.kept
    offset = minutes_between(setup.window.start_jd, setup.window.start_fr, cl.epoch_jd, cl.epoch_fr)
    pop = Population(cl.sgp4_table(), cl.fragments.realization[kept], cl.fragments.lc_m[kept],
                     np.full(int(kept.sum()), offset))
    counts = np.bincount(cl.status, minlength=5)
    n_frag = np.array([(cl.fragments.realization == r).sum() for r in realizations], dtype=np.int64)
    gabbard = None
    if 0 in set(int(r) for r in realizations):
        sel = (cl.fragments.realization == 0) & (cl.status != cloud_mod.STATUS_HYPERBOLIC)
        gabbard = cloud_mod.osculating_orbit(cl.position_km[sel], cl.velocity_km_s[sel])
    return pop, counts, n_frag, gabbard


def _catalog_population(setup: Setup):
    el = setup.scenario.population.elements
    near = ~np.asarray(el.is_deep_space)
    table = sgp4.sgp4_init(el.no_kozai[near], el.ecco[near], el.inclo[near], el.nodeo[near], el.argpo[near],
                           el.mo[near], el.bstar[near])
    offset = (setup.window.start_jd - el.epoch_jd[near]) * 1440.0 + (setup.window.start_fr - el.epoch_fr[near]) * 1440.0
    n = int(near.sum())
    pop = Population(table, np.zeros(n, dtype=np.int64), np.zeros(n), offset)
    counts = np.array([n, 0, 0, 0, int((~near).sum())])
    return pop, counts, np.array([len(el)], dtype=np.int64), None


def fragment_rates(setup: Setup, pop: Population):
    """Per-object rates (n, K, T) and decay samples (n,) on the setup's device, with the
    prefilter. Returns (lam, decay, propagated_count, kernel_seconds)."""
    w, tg = setup.window, setup.targets
    n, K, m = pop.lc_m.size, len(tg.names), w.times_s.size
    sigma_over_v = risk.cross_section_km2(tg.hard_body_radius_m, pop.lc_m) / risk.sphere_volume_km3(setup.kernel_radius_km)
    if setup.use_prefilter:
        must = risk.prefilter(pop.table, pop.offset_min, pop.offset_min + w.times_min[-1], w.step_s,
                              tg.r_km, tg.valid, setup.kernel_radius_km)
    else:
        must = np.ones(n, dtype=bool)
    idx = np.flatnonzero(must)
    lam = np.zeros((n, K, w.n_bins))
    decay = np.full(n, m, dtype=np.int64)
    start = time.perf_counter()
    if idx.size:
        table = np.ascontiguousarray(pop.table[:, idx])
        if setup.device == "gpu":
            lam_i, decay_i = _fragment_rates_gpu(setup, table, pop.offset_min[idx], sigma_over_v[idx])
        else:
            lam_i, decay_i = risk.fragment_rates(table, pop.offset_min[idx], w.times_min, tg.r_km, tg.valid,
                                                 sigma_over_v[idx], setup.kernel_radius_km, w.seg_bin, w.n_bins)
        lam[idx] = lam_i
        decay[idx] = decay_i
    return lam, decay, int(idx.size), time.perf_counter() - start


def _fragment_rates_gpu(setup: Setup, table, offset_min, sigma_over_v):
    import cupy

    from kernels import risk_gpu

    w, tg = setup.window, setup.targets
    lam, decay = risk_gpu.fragment_rates(
        cupy.asarray(table), cupy.asarray(offset_min, dtype=np.float64), cupy.asarray(w.times_min),
        cupy.asarray(tg.r_km), cupy.asarray(tg.valid.astype(np.uint8)),
        cupy.asarray(np.ascontiguousarray(sigma_over_v)), setup.kernel_radius_km,
        cupy.asarray(w.seg_bin), w.n_bins)
    return cupy.asnumpy(lam), cupy.asnumpy(decay)


def in_orbit_per_bin(decay, window: Window):
    """Mean number of objects in orbit during each time bin: (n,) decay samples -> (n, T).

    Segment j (samples j, j+1) is in orbit when j + 1 < decay; a bin's value is the fraction of
    its segments in orbit.
    """
    per_bin = window.segments_per_bin()
    first = np.cumsum(per_bin) - per_bin
    alive = np.clip(decay[:, None] - 1 - first[None, :], 0, per_bin[None, :])
    return alive / np.maximum(per_bin, 1)[None, :]


def aggregate(realizations, pop_realization, lam, decay, lc_m, window: Window, size_edges):
    """Per-realization sums, in each realization's own fragment order.

    Returns by_time (K, R, T), by_size (K, R, S), fragments_in_orbit (R, T).
    """
    R = len(realizations)
    n, K, T = lam.shape
    S = size_edges.size - 1
    row = np.searchsorted(realizations, pop_realization)  # realizations are sorted
    by_time = np.zeros((R, K, T))
    in_orbit = np.zeros((R, T))
    by_size = np.zeros((R, K, S))
    if n:
        starts = np.searchsorted(row, np.arange(R))
        present = np.bincount(row, minlength=R) > 0
        by_time[present] = np.add.reduceat(lam, starts[present], axis=0)
        in_orbit[present] = np.add.reduceat(in_orbit_per_bin(decay, window), starts[present], axis=0)
        size_bin = np.clip(np.searchsorted(size_edges, lc_m, side="right") - 1, 0, S - 1)
        total = lam.sum(axis=2)
        for k in range(K):
            np.add.at(by_size[:, k, :], (row, size_bin), total[:, k])
    return by_time.transpose(1, 0, 2), by_size.transpose(1, 0, 2), in_orbit


def run_batch(setup: Setup, realizations) -> BatchResult:
    """One batch of realizations (sorted int array) through the whole pipeline."""
    realizations = np.sort(np.asarray(realizations, dtype=np.int64))
    if setup.scenario.population is not None:
        pop, counts, n_frag, gabbard = _catalog_population(setup)
    else:
        pop, counts, n_frag, gabbard = _fragments_population(setup, realizations)
    lam, decay, n_prop, kernel_s = fragment_rates(setup, pop)
    by_time, by_size, in_orbit = aggregate(realizations, pop.realization, lam, decay, pop.lc_m,
                                           setup.window, setup.size_edges_m)
    m = setup.window.times_s.size
    return BatchResult(realizations, by_time, by_size, in_orbit, n_frag, counts, gabbard,
                       pop.lc_m.size * m, n_prop * m, kernel_s)


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


def run(setup: Setup, realizations, *, batch_size: int | None = None, on_batch=None, batches=None) -> "RunOutput":
    """All batches of `realizations` (sorted int array) -> RunOutput (aggregates + statistics).

    on_batch(batch_result, done, total): called after each batch (progress, checkpoints).
    batches: optional iterable of already computed BatchResults to reuse (resume).
    """
    realizations = np.sort(np.asarray(realizations, dtype=np.int64))
    size = batch_size or default_batch_size(setup, realizations.size)
    results = list(batches or [])
    done = set(int(r) for b in results for r in b.realization)
    todo = np.array([r for r in realizations if int(r) not in done], dtype=np.int64)
    start = time.perf_counter()
    for lo in range(0, todo.size, size):
        b = run_batch(setup, todo[lo:lo + size])
        results.append(b)
        if on_batch is not None:
            on_batch(b, len(done) + min(lo + size, todo.size), realizations.size)
    return RunOutput(results, time.perf_counter() - start)


@dataclasses.dataclass
class RunOutput:
    batches: list
    elapsed_s: float

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
    return RunResults(
        target_names=np.array(tg.names), realization=cat(lambda b: b.realization, 0),
        time_edges_s=setup.window.time_edges_s, size_edges_m=setup.size_edges_m,
        expected_collisions=by_time.sum(axis=2), expected_collisions_by_time=by_time,
        expected_collisions_by_size=cat(lambda b: b.by_size, 1),
        fragments_in_orbit=cat(lambda b: b.fragments_in_orbit, 0), n_fragments=cat(lambda b: b.n_fragments, 0),
        gabbard_apogee_km=gab[0], gabbard_perigee_km=gab[1], gabbard_period_min=gab[2],
        target_perigee_km=tg.perigee_km, target_apogee_km=tg.apogee_km, attrs=attrs)
