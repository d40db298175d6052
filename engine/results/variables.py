"""The variables of a results file: one table that the writer, the readers and the plots share.

Each `Variable` names the file variable, its dimensions, CF units and long name, and the
`RunResults` field it holds (`*_bnds` variables hold a field's bin edges as (n, 2) bounds; the
bin-centre coordinates time, size_bin and pc_bin are derived from those edges and read back from
the bounds only).

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
encounter_* (encounter)                    int64/float64  the encounter table (ENCOUNTER_VARIABLES)
target_norad (target)                      int64       1 (optional, OPTIONAL_VARIABLES)
target_group (target)                      str         1 (optional)
conjunction_threshold_km (conjunction_threshold)  float64  km (optional)
conjunction_day (day)                      float64     d since the analysis start (optional)
conjunctions (target, realization, day, conjunction_threshold)  int64  1 (optional)
=========================================  ==========  ======================================

`nv` (2), `fragment` (F) and `encounter` are dimensions without coordinate variables. The
encounter table is optional: files written before it existed, or with [analysis] encounters =
"none", have neither the variables nor the dimension.
"""

from __future__ import annotations

import dataclasses

from .encounter_table import DIMENSION as ENCOUNTER_DIMENSION
from .encounter_table import VARIABLES as _ENCOUNTER_COLUMNS

__all__ = [
    "COORDINATES",
    "DATA_VARIABLES",
    "DIMENSIONS",
    "ENCOUNTER_VARIABLES",
    "FILE_VARIABLES",
    "OPTIONAL_DIMENSIONS",
    "OPTIONAL_VARIABLES",
    "TIME_UNITS",
    "VARIABLES",
    "Variable",
    "variable",
]

#: Stands for the CF time units of the file ("seconds since <analysis_start>"), known per file.
TIME_UNITS = "<seconds since analysis_start>"


@dataclasses.dataclass(frozen=True)
class Variable:
    """One variable of the results file.

    name: the file variable. dims: its dimensions. units: CF units (TIME_UNITS: the file's time
    units). long_name: CF long name. field: the RunResults attribute it is written from and read
    into (for `*_bnds`, the edges; for a bin-centre coordinate, the centres property, which the
    readers do not read). attrs: further CF attributes (name, value) of the variable.
    """

    name: str
    dims: tuple[str, ...]
    units: str
    long_name: str
    field: str
    attrs: tuple[tuple[str, str], ...] = ()

    @property
    def is_bounds(self) -> bool:
        """A (n, 2) bounds variable holding the n+1 edges of `field`."""
        return self.name.endswith("_bnds")

    @property
    def is_derived(self) -> bool:
        """A bin-centre coordinate: written from the edges, never read back."""
        return self.name in _CENTRES


_CENTRES = ("time", "size_bin", "pc_bin")
_KR = ("target", "realization")

#: Coordinate variables, in the order their dimensions are created (with DIMENSIONS).
COORDINATES = (
    Variable("realization", ("realization",), "1", "realization index", "realization"),
    Variable("target", ("target",), "1", "target name", "target_names"),
    Variable("time", ("time",), TIME_UNITS, "time bin centre", "time_centers_s",
             (("standard_name", "time"), ("calendar", "standard"), ("bounds", "time_bnds"))),
    Variable("size_bin", ("size_bin",), "m",
             "fragment characteristic length Lc, geometric bin centre", "size_centers_m",
             (("bounds", "size_bin_bnds"),)),
    Variable("pc_bin", ("pc_bin",), "1", "log10 of collision probability, bin centre",
             "pc_centers_log10", (("bounds", "pc_bin_bnds"),)),
)

#: Every dimension, in creation order (netCDF-4 numbers them so); `nv` and `fragment` have no
#: coordinate variable.
DIMENSIONS = ("realization", "target", "time", "nv", "size_bin", "pc_bin", "fragment")

