"""Conjunction Data Messages (CCSDS 508.0-B-1, CDM 1.0) in and out, KVN and XML.

A CDM holds both objects' states at the time of closest approach (TCA) and their covariances in
the RTN frame (radial, transverse, normal), lower triangle, in m**2, m**2/s and m**2/s**2, with
optional rows for the drag (CDRG_*) and solar-radiation-pressure (CSRP_*) coefficients and thrust
(CTHR_*).  Real ones write each value's unit in brackets (``MISS_DISTANCE = 11218 [m]``) and the
hard-body radius only as a comment (``COMMENT HBR = 7 [m]`` or ``COMMENT HBR = 10.0``).

Why a reader of our own: the maintained one on PyPI, ccsds-ndm 3.1.1, was tried first on NASA
CARA's 62 test CDMs (tests/data/cdm).  It rejects the 11 Alfano files outright (``'m' is not a
valid DvUnits``: those files label RELATIVE_VELOCITY_R/T/N in [m]), with a message that names
neither the file nor the key, and it keeps the HBR comment as free text.  This reader is strict
where the numbers are used (every key the Pc needs must be there, with the standard's unit or
none), and lenient, with a warning kept on the message, only for that known mislabel of the
relative-velocity keys, which are redundant with the states and never used.

Every error is an ``InputError`` of one line naming the file, the key and the value: truncated
file, missing mandatory key, wrong unit, covariance of the wrong size, a value that is not a
number, a TCA that is not the time of closest approach of the states given, no HBR.

Units here: states km and km/s (EME2000, as in the file); covariances as in the file
(m**2, m**2/s, m**2/s**2, ...); ``Cdm.covariance_rtn_km`` gives the 6x6 in km**2, km**2/s,
km**2/s**2.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from ..errors import InputError

# --- the standard's keys (CCSDS 508.0-B-1, tables 3-2 to 3-6), in order, with their units ---

#: Header and relative metadata: key -> (unit or None, mandatory).
HEADER_KEYS: dict[str, tuple[str | None, bool]] = {
    "CCSDS_CDM_VERS": (None, True),
    "CREATION_DATE": (None, True),
    "ORIGINATOR": (None, True),
    "MESSAGE_FOR": (None, False),
    "MESSAGE_ID": (None, True),
    "TCA": (None, True),
    "MISS_DISTANCE": ("m", True),
    "RELATIVE_SPEED": ("m/s", False),
    "RELATIVE_POSITION_R": ("m", False),
    "RELATIVE_POSITION_T": ("m", False),
    "RELATIVE_POSITION_N": ("m", False),
    "RELATIVE_VELOCITY_R": ("m/s", False),
    "RELATIVE_VELOCITY_T": ("m/s", False),
    "RELATIVE_VELOCITY_N": ("m/s", False),
    "START_SCREEN_PERIOD": (None, False),
    "STOP_SCREEN_PERIOD": (None, False),
    "SCREEN_VOLUME_FRAME": (None, False),
    "SCREEN_VOLUME_SHAPE": (None, False),
    "SCREEN_VOLUME_X": ("m", False),
    "SCREEN_VOLUME_Y": ("m", False),
    "SCREEN_VOLUME_Z": ("m", False),
    "SCREEN_ENTRY_TIME": (None, False),
    "SCREEN_EXIT_TIME": (None, False),
    "COLLISION_PROBABILITY": (None, False),
    "COLLISION_PROBABILITY_METHOD": (None, False),
}

_P, _V = ("R", "T", "N"), ("RDOT", "TDOT", "NDOT")
#: The 6x6 position-velocity lower triangle: (key, row, column, unit), row by row.
COVARIANCE_6X6: tuple[tuple[str, int, int, str], ...] = tuple(
    (f"C{(_P + _V)[i]}_{(_P + _V)[j]}", i, j,
     "m**2" if i < 3 else ("m**2/s" if j < 3 else "m**2/s**2"))
    for i in range(6) for j in range(i + 1))
#: The optional rows after it (drag, SRP, thrust), each all-or-nothing: (prefix, units by column).
_ROW_UNITS = {
    "DRG": ("m**3/kg",) * 3 + ("m**3/(kg*s)",) * 3 + ("m**4/kg**2",),
    "SRP": ("m**3/kg",) * 3 + ("m**3/(kg*s)",) * 3 + ("m**4/kg**2",) * 2,
    "THR": ("m**2/s**2",) * 3 + ("m**2/s**3",) * 3 + ("m**3/(kg*s**2)",) * 3 + ("m**2/s**4",),
}
_ROW_COLUMNS = _P + _V + ("DRG", "SRP", "THR")
COVARIANCE_EXTRA_ROWS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = tuple(
    (row, tuple((f"C{row}_{col}", unit) for col, unit in zip(_ROW_COLUMNS, units)))
    for row, units in (("DRG", _ROW_UNITS["DRG"]), ("SRP", _ROW_UNITS["SRP"]),
                       ("THR", _ROW_UNITS["THR"])))
# Row prefixes as the standard writes them: CDRG_*, CSRP_*, CTHR_*.

#: Object metadata, OD parameters, additional parameters and state: key -> (unit, mandatory).
OBJECT_KEYS: dict[str, tuple[str | None, bool]] = {
    "OBJECT": (None, True),
    "OBJECT_DESIGNATOR": (None, True),
    "CATALOG_NAME": (None, True),
    "OBJECT_NAME": (None, True),
    "INTERNATIONAL_DESIGNATOR": (None, True),
    "OBJECT_TYPE": (None, False),
    "OPERATOR_CONTACT_POSITION": (None, False),
    "OPERATOR_ORGANIZATION": (None, False),
    "OPERATOR_PHONE": (None, False),
    "OPERATOR_EMAIL": (None, False),
    "EPHEMERIS_NAME": (None, True),
    "COVARIANCE_METHOD": (None, True),
    "MANEUVERABLE": (None, True),
    "ORBIT_CENTER": (None, False),
    "REF_FRAME": (None, True),
    "GRAVITY_MODEL": (None, False),
    "ATMOSPHERIC_MODEL": (None, False),
    "N_BODY_PERTURBATIONS": (None, False),
    "SOLAR_RAD_PRESSURE": (None, False),
    "EARTH_TIDES": (None, False),
    "INTRACK_THRUST": (None, False),
    "TIME_LASTOB_START": (None, False),
    "TIME_LASTOB_END": (None, False),
    "RECOMMENDED_OD_SPAN": ("d", False),
    "ACTUAL_OD_SPAN": ("d", False),
    "OBS_AVAILABLE": (None, False),
    "OBS_USED": (None, False),
    "TRACKS_AVAILABLE": (None, False),
    "TRACKS_USED": (None, False),
    "RESIDUALS_ACCEPTED": ("%", False),
    "WEIGHTED_RMS": (None, False),
    "AREA_PC": ("m**2", False),
    "AREA_DRG": ("m**2", False),
    "AREA_SRP": ("m**2", False),
    "MASS": ("kg", False),
    "CD_AREA_OVER_MASS": ("m**2/kg", False),
    "CR_AREA_OVER_MASS": ("m**2/kg", False),
    "THRUST_ACCELERATION": ("m/s**2", False),
    "SEDR": ("W/kg", False),
    "X": ("km", True), "Y": ("km", True), "Z": ("km", True),
    "X_DOT": ("km/s", True), "Y_DOT": ("km/s", True), "Z_DOT": ("km/s", True),
}
_STATE_KEYS = ("X", "Y", "Z", "X_DOT", "Y_DOT", "Z_DOT")
_UNITS: dict[str, str | None] = {k: u for k, (u, _) in HEADER_KEYS.items()}
_UNITS.update({k: u for k, (u, _) in OBJECT_KEYS.items()})
_UNITS.update({key: unit for key, _, _, unit in COVARIANCE_6X6})
_UNITS.update({key: unit for _, row in COVARIANCE_EXTRA_ROWS for key, unit in row})
#: Every key of one object, in the standard's order (what a truncated file stops partway through).
OBJECT_ORDER: tuple[str, ...] = (tuple(OBJECT_KEYS) + tuple(k for k, *_ in COVARIANCE_6X6)
                                 + tuple(k for _, row in COVARIANCE_EXTRA_ROWS for k, _ in row))
#: Keys whose unit CARA's Alfano files get wrong ([m] for m/s): read with a warning, since the
#: relative state they hold is recomputed from the objects' states and never used.
_TOLERATED_UNITS = {("RELATIVE_VELOCITY_R", "m"), ("RELATIVE_VELOCITY_T", "m"),
                    ("RELATIVE_VELOCITY_N", "m")}
#: The reference frames whose states the Pc methods accept (inertial, the standard's EME2000 and
#: GCRF, which differ by a frame bias of ~20 mas, far below any covariance here).
INERTIAL_FRAMES = ("EME2000", "GCRF", "ICRF")

#: How far the states' own linear-motion closest approach may lie from the TCA, in seconds. The
#: TCA is written to the millisecond, so a consistent CDM has |dTCA| ~ 1 ms at fast encounters
#: (the largest in CARA's operational set is 0.5 ms); a much larger offset means the states are
#: not at the TCA the file names. Slow encounters are judged by the displacement instead.
TCA_TOLERANCE_S = 1.0
#: ... or by the distance the relative motion covers in that offset, against the miss distance:
#: at relative speeds of cm/s the closest approach of the states is defined only loosely.
TCA_TOLERANCE_DISPLACEMENT = 0.5


@dataclasses.dataclass(frozen=True)
class CdmObject:
    """One object of a CDM: ids, frame, state at TCA and covariance (RTN, CDM units)."""

    object: str  # OBJECT1 or OBJECT2
    designator: str
    name: str
    international_designator: str
    ref_frame: str
    state_km: np.ndarray  # (6,) x, y, z [km], vx, vy, vz [km/s], in ref_frame
    covariance_rtn: np.ndarray  # (n, n), n = 6, 7, 8 or 9: RTN pos/vel [m, m/s], then drag, SRP, thrust
    covariance_rows: tuple[str, ...]  # names of the rows: R T N RDOT TDOT NDOT [DRG] [SRP] [THR]
    fields: dict  # every key of the object as read: key -> (value text, unit or None)

    @property
    def covariance_rtn_km(self) -> np.ndarray:
        """(6, 6) position-velocity covariance in RTN, km**2, km**2/s, km**2/s**2."""
        return self.covariance_rtn[:6, :6] * 1e-6


@dataclasses.dataclass(frozen=True)
class Cdm:
    """A CDM as read: where from, TCA, miss distance, HBR, the two objects."""

    source: str  # the file name, as given
    tca: str  # as written in the file
    tca_utc: _dt.datetime
    creation_date: str
    originator: str
    message_id: str
    miss_distance_m: float
    hbr_m: float | None  # from the HBR comment; None where the file has none
    objects: tuple[CdmObject, CdmObject]
    header: dict  # every header/relative-metadata key as read: key -> (value text, unit or None)
    comments: tuple[str, ...]  # every COMMENT line's text
    warnings: tuple[str, ...] = ()


# --- reading --------------------------------------------------------------------------------

_KVN_LINE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$")
_UNIT_TAIL = re.compile(r"^(.*?)\s*\[([^\[\]]*)\]$")
_HBR = re.compile(r"^HBR\s*=?\s*(\S+)\s*(?:\[([^\]]*)\])?\s*$", re.IGNORECASE)


def read_cdm(path: str | Path) -> Cdm:
    """Read a CDM file, KVN or XML (told apart by the first non-blank character, ``<``)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such CDM file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    if not text.strip():
        raise InputError(f"{path}: empty file, expected a CDM")
    items = _xml_items(path, text) if text.lstrip().startswith("<") else _kvn_items(path, text)
    return _build(path, items)


