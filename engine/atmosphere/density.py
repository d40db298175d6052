"""NRLMSIS 2.1 mass density on a host table over day x latitude x altitude, and SGP4's own.

`build_density_table` evaluates NRLMSIS 2.1 (Emmert et al. 2022, through `pymsis`) at 12:00 UTC
of each day, on a grid of geodetic latitude and altitude, and averages it over local solar time
(LOCAL_TIMES longitudes at that UT). Why that average: an orbit passes each latitude twice per
revolution, going north and going south, about 12 h of local time apart for the inclined orbits
of debris clouds, so the orbit average of the diurnal (24 h) bulge cancels to first order, and
what a drag step of a day needs is the density along the orbit's latitudes and altitudes.  The
orbit's local-time plane is what is given up: benchmarks/atmosphere.py measures it against
pointwise MSIS along real orbits (docs/atmosphere.md quotes the numbers).

The table is float64 log-density, shape (days, latitudes, altitudes), on uniform axes, so the
host (`density_kg_m3`) and a CUDA kernel index it the same way: linear in the day (density at
12:00 UTC), in latitude and in altitude, of log density (the density is exponential in altitude).

`sgp4_density_kg_m3` is SGP4's own static profile, rho0 ((q0 - s)/(r - s))^4 (Hoots & Roehrich,
Spacetrack Report #3, 1980, eq. for the drag coefficients), for tests and documentation.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..physics.sgp4_numpy import RADIUS_EARTH_KM
from .space_weather import SpaceWeather

#: Geodetic altitudes of the table (km): uniform 10 km from 100 to 1,500 km. Above 1,500 km the
#: table is extrapolated with its top scale height (drag there is < 1e-4 of that at 500 km).
ALTITUDE_MIN_KM = 100.0
ALTITUDE_STEP_KM = 10.0
N_ALTITUDES = 141
#: Geodetic latitudes (deg): -90 to 90 every 10 deg.
LATITUDE_STEP_DEG = 10.0
N_LATITUDES = 19
#: Local solar times averaged at each latitude and altitude (every 3 h: exact for the diurnal,
#: semi-diurnal and ter-diurnal harmonics of MSIS's local-time terms).
LOCAL_TIMES = 8
#: UTC hour of each day's evaluation (the table's day d holds day d's 12:00 UTC).
EVALUATION_HOUR_UTC = 12.0


@dataclass(frozen=True, eq=False)
class DensityTable:
    """log(mass density / (kg m^-3)) at 12:00 UTC of each day, local-time averaged.

    first_day_jd   Julian date of 00:00 UTC of the first day (row 0 holds its 12:00 UTC)
    log_density    (days, N_LATITUDES, N_ALTITUDES) float64, C-contiguous
    space_weather  the SpaceWeather it was made from (name, SHA-256, last observed day)
    notes          one-line remarks (predictions used past the observed days)
    """

    first_day_jd: float
    log_density: np.ndarray
    space_weather: SpaceWeather
    notes: tuple[str, ...] = ()
    #: a table still being filled by another process (build_density_table(background=True)):
    #: read its rows only after ensure_through / ensure_all
    filling: object = field(default=None, repr=False, compare=False)

    @property
    def n_days(self) -> int:
        return int(self.log_density.shape[0])

    def ensure_through(self, jd) -> None:
        """Wait until the rows that Julian dates up to max(jd) interpolate between are filled
        (at once for a table built in one piece)."""
        if self.filling is not None:
            last = float(np.max(np.asarray(jd, dtype=np.float64)))
            self.filling.wait_rows(int(np.floor(last - self.first_day_jd - EVALUATION_HOUR_UTC / 24.0)) + 2)

    def ensure_all(self) -> None:
        if self.filling is not None:
            self.filling.wait_rows(self.n_days)

    def __reduce__(self):
        # A table crosses to other processes whole, as a plain array.
        self.ensure_all()
        return (DensityTable, (self.first_day_jd, np.array(self.log_density), self.space_weather, self.notes))

    @property
    def last_day_jd(self) -> float:
        return self.first_day_jd + self.n_days - 1


def msis_module():
    """pymsis, or InputError with the one line that says it is missing."""
    try:
        import pymsis
    except ImportError:
        raise InputError("atmosphere 'nrlmsis' needs the Python package 'pymsis' "
                         "(pip install pymsis), which is not installed") from None
    return pymsis


def altitudes_km() -> np.ndarray:
    return ALTITUDE_MIN_KM + ALTITUDE_STEP_KM * np.arange(N_ALTITUDES)


def latitudes_deg() -> np.ndarray:
    return -90.0 + LATITUDE_STEP_DEG * np.arange(N_LATITUDES)


#: Days a background build computes in the calling process before handing the rest to its
#: worker, and the worker's block of days (build_density_table(background=True)).
FIRST_ROWS = 8
BLOCK_DAYS = 16


def _msis_inputs(space_weather: SpaceWeather, day0: float, n_days: int):
    rows = space_weather.day_index(day0 + np.arange(n_days))
    unix_s = (day0 - 2440587.5 + np.arange(n_days)) * 86400.0 + EVALUATION_HOUR_UTC * 3600.0
    dates = (unix_s * 1e6).astype("int64").astype("datetime64[us]")
    aps = np.zeros((n_days, 7))
    aps[:, 0] = space_weather.ap[rows]  # daily Ap; MSIS reads only this one by default
    return dates, space_weather.f107_sfu[rows - 1], space_weather.f107a_sfu[rows], aps


def _log_density_rows(dates, f107s, f107as, aps) -> np.ndarray:
    """NRLMSIS 2.1 at 12:00 UTC of these days on the table's grid, averaged over local time:
    (days, N_LATITUDES, N_ALTITUDES) log density. Each day's rows are the same whatever days
    are computed with it (MSIS is evaluated point by point)."""
    pymsis = msis_module()
    lons = np.arange(LOCAL_TIMES) * (360.0 / LOCAL_TIMES)
    out = pymsis.calculate(dates, lons, latitudes_deg(), altitudes_km(), f107s=f107s, f107as=f107as,
                           aps=aps, version=2.1)
    rho = np.asarray(out[..., pymsis.Variable.MASS_DENSITY], dtype=np.float64)
    # (days, lons, lats, alts): the mean over local time of the density itself, then its log.
    return np.log(rho.mean(axis=1))


def _fill_rows(buffer, done, inputs, start: int, n_days: int) -> None:
    """The worker of a background build: rows start.. of the table, BLOCK_DAYS at a time, into
    the shared buffer; ``done`` counts the rows filled."""
    table = np.frombuffer(buffer, dtype=np.float64).reshape(n_days, N_LATITUDES, N_ALTITUDES)
    dates, f107s, f107as, aps = inputs
    for lo in range(start, n_days, BLOCK_DAYS):
        hi = min(lo + BLOCK_DAYS, n_days)
        table[lo:hi] = _log_density_rows(dates[lo:hi], f107s[lo:hi], f107as[lo:hi], aps[lo:hi])
        with done.get_lock():
            done.value = hi


class _Filling:
    """The worker process filling a background table, and the count of rows it has filled."""

    def __init__(self, process, done):
        self.process, self.done, self.owner_pid = process, done, os.getpid()

    def filled(self) -> int:
        with self.done.get_lock():
            return int(self.done.value)

    def wait_rows(self, rows: int) -> None:
        # Only the process that started the worker can ask whether it is alive (a forked
        # worker of engine/run/pool.py that inherited the table just waits for the rows).
        while self.filled() < rows:
            if os.getpid() == self.owner_pid and not self.process.is_alive() and self.filled() < rows:
                raise RuntimeError(f"the density table's worker process ended (exit code "
                                   f"{self.process.exitcode}) with {self.filled()} of {rows} rows filled")
            time.sleep(0.002)


def build_density_table(space_weather: SpaceWeather, first_jd: float, last_jd: float,
                        what: str = "the window", background: bool = False) -> DensityTable:
    """The local-time averaged NRLMSIS 2.1 table for every day from the one holding first_jd to
    the one after last_jd (so that times up to last_jd interpolate between two rows).

    background: compute the first FIRST_ROWS days here and the rest in a worker process, so
    that a run's estimator overlaps the table's 7 s a year (pymsis holds the GIL: a thread
    would not); the table's readers wait for the rows they need (DensityTable.ensure_through).
    The same numbers either way (tested).
    InputError (one line) where pymsis is missing or the space weather does not cover the days.
    """
    msis_module()
    day0 = float(np.floor(first_jd - 0.5) + 0.5)
    n_days = int(np.floor(last_jd - day0)) + 2
    notes = tuple(space_weather.check_covers(day0, day0 + n_days - 1, what))
    inputs = _msis_inputs(space_weather, day0, n_days)
    if not background or n_days <= FIRST_ROWS + BLOCK_DAYS:
        log_density = np.ascontiguousarray(_log_density_rows(*inputs))
        return DensityTable(first_day_jd=day0, log_density=log_density, space_weather=space_weather, notes=notes)
    # fork where this process runs no other thread (engine/run/pool.py's rule), else spawn
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" and threading.active_count() == 1
                                      else "spawn")
    buffer = ctx.RawArray("d", n_days * N_LATITUDES * N_ALTITUDES)
    log_density = np.frombuffer(buffer, dtype=np.float64).reshape(n_days, N_LATITUDES, N_ALTITUDES)
    log_density[:FIRST_ROWS] = _log_density_rows(*(a[:FIRST_ROWS] for a in inputs))
    done = ctx.Value("l", FIRST_ROWS)
    process = ctx.Process(target=_fill_rows, args=(buffer, done, inputs, FIRST_ROWS, n_days), daemon=True,
                          name="fragrisk-density-table")
    process.start()
    return DensityTable(first_day_jd=day0, log_density=log_density, space_weather=space_weather, notes=notes,
                        filling=_Filling(process, done))


def density_kg_m3(table_log_density, first_day_jd: float, jd, latitude_deg, altitude_km, xp=np):
    """Density (kg/m^3) from the table at Julian dates ``jd`` and geodetic latitude/altitude
    (arrays of one shape): trilinear in (day at 12:00 UTC, latitude, altitude) of log density;
    days clamp to the table's ends, latitudes to +-90, altitudes below the table's bottom to it,
    and altitudes above its top follow the top scale height."""
    logd = table_log_density
    n_days = logd.shape[0]
    jd, latitude_deg, altitude_km = (xp.asarray(a, dtype=xp.float64) for a in (jd, latitude_deg, altitude_km))
    finite = xp.isfinite(jd) & xp.isfinite(latitude_deg) & xp.isfinite(altitude_km)
    # Non-finite inputs (a state SGP4 could not give) index row 0 and come out NaN.
    x = xp.clip(xp.where(finite, jd, 0.0) - (first_day_jd + EVALUATION_HOUR_UTC / 24.0), 0.0, n_days - 1.0)
    d0 = xp.minimum(xp.floor(x).astype(xp.int64), max(n_days - 2, 0))
    fd = x - d0
    d1 = xp.minimum(d0 + 1, n_days - 1)
    y = xp.clip((xp.where(finite, latitude_deg, 0.0) + 90.0) / LATITUDE_STEP_DEG, 0.0, N_LATITUDES - 1.0)
    l0 = xp.minimum(xp.floor(y).astype(xp.int64), N_LATITUDES - 2)
    fl = y - l0
    z = xp.maximum((xp.where(finite, altitude_km, 0.0) - ALTITUDE_MIN_KM) / ALTITUDE_STEP_KM, 0.0)
    h0 = xp.minimum(xp.floor(z).astype(xp.int64), N_ALTITUDES - 2)
    fh = z - h0  # > 1 above the top: linear extrapolation of log density

    def at(d, lat, h):
        return logd[d, lat, h] * (1.0 - fh) + logd[d, lat, h + 1] * fh

    def day(d):
        return at(d, l0, h0) * (1.0 - fl) + at(d, l0 + 1, h0) * fl

    return xp.where(finite, xp.exp(day(d0) * (1.0 - fd) + day(d1) * fd), xp.nan)


#: SGP4's reference density (kg/m^3) at q0 = 120 km, behind B* = rho0 Cd A / (2 m)
#: (engine.physics.fit.RHO0_KG_M2_ER is it times the earth radius in metres).
SGP4_RHO0_KG_M3 = 2.461e-8


def sgp4_density_kg_m3(radius_km, s_km: float = 78.0, q0_km: float = 120.0):
    """SGP4's static density at geocentric radius r (km): rho0 ((q0 - s)/(r - ae - s))^4, with
    s = 78 km and q0 = 120 km above SGP4's (WGS-72) earth radius (perigees above 156 km)."""
    h = np.asarray(radius_km) - RADIUS_EARTH_KM
    return SGP4_RHO0_KG_M3 * ((q0_km - s_km) / (h - s_km)) ** 4


