"""Scenario files (TOML, docs/scenario.md): load, validate every field, and write back resolved.

A scenario is either a breakup ([parent] + [event]: the cloud is sampled from the NASA Standard
Breakup Model) or a fixed [population] of real objects, plus one or more [[targets]] and an
[analysis] window.  ``load_scenario`` returns frozen dataclasses with element sets loaded and
epochs as split Julian dates; every bad value raises ``InputError`` with one line naming the file,
the field and the value.  Warnings (not errors) are collected in ``Scenario.warnings``: the engine
never prints.

``scenario_to_toml`` writes the resolved scenario (defaults filled in, TLE text inline, OMM files
as absolute paths) so that loading the text gives the same scenario again.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import os
import re
import tomllib  # Python >= 3.11 (pyproject.toml's requires-python)
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from sgp4.api import SGP4_ERRORS

from .errors import InputError
from .orbits.elements import (
    DEEP_SPACE_PERIOD_MIN,
    EARTH_RADIUS_KM,
    ElementSet,
    decode_text,
    parse_tle,
    read_omm_file,
    read_tle_file,
)
from .physics import breakup
from .physics.breakup import AM_SAMPLINGS, EVENT_TYPES, KINDS, MASS_POLICIES
from .physics.constants import DECAY_ALTITUDE_KM
from .timeutil import format_utc, minutes_between, parse_utc

# --- the schema --------------------------------------------------------------------------------
# KINDS, EVENT_TYPES, AM_SAMPLINGS and MASS_POLICIES: the breakup model's (engine.physics.breakup).
KERNELS = ("sphere",)
ENCOUNTER_CHOICES = ("all", "none")   # [analysis] encounters: record the encounter table or not
PC_BINS_PER_DECADE_RANGE = (1, 1000)  # [analysis] pc_bins_per_decade: collision-probability bins

LC_MIN_RANGE_M = (0.001, 1.0)         # the SBM's size range of validity for the cumulative law
#: Default of [analysis] max_epoch_gap_days: the longest time allowed between an element set's
#: epoch and the epoch it is used at ([event] epoch for [parent], [analysis] start for
#: [[targets]] and [population]); beyond it the scenario is refused.  SGP4 element sets lose
#: kilometres a day as they age, so a month-old set gives no forecast of a close approach.
MAX_EPOCH_GAP_DAYS = 30.0
#: Largest mass of [parent] mass_kg and [event] projectile_mass_kg: the heaviest object ever in
#: orbit, the ISS, has about 420,000 kg; a heavier one is a typo, and the NASA SBM's counts grow
#: as the mass to the 0.75 (far beyond the sizes it was fitted to).
MAX_MASS_KG = 1.0e6
#: Largest [event] impact_velocity_km_s: two orbits about the Earth meet at less than twice the
#: escape speed at the surface (2 x 11.2 km/s).
MAX_IMPACT_VELOCITY_KM_S = 25.0
#: Largest [event] drag_coefficient and drag_scale: drag coefficients of satellites are 2 to 4,
#: and B* = k·Cd·(A/m)·ρ0/2 must stay a float64 SGP4 can take.
MAX_DRAG_FACTOR = 100.0
#: Largest [event] dv_scale: a hundred times the SBM's ejection speeds throws nearly every
#: fragment out of Earth orbit (fitted values are a few tenths to a few).
MAX_DV_SCALE = 100.0
#: Largest [event] dv_sigma_log10: two decades of spread of the ejection speed about its mean
#: (the SBM's is 0.4).
MAX_DV_SIGMA_LOG10 = 2.0
#: Largest [analysis] seed: numpy.random.SeedSequence takes any size, but the results file
#: stores it as an unsigned 64-bit attribute.
MAX_SEED = 2**64 - 1
#: Largest scenario file read: a scenario with an inline [population] TLE catalog of every
#: tracked object has a few MiB.
MAX_SCENARIO_BYTES = 64 * 2**20

_ELEMENT_KEYS = ("tle", "tle_file", "omm_file")
_TOP_KEYS = ("name", "parent", "event", "targets", "analysis", "population")
_PARENT_KEYS = _ELEMENT_KEYS + ("mass_kg", "kind")
_EVENT_KEYS = ("epoch", "type", "projectile_mass_kg", "impact_velocity_km_s", "lc_min_m",
               "am_sampling", "mass_policy", "drag_coefficient", "drag_scale", "explosion_scale",
               "fragmenting_mass_kg", "dv_scale", "dv_sigma_log10", "cloud_dv_radial_m_s",
               "cloud_dv_along_track_m_s", "cloud_dv_cross_track_m_s")
_TARGET_KEYS = ("name",) + _ELEMENT_KEYS + ("hard_body_radius_m",)
_ANALYSIS_KEYS = ("start", "duration_days", "step_s", "realizations", "seed", "kernel",
                  "kernel_radius_km", "time_bin_s", "encounters", "pc_bins_per_decade",
                  "max_epoch_gap_days")
_POPULATION_KEYS = _ELEMENT_KEYS

# --- the data model ----------------------------------------------------------------------------
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
    am_sampling: str = "mixture"       # "mixture" | "weighted_sum"
    mass_policy: str = "remnants"      # "remnants" | "none" | "drop"
    drag_coefficient: float = 2.2
    drag_scale: float = 1.0
    explosion_scale: float = 1.0
    fragmenting_mass_kg: float | None = None
    dv_scale: float = 1.0
    dv_sigma_log10: float = 0.4
    cloud_dv_radial_m_s: float = 0.0
    cloud_dv_along_track_m_s: float = 0.0
    cloud_dv_cross_track_m_s: float = 0.0


#: The [event] fields that `fragrisk calibrate` can fit (engine.calibration.calibrate describes them).
CALIBRATION_FIELDS = ("fragmenting_mass_kg", "dv_scale", "dv_sigma_log10", "drag_scale",
                      "cloud_dv_radial_m_s", "cloud_dv_along_track_m_s", "cloud_dv_cross_track_m_s")
#: A cloud velocity change beyond this is no momentum transfer but an input error.
CLOUD_DV_MAX_M_S = 1000.0


@dataclass(frozen=True)
class Target:
    """An object whose collision risk is estimated: elements (1 object), hard-body radius in m."""

    name: str
    elements: ElementSet
    hard_body_radius_m: float


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
    kernel: str = "sphere"
    kernel_radius_km: float = 10.0
    time_bin_s: float = 3600.0
    encounters: str = "all"
    pc_bins_per_decade: int = 10
    max_epoch_gap_days: float = MAX_EPOCH_GAP_DAYS


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


# --- reading TOML values -----------------------------------------------------------------------
_REQUIRED = object()


def _show(value) -> str:
    """A value as it would appear in TOML, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_str(value) if len(value) <= 60 else _toml_str(value[:57] + "...")
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:12]}...{text[-4:]} ({len(text)} digits)"


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date or time"


