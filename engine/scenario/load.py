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
from ..orbits.elements import (
    ElementSet,
    decode_text,
    parse_tle,
    read_omm_file,
    read_tle_file,
)
from ..orbits.propagation import history_set_index
from ..timeutil import minutes_between
from . import checks
from .model import Analysis, Event, Parent, Population, Scenario, Target
from .overrides import apply_overrides
from .schema import ELEMENT_KEYS, MAX_SCENARIO_BYTES, REQUIRED, SECTIONS, field, label
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
    for k, item in enumerate(value, start=1):
        where = f"[[targets]] #{k}"
        if not isinstance(item, dict):
            raise InputError(f"{src}: {where} = {show(item)}: expected a table")
        t = _table(item, "targets", src, where)
        elements, key = _elements(t, base, one=False)
        if len(set(int(n) for n in elements.satnum)) != 1:
            raise InputError(f"{src}: {t.field(key)}: element sets of "
                             f"{len(set(int(n) for n in elements.satnum))} objects; expected one "
                             f"object (one set, or a history of its sets)")
        values = _simple(t, "targets", name=elements.name[0])
        if not values["name"].strip():
            raise t.bad("name", "a non-empty string")
        for j, other in enumerate(targets, start=1):
            if other.name == values["name"]:
                raise t.bad("name", f"a name not used by [[targets]] #{j}")
        field = f"{src}: {where} {key}"
        # A history: the set in use at the start is checked (each set serves until the next).
        at_start = int(history_set_index(elements, start[1], start[2], [0.0])[0])
        checks.check_epoch_gap(elements, start[1], start[2], max_gap_days, field,
                               f'[analysis] start = "{start[0]}"', warnings, i=at_start)
        checks.check_in_orbit(elements.take([at_start]), start[1], start[2], field,
                              f'at [analysis] start = "{start[0]}"')
        if values["station_kept"]:  # SGP4 with B* = 0 keeps the mean semi-major axis
            elements = dataclasses.replace(elements, bstar=np.zeros(len(elements)))
        targets.append(Target(elements=elements, **values))
    return tuple(targets)


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
    return Analysis(start=start[0], start_jd=start[1], start_fr=start[2], **values)


def _read_population(data: dict, src: str, base) -> Population:
    elements, _ = _elements(_table(data, "population", src), base, one=False)
    return Population(elements=elements)


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
        population = _read_population(population_data, source, base)
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