@dataclass(frozen=True, eq=False)
class DailyHistory:
    """The space weather and density of each day of a window, for the results file and its plot.

    noon_jd        (d,) Julian date of each day's 12:00 UTC (the table's rows)
    f107_sfu       (d,) the day's observed F10.7 (solar flux units)
    f107a_sfu      (d,) its centred 81-day mean
    density_kg_m3  (d,) the table's density at ``altitude_km``: local-time averaged (the table)
                   and averaged over latitude weighted by cos(latitude) (the area of each band)
    altitude_km    the geodetic altitude of ``density_kg_m3``
    """

    noon_jd: np.ndarray
    f107_sfu: np.ndarray
    f107a_sfu: np.ndarray
    density_kg_m3: np.ndarray
    altitude_km: float


def daily_history(table: DensityTable, first_jd: float, last_jd: float, altitude_km: float) -> DailyHistory:
    """Every day of the table from the one holding first_jd to the one holding last_jd (both
    within the table): its F10.7, 81-day mean and the area-weighted mean density at altitude_km
    (log-linear in altitude, as `density_kg_m3` interpolates)."""
    lo = int(np.floor(first_jd - table.first_day_jd))
    hi = int(np.floor(last_jd - table.first_day_jd))
    lo, hi = max(lo, 0), min(hi, table.n_days - 1)
    table.ensure_all()
    z = min(max((float(altitude_km) - ALTITUDE_MIN_KM) / ALTITUDE_STEP_KM, 0.0), N_ALTITUDES - 1.0)
    h0 = min(int(np.floor(z)), N_ALTITUDES - 2)
    logd = table.log_density[lo:hi + 1]
    at_altitude = np.exp(logd[:, :, h0] * (1.0 - (z - h0)) + logd[:, :, h0 + 1] * (z - h0))
    weight = np.cos(np.radians(latitudes_deg()))
    days_jd = table.first_day_jd + np.arange(lo, hi + 1)
    rows = table.space_weather.day_index(days_jd)
    return DailyHistory(noon_jd=days_jd + EVALUATION_HOUR_UTC / 24.0,
                        f107_sfu=table.space_weather.f107_sfu[rows].copy(),
                        f107a_sfu=table.space_weather.f107a_sfu[rows].copy(),
                        density_kg_m3=(at_altitude @ weight) / weight.sum(),
                        altitude_km=float(altitude_km))
