"""Element sets from files: ``load_elements`` (one file of TLE/3LE or CCSDS OMM, by extension,
else by content) and ``read_catalog`` (a whole catalog, leaving out the objects SGP4 cannot
start). The struct is engine.orbits.element_set.ElementSet; the readers engine.orbits.tle and
engine.orbits.omm. The names below are imported here for the callers that read element sets,
so that they need one module."""

from __future__ import annotations

from .element_set import (
    DEEP_SPACE_PERIOD_MIN,
    EARTH_RADIUS_KM,
    MAX_CATALOG_NUMBER,
    OMM_SUFFIXES,
    TLE_SUFFIXES,
    ElementSet,
    concat,
    decode_text,
    file_suffix,
    read_bytes,
    sniff_format,
)
from .omm import parse_omm, parse_omm_catalog, read_omm_file
from .tle import parse_tle, parse_tle_catalog, read_tle_file, tle_checksum


def read_catalog(path) -> tuple[ElementSet, list[tuple]]:
    """A whole catalog file (TLE/3LE or OMM): the objects SGP4 can start from, and the ones it
    cannot, [(line number or OMM record, catalog number, name, why)], which are left out.  Any
    other fault in the file stops the reading as in ``load_elements``."""
    data, source = read_bytes(path)
    suffix = file_suffix(path)
    fmt = "tle" if suffix in TLE_SUFFIXES else OMM_SUFFIXES.get(suffix) or sniff_format(data)
    if fmt != "tle":
        return parse_omm_catalog(data, source, fmt)
    return parse_tle_catalog(decode_text(data, source), source)


def load_elements(path) -> ElementSet:
    """Load element sets from a file: .tle/.txt/.3le -> TLE; .xml/.csv/.json -> OMM; any other
    extension by content.  ``path`` may be a str, a Path or an importlib.resources Traversable."""
    data, source = read_bytes(path)
    suffix = file_suffix(path)
    fmt = "tle" if suffix in TLE_SUFFIXES else OMM_SUFFIXES.get(suffix) or sniff_format(data)
    if fmt == "tle":
        return parse_tle(decode_text(data, source), source)
    return parse_omm(data, source, fmt)


#: What callers take from here (defined in element_set, tle and omm).
__all__ = [
    "DEEP_SPACE_PERIOD_MIN",
    "EARTH_RADIUS_KM",
    "ElementSet",
    "MAX_CATALOG_NUMBER",
    "concat",
    "load_elements",
    "parse_omm",
    "decode_text",
    "parse_tle",
    "read_catalog",
    "read_omm_file",
    "read_tle_file",
    "tle_checksum",
]
