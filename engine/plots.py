"""Figures of a results file. Each takes a results path, an xarray Dataset or a RunResults.

Read top-down: the loader (`_Source`: what a figure needs, or a one-line InputError), the
figure functions (`gabbard`, `pc_histogram`, `rate_vs_time`, `by_size`, `fragments_in_orbit`,
`encounter_timeline`, `risk_windows`, `summary_page`), each built from an axes-level `_draw_*`
helper, then `plot_all`, which the CLI's `fragrisk plot` calls. The two encounter figures need
the encounter table (engine/results/encounter_table.py); a file without it (written before it existed, or
with [analysis] encounters = "none") gets the other figures, as before.

Figures are `matplotlib.figure.Figure` objects on an Agg canvas: no pyplot, no global
matplotlib state; matplotlib is imported inside the functions only. Sizes are fixed
(`FIGURE_SIZE_IN`, `PAGE_SIZE_IN` at `DPI`), so a PNG of a figure is `FIGURE_SIZE_PX` pixels
and of the summary page `PAGE_SIZE_PX`.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import FragriskError, InputError
from .files.h5io import check_writable_folder
from .physics.constants import DECAY_ALTITUDE_KM
from .results import VARIABLES, encounter_table, load_fields
from .results import windows as windows_mod
from .timeutil import parse_utc_datetime

__all__ = [
    "DPI",
    "FIGURE_SIZE_IN",
    "FIGURE_SIZE_PX",
    "FORMATS",
    "PAGE_SIZE_IN",
    "PAGE_SIZE_PX",
    "by_size",
    "encounter_timeline",
    "fragments_in_orbit",
    "gabbard",
    "pc_histogram",
    "plot_all",
    "rate_vs_time",
    "risk_windows",
    "summary_page",
]

DPI = 120
FIGURE_SIZE_IN = (8.0, 5.0)
PAGE_SIZE_IN = (8.5, 11.0)
FIGURE_SIZE_PX = (round(FIGURE_SIZE_IN[0] * DPI), round(FIGURE_SIZE_IN[1] * DPI))  # (960, 600)
PAGE_SIZE_PX = (round(PAGE_SIZE_IN[0] * DPI), round(PAGE_SIZE_IN[1] * DPI))  # (1020, 1320)
FORMATS = ("png", "pdf", "svg")

_NEEDS = {
    "gabbard": ("gabbard_apogee_km", "gabbard_perigee_km", "gabbard_period_min",
                "target_names", "target_perigee_km", "target_apogee_km"),
    "pc_histogram": ("target_names", "collision_probability", "pc_histogram", "pc_edges_log10"),
    "rate_vs_time": ("target_names", "expected_collisions_by_time", "time_edges_s"),
    "by_size": ("target_names", "expected_collisions_by_size", "size_edges_m"),
    "fragments_in_orbit": ("fragments_in_orbit", "time_edges_s"),
    "text": ("target_names", "collision_probability", "expected_collisions", "realization"),
}
#: Figures drawn only where the source holds the encounter table (they need it and
#: target_names, realization, time_edges_s besides).
_ENCOUNTER_FIGURES = ("encounter_timeline", "risk_windows")
#: The risk-windows figure: windows of this width (s) carrying these shares of the mean
#: expected collisions of the first day (the shelter schedule `fragrisk encounters --windows`
#: gives for any width and share).
RISK_WINDOW_WIDTH_S = 120.0
RISK_WINDOW_SHARES = (0.5, 0.9)
#: RunResults field -> the file variable that holds it (for messages).
_FILE_NAME = {v.field: v.name for v in VARIABLES if not v.is_derived}
_META = ("title", "source", "history", "Conventions", "scenario", "seed", "n_realizations",
         "device", "elapsed_s", "analysis_start", "realization_start", "realization_stop")


class _Source:
    """A loaded results source: its arrays, attributes and a label for error messages."""

    def __init__(self, source: Any) -> None:
        self.fields, self.attrs, self.label = load_fields(source)

    def need(self, figure: str) -> dict[str, np.ndarray]:
        """The arrays `figure` needs (their shapes were checked on loading); InputError (one
        line) naming the file variable if one is missing."""
        out = {}
        for name in _NEEDS[figure]:
            if name not in self.fields:
                raise InputError(
                    f"{self.label}: variable {_FILE_NAME[name]!r} is missing; the {figure} "
                    "figure needs it"
                )
            a = np.asarray(self.fields[name])
            out[name] = a if name == "target_names" else a.astype(np.float64)
        return out

    def encounters(self, figure: str):
        """The encounter table and what goes with it, or InputError (one line) without it."""

        try:
            table = encounter_table.from_fields(self.fields)
        except encounter_table.TableError as exc:
            raise InputError(f"{self.label}: {exc}") from None
        if table is None:
            raise InputError(windows_mod.no_table_message(self.label, self.attrs)
                             + f"; the {figure} figure needs it")
        d = {name: self.fields[name] for name in ("target_names", "realization", "time_edges_s")
             if name in self.fields}
        for name in ("target_names", "realization", "time_edges_s"):
            if name not in d:
                raise InputError(f"{self.label}: variable {_FILE_NAME[name]!r} is missing; the {figure} "
                                 f"figure needs it")
        return table, d

    def has_encounters(self) -> bool:
        from .results.encounter_table import VARIABLE_NAMES

        return any(v in self.fields for v in VARIABLE_NAMES)

    def time_axis_h(self, edges_s: np.ndarray) -> tuple[np.ndarray, str]:
        """Bin centres in hours since the breakup event (when known) and the axis label."""
        centres_h = 0.5 * (edges_s[:-1] + edges_s[1:]) / 3600.0
        offset_h = self._event_offset_h()
        if offset_h is None:
            return centres_h, "time since analysis start [h]"
        return centres_h + offset_h, "time since the breakup event [h]"

    def hours(self, seconds: np.ndarray) -> tuple[np.ndarray, str]:
        """Seconds since the analysis start -> hours since the event (when known), and the label."""
        offset_h = self._event_offset_h()
        if offset_h is None:
            return np.asarray(seconds) / 3600.0, "time since analysis start [h]"
        return np.asarray(seconds) / 3600.0 + offset_h, "time since the breakup event [h]"

    def _event_offset_h(self) -> float | None:

        event = self.attrs.get("event_epoch")
        if event is None:
            event = (self.scenario_table().get("event") or {}).get("epoch")
        start = self.attrs.get("analysis_start")
        if event is None or start is None:
            return None
        try:
            if isinstance(event, _dt.datetime):
                ev = event if event.tzinfo else event.replace(tzinfo=_dt.timezone.utc)
            else:
                ev = parse_utc_datetime(str(event))
            return (parse_utc_datetime(str(start)) - ev).total_seconds() / 3600.0
        except (TypeError, ValueError, InputError):
            return None

    def scenario_table(self) -> dict:
        import tomllib

        try:
            table = tomllib.loads(str(self.attrs.get("scenario", "")))
        except (tomllib.TOMLDecodeError, TypeError):
            return {}
        return table if isinstance(table, dict) else {}


def _as_source(source: Any) -> _Source:
    return source if isinstance(source, _Source) else _Source(source)


def _figure(size_in: tuple[float, float]) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise FragriskError(
            "plots: matplotlib is not installed; install it with: pip install 'fragrisk[plot]'"
        ) from None
    fig = Figure(figsize=size_in, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _band(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, 5th and 95th percentile along `axis`."""
    p05, p50, p95 = np.percentile(values, [5.0, 50.0, 95.0], axis=axis)
    return p50, p05, p95


