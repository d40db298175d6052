"""The ephemeris file of ``fragrisk propagate``: SGP4 states of n objects at m times (HDF5),
and the command's window (`check_window`).

Opens with ``xarray.open_dataset(path, engine="h5netcdf")``: coordinates are HDF5 dimension
scales, units and long names CF attributes.

=================================  =======  =============================================
variable (dims)                    dtype    units
=================================  =======  =============================================
object (object)                    int64    1 (NORAD catalog number)
time (time)                        float64  seconds since <start, ISO 8601 UTC>
name (object)                      str      object name
position_km (object, time, xyz)    float64  km, TEME
velocity_km_s (object, time, xyz)  float64  km/s, TEME
error (object, time)               int8     python-sgp4 error code (flag_values/flag_meanings)
deep_space (object)                int8     1 where python-sgp4 propagated the object
=================================  =======  =============================================

``xyz`` (3) is a dimension without a coordinate variable.  Global attributes: title, source
("fragrisk <version>"), history, Conventions, start (ISO 8601 UTC), device, notes (one string,
"; "-separated, empty when there are none), and whatever the caller adds (e.g. elements_source).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import __version__
from ..errors import InputError
from ..filekind import EPHEMERIS_TITLE_PREFIX
from ..orbits.elements import ElementSet
from ..orbits.propagation import SGP4_ERROR_MEANINGS, Ephemeris
from ..timeutil import format_utc, history_stamp
from .h5io import NetCDFDimensions, atomic_h5

TITLE = f"{EPHEMERIS_TITLE_PREFIX}: SGP4 states in TEME"


def write_ephemeris(path: str | os.PathLike, ephemeris: Ephemeris, elements: ElementSet,
                    start_jd: float, start_fr: float, time_s, *,
                    command: str | None = None, attrs: Mapping[str, Any] | None = None,
                    overwrite: bool = False) -> Path:
    """Write ``ephemeris`` of ``elements`` at ``time_s`` seconds after the start to ``path``.

    time_s: (m,) float64, seconds since the start (split Julian date start_jd, start_fr), the
    times the ephemeris was propagated to.  command: the command line that made the file, for
    the CF ``history`` attribute.  attrs: extra global attributes (str, int or float); they may
    override the defaults.  Atomic; an existing ``path`` is refused unless
    ``overwrite`` (InputError, one line).  Returns the path.
    """
    time_s = np.asarray(time_s, dtype=np.float64)
    n, m = ephemeris.n_objects, ephemeris.n_times
    if len(elements) != n or time_s.shape != (m,):
        raise ValueError(f"ephemeris of {n} objects x {m} times does not match "
                         f"{len(elements)} element sets and time_s of shape {time_s.shape}")
    start_iso = format_utc(start_jd, start_fr)
    now = history_stamp()
    source = f"fragrisk {__version__}"
    global_attrs: dict[str, Any] = {
        "title": TITLE,
        "source": source,
        "history": f"{now} {command} ({source})" if command else f"{now} created by {source}",
        "Conventions": "CF-1.8",
        "start": start_iso,
        "device": "",
        "notes": "; ".join(ephemeris.notes),
    }
    global_attrs.update(attrs or {})

    with atomic_h5(path, overwrite=overwrite, what="an ephemeris file") as f:
        import h5py

        for key, value in global_attrs.items():
            f.attrs[key] = value
        d = NetCDFDimensions(f)
        d.coordinate("object", elements.satnum.astype(np.int64), "1", "NORAD catalog number")
        d.coordinate("time", time_s, f"seconds since {start_iso}", "time",
                     standard_name="time", calendar="standard")
        d.dimension("xyz", 3)
        d.variable("name", np.array(elements.name, dtype=object), ("object",), None,
                   "object name", dtype=h5py.string_dtype("utf-8"))
        d.variable("position_km", ephemeris.r_km, ("object", "time", "xyz"), "km",
                   "position in the TEME frame (SGP4)")
        d.variable("velocity_km_s", ephemeris.v_km_s, ("object", "time", "xyz"), "km/s",
                   "velocity in the TEME frame (SGP4)")
        d.variable("error", ephemeris.error.astype(np.int8), ("object", "time"), None,
                   "SGP4 error code (python-sgp4)",
                   attrs={"flag_values": np.array([c for c, _ in SGP4_ERROR_MEANINGS],
                                                  dtype=np.int8),
                          "flag_meanings": " ".join(w for _, w in SGP4_ERROR_MEANINGS)})
        d.variable("deep_space", ephemeris.deep_space.astype(np.int8), ("object",), None,
                   "1 where the object was propagated by python-sgp4 (period >= 225 min)",
                   attrs={"flag_values": np.array([0, 1], dtype=np.int8),
                          "flag_meanings": "near_earth deep_space"})
    return Path(path)


def check_window(duration_min: float, step_s: float) -> tuple[float, int]:
    """`fragrisk propagate`'s window: (duration_s, the most sample times it has, floor(M/S) + 2:
    start, start + S, ... and the end; engine.orbits.propagation.sample_times_s), or InputError
    (one line) naming --duration-min or --step-s."""
    if not (math.isfinite(duration_min) and duration_min > 0):
        raise InputError(f"--duration-min: {duration_min!r} is not a number of minutes > 0")
    if not (math.isfinite(step_s) and step_s > 0):
        raise InputError(f"--step-s: {step_s!r} is not a number of seconds > 0")
    duration_s = duration_min * 60.0
    if step_s > duration_s:
        raise InputError(f"--step-s: {_num(step_s)} s is longer than --duration-min "
                         f"{_num(duration_min)} ({_num(duration_s)} s)")
    return duration_s, math.floor(duration_s / step_s) + 2


def _num(x: float) -> str:
    """2220.0 -> '2,220'; 7.5 -> '7.5' (as the command line prints numbers)."""
    return f"{x:,.6g}" if abs(x) < 1e15 else f"{x:.6g}"
