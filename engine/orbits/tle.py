"""The two-line element (TLE/3LE) reader: every field checked, the whole text at once with NumPy
over the fixed columns, and object by object (with the exact message for the first faulty
object) wherever the whole-text check finds a fault.

Sources: the two-line element format (CelesTrak, "FAQs: Two-Line Element Set Format");
python-sgp4 2.x (Satrec.twoline2rv: the values the whole-text reader reproduces bit for bit)."""

from __future__ import annotations

import math
import re

import numpy as np
from sgp4.api import WGS72, Satrec

from ..errors import InputError
from ..physics import sgp4_numpy
from .element_set import (
    _TLE_LINE_LENGTH,
    ElementSet,
    decode_text,
    element_set_from_records,
    read_bytes,
    satrec_arrays,
    sgp4_rejection,
)

# ================================================================================================
# Two-line element sets
# ================================================================================================

def tle_checksum(line: str) -> int:
    """Modulo-10 checksum of a TLE line: digits count their value, '-' counts 1, over 68 columns.

    Only ASCII digits count (``_check_tle_line`` refuses any other character before this runs;
    ``str.isdigit`` would also take e.g. full-width digits)."""
    total = 0
    for ch in line[:68]:
        if "0" <= ch <= "9":
            total += ord(ch) - 48
        elif ch == "-":
            total += 1
    return total % 10


# Every column of both lines (CelesTrak, "FAQs: Two-Line Element Set Format"), checked before
# python-sgp4 reads them: its C++ reader stops at the first bad character without saying so, and
# garbage elements would propagate silently.  Patterns are ASCII-only (re.ASCII: a full-width or
# other non-ASCII digit is not a digit here) and apply to the field with its blanks stripped.
# A "blank" field must be a space.  Columns are 1-based and inclusive, as the format is written.
_A = re.ASCII
_CATNUM_RE = re.compile(r"^(\d{1,5}|[A-HJ-NP-Z]\d{4})$", _A)
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$", _A)
_EXP_RE = re.compile(r"^[+-]?\.?\d{1,5}[+-]\d$", _A)      # TLE "assumed decimal point" notation
DIGITS_RE = re.compile(r"^\d+$", _A)
_OPTIONAL_DIGITS_RE = re.compile(r"^\d*$", _A)            # right-justified counters, may be blank
_CLASSIFICATION_RE = re.compile(r"^[UCS]?$", _A)
_DESIGNATOR_RE = re.compile(r"^(\d{5}[A-Z ]{0,3})?$", _A)  # launch year, number, piece
_BLANK = None
_LINE1_COLUMNS = (
    (3, 7, "catalog number", _CATNUM_RE),
    (8, 8, "classification", _CLASSIFICATION_RE),
    (9, 9, "separator", _BLANK),
    (10, 17, "international designator", _DESIGNATOR_RE),
    (18, 18, "separator", _BLANK),
    (19, 20, "epoch year", DIGITS_RE),
    (21, 32, "epoch day", _FLOAT_RE),
    (33, 33, "separator", _BLANK),
    (34, 43, "first derivative of the mean motion", _FLOAT_RE),
    (44, 44, "separator", _BLANK),
    (45, 52, "second derivative of the mean motion", _EXP_RE),
    (53, 53, "separator", _BLANK),
    (54, 61, "B*", _EXP_RE),
    (62, 62, "separator", _BLANK),
    (63, 63, "ephemeris type", _OPTIONAL_DIGITS_RE),
    (64, 64, "separator", _BLANK),
    (65, 68, "element set number", _OPTIONAL_DIGITS_RE),
)
_LINE2_COLUMNS = (
    (3, 7, "catalog number", _CATNUM_RE),
    (8, 8, "separator", _BLANK),
    (9, 16, "inclination", _FLOAT_RE),
    (17, 17, "separator", _BLANK),
    (18, 25, "right ascension of the node", _FLOAT_RE),
    (26, 26, "separator", _BLANK),
    (27, 33, "eccentricity", DIGITS_RE),
    (34, 34, "separator", _BLANK),
    (35, 42, "argument of perigee", _FLOAT_RE),
    (43, 43, "separator", _BLANK),
    (44, 51, "mean anomaly", _FLOAT_RE),
    (52, 52, "separator", _BLANK),
    (53, 63, "mean motion", _FLOAT_RE),
    (64, 68, "revolution number", _OPTIONAL_DIGITS_RE),
)
# Ranges of the numbers the format allows (day of year; degrees).
_LINE1_RANGES = (("epoch day", 21, 32, lambda x: 1.0 <= x < 367.0, "in [1, 367)"),)
_LINE2_RANGES = (
    ("inclination", 9, 16, lambda x: 0.0 <= x <= 180.0, "in [0, 180] deg"),
    ("right ascension of the node", 18, 25, lambda x: 0.0 <= x <= 360.0, "in [0, 360] deg"),
    ("argument of perigee", 35, 42, lambda x: 0.0 <= x <= 360.0, "in [0, 360] deg"),
    ("mean anomaly", 44, 51, lambda x: 0.0 <= x <= 360.0, "in [0, 360] deg"),
)


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[:width] + "..."


