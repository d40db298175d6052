"""Reading results: the one place that opens and checks a results source.

`load_fields` opens a results file, an xarray Dataset opened from one, or a RunResults, and
checks what it holds: a fragrisk source (global attribute ``source``), readable variables no
larger than memory, contiguous bin bounds, every variable's shape against its dimensions
(engine/results/variables.py) and every value against its rule (finite, >= 0, probabilities,
counts; P and its histogram consistent with the expected collisions). It is lenient about missing variables only, so that each figure can say which
one it lacks (engine.plots). `read_results` builds on it: the whole file, complete and
self-consistent, as a RunResults. Merging reads its shards with `read_results`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..backend import COMMAND_MEMORY_SHARE, available_memory_bytes
from ..errors import InputError, one_line
from ..filekind import (EPHEMERIS, EPHEMERIS_TITLE_PREFIX, FRAGMENTS, FRAGMENTS_TITLE_PREFIX, HDF5, RESULTS,
                        kind_of_file)
from ..timeutil import parse_utc_datetime
from . import encounter_table as _encounters
from .runresults import RunResults, _attr_value, _normalize, _Problem, _short, count_pc_histogram
from .variables import COORDINATES, ENCOUNTER_VARIABLES, OPTIONAL_VARIABLES, VARIABLES, variable

__all__ = ["load_fields", "read_results"]

#: The variables a reader reads (the bin-centre coordinates are derived from the bounds).
_READ = tuple(v for v in VARIABLES if not v.is_derived)
_FIELD_OF = {v.name: v.field for v in _READ}
#: The optional encounter table's variables: kept under their file names in `fields` (their
#: columns, e.g. expected_collisions, would collide with RunResults fields).
_OPTIONAL = {v.name: v.name for v in ENCOUNTER_VARIABLES}
#: The per-target and conjunction variables (OPTIONAL_VARIABLES): read into their RunResults
#: fields where present.
_OPTIONAL_FIELDS = {v.name: v.field for v in OPTIONAL_VARIABLES}


def _dimension_sources() -> dict[str, tuple[str, int]]:
    """dim -> (the field whose length gives it, minus this): edges give bins (minus 1)."""
    out: dict[str, tuple[str, int]] = {}
    for c in COORDINATES:
        bounds = dict(c.attrs).get("bounds")
        out[c.name] = (variable(bounds).field, 1) if bounds else (c.field, 0)
    for v in _READ:  # dimensions without a coordinate variable: the first variable on them
        if len(v.dims) == 1 and not v.is_bounds:
            out.setdefault(v.dims[0], (v.field, 0))
    return out


_DIM_FROM = _dimension_sources()


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



def _check_shapes(label: str, fields: Mapping[str, np.ndarray]) -> None:
    """Every variable present has as many dimensions as it should and, where the variable that
    sizes a dimension is present too, that length; InputError (one line) otherwise."""
    for v in _READ:
        if v.is_bounds or v.field not in fields:
            continue
        a = np.asarray(fields[v.field])
        expected: list[int | None] = []
        for dim in v.dims:
            src, minus = _DIM_FROM[dim]
            expected.append(np.asarray(fields[src]).shape[0] - minus
                            if src in fields and src != v.field else None)
        if a.ndim != len(v.dims) or any(e is not None and e != s for e, s in zip(expected, a.shape)):
            raise InputError(
                f"{label}: variable {v.name!r} has shape {a.shape}; expected "
                f"({', '.join(v.dims)}) = ({', '.join('?' if e is None else str(e) for e in expected)})"
            )


def load_fields(source: Any) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    """Load what a results source holds, leniently (the plots check what each figure needs).

    source: a results file path, an xarray.Dataset opened from one, or a RunResults.
    Returns (fields, attrs, label): `fields` maps RunResults field names, plus
    "collision_probability" and "pc_histogram", to arrays (only those present in the source),
    and the encounter table's variables by their file names (engine.results.encounter_table.from_fields
    makes the table of them); `attrs` the global attributes; `label` names the source in error
    messages. InputError (one line) if the source is not a fragrisk results source or is
    unreadable.
    """
    if isinstance(source, RunResults):
        fields = {f.name: getattr(source, f.name) for f in dataclasses.fields(source)}
        attrs = fields.pop("attrs")
        table = fields.pop("encounters")
        if table is not None:
            fields.update(table.to_fields())
        fields["collision_probability"] = source.collision_probability
        fields["pc_histogram"] = source.pc_histogram
        return fields, dict(attrs), "RunResults"
    if isinstance(source, (str, os.PathLike)):
        loaded = _load_path(Path(source))
    else:
        try:
            import xarray as xr
        except ImportError:  # pragma: no cover - xarray missing: only paths and RunResults
            xr = None
        if xr is None or not isinstance(source, xr.Dataset):
            raise InputError(
                f"results: {type(source).__name__} is not a results path, xarray Dataset or "
                "RunResults"
            )
        loaded = _load_dataset(source)
    _check_shapes(loaded[2], loaded[0])
    _check_values(loaded[2], loaded[0], loaded[1])
    return loaded


def _load_path(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    import h5py

    label = str(path)
    if not path.exists():
        raise InputError(f"{label}: no such file")
    if path.is_dir():
        raise InputError(f"{label}: is a folder; expected a results file")
    kind = kind_of_file(path)
    if kind not in (None, RESULTS, "an HDF5 file", "a damaged HDF5 file", HDF5):
        raise InputError(f"{label}: this is {kind}, not a results file (fragrisk run)")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{label}: damaged or not an HDF5 file ({one_line(exc)})") from None
    with f:
        try:
            attrs = {k: _attr_value(k, f.attrs[k]) for k in f.attrs}
        except (_Problem, OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InputError(f"{label}: global attributes are damaged ({one_line(exc)})") from None
        _check_source(label, attrs)
        fields: dict[str, np.ndarray] = {}
        for name in {**_FIELD_OF, **_OPTIONAL, **_OPTIONAL_FIELDS}:
            try:  # a damaged file can fail anywhere here, even in looking a variable up
                obj = f.get(name)
                if obj is None or not isinstance(obj, h5py.Dataset):
                    continue
                _check_variable_size(label, name, obj)
                data = obj[()]
            except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
                raise InputError(
                    f"{label}: variable {name!r} is damaged or unreadable ({one_line(exc)})"
                ) from None
            if name in ("target", "target_group"):
                data = np.array(
                    [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in np.ravel(data)]
                )
            elif name.endswith("_bnds"):
                data = _edges_from_bounds(label, name, data)
            fields[_FIELD_OF.get(name, _OPTIONAL_FIELDS.get(name, name))] = np.asarray(data)
    return fields, attrs, label


def _check_variable_size(label: str, name: str, obj: Any) -> None:
    """InputError if reading dataset `obj` would take more memory than is available (a damaged
    or hostile file can declare any shape without storing it)."""
    nbytes = float(obj.size) * max(int(obj.dtype.itemsize), 1)
    budget = COMMAND_MEMORY_SHARE * available_memory_bytes()
    if nbytes > budget:
        raise InputError(f"{label}: variable {name!r} declares shape {obj.shape} "
                         f"({nbytes:.3g} bytes), more than the {budget:.3g} bytes of memory "
                         f"available; not a results file fragrisk can read")


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
    "time_bnds": "finite",
    "size_bin_bnds": "finite",
    "pc_bin_bnds": "finite",
}


def _check_values(label: str, fields: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> None:
    """The values of what was loaded (shapes already checked): every variable present holds
    numbers of its rule (_VALUE_RULES); collision_probability is 1 - exp(-expected_collisions)
    and pc_histogram the histogram of collision_probability where both are present; the
    required global attributes that are present have their types. So a file one reader (plot)
    takes, every reader (merge, read_results) takes, and the other way round."""
    for name, rule in _VALUE_RULES.items():
        field = _FIELD_OF[name]
        if field not in fields:
            continue
        a = np.asarray(fields[field])
        if a.dtype.kind not in ("iu" if rule == "count" else "fiu"):
            raise InputError(f"{label}: variable {name!r} holds {a.dtype} values; expected "
                             f"{'integers' if rule == 'count' else 'numbers'}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise InputError(f"{label}: variable {name!r} holds {a[~np.isfinite(a)].flat[0]!r}; "
                             f"expected finite numbers")
        if rule in ("nonneg", "count", "probability") and (a < 0).any():
            raise InputError(f"{label}: variable {name!r} holds {a[a < 0].flat[0]!r}; expected "
                             f"values >= 0")
        if rule == "probability" and (a > 1).any():
            raise InputError(f"{label}: variable {name!r} holds {a[a > 1].flat[0]!r}; expected "
                             f"probabilities <= 1")
    lam, p = fields.get("expected_collisions"), fields.get("collision_probability")
    if lam is not None and p is not None and np.shape(lam) == np.shape(p):
        if not np.allclose(p, -np.expm1(-np.asarray(lam, dtype=np.float64)), rtol=1e-12, atol=0.0):
            raise InputError(f"{label}: variable 'collision_probability' disagrees with "
                             f"1 - exp(-expected_collisions)")
    hist, edges = fields.get("pc_histogram"), fields.get("pc_edges_log10")
    if p is not None and hist is not None and edges is not None:
        try:
            expected = count_pc_histogram(p, edges)
        except InputError:
            expected = None  # edges that are no histogram's: RunResults says what is wrong
        if expected is not None and (np.shape(hist) != expected.shape
                                     or not np.array_equal(hist, expected)):
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


def _load_dataset(ds: Any) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    label = str(ds.encoding.get("source", "dataset"))
    try:
        attrs = {k: _attr_value(k, v) for k, v in ds.attrs.items()}
    except _Problem as p:
        raise InputError(f"{label}: {p}") from None
    _check_source(label, attrs)
    title = str(attrs.get("title", ""))
    for prefix, kind in ((FRAGMENTS_TITLE_PREFIX, FRAGMENTS), (EPHEMERIS_TITLE_PREFIX, EPHEMERIS)):
        if title.startswith(prefix):
            raise InputError(f"{label}: this is {kind}, not a results file (fragrisk run)")
    fields: dict[str, np.ndarray] = {}
    for name in {**_FIELD_OF, **_OPTIONAL, **_OPTIONAL_FIELDS}:
        if name not in ds.variables:
            continue
        data = np.asarray(ds[name].values)
        if name in ("target", "target_group"):
            data = np.array([str(x) for x in data])
        elif name == "conjunction_day" and data.dtype.kind == "m":  # decoded as a duration
            data = data / np.timedelta64(1, "D")
        elif name.endswith("_bnds"):
            if data.dtype.kind == "M":  # decoded as datetimes: back to s since analysis start
                if "analysis_start" not in attrs:
                    raise InputError(f"{label}: global attribute 'analysis_start' is missing")
                start = np.datetime64(
                    parse_utc_datetime(str(attrs["analysis_start"]), where=f"{label}: global attribute 'analysis_start'").replace(tzinfo=None), "ns"
                )
                data = (data - start) / np.timedelta64(1, "s")
            elif data.dtype.kind == "m":
                data = data / np.timedelta64(1, "s")
            data = _edges_from_bounds(label, name, data)
        fields[_FIELD_OF.get(name, _OPTIONAL_FIELDS.get(name, name))] = data
    return fields, attrs, label


def read_results(path: str | os.PathLike) -> RunResults:
    """Read a results file written by `write_results`.

    InputError (one line naming the file, the variable and the value) if the file is missing,
    not HDF5, damaged, not a fragrisk results file (global attribute `source` must start with
    "fragrisk"), lacks a variable, or holds inconsistent data (shapes, stored P or histogram
    that disagree with expected_collisions).
    """
    label = str(path)
    fields, attrs, _ = load_fields(Path(path))
    for name, field in _FIELD_OF.items():
        if field not in fields:
            raise InputError(f"{label}: not a complete fragrisk results file: variable {name!r} is missing")
    # Derived from expected_collisions; load_fields has checked the stored ones against it.
    fields.pop("collision_probability")
    fields.pop("pc_histogram")
    try:
        fields["encounters"] = _encounters.from_fields(fields)
    except _encounters.TableError as exc:
        raise InputError(f"{label}: {exc}") from None
    for name in _OPTIONAL:
        fields.pop(name, None)
    fields["attrs"] = attrs
    try:
        fields = _normalize(fields)
    except _Problem as p:
        raise InputError(f"{label}: {p}") from None
    return RunResults(**fields)


