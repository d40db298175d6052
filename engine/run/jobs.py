"""A `fragrisk run` job: realizations -> batches (here, or on Dask workers) -> results file.

This is the orchestration under the CLI: which realizations (default counts, shards), where
batches run (this process, or a Dask cluster), checkpoints of finished batches (resume after a
crash), and the atomic write of the results file. The numerics are the
other modules of engine/run/ (montecarlo.py reads them in order).

Checkpoints: while a run to OUT.h5 goes on, each finished batch is saved in OUT.h5.checkpoint/
(one .npz per batch, written atomically, plus manifest.json naming the scenario, seed, version,
device class and realizations). `resume=True` reuses the batches of a matching manifest,
`fresh=True` discards the folder; with neither, a folder holding finished batches is refused in
one line that says which of the two to pass (finished work is never dropped silently), while
one holding none (stopped before its first batch) is simply replaced. The folder is removed
once OUT.h5 is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
import tomllib
import zipfile
from pathlib import Path

import numpy as np

from ... import engine
from ..atmosphere.drag import space_weather_attributes
from ..backend import usable_cores
from ..cloud import STATUS_DEEP_SPACE, STATUS_MEANINGS
from ..errors import InputError, counted
from ..files.h5io import atomic_path, check_output_path
from ..physics.sgp4_numpy import DEEP_SPACE_PERIOD_MIN
from ..results import encounter_table as encounters
from ..results import summary, write_results
from ..scenario import analysis_attributes, event_attributes, scenario_to_toml
from ..scenario.schema import field as scenario_field
from ..timeutil import format_utc, history_stamp
from . import montecarlo, screened
from .batches import BatchResult
from .distributed import DaskExecutor
from .limits import check_run
from .pool import ProcessPool
from .setup import make_setup


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


def output_path(output: str | None, scenario_name: str, shard: tuple[int, int] | None) -> Path:
    """The results file of `fragrisk run`: -o PATH, or results/<scenario>[_shardKofN].h5 (InputError,
    one line, for an empty -o or one with a NUL)."""
    if output is not None and (not output or "\0" in output):
        raise InputError(f"-o: {output!r} is not a file name; expected a results file path")
    if output is not None:
        return Path(output)
    name = f"{scenario_name}.h5" if shard is None else f"{scenario_name}_shard{shard[0]}of{shard[1]}.h5"
    return Path("results") / name


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
    """The scenario with --realizations / --seed applied (the results file records this one),
    each checked against its [analysis] row of the scenario schema like the file's value."""
    changes = {}
    for option, key, value in (("--realizations", "realizations", realizations),
                               ("--seed", "seed", seed)):
        if value is not None:
            f = scenario_field("analysis", key)
            if not f.ok(value):
                raise InputError(f"{option}: expected {f.expect()}, got {value}")
            changes[key] = int(value)
    return dataclasses.replace(scenario, analysis=dataclasses.replace(scenario.analysis, **changes))


def default_realizations(scenario, device: str, requested: int | None) -> tuple[int, str | None]:
    """Realizations to run and a note when a default was applied (CPU backend: capped so the
    built-in scenario ends within minutes on a laptop)."""
    if requested is not None:
        return int(requested), None
    n = scenario.analysis.realizations
    if scenario.population is None and device == "cpu" and n > montecarlo.CPU_DEFAULT_REALIZATIONS:
        return montecarlo.CPU_DEFAULT_REALIZATIONS, (
            f"CPU backend: running {montecarlo.CPU_DEFAULT_REALIZATIONS} of the scenario's {n:,} realizations "
            f"(pass --realizations N to choose; the GPU backend runs all {n:,})")
    return n, None


def run_attrs(scenario, device: str, shard, elapsed_s: float, atmosphere=None) -> dict:
    """Global attributes of the results file: provenance and every model choice (atmosphere:
    the setup's engine.run.drag_steps.RunAtmosphere, or None for SGP4's own)."""
    a = scenario.analysis
    attrs = {
        "title": f"fragrisk collision risk: {scenario.name}",
        "source": f"fragrisk {engine.__version__}",
        "history": f"{history_stamp()} fragrisk run",
        "scenario": scenario_to_toml(scenario),
        "scenario_name": scenario.name,
        "n_realizations": int(a.realizations),
        "device": device,
        "elapsed_s": float(elapsed_s),
        "analysis_start": format_utc(a.start_jd, a.start_fr),
        **analysis_attributes(a),
        **space_weather_attributes(None if atmosphere is None else atmosphere.air),
        "estimator": "secant chord: exact length inside the kernel sphere of the straight segment "
                     "between consecutive relative positions",
        "decay_rule": "decayed from the first sample with an SGP4 error or altitude < 100 km",
        "propagator": "SGP4 near-earth (WGS-72, improved mode)",
    }
    if scenario.event is not None:
        e = scenario.event
        attrs.update(event_epoch=e.epoch, **event_attributes(e, scenario.parent),
                     breakup_model="NASA Standard Breakup Model (Johnson et al. 2001; Krisko 2011)")
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
            if realizations.size else [0, 0], "device": device, "scenario": text}