def _not_ascii(text: str) -> tuple[int, str] | None:
    """(1-based column, character) of the first character of ``text`` that is not printable
    ASCII, else None."""
    for col, ch in enumerate(text, start=1):
        if not " " <= ch <= "~":
            return col, ch
    return None


def _field_at(number: str, col: int) -> str:
    """The field of line ``number`` ("1"/"2") that holds 1-based column ``col``, with its
    columns, e.g. "B* (columns 54-61)"."""
    columns = ((1, 1, "line number"), (2, 2, "separator"),
               *((first, last, label) for first, last, label, _ in
                 (_LINE1_COLUMNS if number == "1" else _LINE2_COLUMNS)),
               (69, 69, "checksum"))
    for first, last, label in columns:
        if first <= col <= last:
            return f"{label} (column {first})" if first == last else f"{label} (columns {first}-{last})"
    return f"column {col}"


def _check_tle_line(line: str, number: str, lineno: int, source: str) -> None:
    if len(line) != _TLE_LINE_LENGTH:
        raise InputError(f"{source}: line {lineno} has {len(line)} characters, "
                         f"expected {_TLE_LINE_LENGTH}")
    bad = _not_ascii(line)
    if bad is not None:
        col, ch = bad
        raise InputError(f"{source}: line {lineno}: {_field_at(number, col)}: column {col} holds "
                         f"{ch!r} (U+{ord(ch):04X}), not a printable ASCII character; element "
                         f"sets are ASCII text")
    if line[0] != number or line[1] != " ":
        raise InputError(f"{source}: line {lineno}: starts with {line[:2]!r}, "
                         f"expected line {number} of an element set ('{number} ...')")
    stated = line[68]
    if not "0" <= stated <= "9":
        raise InputError(f"{source}: line {lineno}: checksum {stated!r} is not a digit")
    expected = tle_checksum(line)
    if int(stated) != expected:
        raise InputError(f"{source}: line {lineno}: checksum is {stated}, expected {expected}")
    for first, last, label, pattern in (_LINE1_COLUMNS if number == "1" else _LINE2_COLUMNS):
        raw = line[first - 1:last]
        where = f"column {first}" if first == last else f"columns {first}-{last}"
        if pattern is _BLANK:
            if raw != " ":
                raise InputError(f"{source}: line {lineno}: {where} holds {raw!r}, expected a "
                                 f"blank (a separator between fields)")
        elif not pattern.match(raw.strip()):
            what = ("is not a catalog number" if label == "catalog number" else
                    "is not a number" if pattern in (_FLOAT_RE, _EXP_RE, DIGITS_RE) else
                    "is not allowed there")
            raise InputError(f"{source}: line {lineno}: {label} ({where}) {raw!r} {what}")
    for label, first, last, ok, expect in (_LINE1_RANGES if number == "1" else _LINE2_RANGES):
        if not ok(float(line[first - 1:last])):
            raise InputError(f"{source}: line {lineno}: {label} (columns {first}-{last}) "
                             f"{line[first - 1:last].strip()} is not {expect}")


