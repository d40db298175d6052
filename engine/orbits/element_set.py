"""SGP4 mean element sets: ``ElementSet``, a struct of arrays for n objects, and what every
element-set reader shares (reading a file's bytes, decoding its text, telling its format).

An ``ElementSet`` holds the SGP4 mean elements in python-sgp4's own units and names (``Satrec``
attributes), so that ``to_satrecs()`` rebuilds the same satellites with ``sgp4init`` at full
float64 precision, never through TLE text.  Epochs are split Julian dates (see engine.timeutil).
The readers are engine.orbits.tle and engine.orbits.omm; engine.orbits.elements picks one."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from sgp4.api import SGP4_ERRORS, WGS72, Satrec

from ..errors import InputError
from ..filekind import kind_of_bytes, kind_of_file
from ..physics import sgp4_numpy

# WGS-72, the constants SGP4 element sets are fitted with.
EARTH_RADIUS_KM = sgp4_numpy.RADIUS_EARTH_KM         # 6378.135 km (WGS-72)

# SGP4 switches to its deep-space branch (SDP4) from this period on (python-sgp4 sgp4init).
DEEP_SPACE_PERIOD_MIN = sgp4_numpy.DEEP_SPACE_PERIOD_MIN

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
        names = tuple(map(str, self.name))
        if len(names) != n:
            raise ValueError(f"ElementSet.name has {len(names)} entries, expected {n}")
        object.__setattr__(self, "name", names)
        if self.tle_lines is not None:
            lines = tuple(map(_str_pair, self.tle_lines))
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
        return sgp4_numpy.unkozai_mean_motion(self.no_kozai, self.ecco, self.inclo)

    def sgp4_table(self, xp=np):
        """fragrisk's SGP4 coefficient table (N_COEFFICIENTS, n) of these elements (near-earth
        SGP4; see engine.physics.sgp4_numpy.sgp4_init), full precision, no TLE text in between."""
        return sgp4_numpy.sgp4_init(*(xp.asarray(getattr(self, k)) for k in
                                   ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar")), xp=xp)

    @property
    def period_min(self) -> np.ndarray:
        """Orbital period 2π / no_unkozai, minutes, (n,); SGP4 uses SDP4 where it is >= 225."""
        return 2.0 * np.pi / self.no_unkozai

    @property
    def is_deep_space(self) -> np.ndarray:
        """bool (n,): period >= 225 min, i.e. python-sgp4 would use its deep-space branch."""
        return sgp4_numpy.is_deep_space(self.no_kozai, self.ecco, self.inclo)

    @property
    def _semi_major_axis_er(self) -> np.ndarray:
        # Satrec.a: mean semi-major axis in earth radii from the un-Kozai'd mean motion.
        return (self.no_unkozai / sgp4_numpy.XKE) ** (-2.0 / 3.0)

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


def _str_pair(pair) -> tuple[str, str]:
    a, b = pair
    return str(a), str(b)


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
            n = sgp4_numpy.unkozai_mean_motion(np.array([no_kozai]), np.array([ecco]),
                                            np.array([inclo]))
            a_er = (n / sgp4_numpy.XKE) ** (-2.0 / 3.0)
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


def satrec_arrays(sat: Satrec) -> dict:
    return {"epoch_jd": sat.jdsatepoch, "epoch_fr": sat.jdsatepochF, "no_kozai": sat.no_kozai,
            "ecco": sat.ecco, "inclo": sat.inclo, "nodeo": sat.nodeo, "argpo": sat.argpo,
            "mo": sat.mo, "bstar": sat.bstar}


def element_set_from_records(records: list, satnums: list, names: list, source: str, tle_lines) -> "ElementSet":
    """An ElementSet from per-object dicts of the _ARRAY_FIELDS (the loaders' common last step)."""
    return ElementSet(satnum=np.array(satnums, dtype=np.int64), name=tuple(names), source=source,
                      tle_lines=tle_lines,
                      **{f: np.array([r[f] for r in records], dtype=np.float64) for f in _ARRAY_FIELDS})


# --- files: bytes, text and format ----------------------------------------------------------------

def read_bytes(path) -> tuple[bytes, str]:
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


TLE_SUFFIXES = (".tle", ".txt", ".3le", ".2le")
OMM_SUFFIXES = {".xml": "xml", ".csv": "csv", ".json": "json"}


def file_suffix(path) -> str:
    name = getattr(path, "name", None) or os.fspath(path)
    return os.path.splitext(str(name))[1].lower()


def sniff_format(data: bytes) -> str:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096]
    if head.startswith(b"<"):
        return "xml"
    if head.startswith((b"[", b"{")):
        return "json"
    first_line = head.split(b"\n", 1)[0]
    if b"," in first_line and b"MEAN_MOTION" in first_line.upper():
        return "csv"
    return "tle"


