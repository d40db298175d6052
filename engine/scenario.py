"""Scenario files (TOML, see design.md): load, validate every field, and write back resolved.

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
import tomllib  # Python >= 3.11 (pyproject.toml's requires-python)
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from sgp4.api import SGP4_ERRORS

from .breakup import AM_SAMPLINGS, EVENT_TYPES, KINDS, MASS_POLICIES
from .elements import EARTH_RADIUS_KM, DEEP_SPACE_PERIOD_MIN, ElementSet, parse_tle
from .elements import decode_text, read_omm_file, read_tle_file
from .errors import InputError
from .risk import DECAY_ALTITUDE_KM
from .timeutil import format_utc, minutes_between, parse_utc

# --- the schema --------------------------------------------------------------------------------
# KINDS, EVENT_TYPES, AM_SAMPLINGS and MASS_POLICIES: the breakup model's (engine.breakup).
KERNELS = ("sphere",)
ENCOUNTER_CHOICES = ("all", "none")   # [analysis] encounters: record the encounter table or not
PC_BINS_PER_DECADE_RANGE = (1, 1000)  # [analysis] pc_bins_per_decade: collision-probability bins

LC_MIN_RANGE_M = (0.001, 1.0)         # the SBM's size range of validity for the cumulative law
EPOCH_WARNING_DAYS = 30.0             # element sets older than this lose accuracy fast

_ELEMENT_KEYS = ("tle", "tle_file", "omm_file")
_TOP_KEYS = ("name", "parent", "event", "targets", "analysis", "population")
_PARENT_KEYS = _ELEMENT_KEYS + ("mass_kg", "kind")
_EVENT_KEYS = ("epoch", "type", "projectile_mass_kg", "impact_velocity_km_s", "lc_min_m",
               "am_sampling", "mass_policy", "drag_coefficient", "drag_scale", "explosion_scale")
_TARGET_KEYS = ("name",) + _ELEMENT_KEYS + ("hard_body_radius_m",)
_ANALYSIS_KEYS = ("start", "duration_days", "step_s", "realizations", "seed", "kernel",
                  "kernel_radius_km", "time_bin_s", "encounters", "pc_bins_per_decade")
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
    return repr(value)


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
        x = float(value)
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
        raise InputError(f"{where} = {_show(value)}: file not found ({path})")
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
    mass = t.number("mass_kg", ok=_positive, expect="a mass > 0 kg")
    kind = t.string("kind", choices=KINDS)
    return Parent(elements=elements, mass_kg=mass, kind=kind), key


def _read_event(data: dict, src: str, warnings: list) -> Event:
    t = _Table(data, "[event]", src, _EVENT_KEYS)
    epoch, jd, fr = t.utc("epoch")
    kind = t.string("type", choices=EVENT_TYPES)
    needed = _REQUIRED if kind == "collision" else None
    projectile = t.number("projectile_mass_kg", needed, ok=_positive, expect="a mass > 0 kg")
    velocity = t.number("impact_velocity_km_s", needed, ok=_positive,
                        expect="a speed > 0 km/s")
    if kind == "explosion":
        for key in ("projectile_mass_kg", "impact_velocity_km_s"):
            if t.has(key):
                warnings.append(f"{src}: [event] {key} is ignored: explosions have no projectile")
    lo, hi = LC_MIN_RANGE_M
    lc_min = t.number("lc_min_m", ok=lambda x: lo <= x <= hi,
                      expect=f"a size in [{lo:g}, {hi:g}] m")
    return Event(
        epoch=epoch, epoch_jd=jd, epoch_fr=fr, type=kind,
        projectile_mass_kg=projectile, impact_velocity_km_s=velocity, lc_min_m=lc_min,
        am_sampling=t.string("am_sampling", "mixture", choices=AM_SAMPLINGS),
        mass_policy=t.string("mass_policy", "remnants", choices=MASS_POLICIES),
        drag_coefficient=t.number("drag_coefficient", 2.2, ok=_positive, expect="a number > 0"),
        drag_scale=t.number("drag_scale", 1.0, ok=_positive, expect="a number > 0"),
        explosion_scale=t.number("explosion_scale", 1.0, ok=_positive, expect="a number > 0"),
    )


def _check_parent_at_event(parent: Parent, key: str, event: Event, src: str,
                           warnings: list) -> None:
    """Deep-space and decayed parents are errors; stale element sets a warning."""
    el = parent.elements
    who = _describe_object(el)
    field = f"{src}: [parent] {key}"
    period = float(el.period_min[0])
    if period >= DEEP_SPACE_PERIOD_MIN:
        raise InputError(f"{field}: {who} has a period of {period:.1f} min >= "
                         f"{DEEP_SPACE_PERIOD_MIN:g} min (deep space); fragrisk's breakup "
                         f"propagation handles near-Earth orbits only")
    sat = el.to_satrecs()[0]
    err, r_km, _ = sat.sgp4(event.epoch_jd, event.epoch_fr)
    at = f'at [event] epoch = "{event.epoch}"'
    if err != 0:
        raise InputError(f"{field}: {who} has decayed {at}: SGP4 error {err} "
                         f"({SGP4_ERRORS.get(err, 'unknown error')})")
    altitude = float(np.linalg.norm(r_km)) - EARTH_RADIUS_KM
    if altitude < DECAY_ALTITUDE_KM:
        raise InputError(f"{field}: {who} has decayed {at}: altitude {altitude:.1f} km "
                         f"< {DECAY_ALTITUDE_KM:g} km")
    gap = _epoch_gap_days(el, event.epoch_jd, event.epoch_fr)
    if abs(gap) > EPOCH_WARNING_DAYS:
        warnings.append(f'{src}: [event] epoch = "{event.epoch}" is {abs(gap):.1f} days '
                        f"{'after' if gap > 0 else 'before'} the element epoch of [parent] "
                        f"{who} ({format_utc(el.epoch_jd[0], el.epoch_fr[0])}); SGP4 errors "
                        f"grow with that distance")


def _read_targets(value, src: str, base, start: tuple | None, warnings: list) -> tuple:
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
            gap = _epoch_gap_days(elements, start[1], start[2])
            if abs(gap) > EPOCH_WARNING_DAYS:
                warnings.append(f'{src}: {label} {key}: the element epoch of {name} '
                                f"({format_utc(elements.epoch_jd[0], elements.epoch_fr[0])}) is "
                                f"{abs(gap):.1f} days from the analysis start; SGP4 errors "
                                f"grow with that distance")
        targets.append(Target(name=name, elements=elements, hard_body_radius_m=radius))
    return tuple(targets)


def _read_analysis(data: dict | None, src: str, event: Event | None) -> Analysis:
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
        seed = t.integer("seed", 0, ok=lambda x: x >= 0, expect="an integer >= 0")
    else:
        realizations = t.integer("realizations", ok=lambda x: x >= 1, expect="an integer >= 1")
        seed = t.integer("seed", ok=lambda x: x >= 0, expect="an integer >= 0")
    return Analysis(
        start=start[0], start_jd=start[1], start_fr=start[2],
        duration_days=duration, step_s=step, realizations=realizations, seed=seed,
        kernel=t.string("kernel", "sphere", choices=KERNELS),
        kernel_radius_km=t.number("kernel_radius_km", 10.0, ok=_positive,
                                  expect="a radius > 0 km"),
        time_bin_s=t.number("time_bin_s", 3600.0, ok=_positive, expect="a bin width > 0 s"),
        encounters=t.string("encounters", "all", choices=ENCOUNTER_CHOICES),
        pc_bins_per_decade=t.integer(
            "pc_bins_per_decade", 10,
            ok=lambda x: PC_BINS_PER_DECADE_RANGE[0] <= x <= PC_BINS_PER_DECADE_RANGE[1],
            expect="an integer from {} to {}".format(*PC_BINS_PER_DECADE_RANGE)),
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


def scenario_from_text(text: str, source: str, base, overrides=()) -> Scenario:
    """Parse and validate scenario TOML ``text``, with the --set texts ``overrides`` applied
    (engine.scenario.apply_overrides) before validation.

    ``source`` names it in messages; ``base`` is the folder (a Path or an importlib.resources
    Traversable) that relative file names resolve against.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML: {' '.join(str(exc).split())}") from None
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
        _check_parent_at_event(parent, parent_key, event, source, warnings)

    analysis_data = _subtable(top, "analysis")
    analysis = _read_analysis(analysis_data, source, event)
    targets = _read_targets(top.data.get("targets"), source, base,
                            (analysis.start, analysis.start_jd, analysis.start_fr), warnings)
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


