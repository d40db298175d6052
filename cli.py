"""fragrisk's command line: parses, calls engine/, prints.  No numerics here.

Every command is a ``@cli.command`` on the group below.  An ``engine.errors.FragriskError``
raised anywhere in a command becomes one line ``error: <message>`` on stderr and exit code 2,
without a traceback (the group does it, so new commands get it for free); click's own usage
errors keep click's behaviour (exit 2).
"""

from __future__ import annotations

import errno
import math
import sys

import click

import engine
from engine.errors import FragriskError

DEFAULT_SCENARIO = "cosmos1408"
EXIT_USER_ERROR = 2


class UserError(click.ClickException):
    """A FragriskError on its way out: ``error: <message>`` on stderr, exit code 2."""

    exit_code = EXIT_USER_ERROR

    def show(self, file=None) -> None:
        # The engine's messages are one line by contract; keep them so even if one slips.
        click.echo(f"error: {' '.join(self.format_message().splitlines())}", err=True)


class FragriskGroup(click.Group):
    """A click group that turns FragriskError from any subcommand into a UserError."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FragriskError as exc:
            raise UserError(str(exc)) from None


@click.group(cls=FragriskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(engine.__version__, "--version", prog_name="fragrisk",
                      message="%(prog)s %(version)s")
def cli() -> None:
    """fragrisk: collision risk of a fragmentation debris cloud (NASA SBM + SGP4)."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``fragrisk = "cli:main"``)."""
    try:
        rv = cli.main(args=argv, prog_name="fragrisk", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except FragriskError as exc:  # raised outside a subcommand, e.g. in a parameter callback
        UserError(str(exc)).show()
        sys.exit(EXIT_USER_ERROR)
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # `fragrisk info | head`: the reader went away
            sys.exit(1)
        raise
    sys.exit(rv if isinstance(rv, int) else 0)


# --- shared options ------------------------------------------------------------------------------
def scenario_argument(f):
    return click.argument("scenario", required=False, default=DEFAULT_SCENARIO,
                          metavar="[SCENARIO]")(f)


def device_option(f):
    return click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
                        show_default=True, help="Array backend: NumPy (cpu) or CuPy (gpu).")(f)


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
    from engine.timeutil import format_utc

    return (f"{elements.name[i]} (NORAD {int(elements.satnum[i])}, elements of "
            f"{format_utc(elements.epoch_jd[i], elements.epoch_fr[i])})")


def _device_lines(requested: str) -> list[str]:
    from engine.backend import describe_device, gpu_unusable_reason, resolve_device

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
    from engine import breakup

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
    count = breakup.cumulative_count(e.type, mass, e.lc_min_m, e.explosion_scale)
    lines += [f"          SBM mass M = {_num(mass)} kg; expected fragments "
              f"N(>= {_num(e.lc_min_m)} m) = {count:,.1f}",
              f"          A/M sampling {e.am_sampling}, mass policy {e.mass_policy}, "
              f"Cd {_num(e.drag_coefficient)}, drag scale {_num(e.drag_scale)}"]
    return lines


def _scenario_lines(s) -> list[str]:
    lines = [f"scenario: {s.name} ({s.source})"]
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
              f"kernel:   {a.kernel}, radius {_num(a.kernel_radius_km)} km"]
    return lines


# --- commands -------------------------------------------------------------------------------------
@cli.command()
@scenario_argument
@device_option
def info(scenario: str, device: str) -> None:
    """Show the backend and device, and a resolved summary of SCENARIO (default: cosmos1408)."""
    from engine.scenario import load_scenario

    device_lines = _device_lines(device)
    s = load_scenario(scenario)
    lines = [f"fragrisk {engine.__version__}", *device_lines, "", *_scenario_lines(s)]
    click.echo("\n".join(lines))
    echo_warnings(s.warnings)


if __name__ == "__main__":
    main()