def parse_tle(text: str, source: str, *, skip_unstartable: bool = False) -> ElementSet:
    """Parse two-line (or three-line, with a name line) element sets: one or many objects.

    ``source`` names the text in messages, e.g. ``"iss.tle"`` or ``"x.toml: [parent] tle"``.
    Each data line must have exactly 69 characters once surrounding whitespace is stripped,
    begin with '1 ' / '2 ', carry a valid modulo-10 checksum and the same catalog number on
    both lines.  Name lines may carry the 3LE prefix "0 ".  Line numbers in messages count the
    lines of ``text`` from 1.  Returns an ``ElementSet`` with ``tle_lines`` set.

    ``skip_unstartable`` drops the objects SGP4 cannot start from (a catalog holds a few, e.g.
    JWST's highly eccentric transfer orbit); every other fault still stops the reading.  Use
    ``read_catalog`` to learn which were dropped.

    The whole text is checked at once (NumPy over the fixed columns, see ``_tle_fast``); where
    anything is wrong the object-by-object reader (``_parse_tle_objects``) runs instead, so the
    message is the one it gives for the first faulty object.
    """
    return _read_tle_rows(_tle_rows(text), source, skip_unstartable)[0]


def _read_tle_rows(rows: list, source: str, skip_unstartable: bool):
    """(ElementSet, dropped) of ``rows`` [(line number, stripped line)]: the whole-text reader
    where it can, else the object-by-object one (which then gives the message)."""
    fast = _tle_fast(rows, skip_unstartable)
    if fast is None:
        return _parse_tle_objects(rows, source, skip_unstartable)
    satnum, names, values, keep, lines, dropped = fast
    if not keep.all():
        idx = np.flatnonzero(keep)
        satnum, names, lines = satnum[idx], [names[i] for i in idx], [lines[i] for i in idx]
        values = {f: v[idx] for f, v in values.items()}
    if len(satnum) == 0:
        raise InputError(f"{source}: no two-line element sets found")
    return ElementSet(satnum=satnum, name=tuple(names), source=source, tle_lines=tuple(lines),
                      **values), dropped


def _parse_tle_objects(rows: list, source: str, skip_unstartable: bool):
    """The object-by-object TLE reader over ``rows`` [(line number, stripped line)]: raises the
    InputError of the first faulty object.  Returns (ElementSet, the unstartable objects dropped
    as [(line number of line 2, catalog number, name, why)])."""
    records: list[dict] = []
    names: list[str] = []
    lines: list[tuple[str, str]] = []
    satnums: list[int] = []
    dropped: list[tuple] = []
    i = 0
    while i < len(rows):
        lineno, line = rows[i]
        name = None
        if not line.startswith("1 "):
            # A name line: 3LE files prefix it with "0 ".
            name = line[2:].strip() if line.startswith("0 ") else line
            i += 1
            if i >= len(rows):
                raise InputError(f"{source}: line {lineno}: {_short(line)!r} is not followed "
                                 f"by a two-line element set")
            lineno, line = rows[i]
            if not line.startswith("1"):
                raise InputError(f"{source}: line {lineno}: expected line 1 of an element set "
                                 f"('1 ...'), found {_short(line)!r}")
            control = next((ch for ch in name if ch < " " or ch == "\x7f"), None)
            if control is not None:
                raise InputError(f"{source}: line {lineno - 1}: the name {_short(name)!r} holds "
                                 f"the control character {control!r}")
        l1no, l1 = lineno, line
        _check_tle_line(l1, "1", l1no, source)
        i += 1
        if i >= len(rows):
            raise InputError(f"{source}: line {l1no}: line 1 is not followed by line 2")
        l2no, l2 = rows[i]
        _check_tle_line(l2, "2", l2no, source)
        if l1[2:7] != l2[2:7]:
            raise InputError(f"{source}: line {l2no}: catalog number {l2[2:7].strip()!r} differs "
                             f"from {l1[2:7].strip()!r} on line {l1no}")
        i += 1
        sat = Satrec.twoline2rv(l1, l2, WGS72)
        name = name if name else l1[2:7].strip()
        if sat.error != 0 or not sat.no_kozai > 0.0:
            why = sgp4_rejection(sat.error, sat.ecco, sat.no_kozai, sat.inclo)
            if skip_unstartable and sat.no_kozai > 0.0:
                dropped.append((l2no, int(sat.satnum), name, why))
                continue
            raise InputError(f"{source}: line {l2no}: SGP4 cannot start from this element set: "
                             f"{why}")
        records.append(satrec_arrays(sat))
        satnums.append(int(sat.satnum))
        names.append(name)
        lines.append((l1, l2))
    if not records:
        raise InputError(f"{source}: no two-line element sets found")
    return element_set_from_records(records, satnums, names, source, tuple(lines)), dropped


