"""The Monte Carlo risk engine: realizations of the cloud -> expected collisions per target.

Read top-down, module by module of engine/run/:
1. window.py     `Window`: the sample times, time bins and segment -> bin map of the analysis, and
                 its time chunks (the estimator takes a long window a chunk at a time).
2. setup.py      `TargetTrack` (the targets, propagated once per run, not once per fragment) and
                 `Setup`: everything a batch needs that does not depend on the realization.
3. objects.py    `ObjectBatch`: a batch's fragments (sample, fit, SGP4 table) or catalog objects.
4. estimate.py   screening (the prefilter), the estimator on the device over one time chunk, the
                 aggregates and the encounter table (engine.results.encounter_table).
5. batches.py    `prepare_batch` the host stage of a batch (sample, fit, SGP4 table, prefilter:
                 NumPy); `estimate_chunks` + `finish_batch` the estimator stage; `run_batch` both.
6. sizing.py     `batch_size_for_memory`: GPU batches sized from the free device memory, halved
                 when one does not fit.
7. host_stage.py `HostStage`: the next batch's host stage on a host thread, or on
                 engine.run.pool's worker processes, while this one is estimated.
8. here          `run`: batches -> RunOutput; `to_results` -> engine.results.RunResults.

Realization r of seed s depends only on (s, r) (engine.physics.breakup.realization_rng), and every
aggregate is a sum over a realization's own fragments in their own order, so results do not
depend on batch sizes, shards, workers, prefetching or the device's memory. The NumPy path
(engine.physics.risk.fragment_rates) and the CUDA path (kernels/risk.cu) compute the same per-fragment
rates from the same host stage; the aggregation is shared.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..results import RunResults
from ..results.encounter_table import EncounterTable
from .batches import estimate_chunks, finish_batch
from .host_stage import HostStage
from .setup import Setup, records_encounters
from .sizing import default_batch_size, free_device_memory, out_of_memory_error, out_of_memory_errors, shrink_note
from .window import pc_edges_log10

#: Default realizations of the CPU backend when none are asked for: sized so the built-in
#: scenario (7 days at 60 s, ~1,400 propagated fragments a realization) ends within 3 minutes
#: on one core: about 3 s of processor time a realization on this project's 2-core machines
#: (benchmarks/results/run_cpu.json), so 30 take about 90 s, spread over every core
#: (engine.run.pool), with room for a busy machine.
CPU_DEFAULT_REALIZATIONS = 30


# --- the run: batches, with the next one's host stage done while this one is estimated ------------

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
        pc_edges_log10=pc_edges_log10(setup.scenario.analysis.pc_bins_per_decade), encounters=table,
        target_norad=np.array([t.norad for t in setup.scenario.targets], dtype=np.int64),
        target_group=np.array([t.group for t in setup.scenario.targets]),
        **_conjunction_fields(setup, batches))


def _conjunction_fields(setup: Setup, batches) -> dict:
    """RunResults' conjunction fields of the batches (none where they are not counted)."""
    if not batches or batches[0].conjunctions is None:
        return {}
    counts = np.concatenate([b.conjunctions for b in batches], axis=1)
    return dict(conjunction_thresholds_km=np.array(setup.scenario.analysis.conjunction_thresholds_km),
                conjunction_days=np.arange(counts.shape[2], dtype=np.float64), conjunctions=counts)
