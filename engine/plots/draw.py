"""Axes-level drawing: one `draw_*` function per figure, each deciding from the source what
applies (a breakup or a population, a shard without realization 0, encounters or none) and
saying so in words where it draws nothing. `compact`: the smaller fonts of a summary-page panel.

Time axes are UTC dates (matplotlib date numbers of the source's datetime64 times), labelled
"time [UTC]" with the breakup event's epoch where there is one.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from ..errors import counted
from ..physics.constants import DECAY_ALTITUDE_KM
from ..physics.sgp4_numpy import MU_KM3_S2, RADIUS_EARTH_KM
from ..results import windows as windows_mod
from .source import Source

__all__ = [
    "RISK_WINDOW_SHARES",
    "RISK_WINDOW_WIDTH_S",
    "draw_by_size",
    "draw_encounter_timeline",
    "draw_fragments_in_orbit",
    "draw_gabbard",
    "draw_pc_histogram",
    "draw_rate_vs_time",
    "draw_risk_windows",
    "not_applicable",
]

#: The risk-windows figure: windows of this width (s) carrying these shares of the mean
#: expected collisions of the first day (the shelter schedule `fragrisk encounters --windows`
#: gives for any width and share).
RISK_WINDOW_WIDTH_S = 120.0
RISK_WINDOW_SHARES = (0.5, 0.9)
#: The Gabbard diagram's altitude axis ends at this percentile of the apogees (or at the highest
#: target band): a few fragments on near-escape orbits (apogees of 10^5 km) would otherwise squash
#: the cloud, and the target bands with it, into a line.
_GABBARD_TOP_PERCENTILE = 98.0


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def utc_text(t) -> str:
    """'2021-11-15 02:47 UTC' (seconds only where not 0)."""
    return t.strftime("%Y-%m-%d %H:%M:%S UTC" if t.second else "%Y-%m-%d %H:%M UTC")


def _band(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, 5th and 95th percentile along `axis`."""
    p05, p50, p95 = np.percentile(values, [5.0, 50.0, 95.0], axis=axis)
    return p50, p05, p95


def _headroom_log(ax: Any, fraction: float = 0.25) -> None:
    """Raise the top of a log y axis so that the data keep out of its top `fraction` (the
    legend's place)."""
    lo, hi = ax.get_ylim()
    if 0 < lo < hi:
        top = np.log10(hi) + (np.log10(hi) - np.log10(lo)) * fraction / (1.0 - fraction)
        ax.set_ylim(lo, 10.0 ** top)


def _bin_width(edges_s: np.ndarray) -> str:
    """'1 h' or '30 min': the typical width of the time bins."""
    w = float(np.median(np.diff(edges_s))) if edges_s.size > 1 else 0.0
    return f"{w / 3600.0:g} h" if w >= 3600.0 else f"{w / 60.0:g} min"


def _title(ax: Any, title: str, note: str = "", compact: bool = False) -> None:
    """The title, and between it and the axes a smaller grey note (wrapped) when given."""
    size = 7.0 if compact else 8.5
    lines = textwrap.wrap(note, 60 if compact else 118) if note else []
    ax.set_title("\n".join(textwrap.wrap(title, 60 if compact else 100)), fontsize=8.5 if compact else 11.0,
                 pad=6.0 + (2.0 + 1.2 * size * len(lines) if lines else 0.0))
    if lines:
        ax.annotate("\n".join(lines), xy=(0.5, 1.0), xycoords="axes fraction", xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=size,
                    color="0.25", linespacing=1.1)


