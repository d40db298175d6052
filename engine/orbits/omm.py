"""The CCSDS OMM reader (XML, CSV, JSON): the keywords as Space-Track and CelesTrak write them.

Sources: CCSDS 502.0-B-3 Orbit Data Messages; python-sgp4 2.x (sgp4.omm, Satrec.sgp4init)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from typing import Iterable

from sgp4.api import WGS72, Satrec

from ..errors import InputError
from ..timeutil import parse_utc
from .element_set import (
    _DEG,
    _SGP4_EPOCH0_JD,
    MAX_CATALOG_NUMBER,
    OMM_SUFFIXES,
    ElementSet,
    decode_text,
    element_set_from_records,
    file_suffix,
    read_bytes,
    sgp4_rejection,
    sniff_format,
)
from .tle import DIGITS_RE

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
        ok = bool(DIGITS_RE.match(value.strip())) and len(value.strip()) <= 9
    if not ok:
        raise InputError(f"{where}: NORAD_CAT_ID = {_show_value(value)} is not a catalog number "
                         f"(an integer from 0 to {MAX_CATALOG_NUMBER:,})")
    return int(value)


class _Unstartable(InputError):
    """An OMM record SGP4 cannot start from (its message, and ``why`` alone)."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


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
        raise _Unstartable(f"{where}: SGP4 cannot start from this element set: {why}", why)
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
    # strict: a quote never closed is an error ("unexpected end of data"), not a last field
    # that swallows the rest of the file.
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(f"{source}: not valid CSV: a quoted field is not closed (the quote "
                             f"opened on line {_open_quote_line(text)} has no closing quote)") from None
        raise InputError(f"{source}: not valid CSV: line {reader.line_num}: {exc}") from None
    return [{(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
            for row in rows]


def _open_quote_line(text: str) -> int:
    """1-based line of the quote that opens the last, unterminated quoted CSV field."""
    inside, opened = False, 1
    for lineno, line in enumerate(text.splitlines(), start=1):
        for ch in line:
            if ch == '"':
                inside = not inside
                if inside:
                    opened = lineno
    return opened


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


def _omm_element_set(records: Iterable[dict], source: str, skip_unstartable: bool = False):
    """An ElementSet of OMM records; with ``skip_unstartable``, (ElementSet, the records SGP4
    cannot start from as [(record number, catalog number, name, why)])."""
    arrays, satnums, names, dropped = [], [], [], []
    for k, fields_ in enumerate(records, start=1):
        try:
            record, satnum, name = _omm_record(fields_, k, source)
        except _Unstartable as exc:
            if not skip_unstartable:
                raise
            present = {key: str(v).strip() for key, v in fields_.items() if v is not None}
            dropped.append((k, _omm_catalog_number(present["NORAD_CAT_ID"], source),
                            present.get("OBJECT_NAME", ""), exc.why))
            continue
        arrays.append(record)
        satnums.append(satnum)
        names.append(name)
    if not arrays:
        raise InputError(f"{source}: no OMM records found")
    elements = element_set_from_records(arrays, satnums, names, source, None)
    return (elements, dropped) if skip_unstartable else elements


def _omm_records(data: bytes, source: str, fmt: str) -> list[dict]:
    """The records of an OMM document in ``fmt`` "xml", "csv" or "json", as dicts of text."""
    if fmt == "xml":
        return _omm_xml_records(data, source)
    if fmt == "csv":
        return _omm_csv_records(decode_text(data, source), source)
    if fmt == "json":
        return _omm_json_records(decode_text(data, source), source)
    raise ValueError(f"unknown OMM format {fmt!r}")


def parse_omm(data: bytes, source: str, fmt: str) -> ElementSet:
    """Parse CCSDS OMM records in ``fmt`` "xml", "csv" or "json" (keywords as in the standard:
    NORAD_CAT_ID, EPOCH, MEAN_MOTION rev/day, ECCENTRICITY, INCLINATION, RA_OF_ASC_NODE,
    ARG_OF_PERICENTER, MEAN_ANOMALY deg, BSTAR 1/ER; OBJECT_NAME optional)."""
    return _omm_element_set(_omm_records(data, source, fmt), source)


def read_omm_file(path) -> ElementSet:
    """Read a CCSDS OMM file (XML, CSV or JSON, by extension, else by content)."""
    data, source = read_bytes(path)
    fmt = OMM_SUFFIXES.get(file_suffix(path)) or sniff_format(data)
    if fmt == "tle":
        raise InputError(f"{source}: not an OMM file (expected XML, CSV or JSON)")
    return parse_omm(data, source, fmt)





def parse_omm_catalog(data: bytes, source: str, fmt: str):
    """A whole OMM catalog: (the ElementSet of the objects SGP4 can start, the others), as
    parse_tle_catalog does for TLEs."""
    return _omm_element_set(_omm_records(data, source, fmt), source, skip_unstartable=True)
