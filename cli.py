"""fragrisk's command line: parses, calls engine/, prints.  No numerics here.

Every command is a ``@cli.command`` on the group below.  An ``engine.errors.FragriskError``
raised anywhere in a command becomes one line ``error: <message>`` on stderr and its exit code
(`exit_code_of`: 2 for bad input, 3 for GPU memory), without a traceback (the group does it, so
new commands get it for free); so do click's usage errors (a bad option value, a missing
argument), which name the option and point to --help (exit 2). SIGTERM is handled like Ctrl-C
(``engine.errors.Terminated``, a KeyboardInterrupt): `run` keeps its finished batches and says
so, every command removes its temporary files, and the exit code is 143 (130 for Ctrl-C).
"""

from __future__ import annotations

import contextlib
import errno
import math
import re
import signal
import sys
import threading

import click

from . import engine
from .engine.errors import DeviceMemoryError, FragriskError, Terminated, one_line

DEFAULT_SCENARIO = "cosmos1408"
EXIT_ABORTED = 1
EXIT_USER_ERROR = 2
EXIT_DEVICE_MEMORY = 3
EXIT_INTERRUPTED = 130   # 128 + SIGINT
EXIT_TERMINATED = 143    # 128 + SIGTERM

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 aborted; 2 bad input or options (one line on stderr names the file, "
    "field and value); 3 GPU out of memory even with a single realization (fewer time bins or "
    "targets, a larger lc_min_m, or --device cpu); 130 interrupted (run: finished batches are "
    "kept for --resume); 143 terminated by SIGTERM (as 130)."
)


def exit_code_of(exc: FragriskError) -> int:
    """The exit code of an error raised by the engine (see EXIT_CODES_HELP)."""
    return EXIT_DEVICE_MEMORY if isinstance(exc, DeviceMemoryError) else EXIT_USER_ERROR


class UserError(click.ClickException):
    """A FragriskError on its way out: ``error: <message>`` on stderr, its exit code."""

    def __init__(self, exc: FragriskError) -> None:
        super().__init__(str(exc))
        self.exit_code = exit_code_of(exc)

    def show(self, file=None) -> None:
        # The engine's messages are one line by contract; keep them so even if one slips.
        click.echo(f"error: {one_line(self.format_message())}", err=True)


class OneLineUsageError(click.ClickException):
    """A click usage error (a bad option value, a missing argument, an unknown command) as one
    line ``error: <message> (see 'fragrisk CMD --help')``, exit code 2."""

    def __init__(self, exc: click.UsageError):
        super().__init__(" ".join(exc.format_message().split()).rstrip("."))
        self.exit_code = exc.exit_code
        self.where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}{self.where}", err=True)


class FragriskGroup(click.Group):
    """A click group that turns FragriskError from any subcommand into a UserError, click's usage
    errors into one line, and SIGTERM (Terminated) in a command that does not handle it into one
    line and exit code 143."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None
        except FragriskError as exc:
            raise UserError(exc) from None
        except Terminated:
            click.echo("terminated (SIGTERM): nothing was written", err=True)
            raise click.exceptions.Exit(EXIT_TERMINATED) from None


@click.group(cls=FragriskGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EXIT_CODES_HELP)
@click.version_option(engine.__version__, "--version", prog_name="fragrisk",
                      message="%(prog)s %(version)s")
def cli() -> None:
    """fragrisk: collision risk of a fragmentation debris cloud (NASA SBM + SGP4)."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``fragrisk = "fragrisk.cli:main"``)."""
    try:
        with _sigterm_raises():
            rv = cli.main(args=argv, prog_name="fragrisk", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, Terminated):  # SIGTERM before a command ran
            click.echo("terminated (SIGTERM)", err=True)
            sys.exit(EXIT_TERMINATED)
        click.echo("Aborted!", err=True)
        sys.exit(EXIT_ABORTED)
    except click.exceptions.NoArgsIsHelpError as exc:  # `fragrisk` alone: the help text
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # the group's own options (`fragrisk --bogus`)
        OneLineUsageError(exc).show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except FragriskError as exc:  # raised outside a subcommand, e.g. in a parameter callback
        error = UserError(exc)
        error.show()
        sys.exit(error.exit_code)
    except Terminated:
        click.echo("terminated (SIGTERM)", err=True)
        sys.exit(EXIT_TERMINATED)
    except MemoryError:  # what the up-front size checks did not foresee: still one line
        click.echo("error: out of memory; try a smaller problem (fewer realizations, a larger "
                   "step or lc_min_m)", err=True)
        sys.exit(EXIT_ABORTED)
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # `fragrisk info | head`: the reader went away
            sys.exit(EXIT_ABORTED)
        raise
    sys.exit(rv if isinstance(rv, int) else 0)


