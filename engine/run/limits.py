"""What a command needs of this machine, checked before any work starts.

A run whose arrays cannot fit in memory, or whose fragment-steps would take longer than
MAX_RUN_DAYS at the fastest rate measured for its device, is refused at once (in well under a
second: only sizes are computed, nothing is sampled or propagated), with one line that names the
field responsible and says what would fit.  Without this, ``duration_days = 1e12``,
``step_s = 1e-9`` or ``--realizations 10**12`` failed minutes later while allocating petabytes.

The footprints below are models of what engine.run's batches hold at once, not measurements of one
run; they err on the large side by small factors, which matters only for runs near the limit.
"""

from __future__ import annotations

import math

from ..backend import COMMAND_MEMORY_SHARE, available_memory_bytes
from ..errors import InputError
from ..physics import breakup
from ..scenario import breakup_params, objects_per_realization, uses_screen
from .window import CHUNK_SEGMENTS

#: A run estimated to take longer than this is refused: it would not finish on this machine.
MAX_RUN_DAYS = 365.0

#: Fastest fragment-steps per second measured end to end (``python -m benchmarks.run``): the
#: NumPy path on one core (benchmarks/results/run_cpu.json, 5.4e6/s) and the CUDA path on an
#: H200 (benchmarks/results/gpu_check_h200/run_gpu.json, 2.7e9/s).  Rounded up, so that only
#: runs that surely cannot finish are refused.
FRAGMENT_STEPS_PER_S = {"cpu": 1.0e7, "gpu": 1.0e10}

#: Bytes per fragment of a batch besides its rate buffer: the sampled fragments, states, fitted
#: elements, SGP4 coefficients and the estimator's propagation blocks (tracemalloc peak of a
#: 13,000-fragment realization of the built-in scenario: 5.6 kB a fragment).
BATCH_BYTES_PER_FRAGMENT = 8 * 1024
#: Bytes per time sample besides the targets: sample times, segment bins, prefilter bounds.
WINDOW_BYTES_PER_SAMPLE = 64
#: Bytes per target and time sample: positions, velocities, validity, temporaries.
TARGET_BYTES_PER_SAMPLE = 128
#: Copies of the per-realization results held at once: the batches, their concatenation, the
#: checked RunResults and the HDF5 writer's buffers.
RESULTS_COPIES = 4
#: Bytes the screened estimator holds besides the window (engine/orbits/screening.py): one
#: block's states (BLOCK_POINTS objects x samples) and its close pairs (PAIRS_PER_BLOCK keys,
#: sorted) with the segments' temporaries (measured: 1.6 GB peak for 462 objects x 4,919
#: targets x 1 day).
SCREEN_BYTES = 2.0e9
#: Largest number of time bins: the kernels index bins with 32-bit integers.
MAX_TIME_BINS = 2**31 - 1


def _bytes(n: float) -> str:
    """1.5e12 -> '1.4 TiB'."""
    for unit, size in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30),
                       ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 1024:,.1f} KiB"


def _duration(seconds: float) -> str:
    days = seconds / 86400.0
    return f"{days / 365.25:,.3g} years" if days >= 365.25 else f"{days:,.3g} days"


def window_sizes(analysis) -> tuple[int, int]:
    """(samples m, time bins T) of an [analysis] window, as engine.run.window.analysis_window
    makes them (engine.scenario.model.Analysis says both), computed without building them
    (Python integers: no overflow)."""
    return analysis.n_samples, analysis.n_time_bins


def chunk_bins(analysis, m: int, bins: int) -> int:
    """The most time bins one time chunk of the window spans (engine.run.window.time_chunks): the
    estimator's per-fragment rate buffer covers one chunk, not the window."""

    segments = min(CHUNK_SEGMENTS, max(m - 1, 1))
    return min(bins, math.ceil(segments * analysis.step_s / analysis.time_bin_s) + 1)


def fragments_per_realization(scenario) -> float:
    """Fragments of one realization (the SBM count, plus remnants), or the objects of a
    [population], as a float (engine.scenario.objects_per_realization)."""
    return float(objects_per_realization(scenario))


def _named(label: str, n: int) -> str:
    """'--realizations 1,000' or 'x.toml: [analysis] realizations = 1,000'."""
    return f"{label} {n:,}" if label.startswith("--") else f"{label} = {n:,}"


def _field(scenario, key: str) -> str:
    return f"{scenario.source}: [analysis] {key}"


