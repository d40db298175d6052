"""Loading a scenario: TOML text or file (or a built-in by name) -> a validated Scenario.

Every field of the schema is read and checked against its row whether or not something later
replaces it (the command line's --realizations, --seed and --max-epoch-gap-days, the CPU's
default count of realizations): a bad value in a file is an error even where it would not be
used.  Then the rules that tie fields together (engine.scenario.checks).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib  # Python >= 3.11 (pyproject.toml's requires-python)
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..filekind import kind_of_bytes
from ..orbits import catalog
from ..orbits.elements import (
    EARTH_RADIUS_KM,
    ElementSet,
    decode_text,
    parse_tle,
    read_catalog,
    read_omm_file,
    read_tle_file,
)
from ..orbits.propagation import history_set_index, propagate_elements
from ..physics.constants import DECAY_ALTITUDE_KM
from ..timeutil import minutes_between
from . import checks
from .model import Analysis, Event, Parent, Population, Scenario, Target
from .overrides import apply_overrides
from .schema import (
    CATALOG_TARGET_KEYS,
    ELEMENT_KEYS,
    MAX_CONJUNCTION_THRESHOLDS,
    MAX_SCENARIO_BYTES,
    ONE_TARGET_KEYS,
    REQUIRED,
    SECTIONS,
    field,
    label,
)
from .values import Table, show, subtable


def _table(data: dict, section: str, src: str, where: str | None = None) -> Table:
    return Table(data, where or label(section), src, SECTIONS[section])


def _simple(t: Table, section: str, **defaults) -> dict:
    """{name: value} of the table's number, integer and string fields (those the schema alone
    checks), each read with its row's default unless ``defaults`` gives another."""
    return {f.name: t.read(f.name, defaults.get(f.name, f.default)) for f in SECTIONS[section]
            if f.type in ("number", "integer", "string", "boolean")}


