"""The figures of `fragrisk rank`: the most threatened targets with their 5-95 % bands, and the
squall calendar (conjunctions per day, by group).  Data from engine.results.rank; each function
returns a matplotlib Figure (Agg canvas), drawn nowhere until the caller saves it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .plots.figures import _figure  # one figure factory for every figure
from .results.rank import squall_calendar, target_table, threshold_text
from .results.runresults import RunResults

#: Groups drawn in the squall calendar by name; the rest are summed as "others".
CALENDAR_GROUPS = 8


def top_targets_figure(r: RunResults, top: int = 20, *, by: str = "expected") -> Any:
    """Horizontal bars: the mean expected collisions of the `top` most threatened targets, with
    the 5-95 % range over realizations as error bars (log scale where all are positive)."""
    rows = target_table(r, by=by)[:top]
    fig = _figure((7.5, 0.32 * len(rows) + 1.6))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    mean = np.array([row["expected_collisions"] for row in rows])
    lo = np.array([row["expected_collisions_p05"] for row in rows])
    hi = np.array([row["expected_collisions_p95"] for row in rows])
    ax.barh(y, mean, color="tab:red", alpha=0.7, label="mean")
    ax.errorbar(mean, y, xerr=[np.maximum(mean - lo, 0), np.maximum(hi - mean, 0)], fmt="none",
                ecolor="black", capsize=2, lw=0.8, label="5-95 % of realizations")
    ax.set_yticks(y, [f"{row['name']} ({row['group']})" for row in rows], fontsize=7)
    if (mean > 0).all() and len(rows):
        ax.set_xscale("log")
    ax.set_xlabel("expected collisions over the window")
    held = r.n_realizations_held
    ax.set_title(f"The {len(rows)} most threatened of {r.n_targets:,} targets "
                 f"({held:,} realization{'' if held == 1 else 's'})", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def squall_calendar_figure(r: RunResults, threshold_km: float | None = None) -> Any:
    """Stacked bars per day: conjunctions below the threshold (default the largest), mean per
    realization, by group (the CALENDAR_GROUPS largest, the rest as "others")."""
    days, groups, counts = squall_calendar(r, threshold_km)
    thr = r.conjunction_thresholds_km[-1] if threshold_km is None else threshold_km
    order = np.argsort(-counts.sum(axis=1), kind="stable")
    shown = order[:CALENDAR_GROUPS]
    rest = counts[order[CALENDAR_GROUPS:]].sum(axis=0)
    fig = _figure((7.5, 3.6))
    ax = fig.add_subplot()
    bottom = np.zeros(days.size)
    for g in shown:
        ax.bar(days, counts[g], bottom=bottom, width=0.85, align="edge", label=groups[g])
        bottom += counts[g]
    if order.size > CALENDAR_GROUPS:
        ax.bar(days, rest, bottom=bottom, width=0.85, align="edge", color="0.6", label="others")
    ax.set_xlabel(f"days since {r.attrs.get('analysis_start', 'the analysis start')}")
    ax.set_ylabel(f"conjunctions < {threshold_text(thr)} km per day")
    ax.set_title("Conjunction squalls by group (mean per realization)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return fig