def _log_y_if_positive(ax: Any, *arrays: np.ndarray) -> bool:
    """Log y when anything is > 0; else a linear axis just below 0 and a note."""
    if any(np.any(np.asarray(a) > 0) for a in arrays):
        ax.set_yscale("log")
        return True
    ax.set_ylim(-0.05, 1.0)  # the zero lines stay off the bottom spine, the note off them
    ax.text(0.5, 0.6, "all values are 0", transform=ax.transAxes, ha="center", va="center")
    return False


def _headroom_log(ax: Any, fraction: float = 0.25) -> None:
    """Raise the top of a log y axis so that the data keep out of its top `fraction` (the
    legend's place)."""
    lo, hi = ax.get_ylim()
    if 0 < lo < hi:
        top = np.log10(hi) + (np.log10(hi) - np.log10(lo)) * fraction / (1.0 - fraction)
        ax.set_ylim(lo, 10.0 ** top)


def _n(count: int, what: str) -> str:
    return f"{count:,} {what}{'' if count == 1 else 's'}"


def _bin_width(edges_s: np.ndarray) -> str:
    """'1 h' or '30 min': the typical width of the time bins."""
    w = float(np.median(np.diff(edges_s))) if edges_s.size > 1 else 0.0
    return f"{w / 3600.0:g} h" if w >= 3600.0 else f"{w / 60.0:g} min"