def _tle_rows(text: str) -> list:
    """[(1-based line number, line stripped)] of the non-blank lines of ``text``."""
    return [(k, line) for k, raw in enumerate(text.splitlines(), start=1) if (line := raw.strip())]


# --- the whole-text TLE reader ---------------------------------------------------------------------
# The same checks as _check_tle_line, on a (n, 69) array of bytes per line number: each field's
# pattern runs once over the column (one regular expression over n fields joined by newlines),
# the separators, checksums and ranges are array operations.  Values are read from the columns
# and converted exactly as python-sgp4's twoline2rv does (SGP4.cpp: the same divisions and
# products in float64, strtod-rounded fields), which the tests check bit for bit on whole
# catalogs; rows whose layout is not the usual fixed one (e.g. a mean motion with fewer than 8
# decimals) and deep-space rows are read by twoline2rv itself.

def _column_pattern(pattern: re.Pattern) -> re.Pattern:
    """A bytes pattern for n fields joined by newlines, each matching ``pattern`` once its
    blanks are stripped (the fields hold printable ASCII only when this runs).  Each line is an
    atomic group: it can only end at its own newline, so no match is lost, and the regular
    expression engine keeps no backtracking state across lines."""
    body = pattern.pattern.removeprefix("^").removesuffix("$")
    body = re.sub(r"\((?!\?)", "(?:", body)
    return re.compile((r"(?> *(?:" + body + r") *\n)*").encode("ascii"))


_LINE_COLUMN_PATTERNS = {number: tuple((first, last, None if p is _BLANK else _column_pattern(p))
                                       for first, last, _, p in columns)
                         for number, columns in (("1", _LINE1_COLUMNS), ("2", _LINE2_COLUMNS))}


def _layout_classes(layout: str) -> np.ndarray:
    """(69, 256) bool: the bytes each column of the usual fixed layout may hold.  ``layout``
    has one code per column: 'd' digit, 's' digit or blank, 'n' digit, blank or an Alpha-5 letter,
    '+' sign or blank, '-' sign, '.' and ' ' themselves, '*' anything (checked elsewhere)."""
    table = np.zeros((len(layout), 256), dtype=bool)
    digits = [ord(c) for c in "0123456789"]
    for col, code in enumerate(layout):
        allowed = {"d": digits, "s": digits + [32], "n": digits + [32] + [ord(c) for c in
                                                                       "ABCDEFGHJKLMNPQRSTUVWXYZ"],
                   "+": [32, ord("+"), ord("-")], "-": [ord("+"), ord("-")], ".": [46],
                   " ": [32], "*": list(range(256))}[code]
        table[col, allowed] = True
    return table


