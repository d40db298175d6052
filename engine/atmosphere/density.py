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

from dataclasses import dataclass

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

    @property
    def n_days(self) -> int:
        return int(self.log_density.shape[0])

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


def build_density_table(space_weather: SpaceWeather, first_jd: float, last_jd: float,
                        what: str = "the window") -> DensityTable:
    """The local-time averaged NRLMSIS 2.1 table for every day from the one holding first_jd to
    the one after last_jd (so that times up to last_jd interpolate between two rows).

    InputError (one line) where pymsis is missing or the space weather does not cover the days.
    """
    pymsis = msis_module()
    day0 = float(np.floor(first_jd - 0.5) + 0.5)
    n_days = int(np.floor(last_jd - day0)) + 2
    notes = space_weather.check_covers(day0, day0 + n_days - 1, what)
    rows = space_weather.day_index(day0 + np.arange(n_days))
    unix_s = (day0 - 2440587.5 + np.arange(n_days)) * 86400.0 + EVALUATION_HOUR_UTC * 3600.0
    dates = (unix_s * 1e6).astype("int64").astype("datetime64[us]")
    lons = np.arange(LOCAL_TIMES) * (360.0 / LOCAL_TIMES)
    aps = np.zeros((n_days, 7))
    aps[:, 0] = space_weather.ap[rows]  # daily Ap; MSIS reads only this one by default
    out = pymsis.calculate(dates, lons, latitudes_deg(), altitudes_km(),
                           f107s=space_weather.f107_sfu[rows - 1],
                           f107as=space_weather.f107a_sfu[rows], aps=aps, version=2.1)
    rho = np.asarray(out[..., pymsis.Variable.MASS_DENSITY], dtype=np.float64)
    # (days, lons, lats, alts): the mean over local time of the density itself, then its log.
    log_density = np.ascontiguousarray(np.log(rho.mean(axis=1)))
    return DensityTable(first_day_jd=day0, log_density=log_density,
                        space_weather=space_weather, notes=tuple(notes))


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