@contextlib.contextmanager
def _sigterm_raises():
    """Inside the block SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread, as
    Ctrl-C raises KeyboardInterrupt; the previous handler is back after it.  Elsewhere than the
    main thread (e.g. a test runner's worker) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- shared options ------------------------------------------------------------------------------
def scenario_argument(f):
    return click.argument("scenario", required=False, default=DEFAULT_SCENARIO,
                          metavar="[SCENARIO]")(f)


def device_option(f):
    return click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
                        show_default=True, help="Array backend: NumPy (cpu) or CuPy (gpu).")(f)


class _AsciiNumber(click.ParamType):
    """An integer or a float written in ASCII digits: click's INT and FLOAT call int() and
    float(), which also read full-width and other Unicode digits and "1_000".  "nan" and "inf"
    pass as floats, for the command to refuse with its own message (the field and its range)."""

    _INT = re.compile(r"[+-]?\d+", re.ASCII)
    _FLOAT = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)",
                        re.ASCII | re.IGNORECASE)

    def __init__(self, kind: type):
        self.kind = kind
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, self.kind) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        pattern = self._INT if self.kind is int else self._FLOAT
        if not pattern.fullmatch(text):
            what = "an integer" if self.kind is int else "a number"
            self.fail(f"{value!r} is not {what} (ASCII digits)", param, ctx)
        return self.kind(text)


INT = _AsciiNumber(int)
FLOAT = _AsciiNumber(float)


def set_option(f):
    return click.option("--set", "overrides", multiple=True, metavar="SECTION.FIELD=VALUE",
                        help="Override a scenario field, e.g. event.lc_min_m=0.01 (VALUE as in TOML; "
                             "repeatable; validated like the file).")(f)


def epoch_gap_option(f):
    return click.option("--max-epoch-gap-days", type=FLOAT, default=None, metavar="DAYS",
                        help="Accept element sets up to DAYS from the epoch they are used at "
                             "(default: the scenario's [analysis] max_epoch_gap_days, 30).")(f)


def echo_warnings(warnings) -> None:
    for w in warnings:
        click.echo(f"warning: {w}", err=True)


# --- formatting ----------------------------------------------------------------------------------
def _num(x: float) -> str:
    """2220.0 -> '2,220'; 7.5 -> '7.5'; 0.1 -> '0.1'."""
    return f"{x:,.6g}" if abs(x) < 1e15 else f"{x:.6g}"


def _orbit(elements, i: int = 0) -> str:
    return (f"perigee {elements.perigee_km[i]:,.1f} km, apogee {elements.apogee_km[i]:,.1f} km, "
            f"inclination {math.degrees(elements.inclo[i]):.2f} deg, "
            f"period {elements.period_min[i]:.2f} min")


def _object(elements, i: int = 0) -> str:
    from .engine.timeutil import format_utc

    return (f"{elements.name[i]} (NORAD {int(elements.satnum[i])}, elements of "
            f"{format_utc(elements.epoch_jd[i], elements.epoch_fr[i])})")


def _device_lines(requested: str) -> list[str]:
    from .engine.backend import describe_device, gpu_unusable_reason, resolve_device

    device = resolve_device(requested)
    d = describe_device(device)
    if device == "gpu":
        lines = ["backend:  CuPy (gpu)",
                 f"device:   {d['name']}, {d['memory_gib']:.1f} GiB, compute capability "
                 f"{d['compute_capability']}, CuPy {d['cupy_version']}, CUDA runtime "
                 f"{d['cuda_runtime_version']}, driver {d['cuda_driver_version']}"]
    else:
        lines = ["backend:  NumPy (cpu)",
                 f"device:   {d['name']}, {d['cores']} cores, NumPy {d['numpy_version']}"]
        if requested == "auto":
            lines.append(f"gpu:      not used: {gpu_unusable_reason()}")
    return lines


def _event_lines(s) -> list[str]:
    from .engine.physics import breakup

    p, e = s.parent, s.event
    lines = [f"parent:   {_object(p.elements)}, {p.kind}, {_num(p.mass_kg)} kg",
             f"          {_orbit(p.elements)}"]
    if e.type == "collision":
        emr = breakup.energy_to_mass_ratio_j_g(e.projectile_mass_kg, e.impact_velocity_km_s,
                                               p.mass_kg)
        catastrophic = breakup.is_catastrophic(e.projectile_mass_kg, e.impact_velocity_km_s,
                                               p.mass_kg)
        lines += [f"event:    collision at {e.epoch}: projectile {_num(e.projectile_mass_kg)} kg "
                  f"at {_num(e.impact_velocity_km_s)} km/s",
                  f"          energy-to-mass ratio {emr:,.1f} J/g: "
                  f"{'catastrophic' if catastrophic else 'not catastrophic'} "
                  f"(threshold {_num(breakup.CATASTROPHIC_EMR_J_G)} J/g)"]
    else:
        lines += [f"event:    explosion at {e.epoch}, scale S = {_num(e.explosion_scale)}"]
    mass = breakup.sbm_mass_kg(e.type, p.mass_kg, e.projectile_mass_kg or 0.0,
                               e.impact_velocity_km_s or 0.0)
    count_mass = mass if e.fragmenting_mass_kg is None or e.type != "collision" \
        else e.fragmenting_mass_kg
    count = breakup.cumulative_count(e.type, count_mass, e.lc_min_m, e.explosion_scale)
    fragmenting = ("" if count_mass == mass or e.type != "collision"
                   else f", fragmenting mass {_num(count_mass)} kg")
    lines += [f"          SBM mass M = {_num(mass)} kg{fragmenting}; expected fragments "
              f"N(>= {_num(e.lc_min_m)} m) = {count:,.1f}",
              f"          A/M sampling {e.am_sampling}, mass policy {e.mass_policy}, "
              f"Cd {_num(e.drag_coefficient)}, drag scale {_num(e.drag_scale)}",
              f"knobs:    fragmenting mass {_num(count_mass) + ' kg' if e.type == 'collision' else 'n/a'}"
              f"{' (the SBM M)' if count_mass == mass and e.type == 'collision' else ''}, "
              f"Δv factor {_num(e.dv_scale)}, σ of log10 Δv {_num(e.dv_sigma_log10)}, "
              f"drag scale {_num(e.drag_scale)}",
              f"          cloud Δv (radial, along-track, cross-track) "
              f"{_num(e.cloud_dv_radial_m_s)}, {_num(e.cloud_dv_along_track_m_s)}, "
              f"{_num(e.cloud_dv_cross_track_m_s)} m/s"]
    return lines


def _scenario_lines(s) -> list[str]:
    lines = [f"scenario: {s.name} ({s.source})"]
    if s.overrides:
        lines.append(f"          with {' '.join('--set ' + o for o in s.overrides)}")
    if s.population is not None:
        el = s.population.elements
        lines.append(f"population: {len(el):,} objects from {el.source} "
                     f"(perigees {el.perigee_km.min():,.1f} to {el.perigee_km.max():,.1f} km), "
                     f"counted as points")
    else:
        lines += _event_lines(s)
    for t in s.targets:
        lines += [f"target:   {t.name}: {_object(t.elements)}, hard-body radius "
                  f"{_num(t.hard_body_radius_m)} m",
                  f"          {_orbit(t.elements)}"]
    a = s.analysis
    duration_s = a.duration_days * 86400.0
    steps = max(1, math.ceil(duration_s / a.step_s - 1e-9))
    lines += [f"window:   start {a.start}, {_num(a.duration_days)} days, {steps:,} steps of "
              f"{_num(a.step_s)} s, time bins of {_num(a.time_bin_s)} s",
              f"sampling: {a.realizations:,} realization{'' if a.realizations == 1 else 's'}, "
              f"seed {a.seed}",
              f"kernel:   {a.kernel}, radius {_num(a.kernel_radius_km)} km",
              f"output:   encounter table {a.encounters}; collision-probability histogram "
              f"{a.pc_bins_per_decade} bin{'' if a.pc_bins_per_decade == 1 else 's'} per decade"]
    return lines


# --- commands -------------------------------------------------------------------------------------
@cli.command()
@scenario_argument
@device_option
@epoch_gap_option
@set_option
def info(scenario: str, device: str, max_epoch_gap_days: float | None, overrides) -> None:
    """Show the backend and device, and a resolved summary of SCENARIO (default: cosmos1408)."""
    from .engine.scenario import load_scenario

    device_lines = _device_lines(device)
    s = load_scenario(scenario, overrides, max_epoch_gap_days=max_epoch_gap_days)
    lines = [f"fragrisk {engine.__version__}", *device_lines, "", *_scenario_lines(s)]
    click.echo("\n".join(lines))
    echo_warnings(s.warnings)



#: Objects x times from which `propagate` shows a progress bar (on a terminal only).
PROGRESS_MIN_SAMPLES = 2_000_000


@cli.command()
@click.argument("elements_file", metavar="TLE_OR_OMM")
@click.option("--start", required=True, metavar="ISO",
              help="Start epoch, ISO 8601 UTC, e.g. 2021-11-15T02:47:00Z.")
@click.option("--duration-min", type=FLOAT, required=True, metavar="M",
              help="Length of the window in minutes.")
@click.option("--step-s", type=FLOAT, required=True, metavar="S",
              help="Time step in seconds (the end of the window is always sampled).")
@click.option("-o", "--output", required=True, metavar="OUT.h5", help="Ephemeris file to write.")
@device_option
@click.option("--overwrite", is_flag=True, help="Replace OUT.h5 if it exists.")
def propagate(elements_file: str, start: str, duration_min: float, step_s: float, output: str,
              device: str, overwrite: bool) -> None:
    """Propagate the element sets of TLE_OR_OMM with SGP4 and write their TEME states to OUT.h5.

    Samples start, start + S, ... and start + M minutes.  Near-earth objects run on --device;
    deep-space ones (period >= 225 min) on the CPU through python-sgp4.
    """
    import time

    from .engine.backend import resolve_device
    from .engine.errors import InputError
    from .engine.files.ephemeris_file import write_ephemeris
    from .engine.files.h5io import check_output_path
    from .engine.orbits.elements import load_elements
    from .engine.orbits.propagation import propagate_elements, sample_times_s
    from .engine.timeutil import format_utc, parse_utc

    if not (math.isfinite(duration_min) and duration_min > 0):
        raise InputError(f"--duration-min: {duration_min!r} is not a number of minutes > 0")
    if not (math.isfinite(step_s) and step_s > 0):
        raise InputError(f"--step-s: {step_s!r} is not a number of seconds > 0")
    duration_s = duration_min * 60.0
    if step_s > duration_s:
        raise InputError(f"--step-s: {_num(step_s)} s is longer than --duration-min "
                         f"{_num(duration_min)} ({_num(duration_s)} s)")
    start_jd, start_fr = parse_utc(start, where="--start")
    check_output_path(output, overwrite=overwrite, what="an ephemeris file")
    resolved = resolve_device(device)
    elements = load_elements(elements_file)
    from .engine.run.limits import check_propagate

    # Samples start, start + S, ... and the end: at most floor(M/S) + 2 times.
    check_propagate(len(elements), math.floor(duration_s / step_s) + 2, str(elements.source))

    time_s = sample_times_s(duration_s, step_s)
    n, m = len(elements), time_s.size

    t0 = time.perf_counter()
    if sys.stderr.isatty() and n * m >= PROGRESS_MIN_SAMPLES:
        with click.progressbar(length=n, label="propagating", file=sys.stderr) as bar:
            def on_progress(done: int, total: int) -> None:
                bar.update(done - bar.pos)

            eph = propagate_elements(elements, start_jd, start_fr, time_s / 60.0,
                                     device=resolved, on_progress=on_progress)
    else:
        eph = propagate_elements(elements, start_jd, start_fr, time_s / 60.0, device=resolved)
    command = (f"fragrisk propagate {elements_file} --start {format_utc(start_jd, start_fr)} "
               f"--duration-min {duration_min!r} --step-s {step_s!r} -o {output} "
               f"--device {device}")
    write_ephemeris(output, eph, elements, start_jd, start_fr, time_s, command=command,
                    overwrite=overwrite,
                    attrs={"device": resolved, "elements_source": str(elements.source),
                           "step_s": float(step_s), "duration_min": float(duration_min)})
    elapsed = time.perf_counter() - t0

    parts = [f"wrote {output}: {n:,} object{'' if n == 1 else 's'} x {m:,} time"
             f"{'' if m == 1 else 's'} ({_num(step_s)} s steps from "
             f"{format_utc(start_jd, start_fr)}), device {resolved}, {elapsed:.2f} s"]
    notes = list(eph.notes)
    if eph.n_errors:
        notes.append(f"{eph.n_errors:,} of {n * m:,} samples have SGP4 errors (see 'error')")
    if notes:
        parts.append("notes: " + "; ".join(notes))
    click.echo("; ".join(parts))


@cli.command()
@scenario_argument
@click.option("--realizations", type=INT, required=True, metavar="N", help="Realizations to sample.")
@click.option("-o", "--output", required=True, metavar="PATH", help="Fragments file to write.")
@click.option("--format", "fmt", type=click.Choice(["h5", "omm"]), default=None,
              help="h5: every fragment (HDF5); omm: the kept fragments as CCSDS OMM XML "
                   "[default: omm for a .xml PATH, else h5].")
@click.option("--seed", type=INT, default=None, metavar="S", help="Seed (default: the scenario's).")
@device_option
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
@epoch_gap_option
@set_option
def sample(scenario, realizations, output, fmt, seed, device, overwrite, max_epoch_gap_days, overrides) -> None:
    """Sample N realizations of SCENARIO's breakup (default: cosmos1408) and write the fragments:
    sizes, A/m, masses, TEME states and SGP4 mean elements at the event epoch."""
    import shlex
    import time
    from pathlib import Path

    import numpy as np

    from .engine.backend import resolve_device
    from .engine.cloud import sample_cloud
    from .engine.errors import InputError
    from .engine.files.fragments_file import status_counts, write_fragments_h5, write_fragments_omm
    from .engine.files.h5io import check_output_path
    from .engine.run import jobs
    from .engine.scenario import load_scenario

    if fmt is None:
        fmt = "omm" if Path(output).suffix.lower() == ".xml" else "h5"
    resolved = resolve_device(device)
    s = load_scenario(scenario, overrides, max_epoch_gap_days=max_epoch_gap_days)
    if s.population is not None:
        raise InputError(f"{s.source}: a [population] scenario has no breakup to sample; "
                         f"fragrisk sample needs [parent] and [event]")
    s = jobs.with_overrides(s, realizations, seed)
    check_output_path(output, overwrite=overwrite,
                      what="an OMM file" if fmt == "omm" else "a fragments file")
    from .engine.run.limits import check_sample

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
               f"{resolved}, {elapsed:.2f} s: {n:,} fragments sampled, {c['kept']:,} kept, "
               f"{c['sub_orbital']:,} sub-orbital ({pct:.1f}%), {c['hyperbolic']:,} hyperbolic, "
               f"{c['element_fit_failed']:,} fit failed, {c['deep_space']:,} deep space")


# --- calibrate -------------------------------------------------------------------------------------
@cli.command()
@scenario_argument
@click.option("--observed", "observed", multiple=True, required=True, metavar="PATH",
              help="TLE or OMM file of tracked fragments (repeat for several; any mix of epochs).")
@click.option("--cataloged", type=INT, default=None, metavar="N",
              help="Fragments the catalog held in all (default: the observed objects).")
@click.option("--min-size-m", type=FLOAT, default=0.1, show_default=True, metavar="L",
              help="The catalog's size threshold: model fragments of Lc >= L are compared.")
@click.option("--realizations", type=INT, default=None, metavar="R",
              help="Realizations per candidate (default: 24 on the CPU, 64 on the GPU).")
@device_option
@click.option("-o", "--output", required=True, metavar="OUT.toml", help="Calibrated scenario to write.")
@click.option("--report", default=None, metavar="DIR",
              help="Also write figures (Gabbard, marginals, profiles) and summary.json into DIR.")
@click.option("--knobs", default=None, metavar="K1,K2,...",
              help="Shape knobs to fit besides the count (default: dv_scale, dv_sigma_log10, "
                   "drag_scale, cloud_dv_radial_m_s, cloud_dv_cross_track_m_s).")
@click.option("--bootstrap", type=INT, default=200, show_default=True, metavar="B",
              help="Bootstrap resamples of the observed objects for the uncertainties.")
@click.option("--ablation", is_flag=True,
              help="Also refit with each knob held at the scenario's value: what each is worth.")
@click.option("--overwrite", is_flag=True, help="Replace OUT.toml if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
@epoch_gap_option
def calibrate(scenario, observed, cataloged, min_size_m, realizations, device, output, report,
              knobs, bootstrap, ablation, overwrite, as_json, max_epoch_gap_days) -> None:
    """Fit SCENARIO's breakup knobs (default: cosmos1408) to tracked fragments and write the
    calibrated scenario to OUT.toml."""
    import json

    from .engine.backend import resolve_device
    from .engine.calibration import calibrate as cal
    from .engine.errors import InputError
    from .engine.files.h5io import atomic_write_text, check_output_path
    from .engine.scenario import load_scenario

    resolved = resolve_device(device)
    s = load_scenario(scenario, max_epoch_gap_days=max_epoch_gap_days)
    if s.population is not None:
        raise InputError(f"{s.source}: a [population] scenario has no breakup to calibrate; "
                         f"fragrisk calibrate needs [parent] and [event]")
    if realizations is not None and realizations < 1:
        raise InputError(f"--realizations: must be >= 1, got {realizations}")
    if bootstrap < 0:
        raise InputError(f"--bootstrap: must be >= 0, got {bootstrap}")
    if cataloged is not None and cataloged < 1:
        raise InputError(f"--cataloged: must be >= 1, got {cataloged}")
    cal.check_min_size(min_size_m)
    fitted = cal.DEFAULT_KNOBS if knobs is None else tuple(k.strip() for k in knobs.split(",") if k.strip())
    for k in fitted:
        if k not in cal.SHAPE_KNOBS:
            raise InputError(f"--knobs: unknown knob {k!r} (valid: {', '.join(cal.SHAPE_KNOBS)})")
    check_output_path(output, overwrite=overwrite, what="a scenario file")
    echo_warnings(s.warnings)
    obs, warnings = cal.load_observed(list(observed), s)
    echo_warnings(warnings)
    bar = _CalibrateProgress(enabled=sys.stderr.isatty() and not as_json)
    try:
        result = cal.calibrate(s, obs, cataloged=cataloged, min_size_m=min_size_m,
                               realizations=realizations, device=resolved, knobs=fitted,
                               bootstrap=bootstrap, ablation=ablation,
                               on_progress=bar.update)
    finally:
        bar.close()
    command = " ".join(["fragrisk calibrate", scenario, *(f"--observed {p}" for p in observed),
                        f"--cataloged {result.cataloged}", f"--min-size-m {min_size_m:g}",
                        f"--realizations {result.realizations}", f"--device {resolved}",
                        f"--knobs {','.join(fitted)}", f"--bootstrap {bootstrap}",
                        *(["--ablation"] if ablation else []), f"-o {output}"])
    written = []
    if report is not None:
        from .engine.calibration_plots import write_report

        written = write_report(result, report)
    path = atomic_write_text(output, cal.calibrated_toml(result, command), overwrite=overwrite,
                             what="a scenario file")
    echo_warnings(result.warnings)
    info = cal.summary(result)
    info.update(output=str(path), report=[str(p) for p in written])
    if as_json:
        click.echo(json.dumps(info, default=float))
        return
    click.echo("\n".join(_calibration_lines(result, path, written)))


def _calibration_lines(result, path, written) -> list[str]:
    r = result
    obs = r.observed
    lines = [f"wrote {path}: {r.scenario.name} fitted to {len(obs):,} tracked objects at "
             f"{obs.epoch} (N = {r.cataloged:,}), {r.realizations} realizations per candidate, "
             f"{r.evaluations} evaluations, device {r.device}, {r.elapsed_s:.1f} s"]
    for k in r.knobs:
        if k.fitted:
            lines.append(f"  {k.name:26s} {k.before:10.4g} -> {k.value:10.4g} +- {k.sigma:.2g}"
                         + ("  (on a bound)" if k.at_bound else ""))
    lines.append(f"  statistic T: {r.before['total']:,.1f} -> {r.after['total']:,.1f} "
                 f"(distributions {r.before['distribution']:,.1f} -> "
                 f"{r.after['distribution']:,.1f}, count {r.before['count']:,.1f} -> "
                 f"{r.after['count']:,.1f})")
    t = r.table
    bands = [k for k in t["observed"] if k.startswith("band_share_")]
    rows = [("count in orbit >= {:g} m".format(r.min_size_m), "count", "{:,.0f}"),
            ("apogee median (km)", "apogee_median_km", "{:.1f}"),
            ("perigee median (km)", "perigee_median_km", "{:.1f}"),
            *[(f"{b[len('band_share_'):]} band share", b, "{:.1%}") for b in bands],
            ("node 5th percentile (deg)", "node_p05_deg", "{:.1f}"),
            ("node 95th percentile (deg)", "node_p95_deg", "{:.1f}"),
            ("B* median (1/ER, not fitted)", "bstar_median", "{:.3g}")]
    lines.append(f"  {'at ' + obs.epoch:36s} {'before':>10s} {'after':>10s} {'observed':>10s}")
    for label, key, fmt in rows:
        lines.append(f"  {label:36s} " + " ".join(
            f"{fmt.format(t[w][key]):>10s}" for w in ("before", "after", "observed")))
    for name, a in r.ablation.items():
        lines.append(f"  without {name} (held at {r.knob(name).before:g}, the others refitted): "
                     f"T {a['total']:,.1f} (fitted with it: {r.fit_statistic:,.1f})")
    for p in written:
        lines.append(f"  report: {p}")
    return lines


class _CalibrateProgress:
    """A progress line on stderr: the stage, evaluations and the best statistic so far."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.shown = False

    def update(self, stage: str, done: int, total: int, best: float) -> None:
        if not self.enabled:
            return
        what = f"{done:,} evaluations" if stage == "fit" else f"{done:,}/{total:,}"
        click.echo(f"\rcalibrate: {stage}: {what}, best T {best:,.2f}        ", nl=False, err=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("", err=True)
            self.shown = False


# --- run, plot, merge -------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES_HELP)
@scenario_argument
@click.option("--realizations", type=INT, default=None, metavar="N",
              help="Realizations to run (default: the scenario's on the GPU; a smaller count on the CPU).")
@click.option("--seed", type=INT, default=None, metavar="S", help="Seed (default: the scenario's).")
@device_option
@click.option("-o", "--output", default=None, metavar="PATH",
              help="Results file (default: results/<scenario>.h5).")
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Run batches on this Dask scheduler.")
@click.option("--workers", type=INT, default=None, metavar="N",
              help="Start a local Dask cluster of N workers (one per GPU where there are GPUs).")
@click.option("--shard", default=None, metavar="K/N", help="Run only the K-th of N realization ranges.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint a stopped run left beside PATH.")
@click.option("--batch-size", type=INT, default=None, metavar="B",
              help="Realizations per batch (default: sized to the device).")
@click.option("--jobs", "n_jobs", type=INT, default=None, metavar="N",
              help="Worker processes on this machine (default: every core it may use): the CPU "
                   "backend's batches, the GPU backend's sampling and element fits.")
@epoch_gap_option
@set_option
def run(scenario, realizations, seed, device, output, overwrite, as_json, scheduler, workers, shard,
        resume, batch_size, n_jobs, max_epoch_gap_days, overrides) -> None:
    """Run the Monte Carlo risk analysis of SCENARIO (default: cosmos1408) and write its results."""
    import json
    from pathlib import Path

    from .engine.backend import gpu_unusable_reason, resolve_device
    from .engine.cloud import STATUS_MEANINGS
    from .engine.errors import InputError
    from .engine.results import summary
    from .engine.run import jobs
    from .engine.scenario import load_scenario

    resolved = resolve_device(device)
    s = load_scenario(scenario, overrides, max_epoch_gap_days=max_epoch_gap_days)
    shard_kn = jobs.parse_shard(shard)
    why_cpu = gpu_unusable_reason() if device == "auto" and resolved == "cpu" else None
    if batch_size is not None and batch_size < 1:
        raise InputError(f"--batch-size: must be >= 1, got {batch_size}")
    if output is not None and (not output or "\0" in output):
        raise InputError(f"-o: {output!r} is not a file name; expected a results file path")
    out = Path(output) if output is not None else Path("results") / (
        f"{s.name}.h5" if shard_kn is None else f"{s.name}_shard{shard_kn[0]}of{shard_kn[1]}.h5")
    made_default = False
    if output is None and not out.parent.is_dir():
        # The default folder; a folder the user names must exist.
        try:
            out.parent.mkdir()
        except OSError as exc:
            raise InputError(f"{out.parent}: cannot create the default output folder "
                             f"({exc.strerror or exc}); give -o PATH") from None
        made_default = True
    executor = None
    bar = _RunProgress(enabled=sys.stderr.isatty() and not as_json)
    try:
        executor = jobs.make_executor(resolved, jobs=n_jobs, workers=workers, scheduler=scheduler)
        job = jobs.run_job(s, resolved, out, realizations=realizations, seed=seed, overwrite=overwrite,
                           shard=shard_kn, resume=resume, batch_size=batch_size, executor=executor,
                           on_progress=bar.update)
    except FragriskError:
        if made_default:  # refused: leave no trace of this run
            with contextlib.suppress(OSError):
                out.parent.rmdir()
        raise
    except KeyboardInterrupt as exc:
        bar.close()
        signal_name = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        click.echo(f"{signal_name}: finished batches are kept in {jobs.checkpoint_dir(out)}; continue "
                   f"with the same command and --resume", err=True)
        sys.exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED)
    finally:
        bar.close()
        if executor is not None:
            executor.close()
    if why_cpu:
        job.notes.insert(0, f"ran on the CPU: the GPU is not usable ({why_cpu})")
    per_target = summary(job.results)
    st = job.stats
    report = {"results": str(job.path), "scenario": s.name, "device": job.device,
              "realizations": int(job.results.realization.size), "seed": int(job.results.attrs["seed"]),
              "elapsed_s": round(st["elapsed_s"], 3),
              "fragment_steps": int(st["fragment_steps"]),
              "propagated_fragment_steps": int(st["propagated_fragment_steps"]),
              "effective_fragment_steps_per_s": st["effective_rate"],
              "raw_fragment_steps_per_s": st["raw_rate"],
              "fragment_status_counts": dict(zip(STATUS_MEANINGS.split(), st["status_counts"])),
              "targets": per_target, "notes": job.notes}
    table = job.results.encounters
    report["encounters"] = None if table is None else len(table)
    if as_json:
        click.echo(json.dumps(report, default=float))
        return
    for note in job.notes:
        click.echo(f"note: {note}", err=True)
    lines = [f"wrote {job.path}: {report['realizations']:,} realizations of {s.name}, seed "
             f"{report['seed']}, device {job.device}, {st['elapsed_s']:.1f} s"]
    for name, t in per_target.items():
        peak = t.get("peak_rate_time_h")
        lines.append(f"  {name}: P mean {t['p_mean']:.3g}, median {t['p_median']:.3g}, "
                     f"p05 {t['p_p05']:.3g}, p95 {t['p_p95']:.3g}; mean expected collisions "
                     f"{t['lambda_mean']:.3g}; highest rate "
                     + (f"at hour {peak:.1f} after the start" if peak is not None else "n/a"))
    if table is not None:
        lines.append(f"  encounters: {len(table):,} passages through the kernel spheres (fragrisk encounters "
                     f"{job.path} [--windows])")
    lines.append(f"  throughput: {st['effective_rate']:.3g} fragment-steps/s effective "
                 f"({st['fragment_steps']:,} fragment-steps), {st['raw_rate']:.3g}/s in the estimator "
                 f"({st['propagated_fragment_steps']:,} propagated after the prefilter)")
    click.echo("\n".join(lines))