def _kvn_items(path: Path, text: str) -> list[tuple[str, str, str | None, int]]:
    """(key, value, unit, line number) per line; ('COMMENT', text, None, n) for comments."""
    items = []
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("COMMENT"):
            items.append(("COMMENT", stripped[len("COMMENT"):].strip(), None, n))
            continue
        m = _KVN_LINE.match(line)
        if m is None:
            raise InputError(f"{path}: line {n}: {stripped[:60]!r} is not KEY = VALUE")
        key, value = m.group(1).upper(), m.group(2)
        unit = None
        u = _UNIT_TAIL.match(value)
        if u is not None:
            value, unit = u.group(1).strip(), u.group(2).strip()
        items.append((key, value, unit, n))
    return items


def _xml_items(path: Path, text: str) -> list[tuple[str, str, str | None, int]]:
    """The same (key, value, unit, position) list from CDM XML: every leaf element in document
    order, its tag the KVN key and its ``units`` attribute the unit."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InputError(f"{path}: not a well-formed XML CDM ({exc}); truncated?") from None
    if root.tag.split("}")[-1].lower() != "cdm":
        raise InputError(f"{path}: XML root element is <{root.tag}>, expected <cdm>")
    # The XML schema puts the version on the root: <cdm id="CCSDS_CDM_VERS" version="1.0">.
    items = [("CCSDS_CDM_VERS", root.attrib["version"], None, 0)] if "version" in root.attrib else []
    for n, el in enumerate(root.iter()):
        if len(el):
            continue
        tag = el.tag.split("}")[-1]
        value = (el.text or "").strip()
        if tag.upper() == "COMMENT":
            items.append(("COMMENT", value, None, n))
        else:
            items.append((tag.upper(), value, el.attrib.get("units"), n))
    return items


def _build(path: Path, items: list) -> Cdm:
    header: dict = {}
    segments: list[dict] = []
    comments: list[str] = []
    warnings: list[str] = []
    hbr = None
    for key, value, unit, n in items:
        if key == "COMMENT":
            comments.append(value)
            m = _HBR.match(value)
            if m is not None:
                if hbr is not None:
                    raise InputError(f"{path}: COMMENT HBR given twice ({hbr[0]!r}, then {m.group(1)!r})")
                if m.group(2) is not None and m.group(2).strip() != "m":
                    raise InputError(f"{path}: COMMENT HBR: unit [{m.group(2)}], expected [m]")
                hbr = (m.group(1), n)
            continue
        if key == "OBJECT":
            segments.append({})
        target = segments[-1] if segments else header
        where = (value if key == "OBJECT" else segments[-1].get("OBJECT", ("?",))[0]) if segments else "header"
        known = (key in _UNITS and key not in HEADER_KEYS) if segments else key in HEADER_KEYS
        if not known:
            raise InputError(f"{path}: {key} = {value!r}: not a CDM 1.0 key"
                             f"{' of an object' if segments else ' of the header'}")
        if key in target:
            raise InputError(f"{path}: {where}: {key} given twice")
        expected = _UNITS[key]
        if unit is not None and unit != expected:
            if (key, unit) in _TOLERATED_UNITS:
                warnings.append(f"{key} is labelled [{unit}], the standard's unit is [{expected}] "
                                f"(not used: the relative state is recomputed from the states)")
            else:
                raise InputError(f"{path}: {where}: {key} = {value} [{unit}]: wrong unit, "
                                 f"expected {'[' + expected + ']' if expected else 'none'}")
        target[key] = (value, unit)

    for key, (_, mandatory) in HEADER_KEYS.items():
        if mandatory and key not in header:
            raise InputError(f"{path}: missing mandatory key {key}")
    if len(segments) == 0:
        raise InputError(f"{path}: truncated: no OBJECT = OBJECT1 segment")
    if len(segments) == 1:
        raise InputError(f"{path}: truncated: only OBJECT1, no OBJECT = OBJECT2 segment")
    if len(segments) > 2:
        raise InputError(f"{path}: {len(segments)} OBJECT segments, a CDM has two")
    names = tuple(seg["OBJECT"][0] for seg in segments)
    if names != ("OBJECT1", "OBJECT2"):
        raise InputError(f"{path}: OBJECT = {names[0]!r}, then {names[1]!r}: expected OBJECT1, then OBJECT2")
    objects = tuple(_object(path, seg, last=(i == 1)) for i, seg in enumerate(segments))

    tca_text = header["TCA"][0]
    tca = parse_cdm_time(tca_text, where=f"{path}: TCA")
    hbr_m = None
    if hbr is not None:
        hbr_m = _number(path, "COMMENT HBR", hbr[0])
        if not (hbr_m > 0 and math.isfinite(hbr_m)):
            raise InputError(f"{path}: COMMENT HBR = {hbr[0]}: not a radius > 0 m")
    miss_m = _number(path, "MISS_DISTANCE", header["MISS_DISTANCE"][0])
    cdm = Cdm(source=str(path), tca=tca_text, tca_utc=tca,
              creation_date=header["CREATION_DATE"][0], originator=header["ORIGINATOR"][0],
              message_id=header["MESSAGE_ID"][0], miss_distance_m=miss_m, hbr_m=hbr_m,
              objects=objects, header=header, comments=tuple(comments), warnings=tuple(warnings))
    check_tca(cdm)
    return cdm


def _number(path: Path, key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{path}: {key} = {text!r}: not a number") from None


def _object(path: Path, seg: dict, last: bool) -> CdmObject:
    name = seg["OBJECT"][0]
    missing = [k for k, (_, mandatory) in OBJECT_KEYS.items() if mandatory and k not in seg]
    cov_keys = [k for k, *_ in COVARIANCE_6X6]
    cov_present = [k for k in cov_keys if k in seg]
    if last and (missing or len(cov_present) < len(cov_keys)):
        # A file cut short stops partway through the last object, in the standard's order.
        last_key = max(seg, key=OBJECT_ORDER.index)
        after = OBJECT_ORDER[OBJECT_ORDER.index(last_key) + 1:]
        wanted = missing + [k for k in cov_keys if k not in seg]
        if wanted and all(k in after for k in wanted) and cov_present:
            raise InputError(f"{path}: truncated: {name} ends at {last_key} = {seg[last_key][0]} "
                             f"(missing {wanted[0]} and {len(wanted) - 1} more)")
    if missing:
        raise InputError(f"{path}: {name}: missing mandatory key {missing[0]}")
    frame = seg["REF_FRAME"][0]
    if frame.upper() not in INERTIAL_FRAMES:
        raise InputError(f"{path}: {name}: REF_FRAME = {frame}: expected one of "
                         f"{', '.join(INERTIAL_FRAMES)} (an inertial frame)")
    state = np.array([_number(path, f"{name} {k}", seg[k][0]) for k in _STATE_KEYS])
    if not np.all(np.isfinite(state)):
        raise InputError(f"{path}: {name}: the state X..Z_DOT is not finite: {state.tolist()}")
    if not cov_present:
        raise InputError(f"{path}: {name} has no covariance (CR_R .. CNDOT_NDOT): "
                         f"a Pc needs both objects' covariances")
    if len(cov_present) != len(cov_keys):
        absent = [k for k in cov_keys if k not in seg]
        raise InputError(f"{path}: {name}: covariance of the wrong size: {len(cov_present)} of the "
                         f"21 entries of the 6x6 lower triangle (missing {absent[0]})")
    rows = list(_P + _V)
    entries = {k: _number(path, f"{name} {k}", seg[k][0]) for k in cov_keys}
    for row, keys in COVARIANCE_EXTRA_ROWS:
        have = [k for k, _ in keys if k in seg]
        if not have:
            continue
        needed = [k for k, _ in keys][: len(rows) + 1]
        absent = [k for k in needed if k not in seg]
        extra = [k for k in have if k not in needed]
        if absent or extra:
            bad = absent[0] if absent else extra[0]
            raise InputError(f"{path}: {name}: covariance of the wrong size: row C{row}_* has "
                             f"{len(have)} entries, expected {len(needed)} ({bad})")
        rows.append(row)
        entries.update({k: _number(path, f"{name} {k}", seg[k][0]) for k in needed})
    n = len(rows)
    cov = np.zeros((n, n))
    for i, ri in enumerate(rows):
        for j in range(i + 1):
            key = f"C{ri}_{rows[j]}"
            cov[i, j] = cov[j, i] = entries[key]
    if not np.all(np.isfinite(cov[:6, :6])):
        raise InputError(f"{path}: {name}: the 6x6 covariance has a value that is not finite")
    return CdmObject(object=name, designator=seg["OBJECT_DESIGNATOR"][0], name=seg["OBJECT_NAME"][0],
                     international_designator=seg["INTERNATIONAL_DESIGNATOR"][0], ref_frame=frame,
                     state_km=state, covariance_rtn=cov, covariance_rows=tuple(rows),
                     fields=dict(seg))


_CDM_TIME = re.compile(r"^(\d{4})-(?:(\d{2})-(\d{2})|(\d{3}))T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z?$")


def parse_cdm_time(text: str, *, where: str) -> _dt.datetime:
    """A CCSDS time, ``YYYY-MM-DDThh:mm:ss[.d...][Z]`` or ``YYYY-DDDThh:mm:ss[.d...][Z]``
    (day of year), as an aware UTC datetime to the microsecond."""
    m = _CDM_TIME.match(text.strip())
    if m is None:
        raise InputError(f"{where} = {text!r}: not a CCSDS time (YYYY-MM-DDThh:mm:ss.sss)")
    year, month, day, doy, hh, mm, ss, frac = m.groups()
    try:
        if doy is not None:
            date = _dt.date(int(year), 1, 1) + _dt.timedelta(days=int(doy) - 1)
            if date.year != int(year) or int(doy) < 1:
                raise ValueError("day of year out of range")
        else:
            date = _dt.date(int(year), int(month), int(day))
        micro = int(((frac or "") + "000000")[:6])
        return _dt.datetime(date.year, date.month, date.day, int(hh), int(mm), int(ss), micro,
                            tzinfo=_dt.timezone.utc)
    except ValueError as exc:
        raise InputError(f"{where} = {text!r}: not a valid time ({exc})") from None


def check_tca(cdm: Cdm) -> None:
    """InputError where the TCA is not the time of closest approach of the states the CDM gives
    (the states are at the TCA by the standard's definition): their linear-motion closest
    approach lies more than TCA_TOLERANCE_S away, and that offset moves them by more than
    TCA_TOLERANCE_DISPLACEMENT of the miss distance."""
    x1, x2 = cdm.objects[0].state_km, cdm.objects[1].state_km
    r, v = x2[:3] - x1[:3], x2[3:] - x1[3:]
    vv = float(v @ v)
    if vv == 0.0:
        return
    dt = -float(r @ v) / vv
    shift_km = abs(dt) * math.sqrt(vv)
    miss_km = float(np.linalg.norm(r))
    if abs(dt) > TCA_TOLERANCE_S and shift_km > TCA_TOLERANCE_DISPLACEMENT * max(miss_km, 1e-3):
        raise InputError(f"{cdm.source}: TCA = {cdm.tca}: the states' closest approach is "
                         f"{dt:+.3f} s from it ({shift_km * 1e3:.1f} m of relative motion): "
                         f"the states are not at the TCA")


# --- writing --------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    """A float's shortest round-trip text: what is written reads back bit for bit."""
    return repr(float(x))


def cdm_items(cdm: Cdm) -> list[tuple[str, str, str | None]]:
    """(key, value, unit) in the standard's order, 'COMMENT' for comments: what `write_cdm`
    writes. The header keys come from ``cdm.header`` (MISS_DISTANCE and TCA from the fields), the
    objects' states and covariances from their arrays (at full precision)."""
    items: list[tuple[str, str, str | None]] = []
    header = dict(cdm.header)
    header.setdefault("CCSDS_CDM_VERS", ("1.0", None))
    header["TCA"] = (cdm.tca, None)
    header["MISS_DISTANCE"] = (_fmt(cdm.miss_distance_m), "m")
    for key in HEADER_KEYS:
        if key in header:
            items.append((key, header[key][0], _UNITS[key]))
    if cdm.hbr_m is not None:
        items.insert(next(i for i, it in enumerate(items) if it[0] == "MISS_DISTANCE"),
                     ("COMMENT", f"HBR = {_fmt(cdm.hbr_m)} [m]", None))
    for obj in cdm.objects:
        fields = dict(obj.fields)
        fields["OBJECT"] = (obj.object, None)
        fields["REF_FRAME"] = (obj.ref_frame, None)
        for key, value in zip(_STATE_KEYS, obj.state_km):
            fields[key] = (_fmt(value), _UNITS[key])
        rows = obj.covariance_rows
        for i, ri in enumerate(rows):
            for j in range(i + 1):
                fields[f"C{ri}_{rows[j]}"] = (_fmt(obj.covariance_rtn[i, j]), _UNITS[f"C{ri}_{rows[j]}"])
        for key in OBJECT_ORDER:
            if key in fields:
                items.append((key, fields[key][0], _UNITS[key]))
    return items


def write_cdm(path: str | Path, cdm: Cdm, fmt: str = "kvn") -> None:
    """Write ``cdm`` as KVN (``fmt='kvn'``) or XML (``fmt='xml'``), every value at full
    precision, so that `read_cdm` gives back the same numbers."""
    items = cdm_items(cdm)
    if fmt == "kvn":
        width = max(len(k) for k, _, _ in items if k != "COMMENT")
        lines = []
        for key, value, unit in items:
            if key == "COMMENT":
                lines.append(f"COMMENT {value}")
            else:
                lines.append(f"{key:<{width}} = {value}" + (f" [{unit}]" if unit else ""))
        text = "\n".join(lines) + "\n"
    elif fmt == "xml":
        text = _xml_text(items)
    else:
        raise ValueError(f"fmt must be 'kvn' or 'xml', got {fmt!r}")
    Path(path).write_text(text)


def _xml_text(items: list) -> str:
    """CDM XML (the NDM/XML schema's layout): header, relativeMetadataData, two segments of
    metadata and data (odParameters, additionalParameters, stateVector, covarianceMatrix)."""
    header_keys = {"CREATION_DATE", "ORIGINATOR", "MESSAGE_FOR", "MESSAGE_ID"}
    meta_keys = set(list(OBJECT_KEYS)[:list(OBJECT_KEYS).index("INTRACK_THRUST") + 1])
    od_keys = set(list(OBJECT_KEYS)[list(OBJECT_KEYS).index("TIME_LASTOB_START"):
                                    list(OBJECT_KEYS).index("WEIGHTED_RMS") + 1])
    add_keys = set(list(OBJECT_KEYS)[list(OBJECT_KEYS).index("AREA_PC"):
                                     list(OBJECT_KEYS).index("SEDR") + 1])

    def leaf(key, value, unit, indent):
        attr = f' units="{escape(unit)}"' if unit else ""
        return f"{' ' * indent}<{key}{attr}>{escape(value)}</{key}>"

    version = next((v for k, v, _ in items if k == "CCSDS_CDM_VERS"), "1.0")
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<cdm id="CCSDS_CDM_VERS" version="{version}">',
           "  <header>"]
    i = 0
    while i < len(items) and items[i][0] != "TCA":
        key, value, unit = items[i]
        if key in header_keys:
            out.append(leaf(key, value, unit, 4))
        i += 1
    out += ["  </header>", "  <body>", "    <relativeMetadataData>"]
    block = []
    while i < len(items) and items[i][0] != "OBJECT":
        block.append(items[i])
        i += 1
    # The schema puts a block's COMMENT elements first.
    block.sort(key=lambda it: it[0] != "COMMENT")
    out += [leaf(key, value, unit, 6) for key, value, unit in block]
    out.append("    </relativeMetadataData>")
    while i < len(items):
        seg = []
        seg.append(items[i])
        i += 1
        while i < len(items) and items[i][0] != "OBJECT":
            seg.append(items[i])
            i += 1
        groups = {"metadata": [], "odParameters": [], "additionalParameters": [],
                  "stateVector": [], "covarianceMatrix": []}
        for key, value, unit in seg:
            if key in meta_keys:
                groups["metadata"].append((key, value, unit))
            elif key in od_keys:
                groups["odParameters"].append((key, value, unit))
            elif key in add_keys:
                groups["additionalParameters"].append((key, value, unit))
            elif key in _STATE_KEYS:
                groups["stateVector"].append((key, value, unit))
            else:
                groups["covarianceMatrix"].append((key, value, unit))
        out += ["    <segment>", "      <metadata>"]
        out += [leaf(*it, 8) for it in groups["metadata"]]
        out += ["      </metadata>", "      <data>"]
        for name in ("odParameters", "additionalParameters", "stateVector", "covarianceMatrix"):
            if groups[name]:
                out.append(f"        <{name}>")
                out += [leaf(*it, 10) for it in groups[name]]
                out.append(f"        </{name}>")
        out += ["      </data>", "    </segment>"]
    out += ["  </body>", "</cdm>"]
    return "\n".join(out) + "\n"