def _legend(ax: Any, compact: bool, **kw: Any) -> None:
    """A legend of what is drawn (labelled artists only); none where nothing is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=6.5 if compact else "small", framealpha=0.9, **kw)


def _words(ax: Any, text: str, compact: bool, *, y: float = 0.5) -> None:
    """A sentence in the middle of the axes: what the panel would show and why it does not."""
    ax.text(0.5, y, "\n".join(textwrap.wrap(text, 48 if compact else 70)), transform=ax.transAxes,
            ha="center", va="center", fontsize=7.5 if compact else 10.0, color="0.2", linespacing=1.3,
            bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=2.0), zorder=5)


def not_applicable(ax: Any, title: str, text: str, compact: bool = False) -> None:
    """A panel that does not apply to this run: its title and, in words, why; no axes."""
    ax.set_axis_off()
    _title(ax, title, compact=compact)
    _words(ax, text, compact)


def _dates(src: Source, seconds: Any) -> np.ndarray:
    """Seconds since the analysis start -> matplotlib date numbers (UTC)."""
    from matplotlib.dates import date2num

    return date2num(src.utc(np.asarray(seconds, dtype=np.float64)))


def _time_axis(ax: Any, src: Source, t0_s: float, t1_s: float, compact: bool) -> None:
    """x: UTC dates from t0_s to t1_s (s since the analysis start), concise tick labels, the
    event's epoch in the label where there is one."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    ax.set_xlim(*_dates(src, [t0_s, t1_s]))
    locator = AutoDateLocator(minticks=3, maxticks=6 if compact else 9)
    ax.xaxis.set_major_locator(locator)
    # Day ticks as "Nov-16", not a bare "16"; the offset (year, month) at the axis' end.
    ax.xaxis.set_major_formatter(ConciseDateFormatter(
        locator, formats=["%Y", "%b", "%b-%d", "%H:%M", "%H:%M", "%S.%f"],
        zero_formats=["", "%Y", "%b", "%b-%d", "%H:%M", "%H:%M"], show_offset=False))
    event = src.event_epoch()
    ax.set_xlabel("time [UTC]; " + (f"breakup event {utc_text(event)}" if event is not None
                                    else f"from {utc_text(src.start())}"))


def _period_min(altitude_km: float) -> float:
    """Period (min) of a circular orbit at `altitude_km` (two-body): where a target's band sits
    on the Gabbard diagram's period axis."""
    a = RADIUS_EARTH_KM + altitude_km
    return 2.0 * np.pi * np.sqrt(a**3 / MU_KM3_S2) / 60.0


# --------------------------------------------------------------------------------------------
# the figures' axes
# --------------------------------------------------------------------------------------------

