"""In-memory results of a run (`RunResults`), their validation, and the histogram rule.

`count_pc_histogram` counts realizations per log10(P) bin: the one histogram rule, used for the
stored variable, by the readers' consistency check and by merging. `RunResults` holds a run or
a shard of a run; it converts and checks every field on creation (InputError, one line). The
file variables these fields become are listed in engine/results/variables.py.

Global attributes: title, source ("fragrisk <version>"), history, Conventions, scenario (TOML
text), seed, n_realizations (of the whole run), device, elapsed_s, analysis_start (ISO 8601,
UTC), every model choice, and realization_start / realization_stop (first index, one past the
last index held).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from .. import __version__
from ..errors import InputError, one_line
from ..timeutil import history_stamp, parse_utc_datetime, to_utc, utc_datetime64
from . import encounter_table as _encounters

__all__ = [
    "DEFAULT_PC_EDGES_LOG10",
    "PER_FILE_ATTRS",
    "REQUIRED_ATTRS",
    "RunResults",
    "count_pc_histogram",
]

#: Default log10(P) bin edges: one bin per decade from 1e-12 to 1 (12 bins).
DEFAULT_PC_EDGES_LOG10 = np.arange(-12.0, 1.0, 1.0)

#: Global attributes every results file carries (besides the defaulted title/source/history).
REQUIRED_ATTRS = ("scenario", "seed", "n_realizations", "device", "elapsed_s", "analysis_start")

#: Global attributes that may differ between shards of one run (everything else must agree).
PER_FILE_ATTRS = frozenset(
    {"history", "device", "elapsed_s", "realization_start", "realization_stop", "shard"}
)


_DEFAULT_TITLE = "fragrisk: collision risk of a fragmentation debris cloud"


class _Problem(Exception):
    """A validation problem; the caller prefixes the file (or 'RunResults') to make an InputError."""


def _short(value: object, limit: int = 60) -> str:
    text = one_line(repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."




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




def count_pc_histogram(P: Any, edges_log10: Any = DEFAULT_PC_EDGES_LOG10) -> np.ndarray:
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
        raise InputError(f"count_pc_histogram: {p}") from None
    p = np.asarray(P, dtype=np.float64)
    if p.ndim == 0:
        raise InputError("count_pc_histogram: P: shape (); expected (..., R)")
    bad = np.isnan(p) | (p < 0)
    if bad.any():
        raise InputError(f"count_pc_histogram: P: value {p[bad].flat[0]!r} is not a probability >= 0")
    n_bins = edges.size - 1
    idx = np.searchsorted(10.0**edges, p, side="right") - 1
    np.clip(idx, 0, n_bins - 1, out=idx)
    lead = p.shape[:-1]
    rows = int(np.prod(lead, dtype=np.int64))
    flat = idx.reshape(rows, p.shape[-1]) + (np.arange(rows) * n_bins)[:, None]
    counts = np.bincount(flat.ravel(), minlength=rows * n_bins).astype(np.uint64)
    return counts.reshape(*lead, n_bins)




@dataclasses.dataclass(eq=False)
class RunResults:
    """Results of a run, or of a shard of it (a subset of its realizations).

    K targets, R realizations held here, T time bins, S size bins, B = P probability bins,
    F fragments of the Gabbard diagram. All floats float64; arrays are converted and
    validated on creation (InputError, one line, on bad input).

    target_names                 (K,) str, unique
    realization                  (R,) int64, global realization indices, unique, in
                                 [0, attrs["n_realizations"])
    time_edges_s                 (T+1,) s since attrs["analysis_start"] (time_edges_utc,
                                 time_utc: the same as numpy.datetime64 UTC)
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
    encounters                   engine.results.encounter_table.EncounterTable (dim `encounter`), or None
                                 (a run without the table, or a file written before it); its
                                 shares add up to expected_collisions per target and realization
    target_norad                 (K,) int64 NORAD numbers, or None (optional, as the next four)
    target_group                 (K,) str groups (the name's family: STARLINK, FLOCK, ...)
    conjunction_thresholds_km    (C,) km, increasing
    conjunction_days             (D,) days since the analysis start of each 24 h bin
    conjunctions                 (K, R, D, C) int64 local minima of a fragment-target distance
                                 below each threshold, by day (None: not counted)
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
    encounters: Any = None
    target_norad: Any = None
    target_group: Any = None
    conjunction_thresholds_km: Any = None
    conjunction_days: Any = None
    conjunctions: Any = None

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

    # -- the same times in UTC (numpy.datetime64[ns], what xarray shows) ------------------
    @property
    def analysis_start_utc(self) -> np.datetime64:
        """The analysis start, attrs["analysis_start"], as numpy.datetime64[ns] (UTC)."""
        return utc_datetime64(self.attrs["analysis_start"])

    def utc(self, seconds: Any) -> np.ndarray:
        """Seconds since the analysis start (any shape) -> numpy.datetime64[ns] UTC."""
        return to_utc(self.attrs["analysis_start"], seconds)

    @property
    def time_utc(self) -> np.ndarray:
        """(T,) datetime64[ns] UTC, bin centres (time_centers_s)."""
        return self.utc(self.time_centers_s)

    @property
    def time_edges_utc(self) -> np.ndarray:
        """(T+1,) datetime64[ns] UTC, bin edges (time_edges_s)."""
        return self.utc(self.time_edges_s)

    @property
    def encounter_tca_utc(self) -> np.ndarray | None:
        """(n,) datetime64[ns] UTC of each encounter's closest approach (encounters.tca_s), or
        None without the encounter table."""
        return None if self.encounters is None else self.utc(self.encounters.tca_s)

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
        """(K, B) uint64 counts of realizations per log10 P bin (see `count_pc_histogram`)."""
        return count_pc_histogram(self.collision_probability, self.pc_edges_log10)


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
    try:
        out["encounters"] = _encounters.checked(f.get("encounters"), K, real, out["expected_collisions"])
    except _encounters.TableError as exc:
        raise _Problem(str(exc)) from None

    apo = np.asarray(f["gabbard_apogee_km"])
    if apo.ndim != 1:
        raise _Problem(f"gabbard_apogee_km: shape {apo.shape}; expected (fragment,)")
    F = apo.shape[0]
    for name in ("gabbard_apogee_km", "gabbard_perigee_km", "gabbard_period_min"):
        out[name] = _as_float(name, f[name], (F,), "(fragment,)", nonneg=False)
    for name in ("target_perigee_km", "target_apogee_km"):
        out[name] = _as_float(name, f[name], (K,), "(target,)", nonneg=False)
    if f.get("target_norad") is not None:
        out["target_norad"] = _as_int("target_norad", f["target_norad"], (K,), "(target,)")
    if f.get("target_group") is not None:
        groups = np.asarray(f["target_group"])
        if groups.dtype.kind == "S":
            groups = np.char.decode(groups, "utf-8")
        if groups.shape != (K,) or groups.dtype.kind not in "UO":
            raise _Problem(f"target_group: {_short(f['target_group'])}; expected (K,) names")
        out["target_group"] = groups.astype(str)
    if f.get("conjunctions") is not None:
        thr = _as_float("conjunction_thresholds_km", f.get("conjunction_thresholds_km"),
                        np.shape(f.get("conjunction_thresholds_km")), "(conjunction_threshold,)",
                        nonneg=True)
        days = _as_float("conjunction_days", f.get("conjunction_days"),
                         np.shape(f.get("conjunction_days")), "(day,)", nonneg=True)
        if thr.ndim != 1 or days.ndim != 1:
            raise _Problem("conjunction_thresholds_km and conjunction_days: expected 1-d arrays")
        out["conjunction_thresholds_km"], out["conjunction_days"] = thr, days
        out["conjunctions"] = _as_int("conjunctions", f["conjunctions"], (K, R, days.size, thr.size),
                                      "(target, realization, day, conjunction_threshold)")

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
        parse_utc_datetime(attrs["analysis_start"])
    except InputError:
        raise _Problem(
            f"attrs['analysis_start']: {attrs['analysis_start']!r} is not an ISO 8601 date-time"
        ) from None
    attrs.setdefault("title", _DEFAULT_TITLE)
    attrs.setdefault("source", f"fragrisk {__version__}")
    attrs.setdefault("Conventions", "CF-1.8")
    attrs.setdefault(
        "history",
        f"{history_stamp()} created by {attrs['source']}",
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
