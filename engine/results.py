"""The results file: what a run computed, in memory (`RunResults`) and on disk (HDF5 / netCDF-4).

Read top-down:

1. `pc_histogram`      counts of realizations per log10(P) bin (the one histogram rule).
2. `RunResults`        the in-memory results of a run or of a shard of a run; validated on creation.
3. `write_results`     atomic HDF5 write (temporary file in the same folder, then `os.replace`).
4. `load_fields`       lenient loader (path, xarray Dataset or RunResults) used by the plots.
5. `read_results`      strict reader: the whole file of design.md, checked, or one-line InputError.
6. `merge_results`     shards of one run -> the run;  `merge_files` does it file to file.
7. `summary`           per-target numbers for the CLI summary and `--json`.

File layout (design.md, "Results file"). Dimensions are HDF5 dimension scales, so that
``xarray.open_dataset(path, engine="h5netcdf")`` opens it as a netCDF-4 file:

=========================================  ==========  ======================================
variable (dims)                            dtype       units
=========================================  ==========  ======================================
realization (realization)                  int64       1 (global realization index)
target (target)                            str         1 (target name)
time (time)                                float64     seconds since <analysis start>, bin centre
time_bnds (time, nv)                       float64     seconds since <analysis start>
size_bin (size_bin)                        float64     m (geometric centre of the Lc bin)
size_bin_bnds (size_bin, nv)               float64     m
pc_bin (pc_bin)                            float64     1 (log10 P, bin centre)
pc_bin_bnds (pc_bin, nv)                   float64     1 (log10 P)
expected_collisions (target, realization)  float64     1
collision_probability (target, realization) float64    1
expected_collisions_by_time (target, realization, time)  float64  1
expected_collisions_by_size (target, realization, size_bin)  float64  1
pc_histogram (target, pc_bin)              uint64      1 (count of realizations)
fragments_in_orbit (realization, time)     float64     1
n_fragments (realization)                  int64       1
gabbard_apogee_km / gabbard_perigee_km (fragment)  float64  km (altitude)
gabbard_period_min (fragment)              float64     min
target_perigee_km / target_apogee_km (target)  float64  km (altitude)
=========================================  ==========  ======================================

`nv` (2) and `fragment` (F) are dimensions without coordinate variables. Global attributes:
title, source ("fragrisk <version>"), history, Conventions, scenario (TOML text), seed,
n_realizations (of the whole run), device, elapsed_s, analysis_start (ISO 8601, UTC), every
model choice, and realization_start / realization_stop (first index, one past the last index
held by this file).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import __version__
from .errors import InputError

__all__ = [
    "DEFAULT_PC_EDGES_LOG10",
    "FILE_VARIABLES",
    "PER_FILE_ATTRS",
    "REQUIRED_ATTRS",
    "RunResults",
    "load_fields",
    "merge_files",
    "merge_results",
    "pc_histogram",
    "read_results",
    "summary",
    "write_results",
]

#: Default log10(P) bin edges: one bin per decade from 1e-12 to 1 (12 bins).
DEFAULT_PC_EDGES_LOG10 = np.arange(-12.0, 1.0, 1.0)

#: Global attributes every results file carries (besides the defaulted title/source/history).
REQUIRED_ATTRS = ("scenario", "seed", "n_realizations", "device", "elapsed_s", "analysis_start")

#: Global attributes that may differ between shards of one run (everything else must agree).
PER_FILE_ATTRS = frozenset(
    {"history", "device", "elapsed_s", "realization_start", "realization_stop", "shard"}
)

#: Every variable of the file (design.md plus the target altitude bands used by the plots).
FILE_VARIABLES = (
    "realization",
    "target",
    "time",
    "time_bnds",
    "size_bin",
    "size_bin_bnds",
    "pc_bin",
    "pc_bin_bnds",
    "expected_collisions",
    "collision_probability",
    "expected_collisions_by_time",
    "expected_collisions_by_size",
    "pc_histogram",
    "fragments_in_orbit",
    "n_fragments",
    "gabbard_apogee_km",
    "gabbard_perigee_km",
    "gabbard_period_min",
    "target_perigee_km",
    "target_apogee_km",
)

_NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable."
_DEFAULT_TITLE = "fragrisk: collision risk of a fragmentation debris cloud"
_COMPRESS_MIN_ELEMENTS = 4096


class _Problem(Exception):
    """A validation problem; the caller prefixes the file (or 'RunResults') to make an InputError."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _short(value: object, limit: int = 60) -> str:
    text = _one_line(repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# 1. the histogram rule
# --------------------------------------------------------------------------------------------


def _check_edges(name: str, edges: Any, *, positive: bool = False) -> np.ndarray:
    """Float64 1-D, at least 2 entries, finite, strictly increasing (and > 0 if `positive`)."""
    try:
        a = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Problem(f"{name}: {_short(edges)} is not an array of numbers") from None
    if a.ndim != 1 or a.size < 2:
        raise _Problem(f"{name}: shape {a.shape}; expected (n+1,) edges with n >= 1")
    if not np.all(np.isfinite(a)):
        raise _Problem(f"{name}: {_short(a.tolist())} has non-finite values")
    if not np.all(np.diff(a) > 0):
        raise _Problem(f"{name}: {_short(a.tolist())} is not strictly increasing")
    if positive and a[0] <= 0:
        raise _Problem(f"{name}: first edge {a[0]!r} is not > 0")
    return a


def pc_histogram(P: Any, edges_log10: Any = DEFAULT_PC_EDGES_LOG10) -> np.ndarray:
    """Count realizations per log10(P) bin.

    P: collision probabilities, shape (..., R), unitless, in [0, 1].
    edges_log10: log10 P bin edges, shape (B+1,), strictly increasing.
    Returns uint64 counts, shape (..., B): bin b counts 10**edges[b] <= P < 10**edges[b+1];
    P below the lowest edge (P = 0 included) counts in the lowest bin, P at or above the top
    edge (P >= 1 with the default edges) in the top bin, so every row sums to R.
    """
    try:
        edges = _check_edges("edges_log10", edges_log10)
    except _Problem as p:
        raise InputError(f"pc_histogram: {p}") from None
    p = np.asarray(P, dtype=np.float64)
    if p.ndim == 0:
        raise InputError("pc_histogram: P: shape (); expected (..., R)")
    bad = np.isnan(p) | (p < 0)
    if bad.any():
        raise InputError(f"pc_histogram: P: value {p[bad].flat[0]!r} is not a probability >= 0")
    n_bins = edges.size - 1
    idx = np.searchsorted(10.0**edges, p, side="right") - 1
    np.clip(idx, 0, n_bins - 1, out=idx)
    lead = p.shape[:-1]
    rows = int(np.prod(lead, dtype=np.int64))
    flat = idx.reshape(rows, p.shape[-1]) + (np.arange(rows) * n_bins)[:, None]
    counts = np.bincount(flat.ravel(), minlength=rows * n_bins).astype(np.uint64)
    return counts.reshape(*lead, n_bins)


# --------------------------------------------------------------------------------------------
# 2. RunResults
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class RunResults:
    """Results of a run, or of a shard of it (a subset of its realizations).

    K targets, R realizations held here, T time bins, S size bins, B = P probability bins,
    F fragments of the Gabbard diagram. All floats float64; arrays are converted and
    validated on creation (InputError, one line, on bad input).

    target_names                 (K,) str, unique
    realization                  (R,) int64, global realization indices, unique, in
                                 [0, attrs["n_realizations"])
    time_edges_s                 (T+1,) s since attrs["analysis_start"]
    size_edges_m                 (S+1,) m, fragment characteristic length Lc
    expected_collisions          (K, R) expected number of collisions λ over the window
    expected_collisions_by_time  (K, R, T) λ per time bin
    expected_collisions_by_size  (K, R, S) λ per fragment size bin
    fragments_in_orbit           (R, T) number of fragments in orbit per time bin
    n_fragments                  (R,) int64, fragments sampled per realization
    gabbard_apogee_km            (F,) km apogee altitude, realization 0 at the event epoch
    gabbard_perigee_km           (F,) km perigee altitude (F = 0 where realization 0 is not held)
    gabbard_period_min           (F,) min orbital period
    target_perigee_km            (K,) km perigee altitude of each target (plots' target band)
    target_apogee_km             (K,) km apogee altitude of each target
    attrs                        global attributes, str -> str | int | float. Required:
                                 scenario (TOML text), seed, n_realizations (whole run),
                                 device, elapsed_s, analysis_start (ISO 8601); plus every
                                 model choice. Defaulted: title, source, history, Conventions.
                                 realization_start / realization_stop (min, max + 1 of
                                 `realization`) are always set from the data.
    pc_edges_log10               (B+1,) log10 P edges, default -12..0 one per decade
    """

    target_names: Any
    realization: Any
    time_edges_s: Any
    size_edges_m: Any
    expected_collisions: Any
    expected_collisions_by_time: Any
    expected_collisions_by_size: Any
    fragments_in_orbit: Any
    n_fragments: Any
    gabbard_apogee_km: Any
    gabbard_perigee_km: Any
    gabbard_period_min: Any
    target_perigee_km: Any
    target_apogee_km: Any
    attrs: dict = dataclasses.field(default_factory=dict)
    pc_edges_log10: Any = dataclasses.field(default_factory=lambda: DEFAULT_PC_EDGES_LOG10.copy())

    def __post_init__(self) -> None:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        try:
            fields = _normalize(fields)
        except _Problem as p:
            raise InputError(f"RunResults: {p}") from None
        for name, value in fields.items():
            setattr(self, name, value)

    # -- sizes --------------------------------------------------------------------------
    @property
    def n_targets(self) -> int:
        """K."""
        return int(self.target_names.size)

    @property
    def n_realizations_held(self) -> int:
        """R (realizations in this object; attrs["n_realizations"] is the whole run's)."""
        return int(self.realization.size)

    # -- coordinates --------------------------------------------------------------------
    @property
    def time_centers_s(self) -> np.ndarray:
        """(T,) s since analysis start, bin centres."""
        e = self.time_edges_s
        return 0.5 * (e[:-1] + e[1:])

    @property
    def size_centers_m(self) -> np.ndarray:
        """(S,) m, geometric bin centres of Lc."""
        e = self.size_edges_m
        return np.sqrt(e[:-1] * e[1:])

    @property
    def pc_centers_log10(self) -> np.ndarray:
        """(B,) log10 P bin centres."""
        e = self.pc_edges_log10
        return 0.5 * (e[:-1] + e[1:])

    # -- derived ------------------------------------------------------------------------
    @property
    def collision_probability(self) -> np.ndarray:
        """(K, R) P = 1 - exp(-λ), unitless."""
        return -np.expm1(-self.expected_collisions)

    @property
    def pc_histogram(self) -> np.ndarray:
        """(K, B) uint64 counts of realizations per log10 P bin (see module `pc_histogram`)."""
        return pc_histogram(self.collision_probability, self.pc_edges_log10)


def _as_float(name: str, value: Any, shape: tuple, dims: str, *, nonneg: bool) -> np.ndarray:
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Problem(f"{name}: {_short(value)} is not an array of numbers") from None
    if a.shape != shape:
        raise _Problem(f"{name}: shape {a.shape}; expected {dims} = {shape}")
    finite = np.isfinite(a)
    if not finite.all():
        raise _Problem(f"{name}: value {a[~finite].flat[0]!r} is not finite")
    if nonneg and (a < 0).any():
        raise _Problem(f"{name}: value {a[a < 0].flat[0]!r} is negative")
    return a


def _as_int(name: str, value: Any, shape: tuple, dims: str) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise _Problem(f"{name}: dtype {a.dtype}; expected integers")
    if a.shape != shape:
        raise _Problem(f"{name}: shape {a.shape}; expected {dims} = {shape}")
    if (a < 0).any():
        raise _Problem(f"{name}: value {a[a < 0].flat[0]!r} is negative")
    return a.astype(np.int64)


def _attr_value(key: str, value: Any) -> str | int | float:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (str, int, float)):
        return value
    raise _Problem(f"attrs[{key!r}]: {_short(value)} is not a str, int or float")


