"""SGP4 mean element sets: a struct of arrays for n objects, and the TLE / CCSDS OMM loaders.

An ``ElementSet`` holds the SGP4 mean elements in python-sgp4's own units and names (``Satrec``
attributes), so that ``to_satrecs()`` rebuilds the same satellites with ``sgp4init`` at full
float64 precision, never through TLE text.  Epochs are split Julian dates (see engine.timeutil).

Sources: the two-line element format (CelesTrak, "FAQs: Two-Line Element Set Format");
CCSDS 502.0-B-3 Orbit Data Messages (OMM keywords as written by Space-Track and CelesTrak);
python-sgp4 2.x (Satrec.twoline2rv, Satrec.sgp4init, sgp4.omm, propagation._initl for the
un-Kozai'd mean motion, WGS-72 constants).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from sgp4.api import SGP4_ERRORS, WGS72, Satrec

from ..errors import InputError
from ..filekind import kind_of_bytes, kind_of_file
from ..physics import sgp4_numpy as fr_sgp4
from ..timeutil import parse_utc

# WGS-72, the constants SGP4 element sets are fitted with.
EARTH_RADIUS_KM = fr_sgp4.RADIUS_EARTH_KM         # 6378.135 km (WGS-72)

# SGP4 switches to its deep-space branch (SDP4) from this period on (python-sgp4 sgp4init).
DEEP_SPACE_PERIOD_MIN = fr_sgp4.DEEP_SPACE_PERIOD_MIN

# sgp4init counts epochs in days from 1949 December 31 0h UT, i.e. from this Julian date.
_SGP4_EPOCH0_JD = 2433281.5

_TLE_LINE_LENGTH = 69

#: Largest NORAD catalog number an OMM may carry (9 digits, the CCSDS/Space-Track field).
MAX_CATALOG_NUMBER = 999_999_999
#: python-sgp4's sgp4init refuses catalog numbers above this one (Alpha-5 "Z9999").
SGP4INIT_MAX_SATNUM = 339_999
#: Largest element set file read (bytes): the whole public catalog as OMM XML is under 100 MB,
#: and `fragrisk sample --format omm` writes at most 240,000 fragments (about 300 MB).
MAX_ELEMENTS_FILE_BYTES = 1 << 30
_ARRAY_FIELDS = ("epoch_jd", "epoch_fr", "no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo",
                 "bstar")
_DEG = math.pi / 180.0


@dataclass(frozen=True, eq=False)
class ElementSet:
    """SGP4 mean elements of n objects, one float64 array of shape (n,) per element.

    Fields (python-sgp4 ``Satrec`` names and units):
    - ``satnum`` int64 (n,): NORAD catalog numbers (Alpha-5 numbers decoded, e.g. A0001 = 100001)
    - ``name`` tuple of n str: object names (the catalog number where a file gives none)
    - ``epoch_jd``, ``epoch_fr`` (n,) days: element epochs, split Julian date (UTC), as
      ``Satrec.jdsatepoch`` / ``Satrec.jdsatepochF``
    - ``no_kozai`` (n,) rad/min: Kozai mean motion as in the TLE
    - ``ecco`` (n,) 1; ``inclo``, ``nodeo``, ``argpo``, ``mo`` (n,) rad
    - ``bstar`` (n,) 1/earth radii: SGP4 drag term
    - ``source`` str: where the elements came from, for messages (a path, or "file: [table] tle")
    - ``tle_lines``: the original (line1, line2) pairs when read from TLE text, else None

    The arrays are read-only copies.  Equality compares every field except ``source``.
    """

    satnum: np.ndarray
    name: tuple
    epoch_jd: np.ndarray
    epoch_fr: np.ndarray
    no_kozai: np.ndarray
    ecco: np.ndarray
    inclo: np.ndarray
    nodeo: np.ndarray
    argpo: np.ndarray
    mo: np.ndarray
    bstar: np.ndarray
    source: str = ""
    tle_lines: tuple | None = None

    def __post_init__(self) -> None:
        satnum = np.array(self.satnum, dtype=np.int64, copy=True).reshape(-1)
        n = satnum.shape[0]
        satnum.flags.writeable = False
        object.__setattr__(self, "satnum", satnum)
        for field_name in _ARRAY_FIELDS:
            arr = np.array(getattr(self, field_name), dtype=np.float64, copy=True)
            if arr.ndim != 1 or arr.shape[0] != n:
                raise ValueError(f"ElementSet.{field_name} has shape {arr.shape}, expected ({n},)")
            arr.flags.writeable = False
            object.__setattr__(self, field_name, arr)
        names = tuple(str(x) for x in self.name)
        if len(names) != n:
            raise ValueError(f"ElementSet.name has {len(names)} entries, expected {n}")
        object.__setattr__(self, "name", names)
        if self.tle_lines is not None:
            lines = tuple((str(a), str(b)) for a, b in self.tle_lines)
            if len(lines) != n:
                raise ValueError(f"ElementSet.tle_lines has {len(lines)} entries, expected {n}")
            object.__setattr__(self, "tle_lines", lines)

    # --- container behaviour -------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.satnum.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ElementSet):
            return NotImplemented
        return (np.array_equal(self.satnum, other.satnum)
                and self.name == other.name
                and self.tle_lines == other.tle_lines
                and all(np.array_equal(getattr(self, f), getattr(other, f), equal_nan=True)
                        for f in _ARRAY_FIELDS))

    __hash__ = None  # arrays are not hashable; equality is by value

    def take(self, indices) -> "ElementSet":
        """The objects at ``indices`` (ints, a slice or a boolean mask of shape (n,)), in order."""
        idx = np.atleast_1d(np.arange(len(self))[indices])
        kwargs = {f: getattr(self, f)[idx] for f in _ARRAY_FIELDS}
        return ElementSet(
            satnum=self.satnum[idx],
            name=tuple(self.name[i] for i in idx),
            source=self.source,
            tle_lines=None if self.tle_lines is None else tuple(self.tle_lines[i] for i in idx),
            **kwargs,
        )

    # --- derived orbit quantities --------------------------------------------------------------
    @property
    def no_unkozai(self) -> np.ndarray:
        """Brouwer (un-Kozai'd) mean motion, rad/min, (n,): SGP4's initialisation (WGS-72)."""
        return fr_sgp4.unkozai_mean_motion(self.no_kozai, self.ecco, self.inclo)

    def sgp4_table(self, xp=np):
        """fragrisk's SGP4 coefficient table (N_COEFFICIENTS, n) of these elements (near-earth
        SGP4; see engine.physics.sgp4_numpy.sgp4_init), full precision, no TLE text in between."""
        return fr_sgp4.sgp4_init(*(xp.asarray(getattr(self, k)) for k in
                                   ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar")), xp=xp)

    @property
    def period_min(self) -> np.ndarray:
        """Orbital period 2π / no_unkozai, minutes, (n,); SGP4 uses SDP4 where it is >= 225."""
        return 2.0 * np.pi / self.no_unkozai

    @property
    def is_deep_space(self) -> np.ndarray:
        """bool (n,): period >= 225 min, i.e. python-sgp4 would use its deep-space branch."""
        return fr_sgp4.is_deep_space(self.no_kozai, self.ecco, self.inclo)

    @property
    def _semi_major_axis_er(self) -> np.ndarray:
        # Satrec.a: mean semi-major axis in earth radii from the un-Kozai'd mean motion.
        return (self.no_unkozai / fr_sgp4.XKE) ** (-2.0 / 3.0)

    @property
    def perigee_km(self) -> np.ndarray:
        """Mean perigee altitude over a 6378.135 km sphere, km, (n,) (``Satrec.altp`` · radius)."""
        return (self._semi_major_axis_er * (1.0 - self.ecco) - 1.0) * EARTH_RADIUS_KM

    @property
    def apogee_km(self) -> np.ndarray:
        """Mean apogee altitude over a 6378.135 km sphere, km, (n,) (``Satrec.alta`` · radius)."""
        return (self._semi_major_axis_er * (1.0 + self.ecco) - 1.0) * EARTH_RADIUS_KM

    # --- python-sgp4 -----------------------------------------------------------------------------
    def to_satrecs(self) -> list:
        """One ``sgp4.api.Satrec`` per object, made with ``sgp4init`` (WGS-72, opsmode 'i').

        The epoch goes in as (jd - 2433281.5) + fr days, and the exact split epoch is put back
        into ``jdsatepoch`` / ``jdsatepochF`` so that ``sat.sgp4(jd, fr)`` measures time from
        the very epoch stored here.  ndot and nddot are 0: SGP4 does not use them.
        """
        sats = []
        for i in range(len(self)):
            sat = Satrec()
            epoch_days = (float(self.epoch_jd[i]) - _SGP4_EPOCH0_JD) + float(self.epoch_fr[i])
            # The catalog number is only a label to sgp4init, which refuses numbers past Alpha-5.
            satnum = int(self.satnum[i])
            satnum = satnum if 0 <= satnum <= SGP4INIT_MAX_SATNUM else 0
            sat.sgp4init(WGS72, "i", satnum, epoch_days, float(self.bstar[i]),
                         0.0, 0.0, float(self.ecco[i]), float(self.argpo[i]),
                         float(self.inclo[i]), float(self.mo[i]), float(self.no_kozai[i]),
                         float(self.nodeo[i]))
            sat.jdsatepoch = float(self.epoch_jd[i])
            sat.jdsatepochF = float(self.epoch_fr[i])
            sats.append(sat)
        return sats


def sgp4_rejection(code: int, ecco: float, no_kozai: float, inclo: float,
                   names: tuple[str, str] = ("eccentricity", "mean motion")) -> str:
    """Why SGP4 refuses mean elements, in words: the meaning of its error ``code``, the
    eccentricity and mean motion (``no_kozai`` rad/min) under ``names``, and the perigee they
    give."""
    meaning = SGP4_ERRORS.get(int(code), "mean motion not > 0" if code == 0 else "unknown error")
    text = (f"{meaning} (SGP4 error {int(code)}): {names[0]} {float(ecco):.7f} and {names[1]} "
            f"{float(no_kozai) * 720.0 / math.pi:.8g} rev/day")
    if no_kozai > 0.0 and 0.0 <= ecco < 1.0:
        with np.errstate(all="ignore"):
            n = fr_sgp4.unkozai_mean_motion(np.array([no_kozai]), np.array([ecco]),
                                            np.array([inclo]))
            a_er = (n / fr_sgp4.XKE) ** (-2.0 / 3.0)
            perigee = float(((a_er * (1.0 - ecco) - 1.0) * EARTH_RADIUS_KM)[0])
        if math.isfinite(perigee):
            where = "below the surface" if perigee < 0 else "above it"
            text += f" put the perigee {abs(perigee):,.0f} km {where}"
    return text


def concat(sets: Sequence[ElementSet]) -> ElementSet:
    """All objects of ``sets`` in order; ``tle_lines`` kept only where every set has them."""
    sets = list(sets)
    if not sets:
        raise ValueError("concat() needs at least one ElementSet")
    sources = list(dict.fromkeys(s.source for s in sets))
    have_tle = all(s.tle_lines is not None for s in sets)
    return ElementSet(
        satnum=np.concatenate([s.satnum for s in sets]),
        name=tuple(n for s in sets for n in s.name),
        source=" + ".join(sources),
        tle_lines=tuple(p for s in sets for p in s.tle_lines) if have_tle else None,
        **{f: np.concatenate([getattr(s, f) for s in sets]) for f in _ARRAY_FIELDS},
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
_DIGITS_RE = re.compile(r"^\d+$", _A)
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
    (19, 20, "epoch year", _DIGITS_RE),
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
    (27, 33, "eccentricity", _DIGITS_RE),
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


def _check_tle_line(line: str, number: str, lineno: int, source: str) -> None:
    if len(line) != _TLE_LINE_LENGTH:
        raise InputError(f"{source}: line {lineno} has {len(line)} characters, "
                         f"expected {_TLE_LINE_LENGTH}")
    bad = _not_ascii(line)
    if bad is not None:
        col, ch = bad
        raise InputError(f"{source}: line {lineno}: column {col} holds {ch!r} (U+{ord(ch):04X}), "
                         f"not a printable ASCII character; element sets are ASCII text")
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
                    "is not a number" if pattern in (_FLOAT_RE, _EXP_RE, _DIGITS_RE) else
                    "is not allowed there")
            raise InputError(f"{source}: line {lineno}: {label} ({where}) {raw!r} {what}")
    for label, first, last, ok, expect in (_LINE1_RANGES if number == "1" else _LINE2_RANGES):
        if not ok(float(line[first - 1:last])):
            raise InputError(f"{source}: line {lineno}: {label} (columns {first}-{last}) "
                             f"{line[first - 1:last].strip()} is not {expect}")


def _satrec_arrays(sat: Satrec) -> dict:
    return {"epoch_jd": sat.jdsatepoch, "epoch_fr": sat.jdsatepochF, "no_kozai": sat.no_kozai,
            "ecco": sat.ecco, "inclo": sat.inclo, "nodeo": sat.nodeo, "argpo": sat.argpo,
            "mo": sat.mo, "bstar": sat.bstar}


def _element_set(records: list, satnums: list, names: list, source: str, tle_lines) -> "ElementSet":
    """An ElementSet from per-object dicts of the _ARRAY_FIELDS (the loaders' common last step)."""
    return ElementSet(satnum=np.array(satnums, dtype=np.int64), name=tuple(names), source=source,
                      tle_lines=tle_lines,
                      **{f: np.array([r[f] for r in records], dtype=np.float64) for f in _ARRAY_FIELDS})


def parse_tle(text: str, source: str) -> ElementSet:
    """Parse two-line (or three-line, with a name line) element sets: one or many objects.

    ``source`` names the text in messages, e.g. ``"iss.tle"`` or ``"x.toml: [parent] tle"``.
    Each data line must have exactly 69 characters once surrounding whitespace is stripped,
    begin with '1 ' / '2 ', carry a valid modulo-10 checksum and the same catalog number on
    both lines.  Name lines may carry the 3LE prefix "0 ".  Line numbers in messages count the
    lines of ``text`` from 1.  Returns an ``ElementSet`` with ``tle_lines`` set.
    """
    rows = [(k, raw.strip()) for k, raw in enumerate(text.splitlines(), start=1) if raw.strip()]
    records: list[dict] = []
    names: list[str] = []
    lines: list[tuple[str, str]] = []
    satnums: list[int] = []
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
        if sat.error != 0 or not sat.no_kozai > 0.0:
            raise InputError(f"{source}: line {l2no}: SGP4 cannot start from this element set: "
                             f"{sgp4_rejection(sat.error, sat.ecco, sat.no_kozai, sat.inclo)}")
        records.append(_satrec_arrays(sat))
        satnums.append(int(sat.satnum))
        names.append(name if name else l1[2:7].strip())
        lines.append((l1, l2))
    if not records:
        raise InputError(f"{source}: no two-line element sets found")
    return _element_set(records, satnums, names, source, tuple(lines))


def _read_bytes(path) -> tuple[bytes, str]:
    """Bytes of a file (a path or an importlib.resources Traversable) and its name for messages."""
    p = Path(path) if isinstance(path, (str, os.PathLike)) else path
    source = str(p)
    try:
        if not p.is_file():
            if isinstance(p, Path) and p.is_dir():
                raise InputError(f"{source}: is a folder, not a file")
            if isinstance(p, Path) and p.exists():
                raise InputError(f"{source}: not a regular file (a device, pipe or socket)")
            raise InputError(f"{source}: file not found")
        if isinstance(p, Path) and p.stat().st_size > MAX_ELEMENTS_FILE_BYTES:
            raise InputError(f"{source}: {p.stat().st_size:,} bytes, more than the "
                             f"{MAX_ELEMENTS_FILE_BYTES:,} of the largest element set file "
                             f"fragrisk reads")
        return p.read_bytes(), source
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror or exc}") from None