def _title(ax: Any, title: str, note: str = "", compact: bool = False) -> None:
    """The title, and between it and the axes a smaller grey note (wrapped) when given."""
    import textwrap

    size = 7.0 if compact else 8.5
    lines = textwrap.wrap(note, 66 if compact else 118) if note else []
    ax.set_title(title, fontsize=8.5 if compact else 11.0,
                 pad=6.0 + (2.0 + 1.2 * size * len(lines) if lines else 0.0))
    if lines:
        ax.annotate("\n".join(lines), xy=(0.5, 1.0), xycoords="axes fraction", xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=size,
                    color="0.25", linespacing=1.1)


def _legend(ax: Any, compact: bool, **kw: Any) -> None:
    ax.legend(fontsize=6.5 if compact else "small", framealpha=0.9, **kw)


# --------------------------------------------------------------------------------------------
# axes-level drawing (compact: the smaller fonts of a summary-page panel)
# --------------------------------------------------------------------------------------------

#: The Gabbard diagram's altitude axis ends at this percentile of the apogees (or at the highest
#: target band): a few fragments on near-escape orbits (apogees of 10^5 km) would otherwise squash
#: the cloud, and the target bands with it, into a line.
_GABBARD_TOP_PERCENTILE = 98.0


def _draw_gabbard(ax: Any, src: _Source, compact: bool = False) -> None:
    d = src.need("gabbard")
    period, apo, peri = d["gabbard_period_min"], d["gabbard_apogee_km"], d["gabbard_perigee_km"]
    ax.scatter(period, apo, s=4, marker="^", lw=0, color="C0", label="apogee", rasterized=True,
               zorder=2)
    ax.scatter(period, peri, s=4, marker="v", lw=0, color="C3", label="perigee", rasterized=True,
               zorder=2)
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
        ax.text(0.5, 0.5, "no fragments: this file does not hold realization 0",
                transform=ax.transAxes, ha="center", va="center")
    else:
        n_sub = int(np.count_nonzero(finite & (peri < DECAY_ALTITUDE_KM)))
        sub = f", {n_sub:,} with perigee < {DECAY_ALTITUDE_KM:.0f} km (not propagated)"
        notes.append(_n(period.size, "fragment") + (sub if n_sub else ""))
    if np.any(finite):
        top = max([float(np.percentile(apo[finite], _GABBARD_TOP_PERCENTILE))]
                  + [hi for _, hi in bands])
        bottom = min([0.0] + [lo for lo, _ in bands])  # altitudes below 0 km: inside the Earth
        top += 0.04 * (top - bottom)
        ax.set_ylim(bottom, top)
        shown = finite & (apo <= top)
        x = period[shown] if np.any(shown) else period[finite]
        pad = 0.03 * max(float(x.max() - x.min()), 1.0)
        x0, x1 = float(x.min()) - pad, float(x.max()) + pad
        ax.set_xlim(x0, x1)
        # x covers every fragment whose apogee is in view: the others are off scale (their
        # perigees too when their period is outside the x range).
        off = []
        if n := int(np.count_nonzero(finite & (apo > top))):
            gone = int(np.count_nonzero(finite & ((period < x0) | (period > x1))))
            off.append(f"{n:,} apogees > {top:,.0f} km"
                       + (f" ({gone:,} also off the period axis)" if gone else ""))
        if n := int(np.count_nonzero(finite & (peri < bottom))):
            off.append(f"{n:,} perigees < {bottom:,.0f} km")
        if off:
            notes.append("off scale: " + ", ".join(off))
    ax.set_xlabel("orbital period [min]")
    ax.set_ylabel("altitude [km]")
    _title(ax, "Gabbard diagram, realization 0 at the event epoch", "; ".join(notes), compact)
    # Short periods with high apogees do not exist: the upper left corner stays empty.
    _legend(ax, compact, markerscale=3, loc="upper left")
    ax.grid(True, alpha=0.3)