def _parse_iso_utc(text: str) -> _dt.datetime:
    """ISO 8601 text -> aware UTC datetime (naive text counts as UTC)."""
    t = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.astimezone(_dt.timezone.utc)


def _cf_time_units(analysis_start: str) -> str:
    t = _parse_iso_utc(analysis_start)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}"
    return f"seconds since {text}Z"


def _normalize(f: dict) -> dict:
    """Convert and check every field of RunResults; raise _Problem (one line) on bad input."""
    out = dict(f)
    names = np.asarray(f["target_names"])
    if names.dtype.kind == "S":
        names = np.char.decode(names, "utf-8")
    if names.ndim != 1 or names.size == 0 or names.dtype.kind not in "UO":
        raise _Problem(f"target_names: {_short(f['target_names'])}; expected (K,) names, K >= 1")
    names = names.astype(str)
    if any(not n.strip() for n in names):
        raise _Problem(f"target_names: {_short(names.tolist())} has an empty name")
    if len(set(names.tolist())) != names.size:
        raise _Problem(f"target_names: {_short(names.tolist())} has duplicate names")
    out["target_names"] = names
    K = names.size

    real = np.asarray(f["realization"])
    if real.ndim != 1 or real.size == 0:
        raise _Problem(f"realization: shape {real.shape}; expected (R,) with R >= 1")
    real = _as_int("realization", real, real.shape, "(realization,)")
    if np.unique(real).size != real.size:
        raise _Problem(f"realization: {_short(real.tolist())} has duplicate indices")
    out["realization"] = real
    R = real.size

    out["time_edges_s"] = te = _check_edges("time_edges_s", f["time_edges_s"])
    out["size_edges_m"] = se = _check_edges("size_edges_m", f["size_edges_m"], positive=True)
    out["pc_edges_log10"] = _check_edges("pc_edges_log10", f["pc_edges_log10"])
    T, S = te.size - 1, se.size - 1

    out["expected_collisions"] = _as_float(
        "expected_collisions", f["expected_collisions"], (K, R), "(target, realization)", nonneg=True
    )
    out["expected_collisions_by_time"] = _as_float(
        "expected_collisions_by_time", f["expected_collisions_by_time"], (K, R, T),
        "(target, realization, time)", nonneg=True,
    )
    out["expected_collisions_by_size"] = _as_float(
        "expected_collisions_by_size", f["expected_collisions_by_size"], (K, R, S),
        "(target, realization, size_bin)", nonneg=True,
    )
    out["fragments_in_orbit"] = _as_float(
        "fragments_in_orbit", f["fragments_in_orbit"], (R, T), "(realization, time)", nonneg=True
    )
    out["n_fragments"] = _as_int("n_fragments", f["n_fragments"], (R,), "(realization,)")

    apo = np.asarray(f["gabbard_apogee_km"])
    if apo.ndim != 1:
        raise _Problem(f"gabbard_apogee_km: shape {apo.shape}; expected (fragment,)")
    F = apo.shape[0]
    for name in ("gabbard_apogee_km", "gabbard_perigee_km", "gabbard_period_min"):
        out[name] = _as_float(name, f[name], (F,), "(fragment,)", nonneg=False)
    for name in ("target_perigee_km", "target_apogee_km"):
        out[name] = _as_float(name, f[name], (K,), "(target,)", nonneg=False)

    raw = f["attrs"]
    if not isinstance(raw, Mapping):
        raise _Problem(f"attrs: {_short(raw)} is not a dict")
    attrs: dict[str, str | int | float] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise _Problem(f"attrs: key {key!r} is not a non-empty str")
        attrs[key] = _attr_value(key, value)
    for key in REQUIRED_ATTRS:
        if key not in attrs:
            raise _Problem(f"attrs: required attribute {key!r} is missing")
    for key in ("seed", "n_realizations"):
        if not isinstance(attrs[key], int) or attrs[key] < 0:
            raise _Problem(f"attrs[{key!r}]: {attrs[key]!r} is not an integer >= 0")
    if attrs["n_realizations"] < 1:
        raise _Problem(f"attrs['n_realizations']: {attrs['n_realizations']!r} is not >= 1")
    if not isinstance(attrs["elapsed_s"], (int, float)):
        raise _Problem(f"attrs['elapsed_s']: {_short(attrs['elapsed_s'])} is not a number")
    attrs["elapsed_s"] = float(attrs["elapsed_s"])
    for key in ("scenario", "device", "analysis_start"):
        if not isinstance(attrs[key], str):
            raise _Problem(f"attrs[{key!r}]: {_short(attrs[key])} is not a str")
    try:
        _parse_iso_utc(attrs["analysis_start"])
    except ValueError:
        raise _Problem(
            f"attrs['analysis_start']: {attrs['analysis_start']!r} is not an ISO 8601 date-time"
        ) from None
    attrs.setdefault("title", _DEFAULT_TITLE)
    attrs.setdefault("source", f"fragrisk {__version__}")
    attrs.setdefault("Conventions", "CF-1.8")
    attrs.setdefault(
        "history",
        f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')} "
        f"created by {attrs['source']}",
    )
    n_run = attrs["n_realizations"]
    if real.max() >= n_run:
        raise _Problem(
            f"realization: index {int(real.max())} is not below attrs['n_realizations'] = {n_run}"
        )
    attrs["realization_start"] = int(real.min())
    attrs["realization_stop"] = int(real.max()) + 1
    out["attrs"] = attrs
    return out


