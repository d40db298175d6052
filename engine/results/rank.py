"""The most threatened targets of a results file, and the squall calendar (conjunctions per day
per group): what `fragrisk rank` prints and writes, and what engine.plots_rank draws.

Every number is over the window, per realization then summarized over the realizations held:
expected collisions (mean, 5 % and 95 % quantiles over realizations), collision probability
(mean), and conjunctions below each threshold (mean per realization).  Groups sum their
targets.  Thresholds are keyed by their text in km ("1", "5", "10"), as in the JSON.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .runresults import RunResults

RANK_BY = ("expected", "conjunctions")


def threshold_text(km: float) -> str:
    """A threshold as the JSON and CSV name it: "1", "5", "10", "0.5"."""
    return f"{float(km):g}"


def _groups(r: RunResults) -> np.ndarray:
    if r.target_group is not None:
        return np.asarray(r.target_group)
    return np.array(["OTHER"] * r.n_targets)   # a file written before groups were recorded


def _norad(r: RunResults) -> list:
    return [None] * r.n_targets if r.target_norad is None else [int(x) for x in r.target_norad]


def conjunction_totals(r: RunResults) -> dict:
    """{threshold text: mean over realizations of all targets' conjunctions in the window}, {}
    where the file holds no counts."""
    if r.conjunctions is None:
        return {}
    per = r.conjunctions.sum(axis=(0, 2)).mean(axis=0)            # (C,)
    return {threshold_text(t): float(c) for t, c in zip(r.conjunction_thresholds_km, per)}


def target_table(r: RunResults, *, by: str = "expected", group: bool = False) -> list[dict]:
    """One row per target (group=False) or per group, most threatened first: name, norad (None
    for groups and old files), group, expected_collisions (mean), expected_collisions_p05/p95,
    collision_probability (mean), conjunctions {threshold text: mean per realization}, targets
    (for groups: how many).  by "expected": on the mean expected collisions; "conjunctions": on
    the conjunctions below the largest threshold (then the expected collisions)."""
    if by not in RANK_BY:
        raise InputError(f"--by: {by!r} is not one of {', '.join(RANK_BY)}")
    if by == "conjunctions" and r.conjunctions is None:
        raise InputError("--by conjunctions: the results file holds no conjunction counts (a run "
                         "with [analysis] conjunction_thresholds_km makes them)")
    lam = r.expected_collisions                                     # (K, R)
    conj = None if r.conjunctions is None else r.conjunctions.sum(axis=2)   # (K, R, C)
    names, groups, norad = r.target_names.tolist(), _groups(r), _norad(r)
    if group:
        keys, inverse = np.unique(groups, return_inverse=True)
        lam_g = np.zeros((keys.size, lam.shape[1]))
        np.add.at(lam_g, inverse, lam)
        conj_g = None
        if conj is not None:
            conj_g = np.zeros((keys.size,) + conj.shape[1:], dtype=np.int64)
            np.add.at(conj_g, inverse, conj)
        members = np.bincount(inverse, minlength=keys.size)
        labels = [(str(k), None, str(k), int(n)) for k, n in zip(keys, members)]
        lam, conj = lam_g, conj_g
    else:
        labels = [(names[k], norad[k], str(groups[k]), 1) for k in range(len(names))]
    rows = []
    for k, (name, nid, grp, members) in enumerate(labels):
        row = {"name": name, "norad": nid, "group": grp,
               "expected_collisions": float(lam[k].mean()),
               "expected_collisions_p05": float(np.quantile(lam[k], 0.05)),
               "expected_collisions_p95": float(np.quantile(lam[k], 0.95)),
               "collision_probability": float((-np.expm1(-lam[k])).mean()),
               "conjunctions": ({} if conj is None else
                                {threshold_text(t): float(conj[k, :, c].mean())
                                 for c, t in enumerate(r.conjunction_thresholds_km)})}
        if group:
            row["targets"] = members
        rows.append(row)
    if by == "conjunctions":
        last = threshold_text(r.conjunction_thresholds_km[-1])
        order = sorted(range(len(rows)), key=lambda i: (-rows[i]["conjunctions"][last],
                                                          -rows[i]["expected_collisions"], rows[i]["name"]))
    else:
        order = sorted(range(len(rows)), key=lambda i: (-rows[i]["expected_collisions"], rows[i]["name"]))
    return [rows[i] for i in order]


def squall_calendar(r: RunResults, threshold_km: float | None = None):
    """(days (D,) days since the start, groups (G,), counts (G, D) float64): conjunctions below
    threshold_km (default the largest) per day and group, mean per realization."""
    if r.conjunctions is None:
        raise InputError("the results file holds no conjunction counts (a run with [analysis] "
                         "conjunction_thresholds_km makes them)")
    thr = np.asarray(r.conjunction_thresholds_km)
    c = thr.size - 1 if threshold_km is None else int(np.flatnonzero(np.isclose(thr, threshold_km))[0]) \
        if np.isclose(thr, threshold_km).any() else None
    if c is None:
        raise InputError(f"threshold {threshold_km:g} km: the file counts below "
                         f"{', '.join(threshold_text(t) for t in thr)} km only")
    groups = _groups(r)
    keys, inverse = np.unique(groups, return_inverse=True)
    per_target = r.conjunctions[:, :, :, c].mean(axis=1)             # (K, D)
    counts = np.zeros((keys.size, per_target.shape[1]))
    np.add.at(counts, inverse, per_target)
    return np.asarray(r.conjunction_days), [str(k) for k in keys], counts


CSV_COLUMNS = ("rank", "name", "norad", "group", "expected_collisions", "expected_collisions_p05",
               "expected_collisions_p95", "collision_probability")


def csv_text(rows: list[dict], thresholds_km) -> str:
    """The ranking as CSV: CSV_COLUMNS, then conjunctions_<threshold>km per threshold."""
    import csv
    import io

    names = [threshold_text(t) for t in thresholds_km]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(CSV_COLUMNS) + [f"conjunctions_{t}km" for t in names])
    for i, row in enumerate(rows, start=1):
        writer.writerow([i, row["name"], "" if row["norad"] is None else row["norad"], row["group"],
                         repr(row["expected_collisions"]), repr(row["expected_collisions_p05"]),
                         repr(row["expected_collisions_p95"]), repr(row["collision_probability"])]
                        + [repr(row["conjunctions"].get(t, 0.0)) for t in names])
    return out.getvalue()