class _RunProgress:
    """A progress line on stderr: realizations done/total, fragment-steps per second (kept
    fragments x samples, this session's batches) and the time left, after each batch."""

    def __init__(self, enabled: bool, clock=None):
        import time

        self.enabled = enabled
        self.clock = clock or time.perf_counter
        self.start = self.clock()
        self.steps = 0
        self.first_done = None  # realizations done before this session's first batch (resumed)
        self.shown = False

    def update(self, done: int, total: int, batch) -> None:
        """engine.run.jobs.run_job's on_progress: batch None when the run starts, then each batch."""
        if batch is None:
            self.start, self.first_done = self.clock(), done
            text = f"{done:,}/{total:,} realizations, started"
        else:
            if self.first_done is None:
                self.first_done = done - batch.realization.size
            self.steps += batch.fragment_steps
            elapsed = self.clock() - self.start
            rate = self.steps / elapsed if elapsed > 0 else 0.0
            left = elapsed / max(done - self.first_done, 1) * (total - done)
            text = f"{done:,}/{total:,} realizations, {rate:.3g} fragment-steps/s, {_duration(left)} left"
        if self.enabled:
            click.echo(f"\r{text}   ", nl=False, err=True)
            self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("", err=True)
            self.shown = False


def _duration(seconds: float) -> str:
    """30 -> '30 s', 600 -> '10 min', 9000 -> '2.5 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@cli.command()
@click.argument("results_file", metavar="RESULTS.h5")
@click.option("-o", "--output", default=None, metavar="DIR", help="Folder (default: <RESULTS>_plots beside it).")
@click.option("--format", "fmt", type=click.Choice(["png", "pdf", "svg"]), default="png", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace figures that exist in DIR.")
def plot(results_file, output, fmt, overwrite) -> None:
    """Draw the figures of a results file and print their paths."""
    from .engine.plots import plot_all

    for path in plot_all(results_file, output, fmt, overwrite=overwrite):
        click.echo(str(path))


@cli.command()
@click.argument("results_file", metavar="RESULTS.h5")
@click.option("--target", default=None, metavar="NAME", help="Only this target (default: every target).")
@click.option("--top", type=INT, default=None, metavar="N",
              help="The N largest encounters [default: 10 printed; with --csv: all of them].")
@click.option("--csv", "csv_path", default=None, metavar="PATH",
              help="Write the encounters (with --windows: the windows) as CSV instead of a table.")
@click.option("--overwrite", is_flag=True, help="Replace the --csv file if it exists.")
@click.option("--windows", is_flag=True,
              help="The risk windows: the fewest windows of --width-s that carry --share of the mean "
                   "expected collisions in the first --within-h hours.")
@click.option("--share", type=FLOAT, default=0.9, show_default=True, metavar="S",
              help="Share of the mean expected collisions the windows carry, in (0, 1].")
@click.option("--width-s", type=FLOAT, default=120.0, show_default=True, metavar="W",
              help="Width of each window, seconds.")
@click.option("--within-h", type=FLOAT, default=24.0, show_default=True, metavar="H",
              help="The period: the first H hours after the analysis start.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def encounters(results_file, target, top, csv_path, overwrite, windows, share, width_s, within_h,
               as_json) -> None:
    """The largest encounters of a results file (passages of fragments through a target's kernel
    sphere, with their time of closest approach, miss distance and share of the expected
    collisions), and with --windows the risk windows: when a target is exposed."""
    import json

    from .engine.errors import InputError
    from .engine.files.h5io import atomic_write_text, check_output_path
    from .engine.results import read_results
    from .engine.results import windows as enc

    if top is not None and top < 1:
        raise InputError(f"--top: must be >= 1, got {top}")
    if not (0.0 < share <= 1.0):
        raise InputError(f"--share: {share!r} is not a share in (0, 1]")
    if not (math.isfinite(width_s) and width_s > 0):
        raise InputError(f"--width-s: {width_s!r} is not a width > 0 s")
    if not (math.isfinite(within_h) and within_h > 0):
        raise InputError(f"--within-h: {within_h!r} is not a period > 0 h")
    if csv_path is not None:
        check_output_path(csv_path, overwrite=overwrite, what="a CSV file")
    res = read_results(results_file)
    table = res.encounters
    if table is None:
        raise InputError(enc.no_table_message(results_file, res.attrs))
    names = res.target_names.tolist()
    ks = range(len(names)) if target is None else [enc.target_index(names, target, results_file)]
    start = str(res.attrs["analysis_start"])
    R = res.n_realizations_held
    show_encounters = not windows or top is not None
    schedules = [enc.risk_windows(res, k, share=share, width_s=width_s, within_h=within_h)
                 for k in ks] if windows else []

    if csv_path is not None:
        if windows:
            rows = [row for sched in schedules for row in enc.window_rows(sched)]
            text = enc.csv_text(rows, enc.WINDOW_COLUMNS)
        else:
            rows = enc.encounter_rows(table, enc.largest(table, ks, top), names, start)
            text = enc.csv_text(rows, enc.ENCOUNTER_COLUMNS)
        atomic_write_text(csv_path, text, overwrite=overwrite, what="a CSV file")
        if not as_json:
            click.echo(f"wrote {csv_path}: {len(rows):,} {'windows' if windows else 'encounters'}")
            return

    shown = 10 if top is None else top
    report = {"results": str(results_file), "realizations": R, "targets": {}}
    for k in ks:
        mine = table.target == k
        entry = {"n_encounters": int(mine.sum()),
                 "mean_expected_collisions": float(res.expected_collisions[k].mean())}
        if show_encounters:
            entry["encounters"] = enc.encounter_rows(table, enc.largest(table, [k], shown), names, start)
        if windows:
            entry["windows"] = next(s for s in schedules if s.target == names[k]).as_dict()
        report["targets"][names[k]] = entry
    if as_json:
        if csv_path is not None:
            report["csv"] = str(csv_path)
        click.echo(json.dumps(report))
        return
    lines = []
    for name, entry in report["targets"].items():
        n = entry["n_encounters"]
        if show_encounters:
            rows = entry["encounters"]
            lines.append(f"{name}: {n:,} encounter{'' if n == 1 else 's'} in {R:,} realization"
                         f"{'' if R == 1 else 's'} (mean expected collisions {entry['mean_expected_collisions']:.3g})"
                         + (f"; the {len(rows):,} largest:" if rows else ""))
            if rows:
                lines.append(f"  {'realization':>11}  {'fragment':>8}  {'closest approach (UTC)':<24}  "
                             f"{'t [h]':>7}  {'miss [km]':>9}  {'speed [km/s]':>12}  {'exp. collisions':>15}  "
                             f"{'Lc [m]':>7}")
                for r in rows:
                    lines.append(f"  {r['realization']:>11}  {r['fragment']:>8}  {r['tca_utc']:<24}  "
                                 f"{r['tca_s'] / 3600:>7.3f}  {r['miss_km']:>9.3f}  {r['speed_km_s']:>12.3f}  "
                                 f"{r['expected_collisions']:>15.3e}  {r['lc_m']:>7.3f}")
        if windows:
            w = entry["windows"]
            count = len(w["windows"])
            lines.append(f"{name}: {count:,} window{'' if count == 1 else 's'} of {_num(width_s)} s "
                         f"carr{'ies' if count == 1 else 'y'} {100 * w['share']:.1f} % of the mean expected collisions of the first "
                         f"{_num(within_h)} h ({w['covered']:.3g} of {w['total']:.3g}; goal "
                         f"{100 * share:g} %, {R:,} realizations){':' if count else ''}")
            if count:
                lines.append(f"  {'start (UTC)':<24}  {'end (UTC)':<24}  {'t [h]':>7}  {'share':>7}  "
                             f"{'realizations':>12}")
                for win in w["windows"]:
                    lines.append(f"  {win['start_utc']:<24}  {win['end_utc']:<24}  {win['start_s'] / 3600:>7.3f}  "
                                 f"{100 * win['share']:>6.2f}%  {win['realizations']:>12}")
    click.echo("\n".join(lines))


@cli.command()
@click.argument("cdm_files", nargs=-1, required=True, metavar="FILE.cdm...")
@click.option("--method", type=click.Choice(["2d", "3d", "mc", "all"]), default="all",
              show_default=True, help="Foster's 2D Pc, Hall's 3D Nc, the two-body Monte Carlo, or all.")
@click.option("--trials", type=INT, default=100_000, show_default=True, metavar="N",
              help="Monte Carlo trials (at most; see --rel-halfwidth).")
@click.option("--rel-halfwidth", type=FLOAT, default=None, metavar="F",
              help="Stop the Monte Carlo once the 95 % interval's half-width is within F of its Pc.")
@click.option("--seed", type=INT, default=0, show_default=True, help="Monte Carlo seed (same seed, same trials on CPU and GPU).")
@click.option("--hbr-m", type=FLOAT, default=None, metavar="R",
              help="Combined hard-body radius [m] (default: the CDM's COMMENT HBR).")
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, an object per CDM.")
@click.option("--csv", "csv_path", default=None, metavar="PATH", help="Write one CSV row per CDM.")
@click.option("--overwrite", is_flag=True, help="Replace the --csv file if it exists.")
def pc(cdm_files, method, trials, rel_halfwidth, seed, hbr_m, device, as_json, csv_path, overwrite) -> None:
    """Probability of collision of each conjunction of CCSDS CDM files (KVN or XML): Foster's 2D
    Pc (with and without the move to the exact TCA), Hall's 3D Nc and a two-body Monte Carlo with
    its 95 % Clopper-Pearson interval."""
    import json

    from .engine.backend import resolve_device
    from .engine.errors import InputError
    from .engine.files.h5io import atomic_write_text, check_output_path

    try:
        from scipy.integrate import lebedev_rule  # noqa: F401  (the 3D method's sphere rule)
    except ImportError:
        raise InputError("fragrisk pc needs SciPy >= 1.15: pip install 'fragrisk[conjunction]'") from None
    from .engine.conjunction import assess as pcs
    from .engine.conjunction.cdm import read_cdm

    if trials < 1:
        raise InputError(f"--trials: must be >= 1, got {trials}")
    if rel_halfwidth is not None and not (0 < rel_halfwidth < 1):
        raise InputError(f"--rel-halfwidth: {rel_halfwidth!r} is not a fraction in (0, 1)")
    if not 0 <= seed < 2 ** 64:
        raise InputError(f"--seed: {seed} is not in [0, 2^64)")
    if csv_path is not None:
        check_output_path(csv_path, overwrite=overwrite, what="a CSV file")
    methods = pcs.METHODS if method == "all" else (method,)
    count_hits = None
    if "mc" in methods and resolve_device(device) == "gpu":
        from .kernels import pc_mc_gpu

        count_hits = pc_mc_gpu.count_hits
    cdms = [read_cdm(f) for f in cdm_files]  # every file read (and checked) before any work
    results = [pcs.assess(c, methods, hbr_m=hbr_m, trials=trials, seed=seed,
                          rel_halfwidth=rel_halfwidth, count_hits=count_hits) for c in cdms]
    if csv_path is not None:
        atomic_write_text(csv_path, pcs.csv_text(results), overwrite=overwrite, what="a CSV file")
    if as_json:
        click.echo(json.dumps(results))
        return
    for r in results:
        echo_warnings(f"{r['cdm']}: {w}" for w in r["warnings"])
        click.echo("\n".join(pcs.summary_lines(r)))
    if csv_path is not None:
        click.echo(f"wrote {csv_path}: {len(results):,} conjunctions")


@cli.command()
@click.argument("shards", nargs=-1, required=True, metavar="SHARD.h5...")
@click.option("-o", "--output", required=True, metavar="PATH", help="Merged results file.")
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
def merge(shards, output, overwrite) -> None:
    """Merge the shard files of one run (fragrisk run --shard K/N) into one results file."""
    from .engine.results import merge_files

    path = merge_files(list(shards), output, overwrite=overwrite)
    click.echo(f"wrote {path} from {len(shards)} shards")


if __name__ == "__main__":
    main()