# --------------------------------------------------------------------------------------------
# 3. writing
# --------------------------------------------------------------------------------------------


def write_results(path: str | os.PathLike, results: RunResults, *, overwrite: bool = False) -> Path:
    """Write `results` to `path` (HDF5 / netCDF-4, see the module docstring); return the path.

    Atomic: the data go to a temporary file in the same folder, which then replaces `path`
    (os.replace), so `path` is never half-written; the temporary file is removed on any error.
    An existing `path` is refused unless `overwrite`.
    """
    from .h5io import atomic_h5

    path = Path(path)
    if not isinstance(results, RunResults):
        raise InputError(f"{path}: results is a {type(results).__name__}; expected RunResults")
    with atomic_h5(path, overwrite=overwrite, what="a results file") as f:
        _write_h5(f, results)
    return path


def _write_h5(f: Any, r: RunResults) -> None:
    """Fill an open, empty h5py.File with `r` (dimension scales + CF attributes)."""
    import h5py

    for key, value in r.attrs.items():
        f.attrs[key] = value

    dim_ids = iter(range(1_000))

    def scale(ds: Any, name: bytes | str) -> Any:
        ds.make_scale(name)
        ds.attrs["_Netcdf4Dimid"] = np.int32(next(dim_ids))
        return ds

    def attrs(ds: Any, units: str, long_name: str, **extra: str) -> Any:
        ds.attrs["units"] = units
        ds.attrs["long_name"] = long_name
        for k, v in extra.items():
            ds.attrs[k] = v
        return ds

    def coord(name: str, data: Any, units: str, long_name: str, **extra: str) -> Any:
        dtype = h5py.string_dtype("utf-8") if name == "target" else None
        ds = f.create_dataset(name, data=data, dtype=dtype)
        return attrs(scale(ds, name), units, long_name, **extra)

    def dim_only(name: str, n: int) -> Any:
        ds = f.create_dataset(name, shape=(n,), dtype=">f4")
        return scale(ds, _NOT_A_VARIABLE + f"{n:10d}".encode("ascii"))

    time_units = _cf_time_units(r.attrs["analysis_start"])
    d = {
        "realization": coord("realization", r.realization, "1", "realization index"),
        "target": coord(
            "target", np.array(r.target_names.tolist(), dtype=object), "1", "target name"
        ),
        "time": coord(
            "time", r.time_centers_s, time_units, "time bin centre",
            standard_name="time", calendar="standard", bounds="time_bnds",
        ),
        "nv": dim_only("nv", 2),
        "size_bin": coord(
            "size_bin", r.size_centers_m, "m",
            "fragment characteristic length Lc, geometric bin centre", bounds="size_bin_bnds",
        ),
        "pc_bin": coord(
            "pc_bin", r.pc_centers_log10, "1",
            "log10 of collision probability, bin centre", bounds="pc_bin_bnds",
        ),
        "fragment": dim_only("fragment", int(r.gabbard_apogee_km.size)),
    }

    def var(name: str, data: np.ndarray, dims: tuple, units: str, long_name: str) -> None:
        kw: dict[str, Any] = {}
        if data.size >= _COMPRESS_MIN_ELEMENTS:
            kw = dict(chunks=True, compression="gzip", compression_opts=4, shuffle=True)
        ds = f.create_dataset(name, data=data, **kw)
        for i, dim in enumerate(dims):
            ds.dims[i].attach_scale(d[dim])
        attrs(ds, units, long_name)

    def bounds(edges: np.ndarray) -> np.ndarray:
        return np.stack([edges[:-1], edges[1:]], axis=-1)

    KR = ("target", "realization")
    var("time_bnds", bounds(r.time_edges_s), ("time", "nv"), time_units, "time bin bounds")
    var("size_bin_bnds", bounds(r.size_edges_m), ("size_bin", "nv"), "m", "Lc bin bounds")
    var("pc_bin_bnds", bounds(r.pc_edges_log10), ("pc_bin", "nv"), "1", "log10 P bin bounds")
    var("target_perigee_km", r.target_perigee_km, ("target",), "km", "target perigee altitude")
    var("target_apogee_km", r.target_apogee_km, ("target",), "km", "target apogee altitude")
    var("expected_collisions", r.expected_collisions, KR, "1",
        "expected number of collisions over the analysis window")
    var("collision_probability", r.collision_probability, KR, "1",
        "collision probability 1 - exp(-expected_collisions)")
    var("expected_collisions_by_time", r.expected_collisions_by_time, KR + ("time",), "1",
        "expected number of collisions in the time bin")
    var("expected_collisions_by_size", r.expected_collisions_by_size, KR + ("size_bin",), "1",
        "expected number of collisions with fragments of the Lc bin")
    var("pc_histogram", r.pc_histogram, ("target", "pc_bin"), "1",
        "number of realizations per log10 collision probability bin (P = 0 in the lowest)")
    var("fragments_in_orbit", r.fragments_in_orbit, ("realization", "time"), "1",
        "mean number of propagated fragments in orbit during the time bin (not decayed)")
    var("n_fragments", r.n_fragments, ("realization",), "1",
        "number of fragments sampled in the realization")
    var("gabbard_apogee_km", r.gabbard_apogee_km, ("fragment",), "km",
        "fragment apogee altitude, realization 0 at the event epoch")
    var("gabbard_perigee_km", r.gabbard_perigee_km, ("fragment",), "km",
        "fragment perigee altitude, realization 0 at the event epoch")
    var("gabbard_period_min", r.gabbard_period_min, ("fragment",), "min",
        "fragment orbital period, realization 0 at the event epoch")