def draw_gabbard(ax: Any, src: Source, compact: bool = False) -> None:
    d = src.need("gabbard")
    period, apo, peri = d["gabbard_period_min"], d["gabbard_apogee_km"], d["gabbard_perigee_km"]
    pop = src.is_population
    if pop:
        title = f"Gabbard diagram of the {src.objects} at the analysis start, {utc_text(src.start())}"
    else:
        event = src.event_epoch()
        title = ("Gabbard diagram of realization 0's fragments at the event epoch"
                 + (f", {utc_text(event)}" if event is not None else ""))
    if period.size:
        ax.scatter(period, apo, s=4, marker="^", lw=0, color="C0", label="apogee", rasterized=True, zorder=2)
        ax.scatter(period, peri, s=4, marker="v", lw=0, color="C3", label="perigee", rasterized=True, zorder=2)
    bands = []
    for k, name in enumerate(d["target_names"].tolist()):
        lo, hi = sorted((float(d["target_perigee_km"][k]), float(d["target_apogee_km"][k])))
        bands.append((lo, hi))
        color = f"C{(k + 2) % 10}"
        ax.axhspan(lo, hi, color=color, alpha=0.35, lw=0, zorder=1,
                   label=f"{name} altitude band {lo:.0f}–{hi:.0f} km")
        # A band of a few km is thinner than a pixel here: a translucent line over the points
        # keeps it in sight without hiding them.
        ax.axhline(0.5 * (lo + hi), color=color, lw=2.0, alpha=0.6, zorder=3)
    notes = []
    finite = np.isfinite(period) & np.isfinite(apo) & np.isfinite(peri)
    if period.size == 0:
        if pop:
            why = "no object of the population is in orbit (near-earth, not decayed) at the analysis start"
        else:
            lo_r, hi_r = src.attrs.get("realization_start"), src.attrs.get("realization_stop")
            held = f" (it holds realizations {lo_r}..{int(hi_r) - 1})" if lo_r is not None and hi_r is not None else ""
            why = f"this shard does not hold realization 0, whose fragments the diagram shows{held}"
        _words(ax, why, compact, y=0.75)
        # The period axis around the targets' orbits, not an empty -0.05..0.05.
        periods = [_period_min(0.5 * (lo + hi)) for lo, hi in bands]
        ax.set_xlim(min(periods) - 3.0, max(periods) + 3.0)
        ax.set_ylim(0.0, max(hi for _, hi in bands) * 2.4)  # the bands low, the words above them
    else:
        n_sub = int(np.count_nonzero(finite & (peri < DECAY_ALTITUDE_KM)))
        sub = f", {n_sub:,} with perigee < {DECAY_ALTITUDE_KM:.0f} km (not propagated)" if n_sub else ""
        notes.append(counted(int(period.size), src.objects[:-1]) + sub)
    if np.any(finite):
        top = max([float(np.percentile(apo[finite], _GABBARD_TOP_PERCENTILE))] + [hi for _, hi in bands])
        bottom = min([0.0] + [lo for lo, _ in bands])  # altitudes below 0 km: inside the Earth
        top += 0.04 * (top - bottom)
        ax.set_ylim(bottom, top)
        shown = finite & (apo <= top)
        x = period[shown] if np.any(shown) else period[finite]
        pad = 0.03 * max(float(x.max() - x.min()), 1.0)
        x0, x1 = float(x.min()) - pad, float(x.max()) + pad
        ax.set_xlim(x0, x1)
        # x covers every object whose apogee is in view: the others are off scale (their
        # perigees too when their period is outside the x range).
        off = []
        if n := int(np.count_nonzero(finite & (apo > top))):
            gone = int(np.count_nonzero(finite & ((period < x0) | (period > x1))))
            off.append(f"{n:,} apogees > {top:,.0f} km" + (f" ({gone:,} also off the period axis)" if gone else ""))
        if n := int(np.count_nonzero(finite & (peri < bottom))):
            off.append(f"{n:,} perigees < {bottom:,.0f} km")
        if off:
            notes.append("off scale: " + ", ".join(off))
    ax.set_xlabel("orbital period [min]")
    ax.set_ylabel("altitude [km]")
    _title(ax, title, "; ".join(notes), compact)
    # Short periods with high apogees do not exist: the upper left corner stays empty.
    _legend(ax, compact, markerscale=3, loc="upper left" if period.size else "lower right")
    ax.grid(True, alpha=0.3)


PC_TITLE_ONE = "Collision probability of 1 realization"


def one_realization_p(src: Source, names, P) -> str:
    """Words for the histogram of one realization: its P per target, and that there is no spread."""
    values = ", ".join(f"{name}: P = {float(P[k, 0]):.3g}" for k, name in enumerate(names))
    what = "a fixed population is one realization" if src.is_population else "this file holds 1 realization"
    return f"{what}, so P has no spread to show ({values})"