def _draw_pc_histogram(ax: Any, src: _Source, compact: bool = False) -> None:
    from matplotlib.ticker import MaxNLocator

    d = src.need("pc_histogram")
    edges = 10.0 ** d["pc_edges_log10"]
    counts, P = d["pc_histogram"], d["collision_probability"]
    names = d["target_names"].tolist()
    stats = [(float(P[k].mean()), float(np.median(P[k]))) for k in range(P.shape[0])] \
        if P.shape[1] else []
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
        ax.plot(positive, np.full(positive.size, 0.04 + 0.05 * k), ls="none", marker="|", ms=9,
                mew=1.0, color=color, transform=ax.get_xaxis_transform(),
                label=f"{name}: P of each realization")
        for value, what, style in zip(stats[k] if stats else (np.nan, np.nan), ("mean", "median"),
                                      ("--", ":")):
            if x0 <= value <= x1:
                ax.axvline(value, color=color, ls=style, lw=1.4,
                           label=f"{name}: {what} P = {value:.3g}")
            else:
                ax.plot([], [], color=color, ls=style,
                        label=f"{name}: {what} P = {value:.3g} (off scale)")
    ax.set_xscale("log")
    ax.set_xlim(x0, x1)
    ax.set_ylim(0, max(float(counts.max(initial=0.0)), 1.0) * 1.5)  # the legend's place
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("collision probability P [1]")
    ax.set_ylabel("realizations [count]")
    note = ""
    if x0 <= edges[0] and np.any(counts[:, 0] > 0):
        note = (f"the lowest bin also counts P < {edges[0]:.0e} and P = 0: "
                + ", ".join(("" if len(names) == 1 else f"{name} ") + _n(int(c), "realization")
                            for name, c in zip(names, counts[:, 0])))
    _title(ax, f"Collision probability across {_n(P.shape[1], 'realization')}", note, compact)
    _legend(ax, compact, loc="upper left")
    ax.grid(True, alpha=0.3)


def _draw_rate_vs_time(ax: Any, src: _Source, compact: bool = False) -> None:
    d = src.need("rate_vs_time")
    edges_s = d["time_edges_s"]
    width_h = np.diff(edges_s) / 3600.0
    by_time = d["expected_collisions_by_time"]
    rate = by_time / width_h  # (K, R, T) 1/h
    t_h, xlabel = src.time_axis_h(edges_s)
    names = d["target_names"].tolist()
    zeros = []
    for k, name in enumerate(names):
        med, lo, hi = _band(rate[k], axis=0)
        mean = rate[k].mean(axis=0)
        color = f"C{k % 10}"
        # Bins are intervals: steps, not a line through the centres (which, on a log axis,
        # would also drop a non-zero bin between two zero ones).
        ax.fill_between(t_h, lo, hi, step="mid", color=color, alpha=0.22, lw=0,
                        label=f"{name}: 5–95 %")
        ax.plot(t_h, mean, color=color, lw=1.3, drawstyle="steps-mid", label=f"{name}: mean")
        ax.plot(t_h, med, color=color, lw=1.0, ls="--", drawstyle="steps-mid",
                label=f"{name}: median")
        who = f"{name} " if len(names) > 1 else ""
        zeros += [(f"{who}mean", int(np.count_nonzero(mean <= 0))),
                  (f"{who}median", int(np.count_nonzero(med <= 0)))]
    note = ""
    if _log_y_if_positive(ax, rate):
        _headroom_log(ax)
        parts = [f"the {what} in {n:,}" for what, n in zeros if n]
        if parts:
            note = (f"0, so not drawn on the log axis: {', '.join(parts)} of the "
                    f"{t_h.size:,} bins")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("expected collisions per hour [1/h]")
    _title(ax, f"Collision rate across {_n(by_time.shape[1], 'realization')} "
               f"({_bin_width(edges_s)} bins)", note, compact)
    _legend(ax, compact, loc="upper right", ncols=3)
    ax.grid(True, alpha=0.3)


def _draw_by_size(ax: Any, src: _Source, compact: bool = False) -> None:
    d = src.need("by_size")
    edges = d["size_edges_m"]
    by_size = d["expected_collisions_by_size"]  # (K, R, S)
    names = d["target_names"].tolist()
    empty = []
    for k, name in enumerate(names):
        mean = by_size[k].mean(axis=0)
        _, lo, hi = _band(by_size[k], axis=0)
        color = f"C{k % 10}"
        ax.fill_between(edges, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post",
                        color=color, alpha=0.25, lw=0, label=f"{name}: 5–95 %")
        ax.stairs(mean, edges, color=color, lw=1.5, label=f"{name}: mean")
        zero = np.flatnonzero(mean <= 0)
        if 0 < zero.size < mean.size:
            empty.append((f"{name}: " if len(names) > 1 else "")
                         + ", ".join(f"{edges[i]:g}–{edges[i + 1]:g} m" for i in zero))
    ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    note = ""
    if _log_y_if_positive(ax, by_size):
        _headroom_log(ax)
        if empty:
            note = "0 in every realization, so not drawn on the log axis: " + "; ".join(empty)
    ax.set_xlabel("fragment characteristic length Lc [m]")
    ax.set_ylabel("expected collisions per size bin [1]")
    _title(ax, f"Expected collisions by fragment size, {_n(by_size.shape[1], 'realization')}",
           note, compact)
    _legend(ax, compact, loc="upper right")
    ax.grid(True, alpha=0.3)