# --------------------------------------------------------------------------------------------
# 4./5. reading
# --------------------------------------------------------------------------------------------

# file variable -> RunResults field (bounds variables become edges)
_FIELD_OF = {
    "realization": "realization",
    "target": "target_names",
    "time_bnds": "time_edges_s",
    "size_bin_bnds": "size_edges_m",
    "pc_bin_bnds": "pc_edges_log10",
}
_DATA_VARIABLES = tuple(v for v in FILE_VARIABLES if v not in ("time", "size_bin", "pc_bin"))


def _edges_from_bounds(label: str, name: str, b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1:
        raise InputError(f"{label}: variable {name!r} has shape {b.shape}; expected (n, 2)")
    if not np.array_equal(b[1:, 0], b[:-1, 1]):
        raise InputError(f"{label}: variable {name!r} does not hold contiguous bin bounds")
    return np.concatenate([b[:, 0], b[-1:, 1]])


def _check_source(label: str, attrs: Mapping[str, Any]) -> None:
    src = attrs.get("source")
    if not (isinstance(src, str) and src.startswith("fragrisk")):
        raise InputError(
            f"{label}: not a fragrisk results file (global attribute 'source' is {_short(src)})"
        )


def load_fields(source: Any) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    """Load what a results source holds, leniently (the plots check what each figure needs).

    source: a results file path, an xarray.Dataset opened from one, or a RunResults.
    Returns (fields, attrs, label): `fields` maps RunResults field names, plus
    "collision_probability" and "pc_histogram", to arrays (only those present in the source);
    `attrs` the global attributes; `label` names the source in error messages.
    InputError (one line) if the source is not a fragrisk results source or is unreadable.
    """
    if isinstance(source, RunResults):
        fields = {f.name: getattr(source, f.name) for f in dataclasses.fields(source)}
        attrs = fields.pop("attrs")
        fields["collision_probability"] = source.collision_probability
        fields["pc_histogram"] = source.pc_histogram
        return fields, dict(attrs), "RunResults"
    if isinstance(source, (str, os.PathLike)):
        return check_loaded(*_load_path(Path(source)))
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - xarray missing: only paths and RunResults
        xr = None
    if xr is not None and isinstance(source, xr.Dataset):
        return check_loaded(*_load_dataset(source))
    raise InputError(
        f"results: {type(source).__name__} is not a results path, xarray Dataset or RunResults"
    )


def _load_path(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    import h5py

    label = str(path)
    if not path.exists():
        raise InputError(f"{label}: no such file")
    if path.is_dir():
        raise InputError(f"{label}: is a folder; expected a results file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{label}: damaged or not an HDF5 file ({_one_line(exc)})") from None
    with f:
        try:
            attrs = {k: _attr_value(k, f.attrs[k]) for k in f.attrs}
        except (_Problem, OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InputError(f"{label}: global attributes are damaged ({_one_line(exc)})") from None
        _check_source(label, attrs)
        fields: dict[str, np.ndarray] = {}
        for name in _DATA_VARIABLES:
            try:
                obj = f.get(name)
                if obj is None or not isinstance(obj, h5py.Dataset):
                    continue
                _check_variable_size(label, name, obj)
                data = obj[()]
            except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
                raise InputError(
                    f"{label}: variable {name!r} is damaged or unreadable ({_one_line(exc)})"
                ) from None
            if name == "target":
                data = np.array(
                    [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in np.ravel(data)]
                )
            elif name.endswith("_bnds"):
                data = _edges_from_bounds(label, name, data)
            fields[_FIELD_OF.get(name, name)] = np.asarray(data)
    return fields, attrs, label


def _check_variable_size(label: str, name: str, obj: Any) -> None:
    """InputError if reading dataset `obj` would take more memory than is available (a damaged
    or hostile file can declare any shape without storing it)."""
    from .limits import MEMORY_SHARE, available_memory_bytes

    nbytes = float(obj.size) * max(int(obj.dtype.itemsize), 1)
    budget = MEMORY_SHARE * available_memory_bytes()
    if nbytes > budget:
        raise InputError(f"{label}: variable {name!r} declares shape {obj.shape} "
                         f"({nbytes:.3g} bytes), more than the {budget:.3g} bytes of memory "
                         f"available; not a results file fragrisk can read")


def _load_dataset(ds: Any) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    label = str(ds.encoding.get("source", "dataset"))
    try:
        attrs = {k: _attr_value(k, v) for k, v in ds.attrs.items()}
    except _Problem as p:
        raise InputError(f"{label}: {p}") from None
    _check_source(label, attrs)
    fields: dict[str, np.ndarray] = {}
    for name in _DATA_VARIABLES:
        if name not in ds.variables:
            continue
        data = np.asarray(ds[name].values)
        if name == "target":
            data = np.array([str(x) for x in data])
        elif name.endswith("_bnds"):
            if data.dtype.kind == "M":  # decoded as datetimes: back to s since analysis start
                if "analysis_start" not in attrs:
                    raise InputError(f"{label}: global attribute 'analysis_start' is missing")
                start = np.datetime64(
                    _parse_iso_utc(str(attrs["analysis_start"])).replace(tzinfo=None), "ns"
                )
                data = (data - start) / np.timedelta64(1, "s")
            elif data.dtype.kind == "m":
                data = data / np.timedelta64(1, "s")
            data = _edges_from_bounds(label, name, data)
        fields[_FIELD_OF.get(name, name)] = data
    return fields, attrs, label


def read_results(path: str | os.PathLike) -> RunResults:
    """Read a results file written by `write_results`.

    InputError (one line naming the file, the variable and the value) if the file is missing,
    not HDF5, damaged, not a fragrisk results file (global attribute `source` must start with
    "fragrisk"), lacks a variable, or holds inconsistent data (shapes, stored P or histogram
    that disagree with expected_collisions).
    """
    fields, attrs, label = check_loaded(*_load_path(Path(path)))
    for name in _DATA_VARIABLES:
        if _FIELD_OF.get(name, name) not in fields:
            raise InputError(f"{label}: not a complete fragrisk results file: variable {name!r} is missing")
    stored_p = fields.pop("collision_probability")
    stored_hist = fields.pop("pc_histogram")
    fields["attrs"] = attrs
    try:
        fields = _normalize(fields)
    except _Problem as p:
        raise InputError(f"{label}: {p}") from None
    res = RunResults(**fields)
    # Shapes are RunResults' now; check_loaded compared the values where the shapes agreed.
    if stored_p.shape != res.expected_collisions.shape:
        raise InputError(f"{label}: variable 'collision_probability' has shape {stored_p.shape}; "
                         f"expected (target, realization) = {res.expected_collisions.shape}")
    hist_shape = (res.n_targets, res.pc_edges_log10.size - 1)
    if stored_hist.shape != hist_shape:
        raise InputError(f"{label}: variable 'pc_histogram' has shape {stored_hist.shape}; "
                         f"expected (target, pc_bin) = {hist_shape}")
    return res


# --- the values of a loaded results file: one check for every reader -------------------------
#: What each variable of a results file may hold: "nonneg" finite and >= 0, "finite",
#: "probability" in [0, 1], "count" integers >= 0.
_VALUE_RULES = {
    "realization": "count",
    "expected_collisions": "nonneg",
    "collision_probability": "probability",
    "expected_collisions_by_time": "nonneg",
    "expected_collisions_by_size": "nonneg",
    "pc_histogram": "count",
    "fragments_in_orbit": "nonneg",
    "n_fragments": "count",
    "gabbard_apogee_km": "finite",
    "gabbard_perigee_km": "finite",
    "gabbard_period_min": "finite",
    "target_perigee_km": "finite",
    "target_apogee_km": "finite",
    "time_edges_s": "finite",
    "size_edges_m": "finite",
    "pc_edges_log10": "finite",
}


def check_loaded(fields: dict, attrs: dict, label: str) -> tuple[dict, dict, str]:
    """Check the values of what a reader loaded from a results file (or Dataset): every reader
    (`read_results`, hence merge; `load_fields`, hence the plots) goes through here, so a file
    one of them refuses, all refuse.  Returns its arguments.

    Variables that are present must hold numbers of their rule (_VALUE_RULES: finite, >= 0,
    probabilities in [0, 1], counts); collision_probability must be 1 - exp(-expected_collisions)
    and pc_histogram the histogram of collision_probability where both are present with equal
    shapes; the required global attributes that are present must have their types.  Missing
    variables and shapes are left to the caller (the plots need only some of them).
    InputError (one line naming the file, the variable and the value) otherwise.
    """
    for name, rule in _VALUE_RULES.items():
        if name not in fields:
            continue
        a = np.asarray(fields[name])
        var = {v: k for k, v in _FIELD_OF.items()}.get(name, name)
        if a.dtype.kind not in ("iu" if rule == "count" else "fiu"):
            raise InputError(f"{label}: variable {var!r} holds {a.dtype} values; expected "
                             f"{'integers' if rule == 'count' else 'numbers'}")
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a)
            if bad.any():
                raise InputError(f"{label}: variable {var!r} holds {a[bad].flat[0]!r}; expected "
                                 f"finite numbers")
        if rule in ("nonneg", "count", "probability") and (a < 0).any():
            raise InputError(f"{label}: variable {var!r} holds {a[a < 0].flat[0]!r}; expected "
                             f"values >= 0")
        if rule == "probability" and (a > 1).any():
            raise InputError(f"{label}: variable {var!r} holds {a[a > 1].flat[0]!r}; expected "
                             f"probabilities <= 1")
    lam, p = fields.get("expected_collisions"), fields.get("collision_probability")
    if lam is not None and p is not None and np.shape(lam) == np.shape(p):
        if not np.allclose(p, -np.expm1(-np.asarray(lam, dtype=np.float64)), rtol=1e-12, atol=0.0):
            raise InputError(f"{label}: variable 'collision_probability' disagrees with "
                             f"1 - exp(-expected_collisions)")
    hist, edges = fields.get("pc_histogram"), fields.get("pc_edges_log10")
    if p is not None and hist is not None and edges is not None:
        try:
            expected = pc_histogram(p, edges)
        except InputError:
            expected = None  # bad edges: the caller's shape checks say so
        if expected is not None and np.shape(hist) == expected.shape and not np.array_equal(hist, expected):
            raise InputError(
                f"{label}: variable 'pc_histogram' disagrees with collision_probability "
                f"(stored sums {_short(np.asarray(hist).sum(axis=-1).tolist())}, "
                f"{np.shape(p)[-1]} realizations)")
    for key, ok, expect in (
        ("seed", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
        ("n_realizations", lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
        ("elapsed_s", lambda v: isinstance(v, (int, float)) and math.isfinite(v), "a number"),
        ("device", lambda v: isinstance(v, str), "a string"),
        ("scenario", lambda v: isinstance(v, str), "a string"),
    ):
        if key in attrs and not ok(attrs[key]):
            raise InputError(f"{label}: global attribute {key!r} is {_short(attrs[key])}; "
                             f"expected {expect}")
    return fields, attrs, label


# --------------------------------------------------------------------------------------------
# 6. merging shards
# --------------------------------------------------------------------------------------------


def _ranges(idx: np.ndarray) -> list[tuple[int, int]]:
    """Sorted unique ints -> inclusive runs [(first, last), ...]."""
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks, [idx.size - 1]])
    return [(int(idx[a]), int(idx[b])) for a, b in zip(starts, stops)]


def _fmt_ranges(runs: list[tuple[int, int]], limit: int = 3) -> str:
    parts = [f"{a}" if a == b else f"{a}..{b}" for a, b in runs[:limit]]
    more = f" and {len(runs) - limit} more range(s)" if len(runs) > limit else ""
    return ", ".join(parts) + more


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _scenario_difference(ref_text: str, text: str) -> str | None:
    """' at [event] lc_min_m (0.2 vs 0.1)': the first field where two resolved scenario texts
    differ; '' where that cannot be said (texts that are not TOML); None where they hold the
    same fields (they differ in comments only)."""
    import tomllib

    try:
        a, b = tomllib.loads(ref_text), tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return ""
    if a == b:
        return None

    def walk(x, y, where):
        if isinstance(x, dict) and isinstance(y, dict):
            for key in list(x) + [k for k in y if k not in x]:
                u, v = x.get(key), y.get(key)
                if not where and isinstance(u if u is not None else v, (dict, list)):
                    label = f"[{key}]" if isinstance(u if u is not None else v, dict) else f"[[{key}]]"
                else:
                    label = f"{where} {key}" if where else key
                found = walk(u, v, label)
                if found:
                    return found
            return ""
        if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y), start=1):
                found = walk(u, v, f"{where} #{i}")
                if found:
                    return found
            return ""
        return "" if x == y else f" at {where} ({_short(y, 30)} vs {_short(x, 30)})"

    return walk(a, b, "")