def draw_pc_histogram(ax: Any, src: Source, compact: bool = False) -> None:
    from matplotlib.ticker import MaxNLocator

    d = src.need("pc_histogram")
    edges = 10.0 ** d["pc_edges_log10"]
    counts, P = d["pc_histogram"], d["collision_probability"]
    names = d["target_names"].tolist()
    R = P.shape[1]
    if R == 1:
        not_applicable(ax, PC_TITLE_ONE, one_realization_p(src, names, P), compact)
        return
    stats = [(float(P[k].mean()), float(np.median(P[k]))) for k in range(P.shape[0])] if R else []
    # x: the occupied bins with one empty bin either side, and the marked values; not a dozen
    # decades of nothing around one occupied bin.
    used = np.flatnonzero(counts.sum(axis=0) > 0)
    if used.size:
        marks = [v for pair in stats for v in pair if edges[0] <= v <= edges[-1]]
        i0, i1 = max(int(used[0]) - 1, 0), min(int(used[-1]) + 2, edges.size - 1)
        x0, x1 = min([edges[i0]] + marks), max([edges[i1]] + marks)
    else:
        x0, x1 = edges[0], edges[-1]
    for k, name in enumerate(names):
        color = f"C{k % 10}"
        ax.stairs(counts[k], edges, color=color, lw=1.5, label=f"{name}: realizations")
        positive = P[k][P[k] > 0]  # a rug: where in its bin each realization lies
        if R > 1 and positive.size:
            ax.plot(positive, np.full(positive.size, 0.04 + 0.05 * k), ls="none", marker="|", ms=9,
                    mew=1.0, color=color, transform=ax.get_xaxis_transform(), label=f"{name}: P of each realization")
        # One realization: its P is the mean and the median; one line says so.
        marked = (zip(stats[k], ("mean", "median"), ("--", ":")) if R > 1
                  else zip(stats[k][:1], ("P",), ("--",))) if stats else ()
        for value, what, style in marked:
            label = f"{name}: {what} P = {value:.3g}" if what != "P" else f"{name}: P = {value:.3g}"
            if x0 <= value <= x1:
                ax.axvline(value, color=color, ls=style, lw=1.4, label=label)
            else:
                ax.plot([], [], color=color, ls=style, label=label + " (off scale)")
    ax.set_xscale("log")
    ax.set_xlim(x0, x1)
    ax.set_ylim(0, max(float(counts.max(initial=0.0)), 1.0) * 1.5)  # the legend's place
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("collision probability P [1]")
    ax.set_ylabel("realizations [count]")
    note = ""
    if src.is_population:
        note = "a fixed population: one realization, so one P per target and no spread"
    elif x0 <= edges[0] and np.any(counts[:, 0] > 0):
        note = (f"the lowest bin also counts P < {edges[0]:.0e} and P = 0: "
                + ", ".join(("" if len(names) == 1 else f"{name} ") + counted(int(c), "realization")
                            for name, c in zip(names, counts[:, 0])))
    _title(ax, f"Collision probability across {counted(R, 'realization')}", note, compact)
    _legend(ax, compact, loc="upper left")
    ax.grid(True, alpha=0.3)


def draw_rate_vs_time(ax: Any, src: Source, compact: bool = False) -> None:
    d = src.need("rate_vs_time")
    edges_s = d["time_edges_s"]
    width_h = np.diff(edges_s) / 3600.0
    by_time = d["expected_collisions_by_time"]
    rate = by_time / width_h  # (K, R, T) 1/h
    R = by_time.shape[1]
    x = _dates(src, 0.5 * (edges_s[:-1] + edges_s[1:]))
    names = d["target_names"].tolist()
    zeros = []
    drawn = False
    for k, name in enumerate(names):
        mean = rate[k].mean(axis=0)
        color = f"C{k % 10}"
        who = f"{name} " if len(names) > 1 else ""
        # Bins are intervals: steps, not a line through the centres (which, on a log axis,
        # would also drop a non-zero bin between two zero ones). Only what has a value > 0 is
        # drawn (and named in the legend) on the log axis.
        if R > 1:
            med, lo, hi = _band(rate[k], axis=0)
            if np.any(hi > 0):
                ax.fill_between(x, lo, hi, step="mid", color=color, alpha=0.22, lw=0, label=f"{name}: 5–95 %")
            if np.any(mean > 0):
                ax.plot(x, mean, color=color, lw=1.3, drawstyle="steps-mid", label=f"{name}: mean")
            if np.any(med > 0):
                ax.plot(x, med, color=color, lw=1.0, ls="--", drawstyle="steps-mid", label=f"{name}: median")
            zeros += [(f"{who}mean", int(np.count_nonzero(mean <= 0))),
                      (f"{who}median", int(np.count_nonzero(med <= 0)))]
        elif np.any(mean > 0):
            ax.plot(x, mean, color=color, lw=1.3, drawstyle="steps-mid", label=f"{name}")
            zeros.append((f"{who}rate", int(np.count_nonzero(mean <= 0))))
        drawn |= bool(np.any(rate[k] > 0))
    note = ""
    if drawn:
        ax.set_yscale("log")
        _headroom_log(ax)
        parts = [f"the {what} in {n:,}" for what, n in zeros if n]
        if parts:
            note = f"0, so not drawn on the log axis: {', '.join(parts)} of the {x.size:,} bins"
    else:
        ax.set_ylim(0.0, 1.0)
        _words(ax, "no collision risk in any bin" + ("" if R == 1 else " of any realization") + ": every rate is 0",
               compact)
    _time_axis(ax, src, float(edges_s[0]), float(edges_s[-1]), compact)
    ax.set_ylabel("expected collisions [1/h]" if compact else "expected collisions per hour [1/h]")
    across = f"across {counted(R, 'realization')}" if R > 1 else ("of the population" if src.is_population
                                                                  else "of 1 realization")
    _title(ax, f"Collision rate {across} ({_bin_width(edges_s)} bins)", note, compact)
    _legend(ax, compact, loc="upper right", ncols=3)
    ax.grid(True, alpha=0.3)