def load_scenario(path_or_name, overrides=()) -> Scenario:
    """Load a scenario from a TOML file, or a built-in by name (e.g. ``"cosmos1408"``), with the
    command line's ``--set SECTION.FIELD=VALUE`` texts ``overrides`` applied (parse_override).

    An existing file wins over a built-in of the same name.  Relative file names inside the
    scenario resolve against the scenario file's folder.
    """
    text_arg = os.fspath(path_or_name)
    path = Path(text_arg).expanduser()
    if path.is_file():
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{text_arg}: cannot read: {exc.strerror or exc}") from None
        return scenario_from_text(decode_text(raw, text_arg), text_arg,
                                  Path(os.path.abspath(path)).parent, overrides)
    if text_arg in builtin_names():
        resource = _data_dir().joinpath(text_arg + ".toml")
        source = f"{text_arg} (built-in)"
        return scenario_from_text(decode_text(resource.read_bytes(), source), source, _data_dir(), overrides)
    if path.is_dir():
        raise InputError(f"{text_arg}: is a folder, not a scenario file")
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
            ("drag_scale", e.drag_scale), ("explosion_scale", e.explosion_scale)])
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
        ("encounters", a.encounters), ("pc_bins_per_decade", a.pc_bins_per_decade)])
    return "\n".join(out)
