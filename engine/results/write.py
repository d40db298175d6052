"""Writing a results file: `RunResults` -> HDF5 / netCDF-4, atomically.

The variables, their dimensions and CF attributes are those of engine/results/variables.py; the
netCDF-4 dimension scales are made by engine.files.h5io.NetCDFDimensions, the writer the fragments and
ephemeris files use, so ``xarray.open_dataset(path, engine="h5netcdf")`` opens every fragrisk
file alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..files.h5io import NetCDFDimensions, atomic_h5
from ..timeutil import parse_utc_datetime
from .encounter_table import write_h5 as write_table
from .runresults import RunResults
from .variables import COORDINATES, DATA_VARIABLES, DIMENSIONS, OPTIONAL_VARIABLES, TIME_UNITS, Variable

__all__ = ["write_results"]

#: Variables of at least this many elements are stored chunked and gzip-compressed.
_COMPRESS_MIN_ELEMENTS = 4096


def write_results(path: str | os.PathLike, results: RunResults, *, overwrite: bool = False) -> Path:
    """Write `results` to `path` (HDF5 / netCDF-4, see engine/results/variables.py); return the path.

    Atomic: the data go to a temporary file in the same folder, which then replaces `path`
    (os.replace), so `path` is never half-written; the temporary file is removed on any error.
    An existing `path` is refused unless `overwrite`.
    """
    path = Path(path)
    if not isinstance(results, RunResults):
        raise InputError(f"{path}: results is a {type(results).__name__}; expected RunResults")
    with atomic_h5(path, overwrite=overwrite, what="a results file") as f:
        _write_h5(f, results)
    return path


def _cf_time_units(analysis_start: str) -> str:
    t = parse_utc_datetime(analysis_start)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}"
    return f"seconds since {text}Z"


def _write_h5(f: Any, r: RunResults) -> None:
    """Fill an open, empty h5py.File with `r` (dimension scales + CF attributes)."""
    import h5py

    for key, value in r.attrs.items():
        f.attrs[key] = value
    time_units = _cf_time_units(r.attrs["analysis_start"])

    def units(v: Variable) -> str:
        return time_units if v.units == TIME_UNITS else v.units

    d = NetCDFDimensions(f)
    coordinates = {v.name: v for v in COORDINATES}
    lengths = {"nv": 2, "fragment": int(r.gabbard_apogee_km.size)}
    for dim in DIMENSIONS:
        v = coordinates.get(dim)
        if v is None:
            d.dimension(dim, lengths[dim])
        elif v.name == "target":
            d.coordinate(v.name, np.array(r.target_names.tolist(), dtype=object), units(v),
                         v.long_name, dtype=h5py.string_dtype("utf-8"), **dict(v.attrs))
        else:
            d.coordinate(v.name, getattr(r, v.field), units(v), v.long_name, **dict(v.attrs))

    for v in DATA_VARIABLES:
        data = np.asarray(getattr(r, v.field))
        if v.is_bounds:
            data = np.stack([data[:-1], data[1:]], axis=-1)
        kw: dict[str, Any] = {}
        if data.size >= _COMPRESS_MIN_ELEMENTS:
            kw = dict(chunks=True, compression="gzip", compression_opts=4, shuffle=True)
        d.variable(v.name, data, v.dims, units(v), v.long_name, attrs=dict(v.attrs), **kw)
    if r.encounters is not None:
        write_table(d, r.encounters, _COMPRESS_MIN_ELEMENTS)
    _write_optional(d, r, h5py)


def _write_optional(d: NetCDFDimensions, r: RunResults, h5py) -> None:
    """The OPTIONAL_VARIABLES that `r` holds (their dimensions first)."""
    if r.conjunctions is not None:
        d.dimension("conjunction_threshold", int(r.conjunction_thresholds_km.size))
        d.dimension("day", int(r.conjunction_days.size))
    for v in OPTIONAL_VARIABLES:
        data = getattr(r, v.field)
        if data is None:
            continue
        kw: dict[str, Any] = {}
        if v.name == "target_group":
            data = np.array(np.asarray(data).tolist(), dtype=object)
            kw["dtype"] = h5py.string_dtype("utf-8")
        elif np.asarray(data).size >= _COMPRESS_MIN_ELEMENTS:
            kw = dict(chunks=True, compression="gzip", compression_opts=4, shuffle=True)
        d.variable(v.name, np.asarray(data) if v.name != "target_group" else data, v.dims, v.units,
                   v.long_name, attrs=dict(v.attrs), **kw)
