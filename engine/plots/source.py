"""What the figures read: a results source (path, xarray Dataset or RunResults), the arrays each
figure needs (or a one-line InputError naming the missing variable), and what kind of run it
holds: a breakup or a [population], its event epoch, its analysis start and times in UTC."""

from __future__ import annotations

import datetime as _dt
import tomllib
from typing import Any

import numpy as np

from ..errors import InputError
from ..results import VARIABLES, encounter_table, load_fields
from ..results import windows as windows_mod
from ..results.encounter_table import VARIABLE_NAMES as ENCOUNTER_VARIABLE_NAMES
from ..timeutil import parse_utc_datetime, to_utc

__all__ = ["NEEDS", "Source", "as_source"]

#: The variables each figure needs.
NEEDS = {
    "gabbard": ("gabbard_apogee_km", "gabbard_perigee_km", "gabbard_period_min",
                "target_names", "target_perigee_km", "target_apogee_km"),
    "pc_histogram": ("target_names", "collision_probability", "pc_histogram", "pc_edges_log10"),
    "rate_vs_time": ("target_names", "expected_collisions_by_time", "time_edges_s"),
    "by_size": ("target_names", "expected_collisions_by_size", "size_edges_m"),
    "fragments_in_orbit": ("fragments_in_orbit", "time_edges_s"),
    "text": ("target_names", "collision_probability", "expected_collisions", "realization",
             "time_edges_s", "expected_collisions_by_time"),
}
#: RunResults field -> the file variable that holds it (for messages).
FILE_NAME = {v.field: v.name for v in VARIABLES if not v.is_derived}


class Source:
    """A loaded results source: its arrays, attributes, a label for messages, and the kind of
    run it holds."""

    def __init__(self, source: Any) -> None:
        self.fields, self.attrs, self.label = load_fields(source)

    # -- what a figure needs ------------------------------------------------------------------
    def need(self, figure: str) -> dict[str, np.ndarray]:
        """The arrays `figure` needs (their shapes were checked on loading); InputError (one
        line) naming the file variable if one is missing."""
        out = {}
        for name in NEEDS[figure]:
            if name not in self.fields:
                raise InputError(f"{self.label}: variable {FILE_NAME[name]!r} is missing; the {figure} "
                                 "figure needs it")
            a = np.asarray(self.fields[name])
            out[name] = a if name == "target_names" else a.astype(np.float64)
        return out

    def encounters(self, figure: str):
        """(the encounter table, its companions) or InputError (one line) without the table."""
        try:
            table = encounter_table.from_fields(self.fields)
        except encounter_table.TableError as exc:
            raise InputError(f"{self.label}: {exc}") from None
        if table is None:
            raise InputError(windows_mod.no_table_message(self.label, self.attrs)
                             + f"; the {figure} figure needs it")
        d = {}
        for name in ("target_names", "realization", "time_edges_s"):
            if name not in self.fields:
                raise InputError(f"{self.label}: variable {FILE_NAME[name]!r} is missing; the {figure} "
                                 f"figure needs it")
            d[name] = self.fields[name]
        return table, d

    def has_encounters(self) -> bool:
        """Whether the source holds the encounter table (empty or not)."""
        return any(v in self.fields for v in ENCOUNTER_VARIABLE_NAMES)

    def n_encounters(self) -> int:
        return int(np.asarray(self.fields.get("encounter_realization", ())).size)

    # -- the kind of run ----------------------------------------------------------------------
    def scenario_table(self) -> dict:
        try:
            table = tomllib.loads(str(self.attrs.get("scenario", "")))
        except (tomllib.TOMLDecodeError, TypeError):
            return {}
        return table if isinstance(table, dict) else {}

    @property
    def is_population(self) -> bool:
        """A [population] run: one realization of fixed objects (points: sizes unknown)."""
        return self.attrs.get("cloud") == "population" or "population" in self.scenario_table()

    @property
    def objects(self) -> str:
        """What the cloud is made of, in words: "objects" (a population) or "fragments"."""
        return "objects" if self.is_population else "fragments"

    @property
    def n_realizations(self) -> int:
        return int(np.asarray(self.fields.get("realization", ())).size)

    def event_epoch(self) -> _dt.datetime | None:
        """The breakup event's epoch (UTC), or None (a population, or not recorded)."""
        if self.is_population:
            return None
        event = self.attrs.get("event_epoch") or (self.scenario_table().get("event") or {}).get("epoch")
        if event is None:
            return None
        if isinstance(event, _dt.datetime):
            return event if event.tzinfo else event.replace(tzinfo=_dt.timezone.utc)
        try:
            return parse_utc_datetime(str(event))
        except InputError:
            return None

    def _start_text(self) -> str:
        if "analysis_start" not in self.attrs:
            raise InputError(f"{self.label}: global attribute 'analysis_start' is missing; the figures' "
                             f"time axes need it")
        return str(self.attrs["analysis_start"])

    def start(self) -> _dt.datetime:
        return parse_utc_datetime(self._start_text(), where=f"{self.label}: global attribute 'analysis_start'")

    def utc(self, seconds: Any) -> np.ndarray:
        """Seconds since the analysis start -> numpy.datetime64[ns] UTC."""
        self.start()  # InputError (one line) where it is missing or not a time
        return to_utc(self._start_text(), seconds)


def as_source(source: Any) -> Source:
    return source if isinstance(source, Source) else Source(source)
