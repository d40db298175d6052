"""Catalogs as targets: an object's group (its name's family) and the selection of a catalog's
objects by name pattern, NORAD range and altitude band.

A group is the leading run of letters of the name, upper-cased: STARLINK-1007 -> STARLINK,
FLOCK 4P-1 -> FLOCK, ONEWEB-0012 -> ONEWEB, ISS (ZARYA) -> ISS, SL-8 R/B -> SL; a name that
starts with no letter (a bare catalog number, "1998-067A") -> OTHER.  Families are how operators
and COMSPOC's reports speak of constellations (Planet's Doves are FLOCK in the catalog).
"""

from __future__ import annotations

import fnmatch
import re

import numpy as np

from .elements import ElementSet

#: Group of a name that starts with no letter.
OTHER_GROUP = "OTHER"
_FAMILY_RE = re.compile(r"[A-Za-z]+")


def group_of(name: str) -> str:
    """The family of an object name (see the module docstring)."""
    match = _FAMILY_RE.match(name.strip())
    return match.group(0).upper() if match else OTHER_GROUP


def select(elements: ElementSet, *, name_pattern: str | None = None, norad_min: int | None = None,
           norad_max: int | None = None, altitude_min_km: float | None = None,
           altitude_max_km: float | None = None) -> np.ndarray:
    """bool (n,): the objects that pass every filter given (None: no filter).

    name_pattern: a shell pattern (fnmatch: * ? [..]) matched against the whole name, case
    ignored, e.g. "STARLINK*".  norad_min/norad_max: inclusive catalog-number range.
    altitude_min_km/altitude_max_km: the band an object's mean orbit must reach into: kept
    where [perigee, apogee] overlaps [altitude_min_km, altitude_max_km] (altitudes over the
    6378.135 km sphere, as ElementSet.perigee_km).
    """
    keep = np.ones(len(elements), dtype=bool)
    if name_pattern is not None:
        pattern = re.compile(fnmatch.translate(name_pattern.upper()))
        keep &= np.array([pattern.match(name.upper()) is not None for name in elements.name],
                         dtype=bool)
    if norad_min is not None:
        keep &= elements.satnum >= norad_min
    if norad_max is not None:
        keep &= elements.satnum <= norad_max
    if altitude_min_km is not None or altitude_max_km is not None:
        with np.errstate(invalid="ignore"):
            perigee, apogee = elements.perigee_km, elements.apogee_km
        if altitude_min_km is not None:
            keep &= apogee >= altitude_min_km
        if altitude_max_km is not None:
            keep &= perigee <= altitude_max_km
    return keep


def unique_names(names, satnums) -> list[str]:
    """Names made unique for the `target` coordinate: a name the catalog gives to several objects
    ("TBA - TO BE ASSIGNED") gets its NORAD number appended, "NAME (270000)"."""
    names = [str(n) for n in names]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [f"{n} ({int(s)})" if seen[n] > 1 else n for n, s in zip(names, satnums)]
