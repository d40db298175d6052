"""Risk windows: the fewest windows of a given width that carry a given share of the mean
expected collisions over a period (the shelter schedule), and the rows `fragrisk encounters`
prints or writes as CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError
from .encounter_table import EncounterTable
from .read import read_results
from .runresults import RunResults

# --------------------------------------------------------------------------------------------
# 4. risk windows
# --------------------------------------------------------------------------------------------

#: Level x point cells of the window search's back-pointers (int32) beyond which it refuses
#: (about 400 MB); shorter periods or wider windows make fewer.
MAX_WINDOW_CELLS = 100_000_000


def fewest_windows(times_s, weights, width_s: float, share: float):
    """The fewest windows of width `width_s` whose union holds at least `share` of the total
    weight of the points (times_s, weights >= 0); among those, the one holding the most.

    Exact (optimal), not greedy. Any set of k windows can be replaced by k windows that each
    start at a point and hold disjoint sets of points, without losing any point (sweep left to
    right, starting each window at the first point not yet held: the greedy cover of the held
    points, which needs no more windows than they were held by). So with the points sorted and
    best_k(i) = the most weight k windows can hold among points i..n-1,

        best_k(i) = max over j >= i of [ W(j .. next(j)-1) + best_{k-1}(next(j)) ],

    next(j) = the first point after t_j + width_s. Each level is a suffix maximum (vectorized);
    levels are added until best_k(0) reaches the goal. Time O(k n), memory O(k n) int32.

    Returns (anchors (k,) int: index into the sorted order of each window's first point,
    order (n,) the sorting permutation, covered weight). Windows are [t, t + width_s].
    """
    t = np.asarray(times_s, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if t.shape != w.shape or t.ndim != 1:
        raise InputError(f"risk windows: times {t.shape} and weights {w.shape} must be (n,) alike")
    if not (width_s > 0 and math.isfinite(width_s)):
        raise InputError(f"risk windows: width {width_s!r} s is not > 0")
    if not (0.0 < share <= 1.0):
        raise InputError(f"risk windows: share {share!r} is not in (0, 1]")
    order = np.argsort(t, kind="stable")
    t, w = t[order], w[order]
    n = t.size
    total = float(w.sum())
    if n == 0 or total <= 0.0:
        return np.zeros(0, dtype=np.int64), order, 0.0
    goal = share * total * (1.0 - 1e-12)  # the DP's sums and the direct sum differ by rounding
    cum = np.concatenate(([0.0], np.cumsum(w)))
    nxt = np.searchsorted(t, t + width_s, side="right")
    held = cum[nxt] - cum[:-1]
    best = np.zeros(n + 1)
    idx = np.arange(n)
    back = []
    while True:
        if (len(back) + 1) * n > MAX_WINDOW_CELLS:
            raise InputError(f"risk windows: {n:,} encounters need more than {len(back):,} windows; "
                             f"choose a shorter period or wider windows")
        g = held + best[nxt]
        suffix = np.maximum.accumulate(g[::-1])[::-1]
        after = np.append(suffix[1:], -np.inf)
        record = np.where(g >= after, idx, n)
        arg = np.minimum.accumulate(record[::-1])[::-1].astype(np.int32)
        back.append(arg)
        best = np.append(suffix, 0.0)
        if best[0] >= goal or len(back) >= n:
            break
    anchors = []
    i = 0
    for arg in reversed(back):  # level k, then k-1, ... from the first point not yet held
        if i >= n:
            break
        j = int(arg[i])
        anchors.append(j)
        i = int(nxt[j])
    return np.array(anchors, dtype=np.int64), order, float(best[0])


@dataclasses.dataclass
class RiskWindow:
    start_s: float            # s since the analysis start
    end_s: float
    start_utc: str
    end_utc: str
    expected_collisions: float  # mean over realizations of the expected collisions in the window
    share: float                # of the period's mean expected collisions
    realizations: int           # realizations with an encounter in the window
    encounters: int


@dataclasses.dataclass
class RiskWindows:
    """The shelter schedule of one target: `windows` in time order, together holding `covered`
    of the period's mean expected collisions `total` (mean over `n_realizations`)."""

    target: str
    share_goal: float
    width_s: float
    period_s: tuple
    n_realizations: int
    total: float
    covered: float
    windows: list

    @property
    def share(self) -> float:
        return self.covered / self.total if self.total > 0 else 0.0

    @property
    def minutes(self) -> float:
        return len(self.windows) * self.width_s / 60.0

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["period_s"] = list(self.period_s)
        d["share"] = self.share
        d["minutes"] = self.minutes
        return d


