"""Reading TOML values against the schema, and showing them in messages.

`Table` wraps one parsed TOML table with its label ("[event]") and checks its keys and values
against the schema's Fields; every bad value raises InputError with one line naming the file,
the field, the value (and the --set that gave it) and what was expected.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math

from ..errors import InputError
from ..timeutil import parse_utc
from .schema import REQUIRED, Field

_ROW = object()  # Table.read's default: the schema row's

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def toml_str(s: str) -> str:
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


def show(value) -> str:
    """A value as it would appear in TOML, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_str(value) if len(value) <= 60 else toml_str(value[:57] + "...")
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


def from_set(src: str, where: str, key: str) -> str:
    """" (from --set ...)" when the command line, not the file, gave field `key` of table `where`
    (engine.scenario.overrides names the source so)."""
    text = getattr(src, "origins", {}).get((where, key))
    return f" (from --set {text})" if text else ""


def unknown(src: str, where: str, key: str, value, valid: tuple) -> InputError:
    origin = from_set(src, where, key)
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


class Table:
    """One TOML table with its label ("[event]") for messages; its keys must be ``fields``'."""

    def __init__(self, data: dict, label: str, src: str, fields: tuple[Field, ...]):
        self.data, self.label, self.src = data, label, src
        self.fields = {f.name: f for f in fields}
        for key, value in data.items():
            if key not in self.fields:
                raise unknown(src, label, key, value, tuple(self.fields))

    def field(self, key: str) -> str:
        return f"{self.label} {key}" if self.label else key

    def has(self, key: str) -> bool:
        return key in self.data

    def origin(self, key: str) -> str:
        """" (from --set ...)" where the command line gave field ``key``."""
        return from_set(self.src, self.label, key)

    def bad(self, key: str, expected: str) -> InputError:
        return InputError(f"{self.src}: {self.field(key)} = {show(self.data[key])}"
                          f"{self.origin(key)}: expected {expected}")

    def read(self, key: str, default=_ROW):
        """Field ``key``, checked against its schema row: the file's value, else ``default``
        (the row's default unless one is given; REQUIRED: missing is an error).  Numbers come
        back as float, integers as int; a "utc" field as (text, jd, fr)."""
        f = self.fields[key]
        default = f.default if default is _ROW else default
        if key not in self.data:
            if default is REQUIRED:
                raise InputError(f"{self.src}: missing required field {self.field(key)}")
            return default
        value = self.data[key]
        if f.type == "number":
            return self._number(key, value, f)
        if f.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.bad(key, f"an integer, not {_type_name(value)}")
            if not f.ok(value):
                raise self.bad(key, f.expect())
            return int(value)
        if f.type == "boolean":
            if not isinstance(value, bool):
                raise self.bad(key, f"true or false, not {_type_name(value)}")
            return value
        if f.type in ("string", "elements"):
            if not isinstance(value, str):
                expected = "a string" if f.choices is None else f.expect()
                raise self.bad(key, f"{expected}, not {_type_name(value)}")
            if not f.ok(value):
                raise self.bad(key, f.expect())
            return value
        if f.type == "utc":
            return self._utc(key, value)
        raise AssertionError(f"{f.type} fields are read by the loader")

    def _number(self, key: str, value, f: Field) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.bad(key, f"a number, not {_type_name(value)}")
        try:
            x = float(value)
        except OverflowError:  # a TOML integer beyond float range
            raise self.bad(key, f.expect()) from None
        if not math.isfinite(x) or not f.ok(x):
            raise self.bad(key, f.expect())
        return x

    def _utc(self, key: str, value) -> tuple[str, float, float]:
        """An ISO 8601 UTC time given as a string (or as a TOML date-time): (text, jd, fr)."""
        if isinstance(value, _dt.datetime):
            offset = value.utcoffset()
            if offset is not None and offset != _dt.timedelta(0):
                raise self.bad(key, "a UTC time (offset Z or +00:00)")
            value = value.isoformat()
        elif not isinstance(value, str):
            raise self.bad(key, 'an ISO 8601 UTC time string like "2021-11-15T02:47:00Z"')
        where = f"{self.src}: {self.field(key)}{self.origin(key)}"
        jd, fr = parse_utc(value, where=where)
        return value, jd, fr


def subtable(top: Table, key: str) -> dict | None:
    """Table ``key`` of the top level as a dict, None where absent."""
    if key not in top.data:
        return None
    value = top.data[key]
    if not isinstance(value, dict):
        raise InputError(f"{top.src}: {key} = {show(value)}{from_set(top.src, '', key)}: "
                         f"expected a table [{key}]")
    return value
