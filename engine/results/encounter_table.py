"""The encounter table of the results file (dimension `encounter`): one row per passage of a
fragment through a target's kernel sphere, validated, written with CF attributes, merged across
shards.

A passage's share of lambda is sigma_ik / V_s times the chord lengths of its segments, so the
shares of a realization add up to its `expected_collisions` (same chords, summed in another
order). Times are seconds since the analysis start in the table.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

# --------------------------------------------------------------------------------------------
# 3. the table of the results file
# --------------------------------------------------------------------------------------------

#: (variable, EncounterTable field, dtype, units, long_name): the results file's encounter table.
VARIABLES = (
    ("encounter_realization", "realization", np.int64, "1", "realization index of the encounter"),
    ("encounter_target", "target", np.int64, "1",
     "index of the target along dimension target"),
    ("encounter_fragment", "fragment", np.int64, "1",
     "position of the fragment among its realization's fragments, in the order of fragrisk sample "
     "(for a [population] scenario: its position in the population's element sets)"),
    ("encounter_tca_s", "tca_s", np.float64, "s",
     "time of closest approach, seconds since the analysis start (global attribute analysis_start)"),
    ("encounter_miss_km", "miss_km", np.float64, "km", "miss distance at the time of closest approach"),
    ("encounter_speed_km_s", "speed_km_s", np.float64, "km s-1",
     "relative speed at the time of closest approach"),
    ("encounter_expected_collisions", "expected_collisions", np.float64, "1",
     "the encounter's share of expected_collisions (flux through the target during the passage)"),
    ("encounter_lc_m", "lc_m", np.float64, "m", "fragment characteristic length Lc"),
)
VARIABLE_NAMES = tuple(v[0] for v in VARIABLES)
DIMENSION = "encounter"
#: Relative tolerance of the check that a realization's shares add up to its expected_collisions:
#: the same chords summed per passage instead of per time bin (rounding only, ~1e-15).
SUM_RTOL = 1.0e-9


class TableError(ValueError):
    """A problem with an encounter table (one line); results.py names the file or object."""


@dataclasses.dataclass(eq=False)
class EncounterTable:
    """The encounter table: n rows, every column (n,).

    realization  int64   global realization index
    target       int64   target index (along the results' target dimension)
    fragment     int64   the fragment's position among its realization's fragments, in the order
                         `fragrisk sample` writes them (seed and scenario as the run)
    tca_s        float64 time of closest approach, s since the analysis start
    miss_km      float64 miss distance at TCA, km
    speed_km_s   float64 relative speed at TCA, km/s
    expected_collisions  float64 the passage's share of lambda
    lc_m         float64 the fragment's characteristic length, m
    Rows are kept in canonical order (realization, target, tca_s, fragment), so the table of a
    run does not depend on batches, shards, workers or device.
    """

    realization: np.ndarray
    target: np.ndarray
    fragment: np.ndarray
    tca_s: np.ndarray
    miss_km: np.ndarray
    speed_km_s: np.ndarray
    expected_collisions: np.ndarray
    lc_m: np.ndarray

    @classmethod
    def empty(cls) -> "EncounterTable":
        return cls(**{field: np.zeros(0, dtype=dtype) for _, field, dtype, _, _ in VARIABLES})

    def __len__(self) -> int:
        return int(self.realization.size)

    def take(self, index) -> "EncounterTable":
        return EncounterTable(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def canonical(self) -> "EncounterTable":
        return self.take(np.lexsort((self.fragment, self.tca_s, self.target, self.realization)))

    @classmethod
    def concat(cls, tables: Sequence["EncounterTable"]) -> "EncounterTable":
        tables = list(tables)
        if not tables:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(t, f.name) for t in tables])
                      for f in dataclasses.fields(cls)}).canonical()

    def to_fields(self) -> dict:
        """{file variable: array}."""
        return {var: getattr(self, field) for var, field, _, _, _ in VARIABLES}

    def sums(self, n_targets: int, realization) -> np.ndarray:
        """(K, R) sum of the shares per target and held realization (R = len(realization))."""
        realization = np.asarray(realization)
        order = np.argsort(realization, kind="stable")
        pos = order[np.searchsorted(realization[order], self.realization)]
        out = np.zeros(n_targets * realization.size)
        np.add.at(out, self.target * realization.size + pos, self.expected_collisions)
        return out.reshape(n_targets, realization.size)


def from_fields(fields: Mapping[str, Any], label: str = "results") -> EncounterTable | None:
    """The table from {file variable: array} (e.g. a file's variables); None when the source has
    none of them (a file written without the table); TableError if only some are there."""
    present = [v for v in VARIABLE_NAMES if v in fields]
    if not present:
        return None
    missing = [v for v in VARIABLE_NAMES if v not in fields]
    if missing:
        raise TableError(f"encounter table incomplete: variable {missing[0]!r} is missing")
    return EncounterTable(**{field: np.asarray(fields[var]) for var, field, _, _, _ in VARIABLES})


def checked(table: Any, n_targets: int, realization: np.ndarray, expected_collisions: np.ndarray):
    """`table` converted and validated against the results it belongs to (K targets, realization
    (R,), expected_collisions (K, R)); None stays None. Raises TableError (one line)."""
    if table is None:
        return None
    if not isinstance(table, EncounterTable):
        raise TableError(f"encounters: {type(table).__name__} is not an EncounterTable")
    cols = {}
    n = None
    for var, field, dtype, _, _ in VARIABLES:
        a = np.asarray(getattr(table, field))
        if a.ndim != 1:
            raise TableError(f"{var}: shape {a.shape}; expected ({DIMENSION},)")
        if n is None:
            n = a.size
        elif a.size != n:
            raise TableError(f"{var}: {a.size} rows; {VARIABLES[0][0]} has {n}")
        if dtype is np.int64:
            if a.size and a.dtype.kind not in "iu":
                raise TableError(f"{var}: dtype {a.dtype}; expected integers")
            a = a.astype(np.int64)
            if (a < 0).any():
                raise TableError(f"{var}: value {int(a[a < 0][0])} is negative")
        else:
            try:
                a = a.astype(np.float64)
            except (TypeError, ValueError):
                raise TableError(f"{var}: dtype {a.dtype}; expected numbers") from None
            bad = ~np.isfinite(a) | (a < 0)
            if bad.any():
                raise TableError(f"{var}: value {a[bad][0]!r} is not a finite number >= 0")
        cols[field] = a
    out = EncounterTable(**cols)
    if (out.target >= n_targets).any():
        raise TableError(f"encounter_target: index {int(out.target.max())} is not below the "
                         f"{n_targets} target(s)")
    known = np.isin(out.realization, realization)
    if not known.all():
        raise TableError(f"encounter_realization: realization {int(out.realization[~known][0])} is "
                         f"not among this file's realizations")
    sums = out.sums(n_targets, realization)
    lam = np.asarray(expected_collisions, dtype=np.float64)
    off = np.abs(sums - lam) > SUM_RTOL * lam
    if off.any():
        k, r = (int(x[0]) for x in np.nonzero(off))
        raise TableError(f"encounter_expected_collisions: the shares of target {k}, realization "
                         f"{int(np.asarray(realization)[r])} add up to {sums[k, r]!r}, not to its "
                         f"expected_collisions {lam[k, r]!r}")
    return out


def write_h5(dims, table: EncounterTable, compress_min_elements: int = 4096) -> None:
    """The table as variables on a new dimension `encounter` of an open results file.

    dims: an engine.files.h5io.NetCDFDimensions of that file (the other dimensions already made).
    """
    n = len(table)
    dims.dimension(DIMENSION, n)
    kw = dict(chunks=True, compression="gzip", compression_opts=4, shuffle=True) if n >= compress_min_elements else {}
    for var, field, dtype, units, long_name in VARIABLES:
        dims.variable(var, np.asarray(getattr(table, field), dtype=dtype), (DIMENSION,), units, long_name, **kw)