# The usual layout, field by field (CelesTrak's FAQ; widths as in _LINE1_COLUMNS/_LINE2_COLUMNS).
_LAYOUT_1 = _layout_classes("**" + "nssss" + "*" + " " + "*" * 8 + " " + "dd" + "ddd.dddddddd" + " "
                            + "*" * 10 + " " + "+ddddd-d" + " " + "+ddddd-d" + " " + "*" * 6 + "d")
_LAYOUT_2 = _layout_classes("**" + "nssss" + " " + "ssd.dddd" + " " + "ssd.dddd" + " " + "ddddddd"
                            + " " + "ssd.dddd" + " " + "ssd.dddd" + " " + "sd.dddddddd" + "*" * 5 + "d")
_ALPHA5 = np.zeros(256, dtype=np.int64)     # Alpha-5 first character -> value / 10,000
for _k, _c in enumerate("ABCDEFGHJKLMNPQRSTUVWXYZ"):
    _ALPHA5[ord(_c)] = 10 + _k
# C's pow(10.0, e) (correctly rounded for these), as twoline2rv scales B*: NumPy's own power
# may differ in the last bit.
_POW10 = np.array([math.pow(10.0, e) for e in range(-9, 10)])
_XPDOTP = 1440.0 / (2.0 * math.pi)          # SGP4.cpp twoline2rv: rev/day -> rad/min
_DEG2RAD = math.pi / 180.0                  # SGP4.cpp twoline2rv


def _column_floats(block: np.ndarray, first: int, last: int) -> np.ndarray:
    """float64 (n,) of 1-based columns first..last of a (n, 69) uint8 block (strtod rounding)."""
    width = last - first + 1
    return np.ascontiguousarray(block[:, first - 1:last]).view(f"S{width}")[:, 0].astype(np.float64)


def _column_digits(block: np.ndarray, first: int, last: int) -> np.ndarray:
    """int64 (n,): 1-based columns first..last read as a decimal integer (blanks count 0)."""
    value = np.zeros(block.shape[0], dtype=np.int64)
    for col in range(first - 1, last):
        value = value * 10 + np.maximum(block[:, col].astype(np.int64) - 48, 0)
    return value