def _from_set(src: str, where: str, key: str) -> str:
    """" (from --set ...)" when the command line, not the file, gave field `key` of table `where`."""
    text = getattr(src, "origins", {}).get((where, key))
    return f" (from --set {text})" if text else ""


def _unknown(src: str, where: str, key: str, value, valid: tuple) -> InputError:
    origin = _from_set(src, where, key)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if not where and isinstance(value, dict):
        what = f"table [{key}]"
        hint = f" (did you mean [{close[0]}]?)" if close else ""
    else:
        what = f"field {where + ' ' if where else ''}{key}"
        hint = f" (did you mean {close[0]}?)" if close else ""
    if not close:
        hint = f" (valid: {', '.join(valid)})"
    return InputError(f"{src}: unknown {what}{origin}{hint}")


class _Table:
    """One TOML table with its label ("[event]") for messages; checks keys against the schema."""

    def __init__(self, data: dict, label: str, src: str, allowed: tuple):
        self.data, self.label, self.src = data, label, src
        for key, value in data.items():
            if key not in allowed:
                raise _unknown(src, label, key, value, allowed)

    def field(self, key: str) -> str:
        return f"{self.label} {key}" if self.label else key

    def has(self, key: str) -> bool:
        return key in self.data

    def bad(self, key: str, expected: str) -> InputError:
        return InputError(f"{self.src}: {self.field(key)} = {_show(self.data[key])}"
                          f"{_from_set(self.src, self.label, key)}: expected {expected}")

    def _get(self, key: str, default):
        if key not in self.data:
            if default is _REQUIRED:
                raise InputError(f"{self.src}: missing required field {self.field(key)}")
            return default
        return self.data[key]

    def number(self, key: str, default=_REQUIRED, *, ok=lambda x: True, expect="a number"):
        value = self._get(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.bad(key, f"a number, not {_type_name(value)}")
        try:
            x = float(value)
        except OverflowError:  # a TOML integer beyond float range
            raise self.bad(key, expect) from None
        if not math.isfinite(x) or not ok(x):
            raise self.bad(key, expect)
        return x

    def integer(self, key: str, default=_REQUIRED, *, ok=lambda x: True, expect="an integer"):
        value = self._get(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.bad(key, f"an integer, not {_type_name(value)}")
        if not ok(value):
            raise self.bad(key, expect)
        return int(value)

    def string(self, key: str, default=_REQUIRED, *, choices: tuple | None = None) -> str:
        value = self._get(key, default)
        if key not in self.data:
            return value
        if not isinstance(value, str):
            expected = "a string" if choices is None else _one_of(choices)
            raise self.bad(key, f"{expected}, not {_type_name(value)}")
        if choices is not None and value not in choices:
            raise self.bad(key, _one_of(choices))
        return value

    def utc(self, key: str, default=_REQUIRED) -> tuple[str, float, float] | None:
        """An ISO 8601 UTC time given as a string (or as a TOML date-time): (text, jd, fr)."""
        value = self._get(key, default)
        if key not in self.data:
            return value
        if isinstance(value, _dt.datetime):
            offset = value.utcoffset()
            if offset is not None and offset != _dt.timedelta(0):
                raise self.bad(key, "a UTC time (offset Z or +00:00)")
            value = value.isoformat()
        elif not isinstance(value, str):
            raise self.bad(key, 'an ISO 8601 UTC time string like "2021-11-15T02:47:00Z"')
        jd, fr = parse_utc(value, where=f"{self.src}: {self.field(key)}{_from_set(self.src, self.label, key)}")
        return value, jd, fr


def _one_of(choices: tuple) -> str:
    quoted = [f'"{c}"' for c in choices]
    return quoted[0] if len(quoted) == 1 else "one of " + ", ".join(quoted)


def _subtable(top: _Table, key: str) -> dict | None:
    if key not in top.data:
        return None
    value = top.data[key]
    if not isinstance(value, dict):
        raise InputError(f"{top.src}: {key} = {_show(value)}{_from_set(top.src, '', key)}: "
                         f"expected a table [{key}]")
    return value


def _positive(x) -> bool:
    return x > 0


# --- element sources ---------------------------------------------------------------------------
def _resolve(base, value: str):
    """A file named in the scenario: absolute, or relative to the scenario file's folder."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    joined = base / value
    return Path(os.path.abspath(joined)) if isinstance(joined, Path) else joined


def _elements(table: _Table, base) -> tuple[ElementSet, str]:
    """The element set named by exactly one of tle / tle_file / omm_file; returns (set, key)."""
    given = [k for k in _ELEMENT_KEYS if table.has(k)]
    if not given:
        raise InputError(f"{table.src}: missing required field {table.field('tle')} "
                         f"(or tle_file, omm_file)")
    if len(given) > 1:
        raise InputError(f"{table.src}: {table.label}: give one of tle, tle_file, omm_file, "
                         f"not both {given[0]} and {given[1]}")
    key = given[0]
    value = table.string(key)
    where = f"{table.src}: {table.field(key)}{_from_set(table.src, table.label, key)}"
    if key == "tle":
        return parse_tle(value, where), key
    path = _resolve(base, value)
    if not path.is_file():
        why = ("is a folder" if path.is_dir() else
               "not a regular file" if path.exists() else "file not found")
        raise InputError(f"{where} = {_show(value)}: {why} ({path})")
    try:
        elements = read_tle_file(path) if key == "tle_file" else read_omm_file(path)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return elements, key


def _one_object(elements: ElementSet, table: _Table, key: str) -> None:
    if len(elements) != 1:
        raise InputError(f"{table.src}: {table.field(key)}: {len(elements)} element sets, "
                         f"expected exactly 1")


def _describe_object(elements: ElementSet, i: int = 0) -> str:
    return f"{elements.name[i]} (NORAD {int(elements.satnum[i])})"


def _epoch_gap_days(elements: ElementSet, jd: float, fr: float, i: int = 0) -> float:
    return minutes_between(jd, fr, elements.epoch_jd[i], elements.epoch_fr[i]) / 1440.0


# --- the tables --------------------------------------------------------------------------------
def _read_parent(data: dict, src: str, base) -> tuple[Parent, str]:
    t = _Table(data, "[parent]", src, _PARENT_KEYS)
    elements, key = _elements(t, base)
    _one_object(elements, t, key)
    mass = t.number("mass_kg", ok=lambda x: 0 < x <= MAX_MASS_KG,
                    expect=f"a mass > 0 kg and at most {MAX_MASS_KG:,.0f} kg (the ISS, the "
                           f"heaviest object ever in orbit, has about 420,000 kg)")
    kind = t.string("kind", choices=KINDS)
    return Parent(elements=elements, mass_kg=mass, kind=kind), key


def _read_event(data: dict, src: str, warnings: list) -> Event:
    t = _Table(data, "[event]", src, _EVENT_KEYS)
    epoch, jd, fr = t.utc("epoch")
    kind = t.string("type", choices=EVENT_TYPES)
    needed = _REQUIRED if kind == "collision" else None
    projectile = t.number("projectile_mass_kg", needed, ok=lambda x: 0 < x <= MAX_MASS_KG,
                          expect=f"a mass > 0 kg and at most {MAX_MASS_KG:,.0f} kg (the ISS, the "
                                 f"heaviest object ever in orbit, has about 420,000 kg)")
    velocity = t.number("impact_velocity_km_s", needed,
                        ok=lambda x: 0 < x <= MAX_IMPACT_VELOCITY_KM_S,
                        expect=f"a speed > 0 km/s and at most {MAX_IMPACT_VELOCITY_KM_S:g} km/s "
                               f"(two Earth orbits meet at less than twice the escape speed)")
    if kind == "explosion":
        for key in ("projectile_mass_kg", "impact_velocity_km_s"):
            if t.has(key):
                warnings.append(f"{src}: [event] {key} is ignored: explosions have no projectile")
        if t.has("fragmenting_mass_kg"):
            warnings.append(f"{src}: [event] fragmenting_mass_kg is ignored: the explosion count "
                            f"law has no mass (its knob is explosion_scale)")
    lo, hi = LC_MIN_RANGE_M
    lc_min = t.number("lc_min_m", ok=lambda x: lo <= x <= hi,
                      expect=f"a size in [{lo:g}, {hi:g}] m")
    return Event(
        epoch=epoch, epoch_jd=jd, epoch_fr=fr, type=kind,
        projectile_mass_kg=projectile, impact_velocity_km_s=velocity, lc_min_m=lc_min,
        am_sampling=t.string("am_sampling", "mixture", choices=AM_SAMPLINGS),
        mass_policy=t.string("mass_policy", "remnants", choices=MASS_POLICIES),
        drag_coefficient=t.number("drag_coefficient", 2.2, ok=lambda x: 0 < x <= MAX_DRAG_FACTOR,
                                  expect=f"a number > 0 and at most {MAX_DRAG_FACTOR:g}"),
        drag_scale=t.number("drag_scale", 1.0, ok=lambda x: 0 < x <= MAX_DRAG_FACTOR,
                            expect=f"a number > 0 and at most {MAX_DRAG_FACTOR:g}"),
        explosion_scale=t.number("explosion_scale", 1.0, ok=_positive, expect="a number > 0"),
        fragmenting_mass_kg=t.number("fragmenting_mass_kg", None,
                                     ok=lambda x: 0 < x <= MAX_MASS_KG,
                                     expect=f"a mass > 0 kg and at most {MAX_MASS_KG:,.0f} kg"),
        dv_scale=t.number("dv_scale", 1.0, ok=lambda x: 0 < x <= MAX_DV_SCALE,
                          expect=f"a factor > 0 and at most {MAX_DV_SCALE:g}"),
        dv_sigma_log10=t.number("dv_sigma_log10", 0.4, ok=lambda x: 0 < x <= MAX_DV_SIGMA_LOG10,
                                expect=f"a standard deviation > 0 and at most "
                                       f"{MAX_DV_SIGMA_LOG10:g} (of log10 of m/s)"),
        **{key: t.number(key, 0.0, ok=lambda x: abs(x) <= CLOUD_DV_MAX_M_S,
                         expect=f"a velocity change in [-{CLOUD_DV_MAX_M_S:g}, "
                                f"{CLOUD_DV_MAX_M_S:g}] m/s")
           for key in ("cloud_dv_radial_m_s", "cloud_dv_along_track_m_s",
                       "cloud_dv_cross_track_m_s")},
    )


def _check_epoch_gap(elements: ElementSet, jd: float, fr: float, max_gap_days: float,
                     field: str, used_at: str, warnings: list, i: int = 0) -> None:
    """InputError if object ``i`` of ``elements`` is used more than ``max_gap_days`` from its
    element epoch; a warning where a raised limit lets a gap beyond MAX_EPOCH_GAP_DAYS through.
    ``field`` names the elements ("x.toml: [parent] tle_file"), ``used_at`` the epoch they are
    used at ('[event] epoch = "..."')."""
    gap = _epoch_gap_days(elements, jd, fr, i)
    if abs(gap) <= min(max_gap_days, MAX_EPOCH_GAP_DAYS):
        return
    what = (f"{used_at} is {abs(gap):,.1f} days {'after' if gap > 0 else 'before'} the element "
            f"epoch of {_describe_object(elements, i)} "
            f"({format_utc(elements.epoch_jd[i], elements.epoch_fr[i])})")
    if abs(gap) > max_gap_days:
        raise InputError(
            f"{field}: {what}, more than [analysis] max_epoch_gap_days = {max_gap_days:g}: SGP4 "
            f"from element sets that far away is no forecast; use element sets of the time, or "
            f"raise max_epoch_gap_days (or pass --max-epoch-gap-days) to accept it")
    warnings.append(f"{field}: {what}, accepted by max_epoch_gap_days = {max_gap_days:g}; SGP4 "
                    f"errors grow with that distance")


def _check_in_orbit(elements: ElementSet, jd: float, fr: float, field: str, at: str,
                    not_in_orbit: str = "is not in orbit") -> None:
    """InputError unless SGP4 starts from object 0 of ``elements`` and puts it above
    DECAY_ALTITUDE_KM at (jd, fr): a target that is not in orbit would count nothing, silently,
    and a parent that is not would break up nowhere. The message says "<field>: <object>
    <not_in_orbit> <at>: <why>"."""
    who = _describe_object(elements)
    err, r_km, _ = elements.to_satrecs()[0].sgp4(jd, fr)
    if err != 0:
        raise InputError(f"{field}: {who} {not_in_orbit} {at}: SGP4 error {err} "
                         f"({SGP4_ERRORS.get(err, 'unknown error')})")
    altitude = float(np.linalg.norm(r_km)) - EARTH_RADIUS_KM
    if altitude < DECAY_ALTITUDE_KM:
        raise InputError(f"{field}: {who} {not_in_orbit} {at}: altitude {altitude:.1f} km "
                         f"< {DECAY_ALTITUDE_KM:g} km")


def _check_breakup(parent: Parent, event: Event, src: str) -> None:
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
            count = breakup.cumulative_count(event.type, mass, lc, event.explosion_scale)
        except InputError:
            mass = count = 0.0  # e.g. a mass that underflows to 0: said below as "no fragment"
        limit = breakup.MAX_FRAGMENTS_PER_REALIZATION
        if not count >= 1.0:
            n = 0
        elif count > limit:
            # N(>= Lc) grows as Lc^-1.71 (SBM): the smallest lc_min_m within the limit.
            raise InputError(
                f"{src}: [event] lc_min_m = {lc:g} gives {count:,.3g} fragments per realization "
                f"(SBM mass {mass:,.4g} kg), more than the {limit:,} fragrisk samples in one: "
                f"lc_min_m >= {lc * (count / limit) ** (1.0 / 1.71):.3g} would fit") from None
        else:
            raise InputError(f"{src}: [event]: {exc}") from None
    if n < 1:
        raise InputError(
            f"{src}: [event] gives no fragment of at least lc_min_m = {lc:g} m (the NASA SBM "
            f"count is below 1 for this breakup): nothing to assess; a smaller lc_min_m, or a "
            f"heavier or faster projectile")


def _check_parent_at_event(parent: Parent, key: str, event: Event, src: str,
                           max_gap_days: float, warnings: list) -> None:
    """Deep-space and decayed parents, and element sets too far from the event, are errors."""
    el = parent.elements
    who = _describe_object(el)
    field = f"{src}: [parent] {key}"
    period = float(el.period_min[0])
    if period >= DEEP_SPACE_PERIOD_MIN:
        raise InputError(f"{field}: {who} has a period of {period:.1f} min >= "
                         f"{DEEP_SPACE_PERIOD_MIN:g} min (deep space); fragrisk's breakup "
                         f"propagation handles near-Earth orbits only")
    _check_in_orbit(el, event.epoch_jd, event.epoch_fr, field, f'at [event] epoch = "{event.epoch}"',
                    not_in_orbit="has decayed")
    _check_epoch_gap(el, event.epoch_jd, event.epoch_fr, max_gap_days, field,
                     f'[event] epoch = "{event.epoch}"', warnings)


def _read_targets(value, src: str, base, start: tuple | None, warnings: list, *,
                  max_gap_days: float = MAX_EPOCH_GAP_DAYS) -> tuple:
    if value is None:
        raise InputError(f"{src}: missing required field [[targets]] (at least one target)")
    if isinstance(value, dict):
        raise InputError(f"{src}: targets = a table: expected [[targets]] (an array of tables)")
    if not isinstance(value, list) or not value:
        raise InputError(f"{src}: targets = {_show(value)}: expected [[targets]] tables, "
                         f"at least one")
    targets = []
    for k, item in enumerate(value, start=1):
        label = f"[[targets]] #{k}"
        if not isinstance(item, dict):
            raise InputError(f"{src}: {label} = {_show(item)}: expected a table")
        t = _Table(item, label, src, _TARGET_KEYS)
        elements, key = _elements(t, base)
        _one_object(elements, t, key)
        name = t.string("name", elements.name[0])
        if not name.strip():
            raise t.bad("name", "a non-empty string")
        for j, other in enumerate(targets, start=1):
            if other.name == name:
                raise t.bad("name", f"a name not used by [[targets]] #{j}")
        radius = t.number("hard_body_radius_m", ok=_positive, expect="a radius > 0 m")
        if start is not None:
            _check_epoch_gap(elements, start[1], start[2], max_gap_days, f"{src}: {label} {key}",
                             f'[analysis] start = "{start[0]}"', warnings)
            _check_in_orbit(elements, start[1], start[2], f"{src}: {label} {key}",
                            f'at [analysis] start = "{start[0]}"')
        targets.append(Target(name=name, elements=elements, hard_body_radius_m=radius))
    return tuple(targets)


def _max_epoch_gap(data, src: str, override) -> float:
    """[analysis] max_epoch_gap_days, or ``override`` (--max-epoch-gap-days) where given.  Read
    before the element sets are checked against their epochs of use."""
    if override is not None:
        if (isinstance(override, bool) or not isinstance(override, (int, float))
                or not (math.isfinite(override) and override > 0)):
            raise InputError(f"--max-epoch-gap-days: {override!r} is not a number of days > 0")
        return float(override)
    if not isinstance(data, dict):
        return MAX_EPOCH_GAP_DAYS  # _read_analysis reports what is wrong with the table
    t = _Table(data, "[analysis]", src, _ANALYSIS_KEYS)
    return t.number("max_epoch_gap_days", MAX_EPOCH_GAP_DAYS, ok=_positive,
                    expect="a number of days > 0")


def _read_analysis(data: dict | None, src: str, event: Event | None,
                   max_gap_days: float = MAX_EPOCH_GAP_DAYS) -> Analysis:
    if data is None:
        raise InputError(f"{src}: missing required table [analysis]")
    t = _Table(data, "[analysis]", src, _ANALYSIS_KEYS)
    if event is None:
        if not t.has("start"):
            raise InputError(f"{src}: missing required field [analysis] start "
                             f"(required for [population] scenarios)")
        start = t.utc("start")
    else:
        start = t.utc("start", (event.epoch, event.epoch_jd, event.epoch_fr))
        if minutes_between(start[1], start[2], event.epoch_jd, event.epoch_fr) < 0.0:
            raise t.bad("start", f'a time at or after [event] epoch = "{event.epoch}"')
    duration = t.number("duration_days", ok=_positive, expect="a duration > 0 days")
    step = t.number("step_s", 60.0, ok=_positive, expect="a step > 0 s")
    if step > duration * 86400.0:
        raise t.bad("step_s", f"a step no longer than [analysis] duration_days = "
                              f"{duration:g} ({duration * 86400.0:g} s)")
    if event is None:
        # A population is one fixed cloud: exactly one realization, and nothing to seed.
        realizations = t.integer("realizations", 1, ok=lambda x: x == 1,
                                 expect="1 (a [population] is a single realization)")
        seed = t.integer("seed", 0, ok=lambda x: 0 <= x <= MAX_SEED,
                         expect="an integer >= 0 and < 2**64")
    else:
        realizations = t.integer("realizations", ok=lambda x: x >= 1, expect="an integer >= 1")
        seed = t.integer("seed", ok=lambda x: 0 <= x <= MAX_SEED,
                         expect="an integer >= 0 and < 2**64")
    return Analysis(
        start=start[0], start_jd=start[1], start_fr=start[2],
        duration_days=duration, step_s=step, realizations=realizations, seed=seed,
        kernel=t.string("kernel", "sphere", choices=KERNELS),
        kernel_radius_km=t.number("kernel_radius_km", 10.0,
                                  ok=lambda x: 0 < x <= EARTH_RADIUS_KM,
                                  expect=f"a radius > 0 km and at most the Earth's "
                                         f"{EARTH_RADIUS_KM:g} km (the estimator takes the "
                                         f"debris density as uniform inside it)"),
        time_bin_s=t.number("time_bin_s", 3600.0, ok=_positive, expect="a bin width > 0 s"),
        encounters=t.string("encounters", "all", choices=ENCOUNTER_CHOICES),
        pc_bins_per_decade=t.integer(
            "pc_bins_per_decade", 10,
            ok=lambda x: PC_BINS_PER_DECADE_RANGE[0] <= x <= PC_BINS_PER_DECADE_RANGE[1],
            expect="an integer from {} to {}".format(*PC_BINS_PER_DECADE_RANGE)),
        max_epoch_gap_days=max_gap_days,
    )


def _read_population(data: dict, src: str, base) -> Population:
    t = _Table(data, "[population]", src, _POPULATION_KEYS)
    elements, _ = _elements(t, base)
    return Population(elements=elements)


# --- overrides from the command line (--set SECTION.FIELD=VALUE) ---------------------------------
class _Source(str):
    """A scenario's name in messages that also knows which fields --set gave:
    origins[(table label, key)] = the --set text (see _from_set)."""

    origins: dict = {}


def parse_override(text: str) -> tuple[tuple, object]:
    """'SECTION.FIELD=VALUE' -> (key path, value).

    The path is dotted: ``name``, ``event.lc_min_m``, ``analysis.duration_days``,
    ``targets.2.hard_body_radius_m`` (targets numbered from 1, as in messages). VALUE is read as
    a TOML value (``0.01``, ``365``, ``"mixture"``, ``2021-11-16T00:00:00Z``); text that is no
    TOML value is taken as a string, so ``event.type=explosion`` needs no quotes.
    """
    key, sep, value_text = text.partition("=")
    parts = tuple(p.strip() for p in key.split("."))
    if not sep or not all(parts) or not value_text.strip():
        raise InputError(f"--set {text}: expected SECTION.FIELD=VALUE, e.g. event.lc_min_m=0.01")
    try:
        value = tomllib.loads(f"value = {value_text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    path = []
    for p in parts:
        if p.isdigit():
            if int(p) < 1:
                raise InputError(f"--set {text}: [[targets]] are numbered from 1")
            path.append(int(p) - 1)
        else:
            path.append(p)
    return tuple(path), value


def apply_overrides(data: dict, overrides, source: str) -> tuple[dict, _Source]:
    """The parsed TOML `data` with each --set text in `overrides` applied in order (a copy), and
    the source name for messages, which says which fields came from --set.

    Paths: FIELD (top level), SECTION.FIELD (the table is created where the file has none) and
    ARRAY.N.FIELD (table N, from 1, of an array of tables such as [[targets]]). The result is
    validated like a file, so a wrong field or value gets the file's message plus its --set.
    """
    import copy

    data = copy.deepcopy(data)
    origins = {}
    for text in overrides:
        path, value = parse_override(text)
        shape = tuple(isinstance(p, int) for p in path)
        if shape not in ((False,), (False, False), (False, True, False)):
            raise InputError(f"--set {text}: expected FIELD, SECTION.FIELD or SECTION.N.FIELD before the =, "
                             f"e.g. event.lc_min_m=0.01 or targets.1.hard_body_radius_m=50")
        node, label = data, ""
        if len(path) >= 2:
            section = path[0]
            if section not in data:  # a table the file lacks: an unknown one is the --set's doing
                origins[("", section)] = text
            node = data.setdefault(section, {} if len(path) == 2 else [])
            if len(path) == 2:
                if not isinstance(node, dict):
                    raise InputError(f"--set {text}: {section} is not a table"
                                     + (f": give the number of one of its tables, e.g. {section}.1.{path[1]}"
                                        if isinstance(node, list) else ""))
                label = f"[{section}]"
            else:
                if not isinstance(node, list):
                    raise InputError(f"--set {text}: {section} is not an array of tables")
                if path[1] >= len(node):
                    raise InputError(f"--set {text}: the scenario has {len(node)} [[{section}]] "
                                     f"table{'' if len(node) == 1 else 's'}")
                node, label = node[path[1]], f"[[{section}]] #{path[1] + 1}"
                if not isinstance(node, dict):
                    raise InputError(f"--set {text}: {section} #{path[1] + 1} is not a table")
        node[path[-1]] = value
        origins[(label, path[-1])] = text
    named = _Source(source)
    named.origins = origins
    return data, named


def _check_population_epochs(population: Population, src: str, analysis: Analysis,
                             warnings: list) -> None:
    """The population's element set farthest from the analysis start must be within the gap."""
    el = population.elements
    # Days part by part, as minutes_between does, for every object at once.
    gaps = (analysis.start_jd - el.epoch_jd) + (analysis.start_fr - el.epoch_fr)
    worst = int(np.argmax(np.abs(gaps)))
    _check_epoch_gap(el, analysis.start_jd, analysis.start_fr, analysis.max_epoch_gap_days,
                     f"{src}: [population]", f'[analysis] start = "{analysis.start}"', warnings,
                     worst)


def _check_hard_body_radii(targets: tuple, src: str, analysis: Analysis) -> None:
    """A target's hard-body sphere must fit inside the kernel sphere the estimator averages the
    debris density over (otherwise one pass would count more than the whole sphere holds)."""
    limit_m = analysis.kernel_radius_km * 1000.0
    for k, t in enumerate(targets, start=1):
        if t.hard_body_radius_m >= limit_m:
            raise InputError(f"{src}: [[targets]] #{k} hard_body_radius_m = "
                             f"{_show(t.hard_body_radius_m)}{_from_set(src, f'[[targets]] #{k}', 'hard_body_radius_m')}"
                             f": expected a radius below [analysis] "
                             f"kernel_radius_km = {analysis.kernel_radius_km:g} "
                             f"({limit_m:,.6g} m), the sphere the estimator averages the debris "
                             f"density over")


def _toml_error(exc: Exception, text: str, source: str) -> InputError:
    """A TOMLDecodeError as one line; a key given twice is named with its table (tomllib says
    only "Cannot overwrite a value (at line L, column C)")."""
    message = " ".join(str(exc).split())
    m = re.match(r"Cannot overwrite a value \(at line (\d+), column (\d+)\)", message)
    lines = text.splitlines()
    if m and 1 <= int(m.group(1)) <= len(lines):
        n = int(m.group(1))
        # The key is on line n, or above it where the value was a multi-line string.
        key_re = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")
        header_re = re.compile(r"^\s*(\[\[?[^\]]*\]\]?)")
        key = header = None
        if (hm := re.match(r"^\s*\[\[?\s*([^\]]*?)\s*\]\]?", lines[n - 1])) is not None:
            # A table header naming a key that already holds a value (or a table twice).
            return InputError(f"{source}: not valid TOML: [{hm.group(1)}] at line {n} names a "
                              f"field given before it ({hm.group(1)} = ...)")
        for line in reversed(lines[:n]):
            if key is None:
                km = key_re.match(line)
                key = " ".join(km.group(1).split()) if km else None
            elif (hm := header_re.match(line)) is not None:
                header = " ".join(hm.group(1).split())
                break
        if key is not None:
            where = f"{header} {key}" if header else key
            return InputError(f"{source}: not valid TOML: field {where} is given twice "
                              f"(again at line {n})")
    return InputError(f"{source}: not valid TOML: {message}")


def scenario_from_text(text: str, source: str, base, overrides=(), *,
                       max_epoch_gap_days: float | None = None) -> Scenario:
    """Parse and validate scenario TOML ``text``, with the --set texts ``overrides`` applied
    (engine.scenario.apply_overrides) before validation.

    ``source`` names it in messages; ``base`` is the folder (a Path or an importlib.resources
    Traversable) that relative file names resolve against.  ``max_epoch_gap_days``, where given,
    stands for [analysis] max_epoch_gap_days (the command line's --max-epoch-gap-days).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, text, source) from None
    overrides = tuple(overrides)
    if overrides:
        data, source = apply_overrides(data, overrides, source)
    top = _Table(data, "", source, _TOP_KEYS)
    warnings: list[str] = []
    name = top.string("name", _default_name(source))
    if not name.strip():
        raise top.bad("name", "a non-empty string")

    parent_data, event_data = _subtable(top, "parent"), _subtable(top, "event")
    population_data = _subtable(top, "population")
    analysis_data = _subtable(top, "analysis")
    max_gap = _max_epoch_gap(analysis_data, source, max_epoch_gap_days)
    parent = event = population = None
    if population_data is not None:
        for key, value in (("parent", parent_data), ("event", event_data)):
            if value is not None:
                raise InputError(f"{source}: [{key}]: not allowed with [population] "
                                 f"(a population stands instead of [parent] and [event])")
        population = _read_population(population_data, source, base)
    else:
        if parent_data is None:
            raise InputError(f"{source}: missing required table [parent] "
                             f"(or [population] instead of [parent] and [event])")
        if event_data is None:
            raise InputError(f"{source}: missing required table [event]")
        parent, parent_key = _read_parent(parent_data, source, base)
        event = _read_event(event_data, source, warnings)
        _check_breakup(parent, event, source)
        _check_parent_at_event(parent, parent_key, event, source, max_gap, warnings)

    analysis = _read_analysis(analysis_data, source, event, max_gap)
    if population is not None:
        _check_population_epochs(population, source, analysis, warnings)
    targets = _read_targets(top.data.get("targets"), source, base,
                            (analysis.start, analysis.start_jd, analysis.start_fr), warnings,
                            max_gap_days=max_gap)
    _check_hard_body_radii(targets, source, analysis)
    return Scenario(name=name, parent=parent, event=event, targets=targets, analysis=analysis,
                    population=population, source=str(source), warnings=tuple(warnings),
                    overrides=overrides)


def _default_name(source: str) -> str:
    stem = Path(source.split(" ")[0]).stem
    return stem or "scenario"


# --- built-ins and files -----------------------------------------------------------------------
def _data_dir():
    return resources.files(__package__).joinpath("data")


def builtin_names() -> tuple[str, ...]:
    """Names of the scenarios shipped in engine/data (``*.toml``), sorted."""
    return tuple(sorted(p.name[:-5] for p in _data_dir().iterdir()
                        if p.name.endswith(".toml") and p.is_file()))


def load_scenario(path_or_name, overrides=(), *, max_epoch_gap_days: float | None = None) -> Scenario:
    """Load a scenario from a TOML file, or a built-in by name (e.g. ``"cosmos1408"``), with the
    command line's ``--set SECTION.FIELD=VALUE`` texts ``overrides`` applied (parse_override).

    An existing file wins over a built-in of the same name.  Relative file names inside the
    scenario resolve against the scenario file's folder.  ``max_epoch_gap_days`` overrides
    [analysis] max_epoch_gap_days (--max-epoch-gap-days).
    """
    text_arg = os.fspath(path_or_name)
    if not text_arg or "\0" in text_arg:
        raise InputError(f"scenario {text_arg!r}: not a file name")
    path = Path(text_arg).expanduser()
    if path.is_file():
        try:
            size = path.stat().st_size
            if size > MAX_SCENARIO_BYTES:
                raise InputError(f"{text_arg}: {size:,} bytes, too large for a scenario file "
                                 f"(at most {MAX_SCENARIO_BYTES:,}); element sets of many "
                                 f"objects belong in a tle_file or omm_file")
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{text_arg}: cannot read: {exc.strerror or exc}") from None
        return scenario_from_text(decode_text(raw, text_arg), text_arg,
                                  Path(os.path.abspath(path)).parent, overrides,
                                  max_epoch_gap_days=max_epoch_gap_days)
    if text_arg in builtin_names():
        resource = _data_dir().joinpath(text_arg + ".toml")
        source = f"{text_arg} (built-in)"
        return scenario_from_text(decode_text(resource.read_bytes(), source), source, _data_dir(), overrides,
                                  max_epoch_gap_days=max_epoch_gap_days)
    if path.is_dir():
        raise InputError(f"{text_arg}: is a folder, not a scenario file")
    if path.exists():
        raise InputError(f"{text_arg}: not a regular file (a device, pipe or socket); "
                         f"expected a scenario file")
    raise InputError(f"{text_arg}: file not found (built-in scenarios: "
                     f"{', '.join(builtin_names())})")


# --- writing TOML --------------------------------------------------------------------------------
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def _toml_str(s: str) -> str:
    """A TOML basic string (one line, escaped)."""
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_multiline(s: str) -> str:
    """Multi-line literal string where that is exact (readable TLEs), else a basic string."""
    if "'''" in s or s.endswith("'") or any(
            (ord(ch) < 0x20 and ch not in "\n\t") or ord(ch) == 0x7F for ch in s):
        return _toml_str(s)
    return "'''\n" + s + "'''"


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write the non-finite number {v!r} to a scenario")
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    raise TypeError(f"cannot write {type(v).__name__} to a scenario")


def _tle_text(elements: ElementSet) -> str:
    rows = []
    for name, (l1, l2) in zip(elements.name, elements.tle_lines):
        # "0 " marks a name line in 3LE files; needed where the name could pass for a data line.
        rows.append("0 " + name if name[:2] in ("0 ", "1 ", "2 ") else name)
        rows.extend((l1, l2))
    return "\n".join(rows)


def _element_lines(elements: ElementSet, label: str) -> list[str]:
    if elements.tle_lines is not None:
        return ["tle = " + _toml_multiline(_tle_text(elements))]
    if elements.source and os.path.isfile(elements.source):
        return ["omm_file = " + _toml_str(os.path.abspath(elements.source))]
    raise InputError(f"cannot write {label}: its element sets ({elements.source!r}) have "
                     f"neither TLE text nor an OMM file")


def scenario_to_toml(s: Scenario) -> str:
    """The resolved scenario as TOML text: every default written out, element sets inline as
    TLE text where they came from TLE text or files, OMM-sourced sets as an absolute omm_file.
    ``scenario_from_text`` of the result gives back ``s`` (apart from ``source``/``warnings``)."""
    out = [f"# fragrisk scenario, resolved from {s.source}",
           *(f"# with --set {' '.join(text.splitlines())}" for text in s.overrides), f"name = {_toml_str(s.name)}", ""]

    def table(header: str, pairs: list, extra_lines: tuple = ()) -> None:
        out.append(header)
        out.extend(extra_lines)
        out.extend(f"{k} = {_toml_value(v)}" for k, v in pairs if v is not None)
        out.append("")

    if s.parent is not None:
        table("[parent]", [("mass_kg", s.parent.mass_kg), ("kind", s.parent.kind)],
              tuple(_element_lines(s.parent.elements, "[parent]")))
    if s.event is not None:
        e = s.event
        table("[event]", [
            ("epoch", e.epoch), ("type", e.type),
            ("projectile_mass_kg", e.projectile_mass_kg),
            ("impact_velocity_km_s", e.impact_velocity_km_s),
            ("lc_min_m", e.lc_min_m), ("am_sampling", e.am_sampling),
            ("mass_policy", e.mass_policy), ("drag_coefficient", e.drag_coefficient),
            ("drag_scale", e.drag_scale), ("explosion_scale", e.explosion_scale),
            ("fragmenting_mass_kg", e.fragmenting_mass_kg), ("dv_scale", e.dv_scale),
            ("dv_sigma_log10", e.dv_sigma_log10), ("cloud_dv_radial_m_s", e.cloud_dv_radial_m_s),
            ("cloud_dv_along_track_m_s", e.cloud_dv_along_track_m_s),
            ("cloud_dv_cross_track_m_s", e.cloud_dv_cross_track_m_s)])
    if s.population is not None:
        table("[population]", [], tuple(_element_lines(s.population.elements, "[population]")))
    for k, t in enumerate(s.targets, start=1):
        table("[[targets]]", [("hard_body_radius_m", t.hard_body_radius_m)],
              (f"name = {_toml_str(t.name)}",
               *_element_lines(t.elements, f"[[targets]] #{k}")))
    a = s.analysis
    table("[analysis]", [
        ("start", a.start), ("duration_days", a.duration_days), ("step_s", a.step_s),
        ("realizations", a.realizations), ("seed", a.seed), ("kernel", a.kernel),
        ("kernel_radius_km", a.kernel_radius_km), ("time_bin_s", a.time_bin_s),
        ("encounters", a.encounters), ("pc_bins_per_decade", a.pc_bins_per_decade),
        ("max_epoch_gap_days", a.max_epoch_gap_days)])
    return "\n".join(out)


# --- the breakup model's parameters and knobs of a scenario ----------------------------------------

def breakup_params(event, parent) -> breakup.BreakupParams:
    """BreakupParams of a scenario's [event] and [parent] tables."""
    return breakup.BreakupParams(
        event_type=event.type, parent_mass_kg=parent.mass_kg, parent_kind=parent.kind,
        projectile_mass_kg=event.projectile_mass_kg, impact_velocity_km_s=event.impact_velocity_km_s,
        lc_min_m=event.lc_min_m, am_sampling=event.am_sampling, mass_policy=event.mass_policy,
        explosion_scale=event.explosion_scale, fragmenting_mass_kg=event.fragmenting_mass_kg,
        dv_scale=event.dv_scale, dv_sigma_log10=event.dv_sigma_log10)


CLOUD_DV_FIELDS = ("cloud_dv_radial_m_s", "cloud_dv_along_track_m_s", "cloud_dv_cross_track_m_s")


def knob_attributes(event, parent) -> dict:
    """The calibration knobs of a scenario's breakup as file attributes (floats): dv_scale,
    dv_sigma_log10, drag_scale, the cloud's velocity change (CLOUD_DV_FIELDS), explosion_scale,
    and for collisions fragmenting_mass_kg, the count law's M in use (the SBM's M where the
    scenario leaves it unset)."""
    attrs = {"dv_scale": float(event.dv_scale), "dv_sigma_log10": float(event.dv_sigma_log10),
             "drag_scale": float(event.drag_scale), "explosion_scale": float(event.explosion_scale),
             **{name: float(getattr(event, name)) for name in CLOUD_DV_FIELDS}}
    if event.type == "collision":
        attrs["fragmenting_mass_kg"] = float(breakup_params(event, parent).count_mass_kg)
    return attrs