BY_SIZE_TITLE = "Expected collisions by fragment size"
POPULATION_SIZES = ("sizes unknown: a population's objects count as points (each collision cross-section is the "
                    "target's hard-body sphere alone), so the risk has no breakdown by size")


def draw_by_size(ax: Any, src: Source, compact: bool = False) -> None:
    d = src.need("by_size")
    if src.is_population:
        not_applicable(ax, BY_SIZE_TITLE, POPULATION_SIZES, compact)
        return
    edges = d["size_edges_m"]
    by_size = d["expected_collisions_by_size"]  # (K, R, S)
    R = by_size.shape[1]
    names = d["target_names"].tolist()
    empty = []
    for k, name in enumerate(names):
        mean = by_size[k].mean(axis=0)
        _, lo, hi = _band(by_size[k], axis=0)
        color = f"C{k % 10}"
        if R > 1 and np.any(hi > 0):
            ax.fill_between(edges, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post",
                            color=color, alpha=0.25, lw=0, label=f"{name}: 5–95 %")
        if np.any(mean > 0):
            ax.stairs(mean, edges, color=color, lw=1.5, label=f"{name}: mean" if R > 1 else name)
        zero = np.flatnonzero(mean <= 0)
        if 0 < zero.size < mean.size:
            empty.append((f"{name}: " if len(names) > 1 else "")
                         + ", ".join(f"{edges[i]:g}–{edges[i + 1]:g} m" for i in zero))
    ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    note = ""
    if np.any(by_size > 0):
        ax.set_yscale("log")
        _headroom_log(ax)
        if empty:
            note = "0 in every realization, so not drawn on the log axis: " + "; ".join(empty)
    else:
        ax.set_ylim(0.0, 1.0)
        _words(ax, "no collision risk in any size bin of any realization: every value is 0", compact)
    ax.set_xlabel("fragment characteristic length Lc [m]")
    ax.set_ylabel("expected collisions per size bin [1]")
    _title(ax, f"{BY_SIZE_TITLE}, {counted(R, 'realization')}", note, compact)
    _legend(ax, compact, loc="upper right")
    ax.grid(True, alpha=0.3)


def draw_fragments_in_orbit(ax: Any, src: Source, compact: bool = False) -> None:
    d = src.need("fragments_in_orbit")
    edges_s = d["time_edges_s"]
    x = _dates(src, 0.5 * (edges_s[:-1] + edges_s[1:]))
    counts = d["fragments_in_orbit"]
    R = counts.shape[0]
    what = src.objects
    if R > 1:
        med, lo, hi = _band(counts, axis=0)
        ax.fill_between(x, lo, hi, color="C0", alpha=0.25, lw=0, label="5–95 %")
        ax.plot(x, med, color="C0", lw=1.2, label="median")
    elif R == 1:
        ax.plot(x, counts[0], color="C0", lw=1.2)
    _time_axis(ax, src, float(edges_s[0]), float(edges_s[-1]), compact)
    ax.set_ylabel(f"{what} in orbit [count]")
    across = f"across {counted(R, 'realization')}" if R > 1 else ("of the population" if src.is_population
                                                                  else "in 1 realization")
    note = ("near-earth objects SGP4 propagates, not decayed" if src.is_population else "")
    _title(ax, f"{what.capitalize()} in orbit {across} (mean over each {_bin_width(edges_s)} bin)", note, compact)
    _legend(ax, compact, loc="upper right")
    ax.grid(True, alpha=0.3)