def _flat(table, prefix: str = "") -> dict:
    """{"analysis.seed": value, ...}: the leaves of a TOML table."""
    out = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, v in enumerate(value):
                out.update(_flat(v, f"{name}[{i}]."))
        else:
            out[name] = value
    return out


def manifest_difference(found: dict, wanted: dict) -> str:
    """What differs between a checkpoint's manifest and this run's, in words: the first field
    that differs with both values ("[analysis] seed: 7 in the checkpoint, 8 here")."""
    def show(v) -> str:
        text = repr(v)
        return text if len(text) <= 40 else text[:37] + "..."

    for key, what in (("fragrisk", "fragrisk version"), ("device", "device"),
                      ("realizations", "realizations")):
        if found.get(key) != wanted.get(key):
            return f"{what}: {show(found.get(key))} in the checkpoint, {show(wanted.get(key))} here"
    if found.get("scenario_sha256") != wanted.get("scenario_sha256"):
        try:
            old, new = _flat(tomllib.loads(found["scenario"])), _flat(tomllib.loads(wanted["scenario"]))
        except (KeyError, TypeError, tomllib.TOMLDecodeError):
            return "the scenario differs"
        for key in sorted(set(old) | set(new)):
            if old.get(key, "<unset>") != new.get(key, "<unset>"):
                section, _, field = key.rpartition(".")
                name = f"[{section}] {field}" if section else field
                return (f"scenario {name}: {show(old.get(key, '<unset>'))} in the checkpoint, "
                        f"{show(new.get(key, '<unset>'))} here")
        return "the scenario differs"
    for key in sorted(set(found) | set(wanted)):
        if found.get(key) != wanted.get(key):
            return f"{key}: {show(found.get(key))} in the checkpoint, {show(wanted.get(key))} here"
    return "nothing differs"


def read_manifest(folder: Path) -> dict | None:
    """The checkpoint's manifest, or None where it is missing or unreadable."""
    try:
        found = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _finished_batches(folder: Path) -> int:
    return sum(1 for _ in folder.glob("batch_*.npz"))