def _tle_layout(texts: list):
    """(name lines ("" where none), lines 1, lines 2, index of each line 2 in ``texts``) where
    ``texts`` is a sequence of [name] line 1, line 2 (line 1 starting "1 "), else None."""
    n_rows = len(texts)
    if n_rows == 0:
        return None
    if n_rows % 3 == 0 and all(t.startswith("1 ") for t in texts[1::3]) \
            and not any(t.startswith("1 ") for t in texts[0::3]):
        return texts[0::3], texts[1::3], texts[2::3], range(2, n_rows, 3)   # 3LE
    if n_rows % 2 == 0 and all(t.startswith("1 ") for t in texts[0::2]):
        return [""] * (n_rows // 2), texts[0::2], texts[1::2], range(1, n_rows, 2)
    names, line1_at = [], []
    i = 0
    while i < n_rows:                       # a mixture
        if texts[i].startswith("1 "):
            names.append("")
            line1_at.append(i)
            i += 2
        elif i + 1 < n_rows and texts[i + 1].startswith("1 "):
            names.append(texts[i])
            line1_at.append(i + 1)
            i += 3
        else:
            return None
    if not line1_at or i != n_rows:
        return None                          # empty, or line 1 without line 2
    return (names, [texts[k] for k in line1_at], [texts[k + 1] for k in line1_at],
            [k + 1 for k in line1_at])


def _tle_fast(rows: list, skip_unstartable: bool):
    """Read ``rows`` at once where every line is a well-formed element set line: returns
    (satnum int64 (n,), names list, {field: float64 (n,)}, keep bool (n,), [(l1, l2)], dropped)
    with keep False for the objects SGP4 cannot start from (only when ``skip_unstartable``;
    ``dropped`` lists them as read_catalog does), or None where any check fails (or an object
    cannot be started and not ``skip_unstartable``)."""
    texts = [line for _, line in rows]
    layout = _tle_layout(texts)
    if layout is None:
        return None
    names, l1, l2, line2_at = layout
    joined1, joined2 = "".join(l1), "".join(l2)
    n = len(l1)
    if (len(joined1) != n * _TLE_LINE_LENGTH or len(joined2) != n * _TLE_LINE_LENGTH
            or not joined1.isascii() or not joined2.isascii()
            or any(len(t) != _TLE_LINE_LENGTH for t in l1)
            or any(len(t) != _TLE_LINE_LENGTH for t in l2)):
        return None
    b1 = np.frombuffer(joined1.encode("ascii"), dtype=np.uint8).reshape(n, _TLE_LINE_LENGTH)
    b2 = np.frombuffer(joined2.encode("ascii"), dtype=np.uint8).reshape(n, _TLE_LINE_LENGTH)
    if _CONTROL_RE.search("".join(names)):
        return None
    for block, number in ((b1, "1"), (b2, "2")):
        if not _lines_pass(block, number):
            return None
    if not np.array_equal(b1[:, 2:7], b2[:, 2:7]):
        return None
    day = _column_floats(b1, 21, 32)
    incl, node = _column_floats(b2, 9, 16), _column_floats(b2, 18, 25)
    argp, anomaly = _column_floats(b2, 35, 42), _column_floats(b2, 44, 51)
    if not ((day >= 1.0) & (day < 367.0)).all() or not ((incl >= 0.0) & (incl <= 180.0)).all():
        return None
    for angle in (node, argp, anomaly):
        if not ((angle >= 0.0) & (angle <= 360.0)).all():
            return None

    # Values, as twoline2rv computes them (SGP4.cpp; wrapper.cpp for the catalog number and the
    # epoch fraction rounded to the TLE's 8 decimals).
    year2 = _column_digits(b1, 19, 20)
    year = np.where(year2 < 57, 2000 + year2, 1900 + year2).astype(np.float64)
    jan1 = (367.0 * year - np.floor(7.0 * year * 0.25) + np.floor(275.0 / 9.0) + 1.0
            + 1721013.5)                    # jday_SGP4(year, 1, 1, 0, 0, 0)
    mantissa = np.ascontiguousarray(np.concatenate(
        [b1[:, 53:54], np.full((n, 1), ord("."), np.uint8), b1[:, 54:59]], axis=1))
    mantissa[mantissa == 32] = ord("+")
    usual = _LAYOUT_1[np.arange(_TLE_LINE_LENGTH), b1].all(axis=1) & \
        _LAYOUT_2[np.arange(_TLE_LINE_LENGTH), b2].all(axis=1)
    mantissa[~usual] = np.frombuffer(b"+.00000", dtype=np.uint8)   # twoline2rv reads these
    exponent = _column_digits(b1, 61, 61) * np.where(b1[:, 59] == ord("-"), -1, 1)
    ecc = np.ascontiguousarray(np.concatenate(
        [np.full((n, 1), ord("."), np.uint8), b2[:, 26:33]], axis=1))
    values = {
        "epoch_jd": jan1 + np.floor(day) - 1.0,
        "epoch_fr": _column_digits(b1, 25, 32).astype(np.float64) / 1e8,
        "no_kozai": _column_floats(b2, 53, 63) / _XPDOTP,
        "ecco": ecc.view("S8")[:, 0].astype(np.float64),
        "inclo": incl * _DEG2RAD,
        "nodeo": node * _DEG2RAD,
        "argpo": argp * _DEG2RAD,
        "mo": anomaly * _DEG2RAD,
        "bstar": mantissa.view("S7")[:, 0].astype(np.float64) * _POW10[exponent + 9],
    }
    first = b1[:, 2]
    satnum = np.where(first <= ord("9"), _column_digits(b1, 3, 7),
                      _ALPHA5[first] * 10000 + _column_digits(b1, 4, 7))

    # SGP4's start, near-earth objects in NumPy (the error codes python-sgp4's sgp4init would
    # set, at the epoch); the rest, and every object off the usual layout, through twoline2rv.
    usual &= values["no_kozai"] > 0.0
    with np.errstate(all="ignore"):         # a mean motion of 0 is not `usual`
        near = usual & ~sgp4_numpy.is_deep_space(values["no_kozai"], values["ecco"], values["inclo"])
    keep = np.ones(n, dtype=bool)
    dropped = []
    idx = np.flatnonzero(near)
    if idx.size:
        coef = sgp4_numpy.sgp4_init(*(values[f][idx] for f in
                                   ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar")))
        error = sgp4_numpy.propagate(coef, np.zeros(1))[2][:, 0]
        near[idx[error != 0]] = False       # python-sgp4 has the last word on these
    for k in np.flatnonzero(~near):
        sat = Satrec.twoline2rv(l1[k], l2[k], WGS72)
        if sat.error != 0 or not sat.no_kozai > 0.0:
            if not skip_unstartable or not sat.no_kozai > 0.0:
                return None
            keep[k] = False
            dropped.append((k, sgp4_rejection(sat.error, sat.ecco, sat.no_kozai, sat.inclo)))
            continue
        for f, v in satrec_arrays(sat).items():
            values[f][k] = v
        satnum[k] = sat.satnum
    names = [nm if not nm else (nm[2:].strip() if nm.startswith("0 ") else nm) for nm in names]
    names = [nm if nm else l1[k][2:7].strip() for k, nm in enumerate(names)]
    dropped = [(rows[line2_at[k]][0], int(satnum[k]), names[k], why) for k, why in dropped]
    return satnum, names, values, keep, list(zip(l1, l2)), dropped


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_DIGIT_BYTES = np.zeros(256, dtype=np.int64)
_DIGIT_BYTES[48:58] = np.arange(10)
_DIGIT_BYTES[ord("-")] = 1                   # the checksum counts '-' as 1


def _lines_pass(block: np.ndarray, number: str) -> bool:
    """Whether every row of ``block`` (n, 69) uint8 passes _check_tle_line's format checks
    (printable ASCII, '1 '/'2 ' start, checksum, each field's pattern and blank separators)."""
    if block.min() < 32 or block.max() > 126:
        return False
    if not ((block[:, 0] == ord(number)) & (block[:, 1] == 32)).all():
        return False
    stated = block[:, 68].astype(np.int64) - 48
    if not ((stated >= 0) & (stated <= 9)).all():
        return False
    if not (_DIGIT_BYTES[block[:, :68]].sum(axis=1) % 10 == stated).all():
        return False
    newline = np.full((block.shape[0], 1), 10, dtype=np.uint8)
    for first, last, pattern in _LINE_COLUMN_PATTERNS[number]:
        if pattern is None:
            if not (block[:, first - 1] == 32).all():
                return False
        else:
            column = np.concatenate([block[:, first - 1:last], newline], axis=1)
            if pattern.fullmatch(column.tobytes()) is None:
                return False
    return True


def read_tle_file(path) -> ElementSet:
    """Read a TLE/3LE file (path or Traversable); ``source`` is the path as given."""
    data, source = read_bytes(path)
    return parse_tle(decode_text(data, source), source)


def parse_tle_catalog(text: str, source: str):
    """A whole TLE/3LE catalog's text: (the ElementSet of the objects SGP4 can start, the others
    [(line number, catalog number, name, why)]), which are left out (engine.orbits.elements.read_catalog)."""
    return _read_tle_rows(_tle_rows(text), source, skip_unstartable=True)