def check_run(scenario, device: str, n_realizations: int, *, realizations_label: str,
              batch_size: int | None = None, parallel: int | None = 1,
              available: int | None = None) -> None:
    """InputError (one line) if running ``n_realizations`` of ``scenario`` on ``device`` cannot
    fit in memory or would take longer than MAX_RUN_DAYS.

    realizations_label: where the count came from, for the message ("--realizations", or the
    scenario's "[analysis] realizations"). batch_size: realizations per batch (None: the
    default, 1 on the CPU). parallel: processes running batches at once (None: unknown, e.g. a
    Dask cluster: no time check). available: bytes (default: available_memory_bytes()).
    """
    a = scenario.analysis
    budget = COMMAND_MEMORY_SHARE * (available_memory_bytes() if available is None else available)
    m, bins = window_sizes(a)
    K = len(scenario.targets)
    n_frag = fragments_per_realization(scenario)

    per_sample = WINDOW_BYTES_PER_SAMPLE + K * TARGET_BYTES_PER_SAMPLE
    window = m * per_sample
    screened = uses_screen(scenario)
    if screened:
        window += SCREEN_BYTES
    if window > budget:
        fit = max(int(budget // per_sample), 2)
        raise InputError(
            f"{_field(scenario, 'step_s')} = {a.step_s:g} over duration_days = "
            f"{a.duration_days:g} makes {m:,} time samples, which need {_bytes(window)} of memory; "
            f"{_bytes(budget)} are available: at most about {fit:,} samples fit, e.g. step_s >= "
            f"{a.duration_days * 86400.0 / (fit - 1):.3g} or duration_days <= "
            f"{(fit - 1) * a.step_s / 86400.0:.3g}")
    sizes = 8  # size bins: one per decade of Lc up to 100 m (engine.run.window.size_edges_m)
    batch = batch_size or 1
    # Batches held at once: one per CPU worker process (engine.run.pool); on the GPU, the one
    # estimated and the one prepared meanwhile.
    held = 2 if device == "gpu" else max(parallel or 1, 1)
    chunk = chunk_bins(a, m, bins)

    def need(n_bins: int, n_real: int, n_batch: int) -> float:
        """Bytes: the window, n_batch realizations' fragments (times the batches held at once)
        with their rate buffers over a time chunk's bins (at most n_bins), and the results of
        n_real realizations."""
        # The all-pairs estimator holds a rate row per object and target; the screen does not
        # (its block states and close pairs: SCREEN_BYTES, in `window`).
        rates = 0 if screened else 2 * 8 * K * min(n_bins, chunk)
        per_fragment = BATCH_BYTES_PER_FRAGMENT + rates
        per_realization = RESULTS_COPIES * 8 * (K * (n_bins + sizes + 1) + n_bins + 2)
        return window + n_frag * per_fragment * n_batch * held + float(n_real) * per_realization

    total = need(bins, n_realizations, batch)
    if total > budget and bins > max(m - 1, 1):
        # Bins narrower than the steps hold nothing more: the bin width is what to change.
        per_bin = need(1, n_realizations, batch) - need(0, n_realizations, batch)
        bins_fit = int((budget - need(0, n_realizations, batch)) // per_bin)
        if bins_fit >= 1:
            end_s = (m - 1) * a.step_s
            raise InputError(
                f"{_field(scenario, 'time_bin_s')} = {a.time_bin_s:g} makes {bins:,} time bins "
                f"(more than the {m - 1:,} steps), which need {_bytes(total)} of memory; "
                f"{_bytes(budget)} are available: at most about {bins_fit:,} bins fit, "
                f"time_bin_s >= {end_s / bins_fit:.3g}")
    one = need(bins, 0, 1) - window
    if window + one > budget:
        per_fragment = one / max(n_frag, 1.0)
        fit = max((budget - window) // per_fragment, 0)
        if scenario.population is not None:
            raise InputError(
                f"{scenario.source}: [population] holds {n_frag:,.0f} objects, which need "
                f"{_bytes(one)} of memory over {bins:,} time bins; {_bytes(budget)} are "
                f"available: at most about {fit:,.0f} objects fit")
        lc = scenario.event.lc_min_m
        # The smallest lc_min_m whose count law, plus the remnants, gives what fits.
        p = breakup_params(scenario.event, scenario.parent)
        lc_fit = breakup.lc_for_count(p.event_type, max(fit - breakup.MAX_REMNANTS, 1.0),
                                      p.count_mass_kg, p.explosion_scale)
        raise InputError(
            f"{scenario.source}: [event] lc_min_m = {lc:g} with [parent] mass_kg = "
            f"{scenario.parent.mass_kg:g} gives {n_frag:,.3g} fragments per realization, which "
            f"need {_bytes(one)} of memory over {bins:,} time bins; {_bytes(budget)} are "
            f"available: about {fit:,.0f} fragments fit (lc_min_m >= {lc_fit:.3g}, or larger "
            f"time_bin_s)")
    if batch > 1 and window + one * batch > budget:
        fit = int((budget - window) // one)
        raise InputError(f"--batch-size {batch:,}: a batch of {batch:,} realizations needs "
                         f"{_bytes(one * batch)} of memory; {_bytes(budget)} are available: at "
                         f"most {fit:,} fit")
    if total > budget:
        per_realization = need(bins, 1, batch) - need(bins, 0, batch)
        fit = int((budget - need(bins, 0, batch)) // per_realization)
        raise InputError(
            f"{_named(realizations_label, n_realizations)}: the results of that many realizations "
            f"need {_bytes(total - need(bins, 0, batch))} of memory ({K} target(s) x {bins:,} "
            f"time bins each); {_bytes(budget)} are available: at most about {fit:,} "
            f"realizations fit (split the run with --shard K/N and fragrisk merge)")
    if bins > MAX_TIME_BINS:
        raise InputError(f"{_field(scenario, 'time_bin_s')} = {a.time_bin_s:g} makes {bins:,} time "
                         f"bins, more than the {MAX_TIME_BINS:,} the kernels can index")

    if parallel is None:
        return
    rate = FRAGMENT_STEPS_PER_S["gpu" if device == "gpu" else "cpu"] * max(parallel, 1)
    steps = float(n_realizations) * n_frag * m
    seconds = steps / rate
    if seconds > MAX_RUN_DAYS * 86400.0:
        fit = int(MAX_RUN_DAYS * 86400.0 * rate // (n_frag * m))
        where = (f"{max(parallel, 1)} process(es)" if device != "gpu" else "one GPU")
        raise InputError(
            f"{_named(realizations_label, n_realizations)}: {n_realizations:,} realizations x "
            f"{n_frag:,.0f} fragments x {m:,} time samples = {steps:.3g} fragment-steps, at "
            f"least {_duration(seconds)} on {where} at {rate:.2g} fragment-steps/s (faster than "
            f"measured); at most about {fit:,} realizations fit in {MAX_RUN_DAYS:g} days (or "
            f"spread the run over machines with --shard K/N or --scheduler)")


def check_sample(scenario, n_realizations: int, *, available: int | None = None) -> None:
    """InputError if the fragments of ``n_realizations`` (held at once by ``fragrisk sample``)
    cannot fit in memory."""
    budget = COMMAND_MEMORY_SHARE * (available_memory_bytes() if available is None else available)
    per = fragments_per_realization(scenario) * BATCH_BYTES_PER_FRAGMENT
    if n_realizations * per > budget:
        fit = int(budget // per)
        raise InputError(f"--realizations {n_realizations:,}: the fragments of that many "
                         f"realizations need {_bytes(n_realizations * per)} of memory; "
                         f"{_bytes(budget)} are available: at most about {fit:,} fit")


#: Bytes per object and time of an ephemeris: position and velocity (float64 x 6), the error
#: code, and the propagator's temporaries.
EPHEMERIS_BYTES_PER_SAMPLE = 2 * (6 * 8 + 1)


def check_propagate(n_objects: int, n_times: int, source: str, *,
                    available: int | None = None) -> None:
    """InputError if an ephemeris of ``n_objects`` x ``n_times`` cannot fit in memory."""
    budget = COMMAND_MEMORY_SHARE * (available_memory_bytes() if available is None else available)
    need = float(n_objects) * n_times * EPHEMERIS_BYTES_PER_SAMPLE
    if need > budget:
        fit = int(budget // (max(n_objects, 1) * EPHEMERIS_BYTES_PER_SAMPLE))
        raise InputError(f"--step-s: {n_objects:,} object(s) of {source} x {n_times:,} times "
                         f"need {_bytes(need)} of memory; {_bytes(budget)} are available: at most "
                         f"about {fit:,} times fit (a larger --step-s or a shorter --duration-min)")