def merge_results(shards: Sequence[RunResults], names: Sequence[str] | None = None) -> RunResults:
    """Merge shards of one run into the run (realizations concatenated, sorted by index).

    shards: RunResults of the same run (same source, scenario, seed, n_realizations, every
    other attribute except PER_FILE_ATTRS, and the same targets and bin edges) whose
    realizations do not overlap and together are 0..n_realizations-1.
    names: how to name each shard in error messages (default "shard 0", "shard 1", ...).
    The Gabbard arrays come from the shard holding realization 0, elapsed_s is the sum,
    device lists the shards' devices, history gains a line. Histograms add exactly.
    InputError (one line) on any mismatch, overlap or gap.
    """
    shards = list(shards)
    if not shards:
        raise InputError("merge: no shards given")
    names = [f"shard {i}" for i in range(len(shards))] if names is None else [str(n) for n in names]
    if len(names) != len(shards):
        raise InputError(f"merge: {len(names)} names for {len(shards)} shards")
    for i, s in enumerate(shards):
        if not isinstance(s, RunResults):
            raise InputError(f"merge: {names[i]} is a {type(s).__name__}; expected RunResults")

    ref, ref_name = shards[0], names[0]
    keys = sorted(set().union(*(s.attrs.keys() for s in shards)) - PER_FILE_ATTRS)
    # The seed and the realization count first: the scenario text records them too, and a
    # message about the seed says more than one about the scenario's hash.
    first = ("source", "seed", "n_realizations", "scenario")
    keys = [k for k in first if k in keys] + [k for k in keys if k not in first]
    for s, name in zip(shards[1:], names[1:]):
        for key in keys:
            a, b = ref.attrs.get(key), s.attrs.get(key)
            if a == b:
                continue
            if key == "scenario" and isinstance(a, str) and isinstance(b, str):
                difference = _scenario_difference(a, b)
                if difference is None:
                    continue  # the same scenario, named by another path in its comment line
                raise InputError(
                    f"{name}: global attribute 'scenario' (sha256 {_digest(b)}) differs from "
                    f"{ref_name}'s (sha256 {_digest(a)}){difference}; shards of "
                    f"different runs cannot be merged"
                )
            raise InputError(
                f"{name}: global attribute {key!r} is {_short(b)} but {ref_name} has "
                f"{_short(a)}; shards of different runs cannot be merged"
            )
        for field in ("target_names", "time_edges_s", "size_edges_m", "pc_edges_log10",
                      "target_perigee_km", "target_apogee_km"):
            a, b = getattr(ref, field), getattr(s, field)
            if a.shape != b.shape or not np.array_equal(a, b):
                raise InputError(
                    f"{name}: {field} {_short(b.tolist())} differs from {ref_name}'s "
                    f"{_short(a.tolist())}; shards of different runs cannot be merged"
                )

    # overlaps and gaps
    idx = np.concatenate([s.realization for s in shards])
    owner = np.concatenate([np.full(s.realization.size, i) for i, s in enumerate(shards)])
    order = np.argsort(idx, kind="stable")
    idx_sorted, owner_sorted = idx[order], owner[order]
    dup = np.flatnonzero(np.diff(idx_sorted) == 0)
    if dup.size:
        j = dup[0]
        a, b = int(owner_sorted[j]), int(owner_sorted[j + 1])
        ra, rb = shards[a].attrs, shards[b].attrs
        raise InputError(
            f"{names[b]}: realizations {rb['realization_start']}..{rb['realization_stop'] - 1} "
            f"overlap {names[a]} ({ra['realization_start']}..{ra['realization_stop'] - 1}) "
            f"at realization {int(idx_sorted[j])}"
        )
    n = int(ref.attrs["n_realizations"])
    missing = np.setdiff1d(np.arange(n, dtype=np.int64), idx_sorted, assume_unique=True)
    if missing.size:
        raise InputError(
            f"merge: realizations {_fmt_ranges(_ranges(missing))} are in no shard "
            f"(n_realizations = {n}, {len(shards)} shard(s) given)"
        )

    def cat(field: str, axis: int) -> np.ndarray:
        return np.take(np.concatenate([getattr(s, field) for s in shards], axis=axis), order, axis=axis)

    holder = int(owner_sorted[0])  # the shard holding realization 0
    g = shards[holder]
    attrs = {k: v for k, v in g.attrs.items() if k != "shard"}
    attrs["elapsed_s"] = float(sum(float(s.attrs["elapsed_s"]) for s in shards))
    attrs["device"] = ",".join(dict.fromkeys(str(s.attrs["device"]) for s in shards))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    attrs["history"] = (
        f"{g.attrs.get('history', '')}\n{now} fragrisk {__version__} merged "
        f"{len(shards)} shard(s): {', '.join(names)}"
    ).strip()
    merged = RunResults(
        target_names=ref.target_names,
        realization=idx_sorted,
        time_edges_s=ref.time_edges_s,
        size_edges_m=ref.size_edges_m,
        expected_collisions=cat("expected_collisions", 1),
        expected_collisions_by_time=cat("expected_collisions_by_time", 1),
        expected_collisions_by_size=cat("expected_collisions_by_size", 1),
        fragments_in_orbit=cat("fragments_in_orbit", 0),
        n_fragments=cat("n_fragments", 0),
        gabbard_apogee_km=g.gabbard_apogee_km,
        gabbard_perigee_km=g.gabbard_perigee_km,
        gabbard_period_min=g.gabbard_period_min,
        target_perigee_km=ref.target_perigee_km,
        target_apogee_km=ref.target_apogee_km,
        attrs=attrs,
        pc_edges_log10=ref.pc_edges_log10,
    )
    added = np.sum([s.pc_histogram for s in shards], axis=0, dtype=np.uint64)
    if not np.array_equal(added, merged.pc_histogram):  # histograms add; recomputing agrees
        raise InputError("merge: the shards' pc_histogram sums disagree with the merged data")
    return merged