#: Data variables, in the order they are written.
DATA_VARIABLES = (
    Variable("time_bnds", ("time", "nv"), TIME_UNITS, "time bin bounds", "time_edges_s"),
    Variable("size_bin_bnds", ("size_bin", "nv"), "m", "Lc bin bounds", "size_edges_m"),
    Variable("pc_bin_bnds", ("pc_bin", "nv"), "1", "log10 P bin bounds", "pc_edges_log10"),
    Variable("target_perigee_km", ("target",), "km", "target perigee altitude",
             "target_perigee_km"),
    Variable("target_apogee_km", ("target",), "km", "target apogee altitude", "target_apogee_km"),
    Variable("expected_collisions", _KR, "1",
             "expected number of collisions over the analysis window", "expected_collisions"),
    Variable("collision_probability", _KR, "1",
             "collision probability 1 - exp(-expected_collisions)", "collision_probability"),
    Variable("expected_collisions_by_time", _KR + ("time",), "1",
             "expected number of collisions in the time bin", "expected_collisions_by_time"),
    Variable("expected_collisions_by_size", _KR + ("size_bin",), "1",
             "expected number of collisions with fragments of the Lc bin",
             "expected_collisions_by_size"),
    Variable("pc_histogram", ("target", "pc_bin"), "1",
             "number of realizations per log10 collision probability bin (P = 0 in the lowest)",
             "pc_histogram"),
    Variable("fragments_in_orbit", ("realization", "time"), "1",
             "mean number of propagated fragments in orbit during the time bin (not decayed)",
             "fragments_in_orbit"),
    Variable("n_fragments", ("realization",), "1",
             "number of fragments sampled in the realization", "n_fragments"),
    Variable("gabbard_apogee_km", ("fragment",), "km",
             "fragment apogee altitude, realization 0 at the event epoch (a population: each object at the "
             "analysis start)", "gabbard_apogee_km"),
    Variable("gabbard_perigee_km", ("fragment",), "km",
             "fragment perigee altitude, realization 0 at the event epoch (a population: each object at the "
             "analysis start)", "gabbard_perigee_km"),
    Variable("gabbard_period_min", ("fragment",), "min",
             "fragment orbital period, realization 0 at the event epoch (a population: each object at the "
             "analysis start)", "gabbard_period_min"),
)

#: Every variable of the file.
VARIABLES = COORDINATES + DATA_VARIABLES

#: The encounter table (engine/results/encounter_table.py, which defines its columns), on the dimension
#: `encounter`, made after DIMENSIONS; `field` is the EncounterTable column. Optional (see the
#: module docstring), so neither in VARIABLES nor required by the readers.
ENCOUNTER_VARIABLES = tuple(Variable(name, (ENCOUNTER_DIMENSION,), units, long_name, field)
                            for name, field, _, units, long_name in _ENCOUNTER_COLUMNS)

#: Optional variables on dimensions made after DIMENSIONS (conjunction_threshold, day): who each
#: target is (NORAD number, group) and the conjunction counts. Files written before them, or by
#: runs that do not count conjunctions, lack them; `field` is the RunResults field (None there).
OPTIONAL_DIMENSIONS = ("conjunction_threshold", "day")
OPTIONAL_VARIABLES = (
    Variable("target_norad", ("target",), "1", "NORAD catalog number of the target", "target_norad"),
    Variable("target_group", ("target",), "1",
             "target group: the name's family (STARLINK, FLOCK, ...) unless the scenario sets one",
             "target_group"),
    Variable("conjunction_threshold_km", ("conjunction_threshold",), "km",
             "conjunction distance threshold", "conjunction_thresholds_km"),
    Variable("conjunction_day", ("day",), "d",
             "start of the day bin, days since the analysis start (24 h bins)", "conjunction_days"),
    Variable("conjunctions", ("target", "realization", "day", "conjunction_threshold"), "1",
             "number of conjunctions: local minima of a fragment-target distance below the "
             "threshold, by the day of their time of closest approach", "conjunctions"),
)

#: Every variable name of the file (docs and tests check their coverage against it).
FILE_VARIABLES = tuple(v.name for v in VARIABLES + ENCOUNTER_VARIABLES + OPTIONAL_VARIABLES)

_BY_NAME = {v.name: v for v in VARIABLES}


def variable(name: str) -> Variable:
    """The Variable called `name` (KeyError if the file has none)."""
    return _BY_NAME[name]
