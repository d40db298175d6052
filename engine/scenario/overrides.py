"""Scenario fields from the command line: ``--set SECTION.FIELD=VALUE`` over the file's values.

The overridden data is validated like a file (engine.scenario.load), and the source name that
messages use remembers which fields came from --set, so that a bad value's message says so.
"""

from __future__ import annotations

import copy
import tomllib

from ..errors import InputError
from .schema import SECTIONS


class NamedSource(str):
    """A scenario's name in messages that also knows which fields --set gave:
    origins[(table label, key)] = the --set text (engine.scenario.values.from_set)."""

    origins: dict = {}


def _schema_type(path: tuple) -> str | None:
    """The schema type of the field a --set path names, None where the schema has no such."""
    section = path[0] if len(path) > 1 else ""
    for f in SECTIONS.get(section, ()) if isinstance(section, str) else ():
        if f.name == path[-1]:
            return f.type
    return None


def parse_override(text: str) -> tuple[tuple, object]:
    """'SECTION.FIELD=VALUE' -> (key path, value).

    The path is dotted: ``name``, ``event.lc_min_m``, ``analysis.duration_days``,
    ``targets.2.hard_body_radius_m`` (targets numbered from 1, as in messages). VALUE is read as
    a TOML value (``0.01``, ``365``, ``"mixture"``, ``2021-11-16T00:00:00Z``); text that is no
    TOML value is taken as a string, so ``event.type=explosion`` needs no quotes, and so is any
    VALUE of a field the schema types as a string (``targets.1.name=1408``).
    """
    key, sep, value_text = text.partition("=")
    parts = tuple(p.strip() for p in key.split("."))
    if not sep or not all(parts) or not value_text.strip():
        raise InputError(f"--set {text}: expected SECTION.FIELD=VALUE, e.g. event.lc_min_m=0.01")
    path = []
    for p in parts:
        if p.isdigit():
            if int(p) < 1:
                raise InputError(f"--set {text}: [[targets]] are numbered from 1")
            path.append(int(p) - 1)
        else:
            path.append(p)
    raw = value_text.strip()
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    if _schema_type(tuple(path)) in ("string", "elements") and not isinstance(value, str):
        value = raw
    return tuple(path), value


def apply_overrides(data: dict, overrides, source: str) -> tuple[dict, NamedSource]:
    """The parsed TOML `data` with each --set text in `overrides` applied in order (a copy), and
    the source name for messages, which says which fields came from --set.

    Paths: FIELD (top level), SECTION.FIELD (the table is created where the file has none) and
    ARRAY.N.FIELD (table N, from 1, of an array of tables such as [[targets]]). The result is
    validated like a file, so a wrong field or value gets the file's message plus its --set.
    """
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
    named = NamedSource(source)
    named.origins = origins
    return data, named
