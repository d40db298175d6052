"""A `fragrisk run` job: realizations -> batches (here, or on Dask workers) -> results file.

This is the orchestration under the CLI: which realizations (default counts, shards), where
batches run (this process, or a Dask cluster), checkpoints of finished batches (resume after a
crash), and the atomic write of the results file. The numerics are engine.run.montecarlo's.

Checkpoints: while a run to OUT.h5 goes on, each finished batch is saved in OUT.h5.checkpoint/
(one .npz per batch, written atomically, plus manifest.json naming the scenario, seed, version,
device class and realizations). `resume=True` reuses the batches of a matching manifest. The
folder is removed once OUT.h5 is written.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np

from ... import engine
from ..backend import usable_cores
from ..cloud import STATUS_DEEP_SPACE
from ..errors import InputError
from ..files.h5io import atomic_path, check_output_path
from ..physics.sgp4_numpy import DEEP_SPACE_PERIOD_MIN
from ..results import encounter_table as encounters
from ..results import write_results
from ..scenario import MAX_SEED, knob_attributes, scenario_to_toml
from ..timeutil import format_utc
from . import montecarlo
from .distributed import DaskExecutor
from .limits import check_run
from .pool import ProcessPool


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'K/N' (1 <= K <= N) -> (K, N); None -> None."""
    if text is None:
        return None
    # ASCII digits only: int() would also read full-width digits, signs, blanks and "1_0".
    m = re.fullmatch(r"(\d{1,18})/(\d{1,18})", text, flags=re.ASCII)
    if m is None:
        raise InputError(f"--shard: expected K/N such as 2/8, got {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if not (n >= 1 and 1 <= k <= n):
        raise InputError(f"--shard: expected 1 <= K <= N, got {text!r}")
    return k, n


def shard_range(n_total: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """[lo, hi) of shard K of N: the K-th of N contiguous, disjoint, covering ranges."""
    if shard is None:
        return 0, int(n_total)
    k, n = shard
    return (k - 1) * n_total // n, k * n_total // n


def shard_realizations(n_total: int, shard: tuple[int, int] | None) -> np.ndarray:
    """Realization indices of shard K of N: the K-th of N contiguous, disjoint, covering ranges."""
    lo, hi = shard_range(n_total, shard)
    return np.arange(lo, hi, dtype=np.int64)


def with_overrides(scenario, realizations: int | None, seed: int | None):
    """The scenario with --realizations / --seed applied (the results file records this one)."""
    analysis = scenario.analysis
    if realizations is not None:
        if realizations < 1:
            raise InputError(f"--realizations: must be >= 1, got {realizations}")
        analysis = dataclasses.replace(analysis, realizations=int(realizations))
    if seed is not None:
        if not 0 <= seed <= MAX_SEED:
            raise InputError(f"--seed: must be >= 0 and < 2**64 (the results file stores it as an "
                             f"unsigned 64-bit number), got {seed}")
        analysis = dataclasses.replace(analysis, seed=int(seed))
    return dataclasses.replace(scenario, analysis=analysis)


def default_realizations(scenario, device: str, requested: int | None) -> tuple[int, str | None]:
    """Realizations to run and a note when a default was applied (CPU backend: capped so the
    built-in scenario ends within minutes on a laptop)."""
    if requested is not None:
        return int(requested), None
    n = scenario.analysis.realizations
    if scenario.population is None and device == "cpu" and n > montecarlo.CPU_DEFAULT_REALIZATIONS:
        return montecarlo.CPU_DEFAULT_REALIZATIONS, (
            f"CPU backend: running {montecarlo.CPU_DEFAULT_REALIZATIONS} of the scenario's {n} realizations "
            f"(pass --realizations N to choose; the GPU backend runs all {n})")
    return n, None


def run_attrs(scenario, device: str, shard, elapsed_s: float) -> dict:
    """Global attributes of the results file: provenance and every model choice."""
    a = scenario.analysis
    attrs = {
        "title": f"fragrisk collision risk: {scenario.name}",
        "source": f"fragrisk {engine.__version__}",
        "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} fragrisk run",
        "scenario": scenario_to_toml(scenario),
        "scenario_name": scenario.name,
        "seed": int(a.seed),
        "n_realizations": int(a.realizations),
        "device": device,
        "elapsed_s": float(elapsed_s),
        "analysis_start": format_utc(a.start_jd, a.start_fr),
        "duration_days": float(a.duration_days),
        "step_s": float(a.step_s),
        "time_bin_s": float(a.time_bin_s),
        "encounters": a.encounters,
        "pc_bins_per_decade": int(a.pc_bins_per_decade),
        "kernel": a.kernel,
        "kernel_radius_km": float(a.kernel_radius_km),
        "estimator": "secant chord: exact length inside the kernel sphere of the straight segment "
                     "between consecutive relative positions",
        "decay_rule": "decayed from the first sample with an SGP4 error or altitude < 100 km",
        "propagator": "SGP4 near-earth (WGS-72, improved mode)",
    }
    if scenario.event is not None:
        e = scenario.event
        attrs.update(event_epoch=e.epoch, event_type=e.type, lc_min_m=float(e.lc_min_m),
                     am_sampling=e.am_sampling, mass_policy=e.mass_policy,
                     drag_coefficient=float(e.drag_coefficient), drag_scale=float(e.drag_scale),
                     breakup_model="NASA Standard Breakup Model (Johnson et al. 2001; Krisko 2011)")
        attrs.update(knob_attributes(e, scenario.parent))
    else:
        attrs.update(cloud="population")
    if shard is not None:
        attrs["shard"] = f"{shard[0]}/{shard[1]}"
    return attrs


# --- checkpoints -------------------------------------------------------------------------------

BATCH_FIELDS = ("realization", "by_time", "by_size", "fragments_in_orbit", "n_fragments", "status_counts",
                "fragment_steps", "propagated_steps", "kernel_s", "host_s")


def checkpoint_dir(out: Path) -> Path:
    return out.with_name(out.name + ".checkpoint")


def _manifest(scenario, device: str, realizations: np.ndarray) -> dict:
    # Comment lines left out: they name the file as given (a relative or an absolute path).
    text = "\n".join(line for line in scenario_to_toml(scenario).splitlines() if not line.startswith("#"))
    return {"fragrisk": engine.__version__, "scenario_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "seed": int(scenario.analysis.seed), "realizations": [int(realizations[0]), int(realizations[-1]) + 1]
            if realizations.size else [0, 0], "device": device}


def save_batch(folder: Path, batch: montecarlo.BatchResult) -> None:
    """One finished batch as folder/batch_<first>.npz, written atomically."""
    arrays = {f: np.asarray(getattr(batch, f)) for f in BATCH_FIELDS}
    if batch.encounters is not None:
        arrays.update(batch.encounters.to_fields())
    if batch.gabbard is not None:
        arrays.update(gabbard_apogee_km=batch.gabbard[0], gabbard_perigee_km=batch.gabbard[1],
                      gabbard_period_min=batch.gabbard[2])
    with atomic_path(folder / f"batch_{int(batch.realization[0]):09d}.npz", overwrite=True) as tmp:
        with open(tmp, "xb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())


#: What reading a damaged batch file may raise (np.load of a cut or overwritten .npz).
_DAMAGED = (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile)


def load_batches(folder: Path, manifest: dict, shape: tuple[int, int, int] | None = None) -> list:
    """Finished batches of a checkpoint folder whose manifest matches; [] where the manifest is
    missing or unreadable.  shape: (targets K, time bins T, size bins S) the batches must have.

    A batch file that cannot be read, or whose arrays do not fit the run (shapes, realizations
    outside the manifest's range or already loaded), is removed: its realizations run again.
    """
    try:
        found = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return []
    if found != manifest:
        raise InputError(f"{folder}: checkpoint of a different run (scenario, seed, version, device or "
                         f"realizations differ); remove it or run without --resume")
    lo, hi = manifest["realizations"]
    batches, seen = [], set()
    for path in sorted(folder.glob("batch_*.npz")):
        try:
            with np.load(path) as z:
                gab = None
                if "gabbard_apogee_km" in z:
                    gab = (z["gabbard_apogee_km"], z["gabbard_perigee_km"], z["gabbard_period_min"])
                table = encounters.from_fields({k: z[k] for k in encounters.VARIABLE_NAMES if k in z.files})
                b = montecarlo.BatchResult(
                    realization=z["realization"], by_time=z["by_time"], by_size=z["by_size"],
                    fragments_in_orbit=z["fragments_in_orbit"], n_fragments=z["n_fragments"],
                    status_counts=z["status_counts"], gabbard=gab, fragment_steps=int(z["fragment_steps"]),
                    propagated_steps=int(z["propagated_steps"]), kernel_s=float(z["kernel_s"]),
                    encounters=table, host_s=float(z["host_s"]) if "host_s" in z else 0.0)
            _check_batch(b, lo, hi, seen, shape)
        except _DAMAGED:  # (encounters.TableError is a ValueError)
            # A batch cut short by the crash, or damaged since: it is simply run again.
            path.unlink(missing_ok=True)
            continue
        seen.update(int(r) for r in b.realization)
        batches.append(b)
    return batches


def _check_batch(b, lo: int, hi: int, seen: set, shape) -> None:
    """ValueError unless batch ``b`` holds new realizations in [lo, hi) with consistent arrays."""
    r = np.asarray(b.realization)
    if r.ndim != 1 or r.size == 0 or r.dtype.kind not in "iu":
        raise ValueError("realization")
    if r.min() < lo or r.max() >= hi or np.unique(r).size != r.size or seen.intersection(r.tolist()):
        raise ValueError("realization range")
    R = r.size
    K, T, S = shape if shape is not None else (b.by_time.shape[0], b.by_time.shape[-1], b.by_size.shape[-1])
    expected = {"by_time": (K, R, T), "by_size": (K, R, S), "fragments_in_orbit": (R, T),
                "n_fragments": (R,), "status_counts": (5,)}
    for name, want in expected.items():
        a = np.asarray(getattr(b, name))
        if a.shape != want or a.dtype.kind not in "fiu" or not np.isfinite(a).all():
            raise ValueError(name)


# --- where batches run ------------------------------------------------------------------------

def make_executor(device: str, *, jobs: int | None = None, workers: int | None = None,
                  scheduler: str | None = None):
    """Where a run's batches go, from --jobs / --workers / --scheduler: None (this process), an
    engine.run.pool.ProcessPool of `jobs` local worker processes (default: every usable core; CPU
    backend: whole batches; GPU backend: the host stage of each batch, while this process runs
    the kernels) or an engine.run.distributed.DaskExecutor (--workers or --scheduler, either backend).
    """

    dask = workers is not None or scheduler is not None
    if jobs is not None:
        if jobs < 1:
            raise InputError(f"--jobs: must be >= 1, got {jobs}")
        if dask:
            raise InputError("--jobs and --workers/--scheduler: give one (local worker processes, or a Dask "
                             "cluster)")
    if dask:

        return DaskExecutor(scheduler=scheduler, workers=workers, device=device)
    n = usable_cores() if jobs is None else jobs
    if n == 1:
        return None

    return ProcessPool(n, device)


# --- the job -----------------------------------------------------------------------------------

@dataclasses.dataclass
class JobResult:
    path: Path
    results: object
    stats: dict
    notes: list
    device: str


def run_job(scenario, device: str, out: Path, *, realizations: int | None = None, seed: int | None = None,
            overwrite: bool = False, shard=None, resume: bool = False, batch_size: int | None = None,
            executor=None, on_progress=None, checkpoint: bool = True) -> JobResult:
    """Run the scenario's realizations (or a shard of them) and write the results file `out`.

    device: "cpu" or "gpu" (resolved). executor: None (this process) or an object with
    montecarlo.run's signature as `run(setup, realizations, *, batch_size, on_batch, batches)
    -> RunOutput` (make_executor: engine.run.pool.ProcessPool, engine.run.distributed.DaskExecutor).
    on_progress(done_realizations, total_realizations, batch): once when the batches start (batch
    None; done = the realizations resumed from the checkpoint), then after each batch.
    Raises InputError if `out` exists and not overwrite (before any work).
    """
    out = check_output_path(out, overwrite=overwrite, what="a results file")
    folder = checkpoint_dir(out)
    if checkpoint and (folder.is_symlink() or (folder.exists() and not folder.is_dir())):
        raise InputError(f"{folder}: exists and is not a checkpoint folder (fragrisk keeps the finished "
                         f"batches of {out.name} there); move it away")
    n_total, note = default_realizations(scenario, device, realizations)
    scenario = with_overrides(scenario, n_total, seed)
    notes = [note] if note else []
    notes.extend(scenario.warnings)
    lo, hi = shard_range(n_total, shard)
    if hi <= lo:
        raise InputError(f"--shard {shard[0]}/{shard[1]}: no realizations in this shard of {n_total}")
    # Sizes against this machine before anything is allocated (InputError saying what fits).

    label = ("--realizations" if realizations is not None
             else f"{scenario.source}: [analysis] realizations")
    parallel = getattr(executor, "parallel_hint", 1) if executor is not None else 1
    check_run(scenario, device, hi - lo, realizations_label=label, batch_size=batch_size,
              parallel=parallel)
    todo = shard_realizations(n_total, shard)
    start = time.perf_counter()
    setup = montecarlo.make_setup(scenario, device)

    manifest = _manifest(scenario, device, todo)
    previous = []
    if checkpoint:
        shape = (len(setup.targets.names), setup.window.n_bins, setup.size_edges_m.size - 1)
        if resume and folder.exists():
            previous = load_batches(folder, manifest, shape)
            if previous:
                notes.append(f"resumed: {sum(b.realization.size for b in previous)} realizations from {folder}")
            else:  # nothing usable (no or unreadable manifest): start clean, no stray batches
                shutil.rmtree(folder)
        elif folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(exist_ok=True)
        (folder / "manifest.json").write_text(json.dumps(manifest))

    def on_batch(batch, done, total):
        if checkpoint:
            save_batch(folder, batch)
        if on_progress is not None:
            on_progress(done, total, batch)

    if on_progress is not None:
        on_progress(sum(b.realization.size for b in previous), todo.size, None)
    if executor is None:
        output = montecarlo.run(setup, todo, batch_size=batch_size, on_batch=on_batch, batches=previous)
    else:
        output = executor.run(setup, todo, batch_size=batch_size, on_batch=on_batch, batches=previous)
    elapsed = time.perf_counter() - start
    notes.extend(getattr(output, "notes", []))
    attrs = run_attrs(scenario, device, shard, elapsed)
    results = montecarlo.to_results(setup, output, attrs)
    write_results(out, results, overwrite=overwrite)
    if checkpoint:
        shutil.rmtree(folder, ignore_errors=True)
    stats = output.stats()
    stats["elapsed_s"] = elapsed
    deep = stats["status_counts"][STATUS_DEEP_SPACE]
    if deep:
        # Counted, never dropped silently: the kernels are near-earth SGP4 (engine/cloud.py).
        notes.append(f"{deep:,} {'objects' if scenario.population is not None else 'fragments'} on deep-space "
                     f"orbits (period >= {DEEP_SPACE_PERIOD_MIN:g} min) were not propagated and contribute nothing")
    if previous:
        stats["note"] = "rates count this session's batches only"
    return JobResult(out, results, stats, notes, device)
