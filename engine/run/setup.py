"""What every batch of a run shares: the window, the targets propagated once per run (not once
per fragment), the size bins and the estimator's kernel radius (`Setup`, `make_setup`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..atmosphere.drag import make_atmosphere
from ..orbits.elements import concat
from ..orbits.propagation import propagate_elements, propagate_target
from . import drag_steps
from .window import CHUNK_SEGMENTS, Window, analysis_window, size_edges_m


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
    """The targets at every sample, propagated a time chunk at a time (SGP4's temporaries and the
    velocities, which the estimator does not need, then cover one chunk, not the window)."""

    # Element-set histories (several sets of one target) are propagated apart, set by set
    # (engine.orbits.propagation.propagate_target); the rest together, as always.
    elements = concat([t.elements.take([0]) for t in targets])
    histories = [k for k, t in enumerate(targets) if len(t.elements) > 1]
    m = window.times_s.size
    r_km = np.empty((len(targets), m, 3))
    valid = np.empty((len(targets), m), dtype=bool)
    for lo in range(0, m, CHUNK_SEGMENTS):
        hi = min(m, lo + CHUNK_SEGMENTS)
        eph = propagate_elements(elements, window.start_jd, window.start_fr, window.times_min[lo:hi], device=device)
        r_km[:, lo:hi], valid[:, lo:hi] = eph.r_km, eph.error == 0
        for k in histories:
            eph = propagate_target(targets[k].elements, window.start_jd, window.start_fr,
                                   window.times_min[lo:hi], device=device)
            r_km[k, lo:hi], valid[k, lo:hi] = eph.r_km[0], eph.error[0] == 0
    return TargetTrack(tuple(t.name for t in targets), np.array([t.hard_body_radius_m for t in targets], float),
                       r_km, valid, np.asarray(elements.perigee_km, float), np.asarray(elements.apogee_km, float))


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
    #: engine.run.drag_steps.RunAtmosphere for [analysis] atmosphere = "nrlmsis"; None: SGP4's own
    atmosphere: object = None
    #: samples per drag step (with an atmosphere)
    drag_step_samples: int = 0
    #: Another estimator stage (estimate_chunks and finish_batch of its own: engine.run.screened's),
    #: or None: engine.run.batches'.
    estimator: object = None


def make_setup(scenario, device: str, use_prefilter: bool = True, chunk_segments: int = CHUNK_SEGMENTS) -> Setup:
    window = analysis_window(scenario.analysis, chunk_segments)
    lc_min = scenario.event.lc_min_m if scenario.event is not None else 0.1
    atmosphere, per_step = run_atmosphere(scenario), 0
    if atmosphere is not None:  # every drag step starts a time chunk (engine.run.drag_steps)
        chunks, per_step = drag_steps.split_chunks(window.chunks, window.step_s, atmosphere.air.step_days)
        window = dataclasses.replace(window, chunks=chunks)
    return Setup(scenario, device, window, track_targets(scenario.targets, window, device),
                 size_edges_m(lc_min), float(scenario.analysis.kernel_radius_km), use_prefilter,
                 atmosphere, per_step)


def run_atmosphere(scenario):
    """The RunAtmosphere of [analysis] atmosphere = "nrlmsis", covering the fragments' (or the
    population's) epochs and the window; None for "sgp4"."""
    a = scenario.analysis
    if a.atmosphere != "nrlmsis":
        return None
    start = a.start_jd + a.start_fr
    if scenario.population is not None:
        el = scenario.population.elements
        first = min(start, float((el.epoch_jd + el.epoch_fr).min()))
    else:
        first = min(start, scenario.event.epoch_jd + scenario.event.epoch_fr)
    air = make_atmosphere(a.space_weather, first, start + a.duration_days, a.drag_step_days,
                          what=f"{scenario.source}: the window (from the event epoch)")
    return drag_steps.RunAtmosphere(air, float(a.density_sigma))


def records_encounters(setup: Setup) -> bool:
    """[analysis] encounters = "all": the estimator records every passage (engine.results.encounter_table)."""
    return setup.scenario.analysis.encounters == "all"