def _draw_fragments_in_orbit(ax: Any, src: _Source, compact: bool = False) -> None:
    d = src.need("fragments_in_orbit")
    edges_s = d["time_edges_s"]
    t_h, xlabel = src.time_axis_h(edges_s)
    counts = d["fragments_in_orbit"]
    med, lo, hi = _band(counts, axis=0)
    ax.fill_between(t_h, lo, hi, color="C0", alpha=0.25, lw=0, label="5–95 %")
    ax.plot(t_h, med, color="C0", lw=1.2, label="median")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fragments in orbit [count]")
    _title(ax, f"Fragments in orbit across {_n(counts.shape[0], 'realization')} "
               f"(mean over each {_bin_width(edges_s)} bin)", compact=compact)
    _legend(ax, compact, loc="upper right")
    ax.grid(True, alpha=0.3)


def _draw_encounter_timeline(ax: Any, src: _Source, compact: bool = False) -> None:
    table, d = src.encounters("encounter_timeline")
    names = d["target_names"].tolist()
    R = int(np.asarray(d["realization"]).size)
    x, xlabel = src.hours(table.tca_s)
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
                   lw=0, label=f"{name}: {_n(int(mine.sum()), 'encounter')}", rasterized=True)
    radius = src.attrs.get("kernel_radius_km")
    top_km = float(radius) if isinstance(radius, (int, float)) else (
        float(table.miss_km.max()) if len(table) else 1.0)
    ax.set_ylim(0.0, top_km * 1.15)
    end_s = float(np.asarray(d["time_edges_s"])[-1])
    x0, x1 = src.hours(np.array([0.0, end_s]))[0]
    ax.set_xlim(x0, x1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("miss distance at closest approach [km]")
    note = ("no passage through the kernel sphere in any realization" if len(table) == 0 else
            f"marker area in proportion to the encounter's share of the expected collisions "
            f"(largest {top:.3g}); kernel sphere radius {top_km:g} km")
    _title(ax, f"Encounters across {_n(R, 'realization')}", note, compact)
    if len(table):
        _legend(ax, compact, loc="upper right", markerscale=0.6)
    ax.grid(True, alpha=0.3)


def _risk_period_s(edges_s: np.ndarray) -> float:
    """The risk-windows figure's period: the first day, or the whole window where shorter."""
    return min(86400.0, float(edges_s[-1]))


def _draw_risk_windows(ax: Any, src: _Source, compact: bool = False) -> None:

    table, d = src.encounters("risk_windows")
    names = d["target_names"].tolist()
    R = max(int(np.asarray(d["realization"]).size), 1)
    period = _risk_period_s(np.asarray(d["time_edges_s"], dtype=np.float64))
    edges = np.arange(0.0, period + 60.0, 60.0)
    edges[-1] = min(edges[-1], max(period, 60.0))
    edges_h, xlabel = src.hours(edges)
    notes = []
    peak = 0.0
    for k, name in enumerate(names):
        color = f"C{k % 10}"
        rate = windows_mod.rate_per_bin(table, k, R, edges)  # expected collisions per minute bin
        peak = max(peak, float(rate.max(initial=0.0)))
        ax.stairs(rate, edges_h, color=color, lw=1.0, label=f"{name}: mean expected collisions per minute")
        who = f"{name}: " if len(names) > 1 else ""
        counts = []
        shares = sorted(RISK_WINDOW_SHARES, reverse=True)
        for row, (share, alpha) in enumerate(zip(shares, (0.25, 0.6))):
            sched = windows_mod.table_risk_windows(table, k, R, share=share, width_s=RISK_WINDOW_WIDTH_S, end_s=period)
            if sched.windows:
                a, _ = src.hours(np.array([w.start_s for w in sched.windows]))
                b, _ = src.hours(np.array([w.end_s for w in sched.windows]))
                for lo, hi in zip(a, b):  # the windows' true extent (a hairline on a day's axis)
                    ax.axvspan(lo, hi, color=color, alpha=alpha, lw=0)
                # ... and a marker above each, so that they show at any zoom
                ax.plot(0.5 * (a + b), np.full(a.size, 0.97 - 0.05 * row - 0.1 * k),
                        transform=ax.get_xaxis_transform(), ls="none", marker="v", ms=5 if compact else 7,
                        color=color, alpha=alpha, mew=0,
                        label=f"{who}the {len(sched.windows)} windows carrying {100 * share:g} %")
            counts.append(f"{len(sched.windows)} carry {100 * share:g} %")
        if table.target.size and (table.target == k).any():
            notes.append(f"{who}of the windows of {RISK_WINDOW_WIDTH_S / 60:g} min, " + ", ".join(reversed(counts)))
        else:
            notes.append(f"{who}no encounter in this period")
    ax.set_xlim(edges_h[0], edges_h[-1])
    ax.set_ylim(0.0, max(peak, 1e-300) * 1.5)  # room for the markers and the legend
    ax.set_xlabel(xlabel)
    ax.set_ylabel("expected collisions per minute [1]")
    _title(ax, f"Risk windows of the first {period / 3600.0:g} h, mean over {_n(R, 'realization')}",
           "; ".join(notes), compact)
    _legend(ax, compact, loc="upper right", bbox_to_anchor=(1.0, 0.86))
    ax.grid(True, alpha=0.3)


#: Attributes the text panel shows in its own lines, so not again among the model choices.
_SHOWN = ("scenario_name", "event_epoch", "duration_days", "step_s", "time_bin_s", "shard")
_TEXT_WIDTH = 112  # characters of the text panel's lines (7.5 pt monospace on PAGE_SIZE_IN)
_TEXT_MAX_LINES = 24


def _wrap(line: str) -> list[str]:
    out = []
    while len(line) > _TEXT_WIDTH:
        cut = line.rfind(" ", 0, _TEXT_WIDTH)
        cut = cut if cut > 40 else _TEXT_WIDTH
        out.append(line[:cut])
        line = "    " + line[cut:].lstrip()
    return out + [line]


def _text_lines(src: _Source) -> list[str]:
    """The summary page's text panel: title, results per target, window, run, model choices.

    At most _TEXT_MAX_LINES lines; when that is too few, the model choices are cut (marked
    with "…"), never the results.
    """
    import numbers

    d = src.need("text")
    a = src.attrs
    table = src.scenario_table()
    name = a.get("scenario_name") or table.get("name", "?")
    real = d["realization"]
    R = real.size

    def num(key: str) -> float | None:
        v = a.get(key)
        return float(v) if isinstance(v, numbers.Real) else None

    lines = [str(a.get("title", "fragrisk results"))]
    P, lam = d["collision_probability"], d["expected_collisions"]
    for k, target in enumerate(d["target_names"].tolist()):
        if R == 0:
            lines.append(f"{target}: no realizations in this file")
            continue
        p05, p50, p95 = np.percentile(P[k], [5.0, 50.0, 95.0])
        lines.append(f"{target}: collision probability P mean {P[k].mean():.3g}, "
                     f"median {p50:.3g}, 5–95 % {p05:.3g} to {p95:.3g}; "
                     f"expected collisions mean {lam[k].mean():.3g}")
    event = a.get("event_epoch") or (table.get("event") or {}).get("epoch")
    window = [f"start {a.get('analysis_start', '?')}"]
    if (days := num("duration_days")) is not None:
        window.append(f"{days:g} days")
    if (step := num("step_s")) is not None:
        window.append(f"{step:g} s steps")
    if (width := num("time_bin_s")) is not None:
        window.append(f"{width / 3600.0:g} h bins" if width >= 3600
                      else f"{width / 60.0:g} min bins")
    lines.append(f"scenario: {name}" + (f"; breakup event {event}" if event else "")
                 + "; window: " + ", ".join(window))
    span = f"indices {int(real.min())}..{int(real.max())}" if R else "none"
    elapsed = num("elapsed_s")
    run_time = f"{elapsed:.1f} s ({elapsed / 60:.1f} min)" if elapsed is not None else "?"
    lines.append(f"realizations: {R:,} in this file ({span}) of {a.get('n_realizations', '?')}, "
                 f"seed {a.get('seed', '?')}; device {a.get('device', '?')}, run time {run_time}; "
                 f"{a.get('source', '?')}")
    head = [w for line in lines for w in _wrap(line)]
    choices = [f"{k} = {v}" for k, v in sorted(a.items()) if k not in _META and k not in _SHOWN]
    tail = _wrap("model choices: " + "; ".join(choices)) if choices else []
    room = max(_TEXT_MAX_LINES - len(head), 0)
    if len(tail) > room:
        tail = tail[:room]
        if tail:
            tail[-1] = tail[-1][: _TEXT_WIDTH - 2] + " …"
    return (head + tail)[:max(_TEXT_MAX_LINES, len(head))]


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def _single(draw: Callable[[Any, _Source], None], figure: str, source: Any) -> Any:
    src = _as_source(source)
    # Fail before creating anything.
    if figure in _ENCOUNTER_FIGURES:
        src.encounters(figure)
    else:
        src.need(figure)
    fig = _figure(FIGURE_SIZE_IN)
    draw(fig.add_subplot(), src)
    return fig


def gabbard(source: Any) -> Any:
    """Gabbard diagram: apogee and perigee altitude [km] of realization 0's fragments at the
    event epoch against orbital period [min], each target's perigee–apogee band shaded (and
    marked by a line, as a band of a few km is thinner than a pixel). The altitude axis runs
    from 0 km to the 98th percentile of the apogees (or the highest band), the period axis over
    the fragments whose apogee is in view; a note above the axes counts what is off scale.

    source: results path, xarray Dataset or RunResults. Returns a matplotlib Figure
    (FIGURE_SIZE_IN at DPI). InputError (one line) if a needed variable is missing.
    """
    return _single(_draw_gabbard, "gabbard", source)


def pc_histogram(source: Any) -> Any:
    """Histogram of the collision probability P across realizations (stored pc_histogram),
    log x over the occupied bins, with the mean and median P of each target as labelled
    vertical lines and each realization's P as a rug under the bins.
    source: results path, xarray Dataset or RunResults; returns a matplotlib Figure."""
    return _single(_draw_pc_histogram, "pc_histogram", source)


def rate_vs_time(source: Any) -> Any:
    """Expected collisions per hour [1/h] against time [h], as steps over the time bins: mean
    (the expected rate), median and 5–95 % band across realizations for each target, log y
    (a note above the axes counts the bins where the mean or median is 0). Time is counted
    from the breakup event when the scenario (or the `event_epoch` attribute) gives it, else
    from the analysis start.
    source: results path, xarray Dataset or RunResults; returns a matplotlib Figure."""
    return _single(_draw_rate_vs_time, "rate_vs_time", source)


def by_size(source: Any) -> Any:
    """Expected collisions per fragment size bin (mean, 5–95 % band across realizations)
    against Lc [m], log x and y (a note names the bins that are 0 in every realization).
    source: path, Dataset or RunResults; returns a matplotlib Figure."""
    return _single(_draw_by_size, "by_size", source)


def fragments_in_orbit(source: Any) -> Any:
    """Fragments in orbit [count] against time [h]: median and 5–95 % band across
    realizations. source: path, Dataset or RunResults; returns a matplotlib Figure."""
    return _single(_draw_fragments_in_orbit, "fragments_in_orbit", source)


def encounter_timeline(source: Any) -> Any:
    """Every encounter of every realization: miss distance at closest approach [km] against the
    time of closest approach [h since the event, else since the analysis start], marker area in
    proportion to the encounter's share of the expected collisions, one colour per target.
    source: path, Dataset or RunResults; returns a matplotlib Figure. InputError (one line)
    where the source has no encounter table."""
    return _single(_draw_encounter_timeline, "encounter_timeline", source)


def risk_windows(source: Any) -> Any:
    """The risk windows of the first day (or of the whole window where shorter): the mean
    expected collisions per minute across realizations (from the encounter table at each TCA),
    with the fewest windows of RISK_WINDOW_WIDTH_S that carry 50 % and 90 % of them shaded
    (engine.results.windows.table_risk_windows, exact). source: path, Dataset or RunResults;
    returns a matplotlib Figure. InputError (one line) where there is no encounter table."""
    return _single(_draw_risk_windows, "risk_windows", source)


def _check_every_figure(src: _Source) -> bool:
    """InputError (one line) unless `src` holds what every figure of the summary page needs;
    whether it holds the encounter table too (then its figures are drawn, and it must be whole)."""
    for figure in _NEEDS:
        src.need(figure)
    with_encounters = src.has_encounters()
    if with_encounters:
        src.encounters("summary")
    return with_encounters


def summary_page(source: Any) -> Any:
    """One page (PAGE_SIZE_IN at DPI): a text panel (mean, median and 5–95 % P and mean
    expected collisions per target first, then the scenario, window, realizations, seed,
    device, run time and model choices) and the five figures, and where the source holds the
    encounter table the encounter timeline and the risk windows too.
    source: path, Dataset or RunResults; returns a matplotlib Figure."""
    src = _as_source(source)
    with_encounters = _check_every_figure(src)
    lines = _text_lines(src)
    fig = _figure(PAGE_SIZE_IN)
    line_in = 7.5 * 1.25 / 72.0  # 7.5 pt monospace lines
    text_in = line_in * (len(lines) + 0.6) + 0.05  # the first line is larger
    rows = 4 if with_encounters else 3
    panel_in = (PAGE_SIZE_IN[1] - text_in) / rows
    grid = fig.add_gridspec(rows + 1, 2, height_ratios=[text_in / panel_in] + [1] * rows)
    text_ax = fig.add_subplot(grid[0, :])
    text_ax.set_axis_off()
    text_ax.text(0.0, 1.0, lines[0], transform=text_ax.transAxes, ha="left", va="top",
                 fontsize=10, fontweight="bold")
    text_ax.text(0.0, 1.0 - 1.6 * line_in / text_in, "\n".join(lines[1:]),
                 transform=text_ax.transAxes, ha="left", va="top", family="monospace",
                 fontsize=7.5, linespacing=1.2)
    draws = (_draw_gabbard, _draw_pc_histogram, _draw_rate_vs_time, _draw_by_size,
             _draw_fragments_in_orbit)
    cells = (grid[1, 0], grid[1, 1], grid[2, 0], grid[2, 1], grid[3, :])
    if with_encounters:
        draws += (_draw_encounter_timeline, _draw_risk_windows)
        cells = (grid[1, 0], grid[1, 1], grid[2, 0], grid[2, 1], grid[3, 0], grid[3, 1], grid[4, :])
    for draw, cell in zip(draws, cells):
        ax = fig.add_subplot(cell)
        draw(ax, src, compact=True)
        ax.xaxis.label.set_fontsize("small")
        ax.yaxis.label.set_fontsize("small")
        ax.tick_params(which="both", labelsize="x-small")
    return fig


_FIGURES: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("gabbard", gabbard),
    ("pc_histogram", pc_histogram),
    ("rate_vs_time", rate_vs_time),
    ("by_size", by_size),
    ("fragments_in_orbit", fragments_in_orbit),
    ("encounter_timeline", encounter_timeline),
    ("risk_windows", risk_windows),
    ("summary", summary_page),
)