def save_batch(folder: Path, batch: BatchResult) -> None:
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
    found = read_manifest(folder)
    if found is None:
        return []
    if found != manifest:
        raise InputError(f"{folder}: checkpoint of a different run ({manifest_difference(found, manifest)}); "
                         f"start over with --fresh (or remove the folder)")
    lo, hi = manifest["realizations"]
    batches, seen = [], set()
    for path in sorted(folder.glob("batch_*.npz")):
        try:
            with np.load(path) as z:
                gab = None
                if "gabbard_apogee_km" in z:
                    gab = (z["gabbard_apogee_km"], z["gabbard_perigee_km"], z["gabbard_period_min"])
                table = encounters.from_fields({k: z[k] for k in encounters.VARIABLE_NAMES if k in z.files})
                b = BatchResult(
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


def _refuse_unasked(folder: Path, manifest: dict) -> None:
    """A checkpoint folder found without --resume or --fresh: InputError (one line) where it
    holds finished batches, so that none is lost by a forgotten flag; else nothing (the run
    replaces it)."""
    n = _finished_batches(folder)
    if n == 0:
        return
    found = read_manifest(folder)
    held = counted(n, "finished batch", "finished batches")
    if found == manifest:
        raise InputError(f"{folder}: holds {held} of this run, stopped before its end; continue it "
                         f"with --resume, or start over with --fresh")
    what = "an unreadable manifest" if found is None else manifest_difference(found, manifest)
    raise InputError(f"{folder}: holds {held} of a different run ({what}); start over with --fresh "
                     f"(or remove the folder)")


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

    def summary(self, scenario_name: str) -> dict:
        """The JSON-ready summary of `fragrisk run` (its --json; the text lines print from it):
        the file, the run's sizes and rates, fragments by status, per target
        (engine.results.summary), the notes and the encounter count (None: not recorded)."""
        st, res = self.stats, self.results
        table = res.encounters
        report = {"results": str(self.path), "scenario": scenario_name, "device": self.device,
                "realizations": int(res.realization.size), "seed": int(res.attrs["seed"]),
                "elapsed_s": round(st["elapsed_s"], 3),
                "fragment_steps": int(st["fragment_steps"]),
                "propagated_fragment_steps": int(st["propagated_fragment_steps"]),
                "effective_fragment_steps_per_s": st["effective_rate"],
                "raw_fragment_steps_per_s": st["raw_rate"],
                "fragment_status_counts": dict(zip(STATUS_MEANINGS.split(), st["status_counts"])),
                  "targets": summary(res), "notes": self.notes}
        if st.get("resumed_realizations"):
            report["resumed_realizations"] = st["resumed_realizations"]
        report["encounters"] = None if table is None else len(table)
        return report


def run_job(scenario, device: str, out: Path, *, realizations: int | None = None, seed: int | None = None,
            overwrite: bool = False, shard=None, resume: bool = False, fresh: bool = False,
            batch_size: int | None = None,
            executor=None, on_progress=None, checkpoint: bool = True) -> JobResult:
    """Run the scenario's realizations (or a shard of them) and write the results file `out`.

    device: "cpu" or "gpu" (resolved). executor: None (this process) or an object with
    montecarlo.run's signature as `run(setup, realizations, *, batch_size, on_batch, batches)
    -> RunOutput` (make_executor: engine.run.pool.ProcessPool, engine.run.distributed.DaskExecutor).
    on_progress(done_realizations, total_realizations, batch): once when the batches start (batch
    None; done = the realizations resumed from the checkpoint), then after each batch.
    resume / fresh: continue from the checkpoint folder beside `out` / discard it (see the module
    docstring); without either, a checkpoint holding finished batches is refused (InputError).
    Raises InputError if `out` exists and not overwrite (before any work).
    """
    if resume and fresh:
        raise InputError("--resume and --fresh: give one (continue the stopped run, or start over)")
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
    manifest = _manifest(scenario, device, todo)
    if checkpoint and folder.exists() and not (resume or fresh):
        _refuse_unasked(folder, manifest)
    start = time.perf_counter()
    setup = screened.attach(make_setup(scenario, device))
    if setup.atmosphere is not None:
        notes.extend(setup.atmosphere.air.notes)

    previous = []
    if checkpoint:
        shape = (len(setup.targets.names), setup.window.n_bins, setup.size_edges_m.size - 1)
        if resume and folder.exists():
            previous = load_batches(folder, manifest, shape)
            if previous:
                n_prev = sum(b.realization.size for b in previous)
                notes.append(f"resumed: {counted(n_prev, 'realization')} from {folder}")
            else:  # nothing usable (no or unreadable manifest): start clean, no stray batches
                shutil.rmtree(folder)
        elif folder.exists():  # --fresh, or a folder without finished batches
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
    attrs = run_attrs(scenario, device, shard, elapsed, setup.atmosphere)
    results = montecarlo.to_results(setup, output, attrs)
    write_results(out, results, overwrite=overwrite)
    if checkpoint:
        shutil.rmtree(folder, ignore_errors=True)
    stats = output.stats()
    stats["elapsed_s"] = elapsed
    if previous:
        # The rates are this session's: the resumed batches' steps were computed in another
        # session's time, and would inflate them.
        resumed = {int(r) for b in previous for r in b.realization}
        mine = [b for b in output.batches if int(b.realization[0]) not in resumed]
        steps = sum(b.fragment_steps for b in mine)
        prop = sum(b.propagated_steps for b in mine)
        kernel_s = sum(b.kernel_s for b in mine)
        stats["effective_rate"] = steps / elapsed if elapsed > 0 and steps else float("nan")
        stats["raw_rate"] = prop / kernel_s if kernel_s > 0 else float("nan")
        stats["resumed_realizations"] = sum(int(b.realization.size) for b in previous)
    deep = stats["status_counts"][STATUS_DEEP_SPACE]
    if deep:
        # Counted, never dropped silently: the kernels are near-earth SGP4 (engine/cloud.py).
        notes.append(f"{counted(deep, 'object' if scenario.population is not None else 'fragment')} on deep-space "
                     f"orbits (period >= {DEEP_SPACE_PERIOD_MIN:g} min) were not propagated and contribute nothing")
    if previous:
        stats["note"] = "rates count this session's batches only"
    return JobResult(out, results, stats, notes, device)
