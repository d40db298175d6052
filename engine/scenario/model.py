"""A loaded scenario as frozen dataclasses, one per table of engine.scenario.schema.

The attributes carry the schema's fields under the same names (with element sets loaded and
epochs also as split Julian dates); the defaults live in the schema only, and the loader fills
every attribute.  The analysis window's sizes (`Analysis.n_samples`, `Analysis.n_time_bins`) are
said here once: `fragrisk info`, the run's limits and the run itself read them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..orbits.elements import ElementSet


@dataclass(frozen=True)
class Parent:
    """The object that breaks up: its elements (1 object), mass in kg and SBM kind."""

    elements: ElementSet
    mass_kg: float
    kind: str                          # "spacecraft" | "rocket_body"


@dataclass(frozen=True)
class Event:
    """The breakup.  ``epoch`` as written (ISO 8601 UTC) and as a split Julian date.

    ``projectile_mass_kg`` and ``impact_velocity_km_s`` are None for explosions that omit them.
    ``drag_scale`` is k in B* = k·Cd·(A/m)·ρ0/2; ``explosion_scale`` is S in N = 6·S·Lc^-1.6.
    The calibration knobs (``fragrisk calibrate`` fits them; the defaults are the plain NASA
    model): ``fragmenting_mass_kg`` is M in the collision count law N = 0.1·M^0.75·Lc^-1.71
    (None: the SBM's M), ``dv_scale`` a factor on every fragment's Δv and ``dv_sigma_log10`` the
    standard deviation of log10(Δv) about its mean (engine.physics.breakup.BreakupParams);
    ``cloud_dv_*_m_s`` the velocity change of the whole cloud along the parent's radial,
    along-track and cross-track directions at the event (the projectile's momentum; engine.cloud).
    """

    epoch: str
    epoch_jd: float
    epoch_fr: float
    type: str                          # "collision" | "explosion"
    projectile_mass_kg: float | None
    impact_velocity_km_s: float | None
    lc_min_m: float
    am_sampling: str                   # "mixture" | "weighted_sum"
    mass_policy: str                   # "remnants" | "none" | "drop"
    drag_coefficient: float
    drag_scale: float
    explosion_scale: float
    fragmenting_mass_kg: float | None
    dv_scale: float
    dv_sigma_log10: float
    cloud_dv_radial_m_s: float
    cloud_dv_along_track_m_s: float
    cloud_dv_cross_track_m_s: float


@dataclass(frozen=True)
class Target:
    """An object whose collision risk is estimated: elements (one object: one set, or a history
    of its sets, each used from its epoch until the next), hard-body radius in m, station_kept
    (its elements then carry B* = 0), and its group (the name's family,
    engine.orbits.catalog.group_of, unless the scenario sets one)."""

    name: str
    elements: ElementSet
    hard_body_radius_m: float
    station_kept: bool
    group: str
    # The catalog entry it came from (engine.scenario.schema.CATALOG_TARGET_KEYS; None for a
    # one-object entry): its radius rule and filters.
    hard_body_radius_by_group: dict | None
    name_pattern: str | None
    norad_min: int | None
    norad_max: int | None
    altitude_min_km: float | None
    altitude_max_km: float | None

    @property
    def norad(self) -> int:
        """The NORAD catalog number of its element set."""
        return int(self.elements.satnum[0])


def window_samples(duration_s: float, step_s: float) -> int:
    """Samples of a window of ``duration_s`` taken every ``step_s`` from its start: up to the
    last whole step within the duration (uniform steps: the fused kernel's jumps and the
    prefilter's chord bounds rely on them; docs/estimator.md §3).  The 1e-9 forgives the
    rounding of a duration that is a whole number of steps (1 day of 7 s steps: 12,343 samples,
    12,342 steps)."""
    return int(math.floor(duration_s / step_s + 1e-9)) + 1


@dataclass(frozen=True)
class Analysis:
    """The window [start, start + duration], sampled every ``step_s``; Monte Carlo settings."""

    start: str
    start_jd: float
    start_fr: float
    duration_days: float
    step_s: float
    realizations: int
    seed: int
    kernel: str
    kernel_radius_km: float
    time_bin_s: float
    encounters: str
    pc_bins_per_decade: int
    max_epoch_gap_days: float
    atmosphere: str
    space_weather: str | None
    drag_step_days: float
    density_sigma: float
    conjunction_thresholds_km: tuple     # () where no conjunctions are counted
    screen: str

    @property
    def n_samples(self) -> int:
        """Time samples m of the window (window_samples); m - 1 steps."""
        return window_samples(self.duration_days * 86400.0, self.step_s)

    @property
    def end_s(self) -> float:
        """The last sample, seconds after the start."""
        return (self.n_samples - 1) * float(self.step_s)

    @property
    def n_time_bins(self) -> int:
        """Time bins of time_bin_s from the start, the last one ending at the last sample (one
        bin where the window is a single sample): as many as engine.run.montecarlo's edges."""
        end_s = self.end_s
        return max(1, math.ceil(end_s / self.time_bin_s)) if end_s > 0 else 1


@dataclass(frozen=True)
class Population:
    """A fixed cloud of real objects (one realization), standing instead of parent + event."""

    elements: ElementSet


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario.  ``source`` names the file for messages; ``warnings`` are
    one-line messages the front end shows (the engine never prints)."""

    name: str
    parent: Parent | None
    event: Event | None
    targets: tuple
    analysis: Analysis
    population: Population | None
    source: str
    warnings: tuple = ()
    overrides: tuple = ()              # the --set texts applied over the file, in order
