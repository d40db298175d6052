"""The loader's rules that tie fields together or need the models: the breakup must give between
one fragment and breakup.MAX_FRAGMENTS_PER_REALIZATION, element sets must be near the epoch they
are used at, the parent and the targets must be in orbit there, and a target's hard-body sphere
must fit in the kernel sphere.  Each raises InputError with one line naming the file and field.
"""

from __future__ import annotations

import numpy as np
from sgp4.api import SGP4_ERRORS

from ..errors import InputError
from ..orbits.elements import DEEP_SPACE_PERIOD_MIN, EARTH_RADIUS_KM, ElementSet
from ..physics import breakup
from ..physics.constants import DECAY_ALTITUDE_KM
from ..timeutil import format_utc, minutes_between
from .derived import breakup_params
from .schema import MAX_EPOCH_GAP_DAYS
from .values import from_set, show


def describe_object(elements: ElementSet, i: int = 0) -> str:
    return f"{elements.name[i]} (NORAD {int(elements.satnum[i])})"


def check_epoch_gap(elements: ElementSet, jd: float, fr: float, max_gap_days: float,
                    field: str, used_at: str, warnings: list, i: int = 0) -> None:
    """InputError if object ``i`` of ``elements`` is used more than ``max_gap_days`` from its
    element epoch; a warning where a raised limit lets a gap beyond MAX_EPOCH_GAP_DAYS through.
    ``field`` names the elements ("x.toml: [parent] tle_file"), ``used_at`` the epoch they are
    used at ('[event] epoch = "..."')."""
    gap = minutes_between(jd, fr, elements.epoch_jd[i], elements.epoch_fr[i]) / 1440.0
    if abs(gap) <= min(max_gap_days, MAX_EPOCH_GAP_DAYS):
        return
    what = (f"{used_at} is {abs(gap):,.1f} days {'after' if gap > 0 else 'before'} the element "
            f"epoch of {describe_object(elements, i)} "
            f"({format_utc(elements.epoch_jd[i], elements.epoch_fr[i])})")
    if abs(gap) > max_gap_days:
        raise InputError(
            f"{field}: {what}, more than [analysis] max_epoch_gap_days = {max_gap_days:g}: SGP4 "
            f"from element sets that far away is no forecast; use element sets of the time, or "
            f"raise max_epoch_gap_days (or pass --max-epoch-gap-days) to accept it")
    warnings.append(f"{field}: {what}, accepted by max_epoch_gap_days = {max_gap_days:g}; SGP4 "
                    f"errors grow with that distance")


def check_in_orbit(elements: ElementSet, jd: float, fr: float, field: str, at: str,
                   not_in_orbit: str = "is not in orbit") -> None:
    """InputError unless SGP4 starts from object 0 of ``elements`` and puts it above
    DECAY_ALTITUDE_KM at (jd, fr): a target that is not in orbit would count nothing, silently,
    and a parent that is not would break up nowhere. The message says "<field>: <object>
    <not_in_orbit> <at>: <why>"."""
    who = describe_object(elements)
    err, r_km, _ = elements.to_satrecs()[0].sgp4(jd, fr)
    if err != 0:
        raise InputError(f"{field}: {who} {not_in_orbit} {at}: SGP4 error {err} "
                         f"({SGP4_ERRORS.get(err, 'unknown error')})")
    altitude = float(np.linalg.norm(r_km)) - EARTH_RADIUS_KM
    if altitude < DECAY_ALTITUDE_KM:
        raise InputError(f"{field}: {who} {not_in_orbit} {at}: altitude {altitude:.1f} km "
                         f"< {DECAY_ALTITUDE_KM:g} km")


