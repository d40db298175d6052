"""UTC epochs as split Julian dates, the way python-sgp4 keeps them.

A Julian date near 2021 is about 2.46e6 days; a float64 there resolves only ~40 µs.  So an epoch is
always a pair (jd, fr): ``jd`` the Julian date of the preceding midnight (ends in .5) and ``fr``
the fraction of the day, exactly as ``sgp4.functions.jday`` returns them.  Differences are taken
part by part (whole days, then fractions) and never as ``(jd + fr) - (jd0 + fr0)``.

Source: python-sgp4 ``sgp4.functions.jday`` (a translation of Vallado's ``jday()`` in SGP4.cpp).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import math
import re
from typing import Any

import numpy as np

from sgp4.functions import jday

from .errors import InputError

# ISO 8601 extended format, date and time; fraction of a second optional; zone Z, +00:00 or none.
_ISO_RE = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"[Tt ](?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:[.,](?P<frac>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?$",
    re.ASCII,  # \d is 0-9 only: int() would read full-width and other Unicode digits
)

_SECONDS_PER_DAY = 86400.0
_MINUTES_PER_DAY = 1440.0


def _fail(text: object, where: str, why: str) -> InputError:
    prefix = f"{where}: " if where else ""
    return InputError(f"{prefix}{text!r} is not a valid UTC time: {why} "
                      f"(expected ISO 8601 like 2021-11-15T02:47:00Z)")


def _utc_fields(text: str, where: str) -> tuple[int, int, int, int, int, int, str]:
    """(year, month, day, hour, minute, whole seconds, fraction digits) of an ISO 8601 UTC time;
    InputError as `parse_utc` describes."""
    if not isinstance(text, str):
        raise _fail(text, where, "not a string")
    m = _ISO_RE.match(text.strip())
    if m is None:
        raise _fail(text, where, "wrong format")
    zone = m.group("zone")
    if zone is not None and zone not in ("Z", "z") and zone.replace(":", "")[1:] != "0000":
        raise _fail(text, where, f"offset {zone} is not UTC")
    year, month, day = int(m.group("year")), int(m.group("month")), int(m.group("day"))
    hour, minute, isec = int(m.group("hour")), int(m.group("minute")), int(m.group("second"))
    if not 1 <= month <= 12:
        raise _fail(text, where, f"month {month} out of range")
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise _fail(text, where, f"day {day} out of range")
    if hour > 23 or minute > 59 or isec > 59:
        raise _fail(text, where, "time of day out of range")
    return year, month, day, hour, minute, isec, m.group("frac") or ""


def parse_utc(text: str, *, where: str = "") -> tuple[float, float]:
    """Parse an ISO 8601 UTC time into a split Julian date.

    Accepts ``YYYY-MM-DDThh:mm:ss[.ffffff][Z|+00:00]`` (any number of fraction digits; no zone
    designator is read as UTC, as CCSDS OMM epochs are written).  Non-zero offsets are refused:
    every epoch in fragrisk is UTC.

    Returns ``(jd, fr)``, float64 days: ``jd`` the Julian date of 0h UTC of that calendar date
    (ends in .5) and ``fr`` in [0, 1) the fraction of the day, identical to
    ``sgp4.functions.jday(year, month, day, hour, minute, second)``.

    Raises ``InputError`` naming ``where`` (e.g. ``"cosmos.toml: [event] epoch"``) and the value.
    """
    year, month, day, hour, minute, isec, frac = _utc_fields(text, where)
    # The fraction is read from its digits so that "00.1" gives exactly float("0.1") seconds.
    second = isec + (float("0." + frac) if frac else 0.0)
    jd, fr = jday(year, month, day, hour, minute, second)
    return float(jd), float(fr)


def parse_utc_datetime(text: str, *, where: str = "") -> _dt.datetime:
    """Parse an ISO 8601 UTC time, as `parse_utc` accepts it, into an aware UTC datetime (to the
    microsecond; further fraction digits are dropped). InputError as `parse_utc`."""
    year, month, day, hour, minute, isec, frac = _utc_fields(text, where)
    micro = int((frac + "000000")[:6])
    return _dt.datetime(year, month, day, hour, minute, isec, micro, tzinfo=_dt.timezone.utc)


def format_utc(jd: float, fr: float) -> str:
    """Format a split Julian date as ISO 8601 UTC, e.g. ``2021-11-15T02:47:00Z``.

    Inverse of ``parse_utc`` to the microsecond: the time is rounded to the nearest microsecond,
    and the fraction ``.ffffff`` is written only where it is non-zero.  ``jd`` need not end in .5
    nor ``fr`` lie in [0, 1): the pair is renormalised first without adding the parts.
    """
    jd = float(jd)
    fr = float(fr)
    # Move whole days from jd (midnight = .5) and fr into one integer day count, keeping fr small.
    shift = jd - 0.5
    whole = math.floor(shift)
    fr += shift - whole
    extra = math.floor(fr)
    day_number = whole + extra  # Julian day number of the civil date (midnight-based)
    fr -= extra
    micros = round(fr * _SECONDS_PER_DAY * 1e6)
    if micros >= 86400 * 1_000_000:
        day_number += 1
        micros -= 86400 * 1_000_000
    # Julian day number (at noon) -> Gregorian calendar date (Fliegel & Van Flandern, 1968).
    jdn = int(day_number) + 1
    a = jdn + 32044
    b = (4 * a + 3) // 146097
    c = a - 146097 * b // 4
    d = (4 * c + 3) // 1461
    e = c - 1461 * d // 4
    m = (5 * e + 2) // 153
    day = e - (153 * m + 2) // 5 + 1
    month = m + 3 - 12 * (m // 10)
    year = 100 * b + d - 4800 + m // 10
    seconds, micro = divmod(micros, 1_000_000)
    hour, rest = divmod(seconds, 3600)
    minute, second = divmod(rest, 60)
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if micro:
        text += f".{micro:06d}"
    return text + "Z"


def minutes_between(jd1: float, fr1: float, jd0: float, fr0: float) -> float:
    """Minutes from epoch (jd0, fr0) to epoch (jd1, fr1), float64.

    Computed as ``(jd1 - jd0) * 1440 + (fr1 - fr0) * 1440`` so that no part is added to a
    2.46e6-day Julian date first (that would cost ~40 µs of resolution).  This is the way
    python-sgp4 forms ``tsince`` from ``jdsatepoch`` / ``jdsatepochF``.
    """
    days = float(jd1) - float(jd0)
    fraction = float(fr1) - float(fr0)
    return days * _MINUTES_PER_DAY + fraction * _MINUTES_PER_DAY


def utc_datetime64(iso: str) -> np.datetime64:
    """An ISO 8601 UTC text -> numpy.datetime64[ns] (naive, UTC: numpy has no time zones)."""
    t = parse_utc_datetime(str(iso)).astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return np.datetime64(t, "ns")


def to_utc(start_iso: str, seconds: Any) -> np.ndarray:
    """Seconds since `start_iso` (any shape, float) -> numpy.datetime64[ns] UTC, to the ns."""
    ns = np.rint(np.asarray(seconds, dtype=np.float64) * 1e9).astype(np.int64)
    return utc_datetime64(start_iso) + ns.astype("timedelta64[ns]")


def history_stamp() -> str:
    """The time now, UTC, to the second, as every file's CF ``history`` line begins:
    "2026-12-08T03:40:38Z" (the Z form of format_utc)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