def plot_all(
    path: str | os.PathLike | Any, outdir: str | os.PathLike | None = None, fmt: str = "png",
    *, overwrite: bool = False,
) -> list[Path]:
    """Write every figure of a results file; return the written paths.

    path: results file (or an xarray Dataset / RunResults, then `outdir` is required).
    outdir: folder to write into, created if missing; default `<stem>_plots/` beside the file.
    fmt: "png", "pdf" or "svg". Files: gabbard, pc_histogram, rate_vs_time, by_size,
    fragments_in_orbit, encounter_timeline and risk_windows (where the file holds the encounter
    table) and summary, with the `fmt` suffix. Existing ones are refused unless `overwrite`,
    before anything is drawn.
    Every needed variable is checked before anything is written: InputError (one line) if the
    file is not a fragrisk results file or lacks a variable. The figures are drawn into
    temporary files in `outdir` and moved onto their names only when all of them are drawn, so
    a failure leaves no figure half-written and none replaced (and no folder it created).
    """

    fmt_clean = str(fmt).lower().lstrip(".")
    if fmt_clean not in FORMATS:
        raise InputError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    src = _as_source(path)
    with_encounters = _check_every_figure(src)
    if outdir is None:
        if not isinstance(path, (str, os.PathLike)):
            raise InputError(f"{src.label}: an output folder is needed to plot an in-memory result")
        p = Path(path)
        outdir = p.parent / f"{p.stem}_plots"
    text = os.fspath(outdir)
    if not text or "\0" in text:
        raise InputError(f"{text!r}: not a folder name")
    outdir = Path(text)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir}: exists and is not a folder")
    figures = [(name, make) for name, make in _FIGURES
               if with_encounters or name not in _ENCOUNTER_FIGURES]
    targets = [outdir / f"{name}.{fmt_clean}" for name, _ in figures]
    for out in targets:
        if out.is_dir():
            raise InputError(f"{out}: is a folder; expected a figure path")
        if (out.exists() or out.is_symlink()) and not overwrite:
            raise InputError(f"{out}: exists; use --overwrite to replace it")
    created = [] if outdir.is_dir() else [d for d in (outdir, *outdir.parents) if not d.exists()]
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{outdir}: cannot create the folder ({' '.join(str(exc).split())})") from None
    temporary: list[Path] = []
    try:
        check_writable_folder(outdir)
        for (name, make), out in zip(figures, targets):
            fig = make(src)
            tmp = outdir / f".{out.name}.{os.getpid()}.tmp"
            temporary.append(tmp)
            try:
                fig.savefig(tmp, format=fmt_clean, dpi=DPI)
            except OSError as exc:
                raise InputError(f"{out}: cannot write ({' '.join(str(exc).split())})") from None
        for tmp, out in zip(temporary, targets):
            os.replace(tmp, out)
    except BaseException:
        for tmp in temporary:
            try:
                tmp.unlink()
            except OSError:
                pass
        for d in created:  # innermost first: only folders this call made, and only if empty
            try:
                d.rmdir()
            except OSError:
                break
        raise
    return targets