# --- element sources ---------------------------------------------------------------------------
def _resolve(base, value: str):
    """A file named in the scenario: absolute, or relative to the scenario file's folder."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    joined = base / value
    return Path(os.path.abspath(joined)) if isinstance(joined, Path) else joined


def _elements(table: Table, base, one: bool) -> tuple[ElementSet, str]:
    """The element set named by exactly one of tle / tle_file / omm_file; returns (set, key).
    ``one``: it must hold exactly one object."""
    given = [k for k in ELEMENT_KEYS if table.has(k)]
    if not given:
        raise InputError(f"{table.src}: missing required field {table.field('tle')} "
                         f"(or tle_file, omm_file)")
    if len(given) > 1:
        raise InputError(f"{table.src}: {table.label}: give one of tle, tle_file, omm_file, "
                         f"not both {given[0]} and {given[1]}")
    key = given[0]
    value = table.read(key)
    where = f"{table.src}: {table.field(key)}{table.origin(key)}"
    if key == "tle":
        elements = parse_tle(value, where)
    else:
        path = _resolve(base, value)
        if not path.is_file():
            why = ("is a folder" if path.is_dir() else
                   "not a regular file" if path.exists() else "file not found")
            raise InputError(f"{where} = {show(value)}: {why} ({path})")
        try:
            elements = read_tle_file(path) if key == "tle_file" else read_omm_file(path)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    if one and len(elements) != 1:
        raise InputError(f"{table.src}: {table.field(key)}: {len(elements)} element sets, "
                         f"expected exactly 1")
    return elements, key


# --- the tables --------------------------------------------------------------------------------
def _read_parent(data: dict, src: str, base) -> tuple[Parent, str]:
    t = _table(data, "parent", src)
    elements, key = _elements(t, base, one=True)
    return Parent(elements=elements, **_simple(t, "parent")), key


def _read_event(data: dict, src: str, warnings: list) -> Event:
    t = _table(data, "event", src)
    epoch, jd, fr = t.read("epoch")
    kind = t.read("type")
    needed = REQUIRED if kind == "collision" else None
    values = _simple(t, "event", projectile_mass_kg=needed, impact_velocity_km_s=needed)
    if kind == "explosion":
        for key in ("projectile_mass_kg", "impact_velocity_km_s"):
            if t.has(key):
                warnings.append(f"{src}: [event] {key} is ignored: explosions have no projectile")
        if t.has("fragmenting_mass_kg"):
            warnings.append(f"{src}: [event] fragmenting_mass_kg is ignored: the explosion count "
                            f"law has no mass (its knob is explosion_scale)")
    return Event(epoch=epoch, epoch_jd=jd, epoch_fr=fr, **values)


def _read_targets(value, src: str, base, start: tuple, max_gap_days: float,
                  warnings: list) -> tuple:
    if value is None:
        raise InputError(f"{src}: missing required field [[targets]] (at least one target)")
    if isinstance(value, dict):
        raise InputError(f"{src}: targets = a table: expected [[targets]] (an array of tables)")
    if not isinstance(value, list) or not value:
        raise InputError(f"{src}: targets = {show(value)}: expected [[targets]] tables, "
                         f"at least one")
    targets = []
    used: dict[str, int] = {}
    for k, item in enumerate(value, start=1):
        where = f"[[targets]] #{k}"
        if not isinstance(item, dict):
            raise InputError(f"{src}: {where} = {show(item)}: expected a table")
        t = _table(item, "targets", src, where)
        if any(t.has(key) for key in CATALOG_TARGET_KEYS) or _names_a_catalog(t, base):
            entry = _read_catalog_targets(t, src, base, start, max_gap_days, warnings)
        else:
            entry = [_read_one_target(t, src, base, start, max_gap_days, warnings)]
        for target in entry:
            j = used.get(target.name)
            if j is not None and len(entry) == 1 and t.has("name"):
                raise t.bad("name", f"a name not used by [[targets]] #{j}")
            if j is not None:
                raise InputError(f"{src}: {where}: the target name {show(target.name)} is used by "
                                 f"[[targets]] #{j}: expected a name not used by [[targets]] #{j}")
            used[target.name] = k
            targets.append(target)
    return tuple(targets)


def _read_one_target(t: Table, src: str, base, start: tuple, max_gap_days: float,
                     warnings: list) -> Target:
    elements, key = _elements(t, base, one=False)
    if len(set(int(n) for n in elements.satnum)) != 1:
        raise InputError(f"{src}: {t.field(key)}: element sets of "
                         f"{len(set(int(n) for n in elements.satnum))} objects; expected one "
                         f"object (one set, or a history of its sets)")
    name = t.read("name", elements.name[0])
    if not name.strip():
        raise t.bad("name", "a non-empty string")
    group = t.read("group", catalog.group_of(name))
    if not group.strip():
        raise t.bad("group", "a non-empty string")
    radius, station_kept = t.read("hard_body_radius_m"), t.read("station_kept")
    field = f"{src}: {t.label} {key}"
    # A history: the set in use at the start is checked (each set serves until the next).
    at_start = int(history_set_index(elements, start[1], start[2], [0.0])[0])
    checks.check_epoch_gap(elements, start[1], start[2], max_gap_days, field,
                           f'[analysis] start = "{start[0]}"', warnings, i=at_start)
    checks.check_in_orbit(elements.take([at_start]), start[1], start[2], field,
                          f'at [analysis] start = "{start[0]}"')
    if station_kept:  # SGP4 with B* = 0 keeps the mean semi-major axis
        elements = dataclasses.replace(elements, bstar=np.zeros(len(elements)))
    return Target(name=name, elements=elements, hard_body_radius_m=radius, station_kept=station_kept,
                  group=group, **{k: None for k in CATALOG_TARGET_KEYS})


def _catalog_file(t: Table, base):
    """(path, field text for messages) of the catalog file a [[targets]] or [population] entry
    names, or None where it names no single file (then _elements says what is wrong)."""
    given = [k for k in ELEMENT_KEYS if t.has(k)]
    if len(given) != 1 or given[0] == "tle" or not isinstance(t.data[given[0]], str):
        return None
    key = given[0]
    path = _resolve(base, t.data[key])
    if not path.is_file():
        return None
    return path, f"{t.src}: {t.field(key)}{t.origin(key)}"


def _names_a_catalog(t: Table, base) -> bool:
    """Whether a [[targets]] entry without filters names a file of more than one object (an
    entry that names its target, or sets a one-object field, means one object: its file must
    then hold one)."""
    if any(t.has(key) for key in ONE_TARGET_KEYS):
        return False
    found = _catalog_file(t, base)
    if found is None:
        return False
    try:
        elements, dropped = read_catalog(found[0])
    except InputError:
        return False   # the one-object reader gives the message
    # Several sets of one object are its history, not a catalog.
    return len(set(int(n) for n in elements.satnum) | set(int(d[1]) for d in dropped)) > 1


def _read_catalog(t: Table, base, warnings: list) -> tuple[ElementSet, int, str]:
    """A catalog file's objects SGP4 can start from (the others left out with a warning line),
    how many the file holds, and its field text."""
    found = _catalog_file(t, base)
    if found is None:
        if t.has("tle"):
            raise InputError(f"{t.src}: {t.label}: a catalog comes from tle_file or omm_file, "
                             f"not tle")
        _elements(t, base, one=False)   # the message for a missing or unreadable file
        raise InputError(f"{t.src}: {t.label}: missing required field tle_file (or omm_file)")
    path, where = found
    try:
        elements, dropped = read_catalog(path)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    if dropped:
        warnings.append(f"{where}: {len(dropped)} object(s) SGP4 cannot start left out, e.g. "
                        f"{dropped[0][2]} (NORAD {dropped[0][1]}): {dropped[0][3]}")
    return elements, len(elements) + len(dropped), where


def _read_catalog_targets(t: Table, src: str, base, start: tuple, max_gap_days: float,
                          warnings: list) -> list:
    """The targets of a [[targets]] entry that names a catalog: its objects that pass the filters
    (engine.orbits.catalog.select), each with the entry's hard-body radius or, where
    hard_body_radius_by_group names its group, that radius.  Element sets farther than
    max_gap_days from the start and objects not in orbit at the start are left out with one
    warning line each (a catalog always holds a few)."""
    filters = {key: t.read(key) for key in ("name_pattern", "norad_min", "norad_max",
                                             "altitude_min_km", "altitude_max_km")}
    radius = t.read("hard_body_radius_m")
    for key in ONE_TARGET_KEYS:
        if t.has(key):
            raise t.bad(key, f"no {key} in a catalog entry (each object keeps its own)")
    elements, n_file, where = _read_catalog(t, base, warnings)
    by_group = t.data.get("hard_body_radius_by_group", {})
    if not isinstance(by_group, dict):
        raise t.bad("hard_body_radius_by_group", "a table of radii in m by group, e.g. "
                                                 "{ STARLINK = 5.0, FLOCK = 1.0 }")
    for group, r in by_group.items():
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not (math.isfinite(r) and r > 0):
            raise InputError(f"{src}: {t.label} hard_body_radius_by_group.{group} = {show(r)}: "
                             f"expected a radius > 0 m")
    selected = elements.take(catalog.select(elements, **filters))
    if len(selected):
        selected = _in_orbit_at_start(selected, start, where, max_gap_days, warnings)
    if not len(selected):
        raise InputError(f"{where}: no object of the {n_file:,} in the file passes the filters "
                         f"(and is in orbit at the start)")
    names = catalog.unique_names(selected.name, selected.satnum)
    groups = [catalog.group_of(n) for n in selected.name]
    entry = dict(filters, hard_body_radius_by_group=dict(by_group) or None)
    return [Target(name=names[i], elements=selected.take([i]),
                   hard_body_radius_m=float(by_group.get(groups[i], radius)), station_kept=False,
                   group=groups[i], **entry)
            for i in range(len(selected))]


def _in_orbit_at_start(elements: ElementSet, start: tuple, where: str, max_gap_days: float,
                       warnings: list) -> ElementSet:
    """The objects of a catalog whose element sets are within max_gap_days of the start and that
    SGP4 puts above DECAY_ALTITUDE_KM there; a warning line for each kind left out."""
    _, jd, fr = start
    gap = np.abs((elements.epoch_jd - jd) + (elements.epoch_fr - fr))
    near = gap <= max_gap_days
    if not near.all():
        warnings.append(f"{where}: {int((~near).sum())} object(s) with element sets more than "
                        f"[analysis] max_epoch_gap_days = {max_gap_days:g} from the start left out")
    elements = elements.take(near)
    if not len(elements):
        return elements
    eph = propagate_elements(elements, jd, fr, np.zeros(1), device="cpu")
    altitude = np.linalg.norm(eph.r_km[:, 0], axis=1) - EARTH_RADIUS_KM
    with np.errstate(invalid="ignore"):
        alive = (eph.error[:, 0] == 0) & (altitude >= DECAY_ALTITUDE_KM)
    if not alive.all():
        warnings.append(f"{where}: {int((~alive).sum())} object(s) not in orbit at the start left out")
    return elements.take(alive)


def _max_epoch_gap(data, src: str, override) -> float:
    """[analysis] max_epoch_gap_days, or ``override`` (--max-epoch-gap-days) where given (the
    file's value is checked all the same).  Read before the element sets are checked against
    their epochs of use."""
    gap = None
    if isinstance(data, dict):  # else _read_analysis reports what is wrong with the table
        gap = _table(data, "analysis", src).read("max_epoch_gap_days")
    if override is not None:
        if (isinstance(override, bool) or not isinstance(override, (int, float))
                or not (math.isfinite(override) and override > 0)):
            raise InputError(f"--max-epoch-gap-days: {override!r} is not a number of days > 0")
        return float(override)
    return gap if gap is not None else field("analysis", "max_epoch_gap_days").default


def _read_analysis(data: dict | None, src: str, event: Event | None,
                   max_gap_days: float, base=None) -> Analysis:
    if data is None:
        raise InputError(f"{src}: missing required table [analysis]")
    t = _table(data, "analysis", src)
    if event is None:
        if not t.has("start"):
            raise InputError(f"{src}: missing required field [analysis] start "
                             f"(required for [population] scenarios)")
        start = t.read("start")
    else:
        start = t.read("start", (event.epoch, event.epoch_jd, event.epoch_fr))
        if minutes_between(start[1], start[2], event.epoch_jd, event.epoch_fr) < 0.0:
            raise t.bad("start", f'a time at or after [event] epoch = "{event.epoch}"')
    # A population is one fixed cloud: exactly one realization, and nothing to seed.
    values = _simple(t, "analysis", **({} if event is not None else
                                       {"realizations": 1, "seed": 0}))
    duration, step = values["duration_days"], values["step_s"]
    if step > duration * 86400.0:
        raise t.bad("step_s", f"a step no longer than [analysis] duration_days = "
                              f"{duration:g} ({duration * 86400.0:g} s)")
    if event is None and values["realizations"] != 1:
        raise t.bad("realizations", "1 (a [population] is a single realization)")
    values["max_epoch_gap_days"] = max_gap_days
    if values["atmosphere"] != "nrlmsis":
        for name, unset in (("space_weather", None), ("density_sigma", 0.0)):
            if values[name] != unset:
                raise t.bad(name, 'unset: it needs [analysis] atmosphere = "nrlmsis"')
    if values["space_weather"] is not None and base is not None:
        values["space_weather"] = str(_resolve(base, values["space_weather"]))
    values["conjunction_thresholds_km"] = _thresholds(t)
    return Analysis(start=start[0], start_jd=start[1], start_fr=start[2], **values)


def _thresholds(t: Table) -> tuple:
    """[analysis] conjunction_thresholds_km: increasing distances > 0 km (at most
    MAX_CONJUNCTION_THRESHOLDS), () where not given."""
    if not t.has("conjunction_thresholds_km"):
        return ()
    value = t.data["conjunction_thresholds_km"]
    expect = (f"a list of increasing distances > 0 km, at most {MAX_CONJUNCTION_THRESHOLDS} "
              f"and at most 1,000 km, e.g. [1, 5, 10]")
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_CONJUNCTION_THRESHOLDS
            or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in value)):
        raise t.bad("conjunction_thresholds_km", expect)
    out = tuple(float(x) for x in value)
    if not all(math.isfinite(x) and 0 < x <= 1000.0 for x in out) or list(out) != sorted(set(out)):
        raise t.bad("conjunction_thresholds_km", expect)
    return out


def _read_population(data: dict, src: str, base, warnings: list) -> Population:
    """A [population]: a catalog, so from a file the objects SGP4 cannot start from (a whole
    catalog holds a few) are left out with one warning line; inline TLE text is read strictly."""
    t = _table(data, "population", src)
    if _catalog_file(t, base) is None:
        elements, _ = _elements(t, base, one=False)
        return Population(elements=elements)
    return Population(elements=_read_catalog(t, base, warnings)[0])


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
    (engine.scenario.overrides.apply_overrides) before validation.

    ``source`` names it in messages; ``base`` is the folder (a Path or an importlib.resources
    Traversable) that relative file names resolve against.  ``max_epoch_gap_days``, where given,
    stands for [analysis] max_epoch_gap_days (the command line's --max-epoch-gap-days).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        kind = kind_of_bytes(text[:65536].encode("utf-8", "replace"))
        if kind is not None:  # a TLE or OMM file given as the scenario
            raise InputError(f"{source}: this is {kind}, not a scenario (TOML)") from None
        raise _toml_error(exc, text, source) from None
    overrides = tuple(overrides)
    if overrides:
        data, source = apply_overrides(data, overrides, source)
    top = _table(data, "", source)
    warnings: list[str] = []
    name = top.read("name", _default_name(source))
    if not name.strip():
        raise top.bad("name", "a non-empty string")

    parent_data, event_data = subtable(top, "parent"), subtable(top, "event")
    population_data = subtable(top, "population")
    analysis_data = subtable(top, "analysis")
    max_gap = _max_epoch_gap(analysis_data, source, max_epoch_gap_days)
    parent = event = population = None
    if population_data is not None:
        for key, value in (("parent", parent_data), ("event", event_data)):
            if value is not None:
                raise InputError(f"{source}: [{key}]: not allowed with [population] "
                                 f"(a population stands instead of [parent] and [event])")
        population = _read_population(population_data, source, base, warnings)
    else:
        if parent_data is None:
            raise InputError(f"{source}: missing required table [parent] "
                             f"(or [population] instead of [parent] and [event])")
        if event_data is None:
            raise InputError(f"{source}: missing required table [event]")
        parent, parent_key = _read_parent(parent_data, source, base)
        event = _read_event(event_data, source, warnings)
        checks.check_breakup(parent, event, source)
        checks.check_parent_at_event(parent, parent_key, event, source, max_gap, warnings)

    analysis = _read_analysis(analysis_data, source, event, max_gap, base)
    if population is not None:
        checks.check_population_epochs(population, source, analysis, warnings)
    targets = _read_targets(top.data.get("targets"), source, base,
                            (analysis.start, analysis.start_jd, analysis.start_fr), max_gap,
                            warnings)
    checks.check_hard_body_radii(targets, source, analysis)
    return Scenario(name=name, parent=parent, event=event, targets=targets, analysis=analysis,
                    population=population, source=str(source), warnings=tuple(warnings),
                    overrides=overrides)


def _default_name(source: str) -> str:
    stem = Path(source.split(" ")[0]).stem
    return stem or "scenario"


# --- built-ins and files -----------------------------------------------------------------------
def _data_dir():
    return resources.files("fragrisk.engine").joinpath("data")


def builtin_names() -> tuple[str, ...]:
    """Names of the scenarios shipped in engine/data (``*.toml``), sorted."""
    return tuple(sorted(p.name[:-5] for p in _data_dir().iterdir()
                        if p.name.endswith(".toml") and p.is_file()))


def builtin_data_text(filename: str) -> str:
    """The text of a file shipped in engine/data (a built-in scenario, an element set)."""
    return _data_dir().joinpath(filename).read_text(encoding="utf-8")


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
        return scenario_from_text(decode_text(raw, text_arg, "a scenario (TOML)"), text_arg,
                                  Path(os.path.abspath(path)).parent, overrides,
                                  max_epoch_gap_days=max_epoch_gap_days)
    if text_arg in builtin_names():
        resource = _data_dir().joinpath(text_arg + ".toml")
        source = f"{text_arg} (built-in)"
        return scenario_from_text(decode_text(resource.read_bytes(), source), source, _data_dir(),
                                  overrides, max_epoch_gap_days=max_epoch_gap_days)
    if path.is_dir():
        raise InputError(f"{text_arg}: is a folder, not a scenario file")
    if path.exists():
        raise InputError(f"{text_arg}: not a regular file (a device, pipe or socket); "
                         f"expected a scenario file")
    raise InputError(f"{text_arg}: file not found (built-in scenarios: "
                     f"{', '.join(builtin_names())})")