def merge_files(
    paths: Sequence[str | os.PathLike], out: str | os.PathLike, overwrite: bool = False
) -> Path:
    """Merge shard results files into one results file at `out`; return `out`.

    Every shard is read and checked (read_results), the shards' stored histograms must add to
    the merged one, and the merged file is written atomically (write_results). InputError
    (one line) if `out` exists without `overwrite`, a shard is damaged or not a fragrisk
    results file, or the shards are not one run's complementary parts (see merge_results).
    """
    out = Path(out)
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError(f"{out}: no shard files given to merge")
    from .h5io import check_output_path

    check_output_path(out, overwrite=overwrite, what="a results file")  # before reading shards
    shards = [read_results(p) for p in paths]  # also checks each stored histogram against P
    merged = merge_results(shards, names=[str(p) for p in paths])
    return write_results(out, merged, overwrite=overwrite)


# --------------------------------------------------------------------------------------------
# 7. summary
# --------------------------------------------------------------------------------------------


def summary(results: RunResults) -> dict[str, dict[str, Any]]:
    """Per-target summary for the CLI and `--json`: {target name: {key: value}}.

    Keys: n_realizations (R held), p_mean, p_median, p_p05, p_p95 (collision probability,
    unitless, across realizations), lambda_mean (mean expected collisions), peak_rate_time_h
    (centre of the time bin with the highest mean collision rate, hours since analysis start;
    None when every rate is 0) and peak_rate_per_h (that mean rate, expected collisions per
    hour). Plain Python floats, JSON-serializable.
    """
    if not isinstance(results, RunResults):
        raise InputError(f"summary: results is a {type(results).__name__}; expected RunResults")
    P = results.collision_probability
    lam = results.expected_collisions
    width_h = np.diff(results.time_edges_s) / 3600.0
    mean_rate = results.expected_collisions_by_time.mean(axis=1) / width_h  # (K, T) 1/h
    centres_h = results.time_centers_s / 3600.0
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(results.target_names.tolist()):
        p05, p50, p95 = np.percentile(P[k], [5.0, 50.0, 95.0])
        j = int(np.argmax(mean_rate[k]))
        peak = float(mean_rate[k, j])
        out[name] = {
            "n_realizations": results.n_realizations_held,
            "p_mean": float(P[k].mean()),
            "p_median": float(p50),
            "p_p05": float(p05),
            "p_p95": float(p95),
            "lambda_mean": float(lam[k].mean()),
            "peak_rate_time_h": float(centres_h[j]) if peak > 0 else None,
            "peak_rate_per_h": peak,
        }
    return out