def risk_windows(results, target=None, *, share: float = 0.9, width_s: float = 120.0,
                 within_h: float = 24.0, start_h: float = 0.0) -> RiskWindows:
    """The shelter schedule of a run: the fewest windows of `width_s` seconds that together carry
    `share` of the mean expected collisions of `target` between start_h and start_h + within_h
    hours after the analysis start (see `table_risk_windows`, exact). A period that runs past the
    analysis window ends with it: the schedule's `period_s` is the period it covers.

    results: an engine.results.RunResults or a results file path. target: a target name or
    index; None for a run with one target. InputError (one line) if the results hold no
    encounter table (written before fragrisk recorded it, or with [analysis] encounters =
    "none") or the target is unknown.
    """

    label = "results"
    if not isinstance(results, RunResults):
        label = str(results)
        results = read_results(results)
    table = results.encounters
    if table is None:
        raise InputError(no_table_message(label, results.attrs))
    names = results.target_names.tolist()
    k = target_index(names, target, label)
    if not (within_h > 0 and math.isfinite(within_h)):
        raise InputError(f"risk windows: period of {within_h!r} h is not > 0")
    end_s = min(3600.0 * (start_h + within_h), float(results.time_edges_s[-1]))
    return table_risk_windows(table, k, results.n_realizations_held, share=share, width_s=width_s,
                              start_s=3600.0 * start_h, end_s=end_s,
                              analysis_start=str(results.attrs.get("analysis_start")), target_name=names[k])


def no_table_message(label: str, attrs: Mapping[str, Any]) -> str:
    """The one line for results without an encounter table."""
    if attrs.get("encounters") == "none":
        why = 'the run had [analysis] encounters = "none"'
    else:
        why = "the file was written before fragrisk recorded encounters"
    return f"{label}: no encounter table ({why}); run the scenario again with [analysis] encounters = \"all\""


def target_index(names: Sequence[str], target, label: str) -> int:
    """Index of `target` (a name, an index or None for the only target) among names."""
    if target is None:
        if len(names) != 1:
            raise InputError(f"{label}: {len(names)} targets ({', '.join(names)}); name one")
        return 0
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if 0 <= int(target) < len(names):
            return int(target)
    elif str(target) in names:
        return names.index(str(target))
    raise InputError(f"{label}: no target {target!r}; the targets are {', '.join(names)}")


def table_risk_windows(table: EncounterTable, target: int, n_realizations: int, *, share: float = 0.9,
                       width_s: float = 120.0, start_s: float = 0.0, end_s: float = 86400.0,
                       analysis_start: str | None = None, target_name: str | None = None) -> RiskWindows:
    """The fewest windows of `width_s` seconds that together carry `share` of the mean expected
    collisions of target `target` between start_s and end_s (s since the analysis start).

    table: an EncounterTable; n_realizations: the realizations the mean is over (those of the
    results, including the ones without an encounter). Each encounter counts at its TCA with
    weight share / n_realizations. The count of windows is optimal (see `fewest_windows`); each
    window is then centred on the encounters it was chosen for, moved only as far as needed to
    stay clear of the window before it. For each window: start and end (s, and UTC when
    analysis_start is given), its mean expected collisions and share of the period's, and the
    number of realizations with an encounter in it.
    """
    if n_realizations < 1:
        raise InputError(f"risk windows: {n_realizations} realizations; expected >= 1")
    if not end_s > start_s:
        raise InputError(f"risk windows: period {start_s!r} .. {end_s!r} s is empty")
    sel = (table.target == target) & (table.tca_s >= start_s) & (table.tca_s <= end_s)
    t = table.tca_s[sel]
    w = table.expected_collisions[sel] / n_realizations
    reals = table.realization[sel]
    anchors, order, _ = fewest_windows(t, w, width_s, share)
    t, w, reals = t[order], w[order], reals[order]
    total = float(w.sum())
    nxt = np.searchsorted(t, t + width_s, side="right")
    starts = []
    prev_end = -np.inf
    for j in sorted(int(a) for a in anchors):
        a, b = t[j], t[nxt[j] - 1]
        s = max(0.5 * (a + b) - 0.5 * width_s, prev_end)
        starts.append(s)
        prev_end = s + width_s
    starts = np.array(starts)
    windows = []
    owner = np.searchsorted(starts, t, side="right") - 1
    inside = (owner >= 0) & (t <= starts[np.maximum(owner, 0)] + width_s) if starts.size else np.zeros(t.size, bool)
    covered = 0.0
    for i, s in enumerate(starts):
        mine = inside & (owner == i)
        lam = float(w[mine].sum())
        covered += lam
        windows.append(RiskWindow(
            start_s=float(s), end_s=float(s + width_s),
            start_utc=utc_after(analysis_start, s), end_utc=utc_after(analysis_start, s + width_s),
            expected_collisions=lam, share=lam / total if total > 0 else 0.0,
            realizations=int(np.unique(reals[mine]).size), encounters=int(mine.sum())))
    return RiskWindows(target_name if target_name is not None else str(target), float(share), float(width_s),
                       (float(start_s), float(end_s)), int(n_realizations), total, covered, windows)