def draw_encounter_timeline(ax: Any, src: Source, compact: bool = False) -> None:
    table, d = src.encounters("encounter_timeline")
    names = d["target_names"].tolist()
    R = int(np.asarray(d["realization"]).size)
    x = _dates(src, table.tca_s)
    share = table.expected_collisions
    top = float(share.max()) if share.size else 0.0
    # Marker area in proportion to the share of lambda: the eye reads areas as amounts.
    big = 60.0 if compact else 140.0
    for k, name in enumerate(names):
        mine = table.target == k
        if not mine.any():
            continue
        sizes = big * share[mine] / top if top > 0 else np.full(int(mine.sum()), 4.0)
        ax.scatter(x[mine], table.miss_km[mine], s=np.maximum(sizes, 1.5), color=f"C{k % 10}", alpha=0.55,
                   lw=0, label=f"{name}: {counted(int(mine.sum()), 'encounter')}", rasterized=True)
    radius = src.attrs.get("kernel_radius_km")
    top_km = float(radius) if isinstance(radius, (int, float)) else (
        float(table.miss_km.max()) if len(table) else 1.0)
    ax.set_ylim(0.0, top_km * 1.15)
    end_s = float(np.asarray(d["time_edges_s"])[-1])
    _time_axis(ax, src, 0.0, end_s, compact)
    ax.set_ylabel("miss distance [km]" if compact else "miss distance at closest approach [km]")
    if len(table) == 0:
        note = ""
        _words(ax, f"no encounter: no {src.objects[:-1]} passed through a target's kernel sphere "
                   f"({top_km:g} km) in {'the' if R == 1 else 'any'} realization", compact)
    else:
        note = (f"marker area in proportion to the encounter's share of the expected collisions "
                f"(largest {top:.3g}); kernel sphere radius {top_km:g} km")
    across = f"across {counted(R, 'realization')}" if not src.is_population else "of the population"
    _title(ax, f"Encounters {across}", note, compact)
    _legend(ax, compact, loc="upper right", markerscale=0.6)
    ax.grid(True, alpha=0.3)


def risk_period_s(edges_s: np.ndarray) -> float:
    """The risk-windows figure's period: the first day, or the whole window where shorter."""
    return min(86400.0, float(edges_s[-1]))


def risk_windows_absent(src: Source) -> str | None:
    """Why the risk-windows figure has nothing to draw (no encounter in its period), in words
    with when the first encounter is; None where it has something."""
    table, d = src.encounters("risk_windows")
    period = risk_period_s(np.asarray(d["time_edges_s"], dtype=np.float64))
    inside = table.tca_s < period
    if np.any(inside):
        return None
    hours = f"{period / 3600.0:g} h"
    whole = period >= float(np.asarray(d["time_edges_s"])[-1])
    if len(table) == 0:
        return (f"no encounter in the whole {hours} window" if whole
                else f"no encounter in the first {hours}, nor later") + ": no risk windows to shelter in"
    first = float(table.tca_s.min())
    when = src.utc(round(first)).astype("datetime64[s]").item()
    file = src.label if src.label.endswith(".h5") else "RESULTS.h5"
    return (f"no encounter in the first {hours}: no risk windows to shelter in then. The first encounter "
            f"is at {utc_text(when)}, {first / 3600.0:.1f} h after the start (fragrisk encounters {file} "
            f"--windows --within-h {int(np.ceil(first / 3600.0)) + 1} lists its windows)")


