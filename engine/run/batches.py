"""A batch of realizations in two stages: the host's (`prepare_batch`: sample, fit, SGP4 table,
prefilter; NumPy only, so it runs in any thread or process) and the estimator's
(`estimate_chunks` on the device, then `finish_batch`: aggregates and encounter table);
`run_batch` both. A batch's result does not depend on how its host stage was split
(`merge_host_batches`).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..physics.risk import Passages
from ..results.encounter_table import EncounterTable
from . import drag_steps
from .estimate import _prefilter, aggregate, chunk_rates, encounter_table, join_passages, thread_order
from .objects import ObjectBatch, catalog_objects, fragment_objects
from .setup import Setup, records_encounters


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
    conjunctions: object = None        # (K, R, D, C) int64 counts (engine.run.screened), None when not counted


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
    if setup.atmosphere is None:
        screens = [_prefilter(setup, objs, chunk) for chunk in setup.window.chunks]
        screens = [(idx, reach, r_min, thread_order(reach, r_min)) for idx, reach, r_min in screens]
    else:  # each drag step's tables are made in the estimator stage, and screened there
        every = np.arange(objs.lc_m.size)
        screens = [(every, np.zeros(every.size), np.zeros(every.size), every)] * len(setup.window.chunks)
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
    if setup.estimator is not None:
        return setup.estimator.estimate_chunks(setup, host)
    w = setup.window
    realizations, objs = host.realization, host.objs
    n, K, T, m = objs.lc_m.size, len(setup.targets.names), w.n_bins, w.times_s.size
    R = realizations.size
    want = records_encounters(setup)
    by_time = np.zeros((R, K, T))
    totals = np.zeros((n, K))
    decay = np.full(n, m, dtype=np.int64)
    kernel_s, propagated, found = 0.0, 0, []
    steps = _drag_steps(setup, objs)
    if steps is not None:
        decay[steps.down_at_start] = 0
    for chunk, (idx, reach, _, order) in zip(w.chunks, host.screens):
        s0, s1 = chunk
        if steps is not None:  # this step's tables, then the prefilter on them
            idx, reach, order = _drag_step_begin(setup, steps, objs, chunk, decay)
        elif len(w.chunks) > 1:  # objects decayed in an earlier chunk stay decayed
            live = decay[idx] > s0
            if not live.all():
                position = np.cumsum(live) - 1
                order = position[order[live[order]]]
                idx, reach = idx[live], reach[live]
        if idx.size == 0:
            if steps is not None:
                _drag_step_end(setup, steps, chunk, decay)
            continue
        b0, b1 = w.chunk_bins(chunk)
        part, tot, dec, seconds, passages = chunk_rates(setup, objs, realizations, idx, reach, order, chunk,
                                                        passages=want)
        by_time[:, :, b0:b1] += part
        totals[idx] += tot
        decay[idx] = np.where(dec < s1 - s0 + 1, dec + s0, m)
        kernel_s += seconds
        propagated += idx.size * (s1 - s0 + 1)
        if want and steps is not None:  # the closest approaches need this step's tables
            found.append(encounter_table(setup, objs, passages))
        elif want:
            found.append(passages)
        if steps is not None:
            _drag_step_end(setup, steps, chunk, decay)
    if want and steps is not None:
        table = (EncounterTable.concat(found).canonical() if found
                 else encounter_table(setup, objs, Passages.empty()))
        return by_time, totals, decay, propagated, kernel_s, table
    return by_time, totals, decay, propagated, kernel_s, join_passages(found) if want else None


# --- [analysis] atmosphere = "nrlmsis": the drag steps between time chunks (engine.run.drag_steps)

def _drag_steps(setup: Setup, objs: ObjectBatch):
    """engine.run.drag_steps.DragSteps of a batch's objects (None without an atmosphere)."""
    if setup.atmosphere is None:
        return None
    epochs = None
    if setup.scenario.population is not None:
        el = setup.scenario.population.elements
        epochs = (el.epoch_jd + el.epoch_fr)[objs.fragment_index()]
    w = setup.window
    return drag_steps.DragSteps(setup.atmosphere, objs, w.start_jd + w.start_fr,
                                setup.drag_step_samples * w.step_s / 60.0,
                                int(setup.scenario.analysis.seed), epochs)


def _step_bounds(setup: Setup, chunk) -> tuple[int, int]:
    """The samples that start and end the drag step holding ``chunk``."""
    per, last = setup.drag_step_samples, setup.window.times_s.size - 1
    first = (chunk[0] // per) * per
    return first, min(first + per, last)


def _drag_step_begin(setup: Setup, steps, objs: ObjectBatch, chunk, decay):
    """At a drag step's first chunk the live objects' tables for the step; then the prefilter
    of the chunk on the live objects: (idx, reach, thread order)."""
    s0, _ = chunk
    first, end = _step_bounds(setup, chunk)
    t = setup.window.times_min
    if s0 == first:
        steps.begin_step(t[first], t[end], np.flatnonzero(decay > s0))
    idx, reach, r_min = _prefilter(setup, objs, chunk)
    keep = decay[idx] > s0
    idx, reach, r_min = idx[keep], reach[keep], r_min[keep]
    return idx, reach, thread_order(reach, r_min)


def _drag_step_end(setup: Setup, steps, chunk, decay) -> None:
    """At a drag step's last chunk: re-fit the objects still up; those found down decay at
    the step's end sample."""
    _, s1 = chunk
    first, end = _step_bounds(setup, chunk)
    if s1 != end or s1 == setup.window.times_s.size - 1:
        return
    t = setup.window.times_min
    gone = steps.end_step(t[first], t[end], np.flatnonzero(decay > s1))
    decay[gone] = np.minimum(decay[gone], s1)


def estimate_batch(setup: Setup, host: HostBatch) -> BatchResult:
    """The estimator stage of a batch: every time chunk on the setup's device (estimate_chunks),
    then the aggregates and the batch's encounter table (finish_batch)."""
    return finish_batch(setup, host, estimate_chunks(setup, host))


def finish_batch(setup: Setup, host: HostBatch, estimated) -> BatchResult:
    """A batch's aggregates and encounter table (host only) from estimate_chunks' output."""
    if setup.estimator is not None:
        return setup.estimator.finish_batch(setup, host, estimated)
    by_time, totals, decay, propagated, kernel_s, found = estimated
    by_time, by_size, in_orbit = aggregate(host.realization, host.objs, by_time, totals, decay, setup.window,
                                           setup.size_edges_m, host.never_decay)
    if found is None or isinstance(found, EncounterTable):  # drag steps: made chunk by chunk
        table = found
    else:
        table = encounter_table(setup, host.objs, found)
    return BatchResult(host.realization, by_time, by_size, in_orbit, host.n_fragments, host.status_counts,
                       host.gabbard, int(host.kept.sum()) * setup.window.times_s.size, propagated, kernel_s,
                       table, host.host_s)


def run_batch(setup: Setup, realizations) -> BatchResult:
    """One batch of realizations (sorted int array) through the whole pipeline."""
    return estimate_batch(setup, prepare_batch(setup, realizations))