def utc_after(analysis_start: str | None, seconds: float) -> str:
    """ISO 8601 UTC of `seconds` after analysis_start, to the millisecond ("" without a start)."""
    if analysis_start is None:
        return ""
    t = _dt.datetime.fromisoformat(str(analysis_start).replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    t = (t + _dt.timedelta(seconds=float(seconds))).astimezone(_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond // 1000:03d}Z"


def rate_per_bin(table: EncounterTable, target: int, n_realizations: int, edges_s) -> np.ndarray:
    """Mean expected collisions of `target` per time bin (edges_s, s since the analysis start),
    from the encounters at their TCA: (len(edges_s) - 1,)."""
    sel = table.target == target
    counts, _ = np.histogram(table.tca_s[sel], bins=np.asarray(edges_s, dtype=np.float64),
                             weights=table.expected_collisions[sel])
    return counts / max(int(n_realizations), 1)


# --------------------------------------------------------------------------------------------
# 5. rows for people: the largest encounters, CSV
# --------------------------------------------------------------------------------------------

#: Columns of encounter rows (`encounter_rows`), in CSV order.
ENCOUNTER_COLUMNS = ("target", "realization", "fragment", "tca_utc", "tca_s", "miss_km", "speed_km_s",
                     "expected_collisions", "lc_m")
#: Columns of window rows (`window_rows`), in CSV order.
WINDOW_COLUMNS = ("target", "start_utc", "end_utc", "start_s", "end_s", "expected_collisions", "share",
                  "realizations", "encounters")


def largest(table: EncounterTable, targets, top: int | None = None) -> np.ndarray:
    """Row indices of the encounters of `targets` (indices), largest share first (ties: table
    order), at most `top` of them (None: all)."""
    rows = np.flatnonzero(np.isin(table.target, np.asarray(list(targets), dtype=np.int64)))
    rows = rows[np.argsort(-table.expected_collisions[rows], kind="stable")]
    return rows if top is None else rows[:top]


def encounter_rows(table: EncounterTable, rows, target_names, analysis_start: str | None) -> list[dict]:
    """Plain dicts (ENCOUNTER_COLUMNS) of the table's `rows`: JSON- and CSV-ready."""
    out = []
    for i in np.asarray(rows, dtype=np.int64):
        out.append({
            "target": str(target_names[int(table.target[i])]),
            "realization": int(table.realization[i]), "fragment": int(table.fragment[i]),
            "tca_utc": utc_after(analysis_start, float(table.tca_s[i])), "tca_s": float(table.tca_s[i]),
            "miss_km": float(table.miss_km[i]), "speed_km_s": float(table.speed_km_s[i]),
            "expected_collisions": float(table.expected_collisions[i]), "lc_m": float(table.lc_m[i]),
        })
    return out


def window_rows(windows: RiskWindows) -> list[dict]:
    """Plain dicts (WINDOW_COLUMNS) of a schedule's windows."""
    return [{"target": windows.target, **{k: getattr(w, k) for k in WINDOW_COLUMNS if k != "target"}}
            for w in windows.windows]


def check_options(*, top: int | None, share: float, width_s: float, within_h: float) -> None:
    """`fragrisk encounters`' options, or InputError (one line) naming the option."""
    if top is not None and top < 1:
        raise InputError(f"--top: must be >= 1, got {top}")
    if not (0.0 < share <= 1.0):
        raise InputError(f"--share: {share!r} is not a share in (0, 1]")
    if not (math.isfinite(width_s) and width_s > 0):
        raise InputError(f"--width-s: {width_s!r} is not a width > 0 s")
    if not (math.isfinite(within_h) and within_h > 0):
        raise InputError(f"--within-h: {within_h!r} is not a period > 0 h")


def encounters_csv(results: RunResults, targets, top: int | None, schedules) -> tuple[str, int]:
    """The CSV of `fragrisk encounters --csv`: with schedules (RiskWindows, --windows) their
    windows, else the `top` largest encounters of the targets (all: None). Returns (text, rows)."""
    if schedules:
        rows = [row for sched in schedules for row in window_rows(sched)]
        return csv_text(rows, WINDOW_COLUMNS), len(rows)
    start = str(results.attrs["analysis_start"])
    rows = encounter_rows(results.encounters, largest(results.encounters, targets, top),
                          results.target_names.tolist(), start)
    return csv_text(rows, ENCOUNTER_COLUMNS), len(rows)


def encounters_summary(results: RunResults, label: str, targets, *, shown: int | None,
                       schedules=None) -> dict:
    """The JSON-ready summary of `fragrisk encounters`: per target its encounter count, mean
    expected collisions, its `shown` largest encounters (None: not listed) and, with schedules
    (RiskWindows), its risk windows."""
    table = results.encounters
    names = results.target_names.tolist()
    start = str(results.attrs["analysis_start"])
    report = {"results": label, "realizations": results.n_realizations_held, "targets": {}}
    for k in targets:
        entry = {"n_encounters": int((table.target == k).sum()),
                 "mean_expected_collisions": float(results.expected_collisions[k].mean())}
        if shown is not None:
            entry["encounters"] = encounter_rows(table, largest(table, [k], shown), names, start)
        if schedules:
            entry["windows"] = next(s for s in schedules if s.target == names[k]).as_dict()
        report["targets"][names[k]] = entry
    return report


def csv_text(rows: list[dict], columns: Sequence[str]) -> str:
    """CSV (RFC 4180, header first) of dict rows; floats with 17 significant digits."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([repr(v) if isinstance(v, float) else v for v in (row[c] for c in columns)])
    return buf.getvalue()
