"""Merging the shards of one run (``fragrisk run --shard K/N``) into the run."""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import __version__
from ..errors import InputError
from ..files.h5io import check_output_path
from ..timeutil import history_stamp
from .encounter_table import EncounterTable
from .read import read_results
from .runresults import PER_FILE_ATTRS, RunResults, _short
from .write import write_results

__all__ = ["merge_files", "merge_results"]


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
    # The seed and the realization count before the scenario: its text records them too, and a
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
                    f"{ref_name}'s (sha256 {_digest(a)}){difference}; shards of different runs "
                    f"cannot be merged"
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
    now = history_stamp()
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
        encounters=_merged_encounters(shards, names),
        target_norad=ref.target_norad,
        target_group=ref.target_group,
        conjunction_thresholds_km=ref.conjunction_thresholds_km,
        conjunction_days=ref.conjunction_days,
        conjunctions=(cat("conjunctions", 1)
                      if all(s.conjunctions is not None for s in shards) else None),
    )
    added = np.sum([s.pc_histogram for s in shards], axis=0, dtype=np.uint64)
    if not np.array_equal(added, merged.pc_histogram):  # histograms add; recomputing agrees
        raise InputError("merge: the shards' pc_histogram sums disagree with the merged data")
    return merged


def _merged_encounters(shards: Sequence[RunResults], names: Sequence[str]):
    """The shards' encounter tables, concatenated in canonical order; None if none has one."""
    have = [s.encounters is not None for s in shards]
    if not any(have):
        return None
    if not all(have):
        i = have.index(False)
        raise InputError(f"{names[i]}: has no encounter table but {names[have.index(True)]} has one; "
                         f"shards of different runs cannot be merged")
    return EncounterTable.concat([s.encounters for s in shards])


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
    check_output_path(out, overwrite=overwrite, what="a results file")  # before reading shards
    shards = [read_results(p) for p in paths]  # also checks each stored histogram against P
    merged = merge_results(shards, names=[str(p) for p in paths])
    return write_results(out, merged, overwrite=overwrite)

