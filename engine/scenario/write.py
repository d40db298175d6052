"""The resolved scenario as TOML text: every field of the schema, in its order, defaults filled in.

Element sets are written inline as TLE text where they came from TLE text or files, OMM-sourced
sets as an absolute omm_file, so that loading the text gives the same scenario again.  Results
and fragments files keep this text (attribute ``scenario``).
"""

from __future__ import annotations

import math
import os

from ..errors import InputError
from ..orbits.elements import ElementSet
from .schema import CATALOG_TARGET_KEYS, SECTIONS, label
from .values import toml_str


def _toml_multiline(s: str) -> str:
    """Multi-line literal string where that is exact (readable TLEs), else a basic string."""
    if "'''" in s or s.endswith("'") or any(
            (ord(ch) < 0x20 and ch not in "\n\t") or ord(ch) == 0x7F for ch in s):
        return toml_str(s)
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
        return toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to a scenario")


def _tle_text(elements: ElementSet) -> str:
    rows = []
    for name, (l1, l2) in zip(elements.name, elements.tle_lines):
        # "0 " marks a name line in 3LE files; needed where the name could pass for a data line.
        rows.append("0 " + name if name[:2] in ("0 ", "1 ", "2 ") else name)
        rows.extend((l1, l2))
    return "\n".join(rows)


def _element_line(elements: ElementSet, where: str) -> str:
    if elements.tle_lines is not None:
        return "tle = " + _toml_multiline(_tle_text(elements))
    if elements.source and os.path.isfile(elements.source):
        return "omm_file = " + toml_str(os.path.abspath(elements.source))
    raise InputError(f"cannot write {where}: its element sets ({elements.source!r}) have "
                     f"neither TLE text nor an OMM file")


def _table(section: str, obj, where: str) -> list[str]:
    """The lines of one table: its schema fields in order, the element sets where the trio
    stands, unset (None) fields left out."""
    lines = [label(section)]
    for f in SECTIONS[section]:
        if f.type == "elements":
            if f.name == "tle":  # the trio's first row: one line for whichever gave the sets
                lines.append(_element_line(obj.elements, where))
            continue
        if section == "targets" and f.name in CATALOG_TARGET_KEYS:
            continue  # each target of a catalog entry is written as a one-object entry
        value = getattr(obj, f.name)
        if isinstance(value, tuple):
            value = list(value) or None
        if value is not None:
            lines.append(f"{f.name} = {_toml_value(value)}")
    return lines + [""]


def scenario_to_toml(s) -> str:
    """The resolved scenario as TOML text: every default written out, element sets inline as
    TLE text where they came from TLE text or files, OMM-sourced sets as an absolute omm_file.
    ``scenario_from_text`` of the result gives back ``s`` (apart from ``source``/``warnings``)."""
    out = [f"# fragrisk scenario, resolved from {s.source}",
           *(f"# with --set {' '.join(text.splitlines())}" for text in s.overrides),
           f"name = {toml_str(s.name)}", ""]
    if s.parent is not None:
        out += _table("parent", s.parent, "[parent]")
    if s.event is not None:
        out += _table("event", s.event, "[event]")
    if s.population is not None:
        out += _table("population", s.population, "[population]")
    for k, t in enumerate(s.targets, start=1):
        out += _table("targets", t, f"[[targets]] #{k}")
    out += _table("analysis", s.analysis, "[analysis]")
    return "\n".join(out)