def draw_risk_windows(ax: Any, src: Source, compact: bool = False) -> None:
    table, d = src.encounters("risk_windows")
    names = d["target_names"].tolist()
    R = max(int(np.asarray(d["realization"]).size), 1)
    period = risk_period_s(np.asarray(d["time_edges_s"], dtype=np.float64))
    title = f"Risk windows of the first {period / 3600.0:g} h, " + (
        "of the population" if src.is_population else f"mean over {counted(R, 'realization')}")
    absent = risk_windows_absent(src)
    if absent is not None:
        not_applicable(ax, title, absent, compact)
        return
    from matplotlib.dates import date2num
    from matplotlib.ticker import FormatStrFormatter

    edges = np.arange(0.0, period + 60.0, 60.0)
    edges[-1] = min(edges[-1], max(period, 60.0))
    x_edges = _dates(src, edges)
    notes = []
    peak = 0.0
    shares = sorted(RISK_WINDOW_SHARES)  # 50 % first: the top row
    n_rows = len(shares) * len(names)
    row_h = 0.08 if compact else 0.05  # the windows' strips above the curves, in axes fractions
    strip_top = 0.97
    for k, name in enumerate(names):
        color = f"C{k % 10}"
        who = f"{name}: " if len(names) > 1 else ""
        if not np.any((table.target == k) & (table.tca_s < period)):
            notes.append(f"{who}no encounter in this period")
            continue
        rate = windows_mod.rate_per_bin(table, k, R, edges)  # mean expected collisions per 1-min bin
        peak = max(peak, float(rate.max(initial=0.0)))
        ax.stairs(rate, x_edges, color=color, lw=1.0,
                  label=f"{name}: {'' if R == 1 else 'mean '}expected collisions per minute")
        counts = []
        for row, share in enumerate(shares):
            sched = windows_mod.table_risk_windows(table, k, R, share=share, width_s=RISK_WINDOW_WIDTH_S, end_s=period)
            y0 = strip_top - row_h * (k * len(shares) + row + 1)
            # Each window as a bar in its own strip above the curves (not a line through them,
            # which reads as data): at least a few pixels wide, as 2 min are a hairline on a day.
            starts = date2num(src.utc([w.start_s for w in sched.windows])) if sched.windows else np.zeros(0)
            ends = date2num(src.utc([w.end_s for w in sched.windows])) if sched.windows else np.zeros(0)
            span = x_edges[-1] - x_edges[0]
            widths = np.maximum(ends - starts, span * 0.004)
            ax.broken_barh(list(zip(starts - 0.5 * (widths - (ends - starts)), widths)), (y0, row_h * 0.7),
                           transform=ax.get_xaxis_transform(), color=color, alpha=0.45 if row else 0.9, lw=0,
                           label=f"{who}the {counted(len(sched.windows), 'window')} of "
                                 f"{RISK_WINDOW_WIDTH_S / 60:g} min carrying {100 * share:g} %")
            ax.text(0.004, y0 + 0.35 * row_h, f"{who}{100 * share:g} %", transform=ax.transAxes, ha="left",
                    va="center", fontsize=6 if compact else 7.5, color="0.2")
            n = len(sched.windows)
            counts.append(f"{counted(n, 'window')} carr{'ies' if n == 1 else 'y'} {100 * share:g} %")
        notes.append(f"{who}of the windows of {RISK_WINDOW_WIDTH_S / 60:g} min, " + ", ".join(counts))
    _time_axis(ax, src, 0.0, period, compact)
    # The curves keep to the lower part; the strips and the legend sit above them.
    strips = row_h * n_rows + 0.03
    top = peak / (1.0 - strips - 0.22)
    ax.set_ylim(0.0, top)
    ax.axhline(top * (1.0 - strips), color="0.6", lw=0.6)
    ax.set_yticks([t for t in ax.get_yticks() if 0.0 <= t < top * (1.0 - strips)])  # none by the strips
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.2g"))  # no "1e-5" offset over the strips
    ax.set_ylabel("expected collisions [1/min]" if compact else "expected collisions per minute [1/min]")
    _title(ax, title, "; ".join(notes), compact)
    _legend(ax, compact, loc="upper right", bbox_to_anchor=(1.0, 1.0 - strips))
    ax.grid(True, alpha=0.3)