def decode_text(data: bytes, source: str, expected: str = "a TLE or OMM file") -> str:
    """UTF-8 (with or without a byte-order mark) -> str; InputError naming `source` if not, and
    the kind of file it is where fragrisk knows it ("this is a results file (fragrisk run), not
    a TLE or OMM file"); `expected` names the kind the caller reads."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        kind = (kind_of_file(source) if os.path.isfile(source) else None) or kind_of_bytes(data[:65536])
        if kind is not None:
            raise InputError(f"{source}: this is {kind}, not {expected}") from None
        raise InputError(f"{source}: not UTF-8 text (byte {exc.start})") from None


def read_tle_file(path) -> ElementSet:
    """Read a TLE/3LE file (path or Traversable); ``source`` is the path as given."""
    data, source = _read_bytes(path)
    return parse_tle(decode_text(data, source), source)


# ================================================================================================
# CCSDS OMM (XML, CSV, JSON)
# ================================================================================================

_OMM_REQUIRED = ("NORAD_CAT_ID", "EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION",
                 "RA_OF_ASC_NODE", "ARG_OF_PERICENTER", "MEAN_ANOMALY", "BSTAR")


# A number as OMM text (KVN/XML/CSV values, JSON strings): ASCII digits only (float() would
# also take full-width digits, "1_000", "nan" and "inf"), optional exponent.
_OMM_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", re.ASCII)


def _omm_float(fields_: dict, key: str, where: str) -> float:
    """A finite float from an OMM value: a JSON number, or text matching _OMM_NUMBER_RE."""
    value = fields_[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"{where}: {key} = {_show_value(value)} is not a number")
    if isinstance(value, str) and not _OMM_NUMBER_RE.match(value.strip()):
        raise InputError(f"{where}: {key} = {_show_value(value)} is not a number "
                         f"(ASCII digits, optional sign, decimal point and exponent)")
    try:
        out = float(value)
    except (OverflowError, ValueError):
        raise InputError(f"{where}: {key} = {_show_value(value)} is not a finite number") from None
    if not math.isfinite(out):
        raise InputError(f"{where}: {key} = {_show_value(value)} is not a finite number")
    return out


def _show_value(value) -> str:
    """An OMM value for a message: repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _omm_catalog_number(value, where: str) -> int:
    """NORAD_CAT_ID: ASCII digits (or a JSON integer) in [0, MAX_CATALOG_NUMBER]."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        ok = False
    elif isinstance(value, int):
        ok = 0 <= value <= MAX_CATALOG_NUMBER
    else:
        ok = bool(_DIGITS_RE.match(value.strip())) and len(value.strip()) <= 9
    if not ok:
        raise InputError(f"{where}: NORAD_CAT_ID = {_show_value(value)} is not a catalog number "
                         f"(an integer from 0 to {MAX_CATALOG_NUMBER:,})")
    return int(value)


def _omm_record(fields_: dict, k: int, source: str) -> tuple[dict, int, str]:
    where = f"{source}: OMM record {k}"
    present = {key: v for key, v in fields_.items()
               if v is not None and not (isinstance(v, str) and not v.strip())}
    for key in _OMM_REQUIRED:
        if key not in present:
            raise InputError(f"{where}: missing field {key}")
    theory = str(present.get("MEAN_ELEMENT_THEORY", "SGP4")).strip().upper()
    if theory != "SGP4":
        raise InputError(f"{where}: MEAN_ELEMENT_THEORY = {theory!r}, expected 'SGP4'")
    satnum = _omm_catalog_number(present["NORAD_CAT_ID"], where)
    jd, fr = parse_utc(present["EPOCH"], where=f"{where}: EPOCH")
    mean_motion = _omm_float(present, "MEAN_MOTION", where)
    ecc = _omm_float(present, "ECCENTRICITY", where)
    incl = _omm_float(present, "INCLINATION", where)
    if not mean_motion > 0.0:
        raise InputError(f"{where}: MEAN_MOTION = {mean_motion!r}, expected > 0 rev/day")
    if not 0.0 <= ecc < 1.0:
        raise InputError(f"{where}: ECCENTRICITY = {ecc!r}, expected in [0, 1)")
    if not 0.0 <= incl <= 180.0:
        raise InputError(f"{where}: INCLINATION = {incl!r}, expected in [0, 180] deg")
    record = {
        "epoch_jd": jd,
        "epoch_fr": fr,
        # Same unit conversions, in the same order, as sgp4.omm.initialize.
        "no_kozai": mean_motion / 720.0 * math.pi,
        "ecco": ecc,
        "inclo": incl * _DEG,
        "nodeo": _omm_float(present, "RA_OF_ASC_NODE", where) * _DEG,
        "argpo": _omm_float(present, "ARG_OF_PERICENTER", where) * _DEG,
        "mo": _omm_float(present, "MEAN_ANOMALY", where) * _DEG,
        "bstar": _omm_float(present, "BSTAR", where),
    }
    sat = Satrec()  # SGP4's own initialisation decides whether it can start from these
    sat.sgp4init(WGS72, "i", 0, (jd - _SGP4_EPOCH0_JD) + fr, record["bstar"], 0.0, 0.0, ecc, record["argpo"],
                 record["inclo"], record["mo"], record["no_kozai"], record["nodeo"])
    if sat.error != 0:
        why = sgp4_rejection(sat.error, ecc, record["no_kozai"], record["inclo"],
                             ("ECCENTRICITY", "MEAN_MOTION"))
        raise InputError(f"{where}: SGP4 cannot start from this element set: {why}")
    name = str(present.get("OBJECT_NAME", "")).strip() or str(satnum)
    return record, satnum, name


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _omm_xml_records(data: bytes, source: str) -> list[dict]:
    # Like sgp4.omm.parse_xml, but blind to XML namespaces and to missing blocks (a segment
    # without <tleParameters> must give "missing field BSTAR", not an AttributeError).
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InputError(f"{source}: not valid XML: {exc}") from None
    records = []
    for segment in root.iter():
        if _local(segment.tag) != "segment":
            continue
        fields_ = {}
        for element in segment.iter():
            if len(element) == 0 and element is not segment:
                fields_[_local(element.tag)] = (element.text or "").strip()
        records.append(fields_)
    return records


def _omm_csv_records(text: str, source: str) -> list[dict]:
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise InputError(f"{source}: not valid CSV: {exc}") from None
    return [{(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
            for row in rows]


def _omm_json_records(text: str, source: str) -> list[dict]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError(f"{source}: not valid OMM JSON: nested too deeply") from None
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise InputError(f"{source}: expected a JSON list of OMM records (objects)")
    return doc


def _omm_element_set(records: Iterable[dict], source: str) -> ElementSet:
    arrays, satnums, names = [], [], []
    for k, fields_ in enumerate(records, start=1):
        record, satnum, name = _omm_record(fields_, k, source)
        arrays.append(record)
        satnums.append(satnum)
        names.append(name)
    if not arrays:
        raise InputError(f"{source}: no OMM records found")
    return _element_set(arrays, satnums, names, source, None)


def parse_omm(data: bytes, source: str, fmt: str) -> ElementSet:
    """Parse CCSDS OMM records in ``fmt`` "xml", "csv" or "json" (keywords as in the standard:
    NORAD_CAT_ID, EPOCH, MEAN_MOTION rev/day, ECCENTRICITY, INCLINATION, RA_OF_ASC_NODE,
    ARG_OF_PERICENTER, MEAN_ANOMALY deg, BSTAR 1/ER; OBJECT_NAME optional)."""
    if fmt == "xml":
        records = _omm_xml_records(data, source)
    elif fmt == "csv":
        records = _omm_csv_records(decode_text(data, source), source)
    elif fmt == "json":
        records = _omm_json_records(decode_text(data, source), source)
    else:
        raise ValueError(f"unknown OMM format {fmt!r}")
    return _omm_element_set(records, source)


_TLE_SUFFIXES = (".tle", ".txt", ".3le", ".2le")
_OMM_SUFFIXES = {".xml": "xml", ".csv": "csv", ".json": "json"}


def _suffix(path) -> str:
    name = getattr(path, "name", None) or os.fspath(path)
    return os.path.splitext(str(name))[1].lower()


def read_omm_file(path) -> ElementSet:
    """Read a CCSDS OMM file (XML, CSV or JSON, by extension, else by content)."""
    data, source = _read_bytes(path)
    fmt = _OMM_SUFFIXES.get(_suffix(path)) or _sniff(data)
    if fmt == "tle":
        raise InputError(f"{source}: not an OMM file (expected XML, CSV or JSON)")
    return parse_omm(data, source, fmt)


def _sniff(data: bytes) -> str:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096]
    if head.startswith(b"<"):
        return "xml"
    if head.startswith((b"[", b"{")):
        return "json"
    first_line = head.split(b"\n", 1)[0]
    if b"," in first_line and b"MEAN_MOTION" in first_line.upper():
        return "csv"
    return "tle"


def load_elements(path) -> ElementSet:
    """Load element sets from a file: .tle/.txt/.3le -> TLE; .xml/.csv/.json -> OMM; any other
    extension by content.  ``path`` may be a str, a Path or an importlib.resources Traversable."""
    data, source = _read_bytes(path)
    suffix = _suffix(path)
    fmt = "tle" if suffix in _TLE_SUFFIXES else _OMM_SUFFIXES.get(suffix) or _sniff(data)
    if fmt == "tle":
        return parse_tle(decode_text(data, source), source)
    return parse_omm(data, source, fmt)