def check_breakup(parent, event, src: str) -> None:
    """The breakup model must take [parent] and [event] as they are, and give at least one and
    at most breakup.MAX_FRAGMENTS_PER_REALIZATION fragments a realization (checked when the file
    is read, not in the middle of a run)."""
    lc = event.lc_min_m
    try:
        n = breakup_params(event, parent).n_fragments
    except InputError as exc:
        try:
            mass = breakup.sbm_mass_kg(event.type, parent.mass_kg, event.projectile_mass_kg or 0.0,
                                       event.impact_velocity_km_s or 0.0)
            count_mass = breakup.count_mass_kg(event.type, mass, event.fragmenting_mass_kg)
            count = breakup.cumulative_count(event.type, count_mass, lc, event.explosion_scale)
        except InputError:
            mass = count = 0.0  # e.g. a mass that underflows to 0: said below as "no fragment"
        limit = breakup.MAX_FRAGMENTS_PER_REALIZATION
        if not count >= 1.0:
            n = 0
        elif count > limit:
            fit = breakup.lc_for_count(event.type, limit, count_mass, event.explosion_scale)
            raise InputError(
                f"{src}: [event] lc_min_m = {lc:g} gives {count:,.3g} fragments per realization "
                f"(SBM mass {mass:,.4g} kg), more than the {limit:,} fragrisk samples in one: "
                f"lc_min_m >= {fit:.3g} would fit") from None
        else:
            raise InputError(f"{src}: [event]: {exc}") from None
    if n < 1:
        raise InputError(
            f"{src}: [event] gives no fragment of at least lc_min_m = {lc:g} m (the NASA SBM "
            f"count is below 1 for this breakup): nothing to assess; a smaller lc_min_m, or a "
            f"heavier or faster projectile")


def check_parent_at_event(parent, key: str, event, src: str, max_gap_days: float,
                          warnings: list) -> None:
    """Deep-space and decayed parents, and element sets too far from the event, are errors."""
    el = parent.elements
    who = describe_object(el)
    field = f"{src}: [parent] {key}"
    period = float(el.period_min[0])
    if period >= DEEP_SPACE_PERIOD_MIN:
        raise InputError(f"{field}: {who} has a period of {period:.1f} min >= "
                         f"{DEEP_SPACE_PERIOD_MIN:g} min (deep space); fragrisk's breakup "
                         f"propagation handles near-Earth orbits only")
    check_in_orbit(el, event.epoch_jd, event.epoch_fr, field, f'at [event] epoch = "{event.epoch}"',
                   not_in_orbit="has decayed")
    check_epoch_gap(el, event.epoch_jd, event.epoch_fr, max_gap_days, field,
                    f'[event] epoch = "{event.epoch}"', warnings)


def check_population_epochs(population, src: str, analysis, warnings: list) -> None:
    """The population's element set farthest from the analysis start must be within the gap."""
    el = population.elements
    # Days part by part, as minutes_between does, for every object at once.
    gaps = (analysis.start_jd - el.epoch_jd) + (analysis.start_fr - el.epoch_fr)
    worst = int(np.argmax(np.abs(gaps)))
    check_epoch_gap(el, analysis.start_jd, analysis.start_fr, analysis.max_epoch_gap_days,
                    f"{src}: [population]", f'[analysis] start = "{analysis.start}"', warnings,
                    worst)


def check_hard_body_radii(targets: tuple, src: str, analysis) -> None:
    """A target's hard-body sphere must fit inside the kernel sphere the estimator averages the
    debris density over (otherwise one pass would count more than the whole sphere holds)."""
    limit_m = analysis.kernel_radius_km * 1000.0
    for k, t in enumerate(targets, start=1):
        if t.hard_body_radius_m >= limit_m:
            raise InputError(f"{src}: [[targets]] #{k} hard_body_radius_m = "
                             f"{show(t.hard_body_radius_m)}{from_set(src, f'[[targets]] #{k}', 'hard_body_radius_m')}"
                             f": expected a radius below [analysis] "
                             f"kernel_radius_km = {analysis.kernel_radius_km:g} "
                             f"({limit_m:,.6g} m), the sphere the estimator averages the debris "
                             f"density over")
