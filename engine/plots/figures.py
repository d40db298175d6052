"""The figures: one matplotlib Figure per `draw_*` of engine.plots.draw, the summary page, and
which figures apply to a source (`not_drawn`: what plot_all leaves out, and why)."""

from __future__ import annotations

import numbers
import textwrap
from typing import Any, Callable

import numpy as np

from ..errors import FragriskError, counted
from ..results import windows as windows_mod
from ..results.summarize import PRECISION_GOAL, mean_and_error, realizations_for
from . import draw as dr
from .source import NEEDS, Source, as_source

__all__ = [
    "DPI",
    "FIGURE_SIZE_IN",
    "FIGURE_SIZE_PX",
    "PAGE_SIZE_IN",
    "PAGE_SIZE_PX",
    "by_size",
    "encounter_timeline",
    "fragments_in_orbit",
    "gabbard",
    "not_drawn",
    "pc_histogram",
    "rate_vs_time",
    "risk_windows",
    "summary_page",
]

DPI = 120
FIGURE_SIZE_IN = (8.0, 5.0)
PAGE_SIZE_IN = (8.5, 11.0)
FIGURE_SIZE_PX = (round(FIGURE_SIZE_IN[0] * DPI), round(FIGURE_SIZE_IN[1] * DPI))  # (960, 600)
PAGE_SIZE_PX = (round(PAGE_SIZE_IN[0] * DPI), round(PAGE_SIZE_IN[1] * DPI))  # (1020, 1320)

#: Figures drawn only where the source holds the encounter table (they need it and
#: target_names, realization, time_edges_s besides).
ENCOUNTER_FIGURES = ("encounter_timeline", "risk_windows")


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


def _single(draw: Callable[..., None], figure: str, source: Any) -> Any:
    src = as_source(source)
    # Fail before creating anything.
    if figure in ENCOUNTER_FIGURES:
        src.encounters(figure)
    else:
        src.need(figure)
    fig = _figure(FIGURE_SIZE_IN)
    draw(fig.add_subplot(), src)
    return fig


def gabbard(source: Any) -> Any:
    """Gabbard diagram: apogee and perigee altitude [km] against orbital period [min] of
    realization 0's fragments at the event epoch (a [population]: of its objects at the analysis
    start), each target's perigee–apogee band shaded (and marked by a line, as a band of a few km
    is thinner than a pixel). The altitude axis runs from 0 km to the 98th percentile of the
    apogees (or the highest band), the period axis over the objects whose apogee is in view; a
    note above the axes counts what is off scale. A shard without realization 0 says so in words
    over the target bands.

    source: results path, xarray Dataset or RunResults. Returns a matplotlib Figure
    (FIGURE_SIZE_IN at DPI). InputError (one line) if a needed variable is missing.
    """
    return _single(dr.draw_gabbard, "gabbard", source)


def pc_histogram(source: Any) -> Any:
    """Histogram of the collision probability P across realizations (stored pc_histogram),
    log x over the occupied bins, with the mean and median P of each target as labelled
    vertical lines and each realization's P as a rug under the bins (one realization: its P).
    source: results path, xarray Dataset or RunResults; returns a matplotlib Figure."""
    return _single(dr.draw_pc_histogram, "pc_histogram", source)


def rate_vs_time(source: Any) -> Any:
    """Expected collisions per hour [1/h] against time [UTC], as steps over the time bins: mean
    (the expected rate), median and 5–95 % band across realizations for each target (one
    realization: its rate), log y; only what is above 0 somewhere is drawn and in the legend (a
    note above the axes counts the bins where it is 0; words where every rate is 0).
    source: results path, xarray Dataset or RunResults; returns a matplotlib Figure."""
    return _single(dr.draw_rate_vs_time, "rate_vs_time", source)


def by_size(source: Any) -> Any:
    """Expected collisions per fragment size bin (mean, 5–95 % band across realizations)
    against Lc [m], log x and y (a note names the bins that are 0 in every realization). A
    [population] run (objects counted as points, sizes unknown) gets words instead.
    source: path, Dataset or RunResults; returns a matplotlib Figure."""
    return _single(dr.draw_by_size, "by_size", source)


def fragments_in_orbit(source: Any) -> Any:
    """Fragments (a population: objects) in orbit [count] against time [UTC]: median and
    5–95 % band across realizations. source: path, Dataset or RunResults; returns a Figure."""
    return _single(dr.draw_fragments_in_orbit, "fragments_in_orbit", source)


def encounter_timeline(source: Any) -> Any:
    """Every encounter of every realization: miss distance at closest approach [km] against the
    time of closest approach [UTC], marker area in proportion to the encounter's share of the
    expected collisions, one colour per target; words where there is none.
    source: path, Dataset or RunResults; returns a matplotlib Figure. InputError (one line)
    where the source has no encounter table."""
    return _single(dr.draw_encounter_timeline, "encounter_timeline", source)


def risk_windows(source: Any) -> Any:
    """The risk windows of the first day (or of the whole window where shorter): the mean
    expected collisions per minute [1/min] across realizations (from the encounter table at each
    TCA) against time [UTC], with the fewest windows of RISK_WINDOW_WIDTH_S that carry 50 % and
    90 % of them as bars in strips above the curve (engine.results.windows.table_risk_windows,
    exact). Without an encounter in the period: words, with the time of the first encounter.
    source: path, Dataset or RunResults; returns a matplotlib Figure. InputError (one line)
    where there is no encounter table."""
    return _single(dr.draw_risk_windows, "risk_windows", source)


def not_drawn(source: Any) -> list[tuple[str, str]]:
    """The figures of `plot_all` that do not apply to `source`, each with why in words:
    [(figure name, reason)]. A figure not listed draws something."""
    src = as_source(source)
    out = []
    if np.asarray(src.fields.get("gabbard_period_min", ())).size == 0:
        out.append(("gabbard", "no object in orbit at the analysis start" if src.is_population else
                    "this shard does not hold realization 0, whose fragments the diagram shows"))
    if src.n_realizations == 1 and "collision_probability" in src.fields:
        d = src.need("pc_histogram")
        out.append(("pc_histogram", dr.one_realization_p(src, d["target_names"].tolist(), d["collision_probability"])))
    if src.is_population:
        out.append(("by_size", dr.POPULATION_SIZES))
    if not src.has_encounters():
        reason = windows_mod.no_table_message(str(src.label), src.attrs).split(": ", 1)[-1]
        out += [(name, reason) for name in ENCOUNTER_FIGURES]
    elif src.n_encounters() == 0:
        out += [(name, "no encounter in any realization") for name in ENCOUNTER_FIGURES]
    elif (why := dr.risk_windows_absent(src)) is not None:
        out.append(("risk_windows", why))
    return out


# --------------------------------------------------------------------------------------------
# the summary page
# --------------------------------------------------------------------------------------------

#: Attributes the header shows in its own rows, so not again among the model choices.
_SHOWN = ("scenario_name", "event_epoch", "duration_days", "step_s", "time_bin_s", "shard", "cloud")
_META = ("title", "source", "history", "Conventions", "scenario", "seed", "n_realizations",
         "device", "elapsed_s", "analysis_start", "realization_start", "realization_stop")
_CHOICES_MAX_LINES = 4
_CHOICES_WIDTH = 128  # characters of a model-choices line (6.5 pt on PAGE_SIZE_IN)


def _results_rows(src: Source) -> list[list[str]]:
    """The header's results table: a row per target (P mean, median, 5–95 %, mean expected
    collisions with its standard error, realizations for +-10 %)."""
    d = src.need("text")
    P, lam = d["collision_probability"], d["expected_collisions"]
    R = P.shape[1]
    rows = []
    for k, target in enumerate(d["target_names"].tolist()):
        if R == 0:
            rows.append([target, "no realizations in this file", "", "", "", ""])
            continue
        p05, p50, p95 = np.percentile(P[k], [5.0, 50.0, 95.0])
        mean, err = mean_and_error(lam[k])
        if R == 1:  # one P: no median or spread
            what = "(fixed objects)" if src.is_population else "(no error: R = 1)"
            rows.append([target, f"{P[k, 0]:.3g}", "", "", f"{mean:.3g} {what}",
                         "– (no sampling)" if src.is_population else "–"])
            continue
        if err is None:
            lam_text, need = f"{mean:.3g}", "–"
        else:
            rel = f", {100 * err / mean:.2g} %" if mean > 0 else ""
            lam_text = f"{mean:.3g} ± {err:.2g}{rel}"
            n = realizations_for(lam[k])
            need = f"{n:,}" if n is not None else "–"
        rows.append([target, f"{P[k].mean():.3g}", f"{p50:.3g}", f"{p05:.3g} – {p95:.3g}", lam_text, need])
    return rows


def _header_rows(src: Source) -> list[tuple[str, str]]:
    """The header's (label, value) rows under the results table."""
    a = src.attrs
    table = src.scenario_table()
    name = a.get("scenario_name") or table.get("name", "?")
    real = np.asarray(src.fields["realization"])
    R = real.size

    def num(key: str) -> float | None:
        v = a.get(key)
        return float(v) if isinstance(v, numbers.Real) else None

    event = src.event_epoch()
    if src.is_population:
        n_obj = np.asarray(src.fields.get("n_fragments", [0]))
        cloud = f"a fixed population of {counted(int(n_obj[0]) if n_obj.size else 0, 'object')} (no breakup)"
    else:
        cloud = f"breakup event {dr.utc_text(event)}" if event is not None else "breakup event (epoch not recorded)"
    start = src.start()
    edges = np.asarray(src.fields["time_edges_s"], dtype=np.float64)
    end = src.utc(edges[-1]).astype("datetime64[s]").item()
    window = [f"{dr.utc_text(start)} to {dr.utc_text(end)}"]
    if (days := num("duration_days")) is not None:
        window.append(f"{days:g} day{'' if days == 1 else 's'}")
    if (step := num("step_s")) is not None:
        window.append(f"{step:g} s steps")
    if (width := num("time_bin_s")) is not None:
        window.append(f"{width / 3600.0:g} h bins" if width >= 3600 else f"{width / 60.0:g} min bins")
    span = f"indices {int(real.min())}..{int(real.max())}" if R else "none"
    elapsed = num("elapsed_s")
    run_time = f"{elapsed:.1f} s ({elapsed / 60:.1f} min)" if elapsed is not None else "?"
    shard = f", shard {a['shard']}" if "shard" in a else ""
    rows = [("scenario", f"{name}: {cloud}"),
            ("window", ", ".join(window)),
            ("realizations", f"{R:,} in this file ({span}) of {a.get('n_realizations', '?')}{shard}, "
                             f"seed {a.get('seed', '?')}"),
            ("run", f"device {a.get('device', '?')}, run time {run_time}, {a.get('source', '?')}")]
    choices = [f"{k} = {v}" for k, v in sorted(a.items()) if k not in _META and k not in _SHOWN]
    if choices:
        lines = textwrap.wrap("; ".join(choices), _CHOICES_WIDTH)
        if len(lines) > _CHOICES_MAX_LINES:
            lines = lines[:_CHOICES_MAX_LINES]
            lines[-1] = lines[-1][: _CHOICES_WIDTH - 2] + " …"
        rows.append(("model choices", "\n".join(lines)))
    return rows


_RESULT_COLUMNS = ("target", "P\nmean", "P\nmedian", "P\n5–95 %",
                   "expected collisions\nmean ± standard error",
                   f"realizations needed\nfor ±{100 * PRECISION_GOAL:g} %")
_ONE_REALIZATION_COLUMNS = ("target", "P", "", "", "expected collisions", _RESULT_COLUMNS[-1])
#: x of each column (a fraction of the page's width) and of the header rows' values.
_COLUMN_X = (0.0, 0.11, 0.21, 0.31, 0.50, 0.79)
_VALUE_X = 0.15


_MARGIN_IN = 0.3  # the header's left and right margins


def _draw_header(fig: Any, src: Source) -> None:
    """The page's header: the title, the results table, the run's rows; as text laid out in
    columns (proportional fonts), placed in inches from the page's top left corner."""
    width = PAGE_SIZE_IN[0] - 2 * _MARGIN_IN

    def put(x: float, at: float, text: str, **kw: Any) -> None:  # x: fraction of the width, at: inches down
        fig.text(_MARGIN_IN + x * width, PAGE_SIZE_IN[1] - at, text, transform=fig.dpi_scale_trans,
                 ha="left", va="top", **kw)

    put(0.0, 0.1, str(src.attrs.get("title", "fragrisk results")), fontsize=11, fontweight="bold")
    at = 0.38
    one = src.n_realizations == 1
    for x, head in zip(_COLUMN_X, _ONE_REALIZATION_COLUMNS if one else _RESULT_COLUMNS):
        put(x, at, head, fontsize=7.5, fontweight="bold", linespacing=1.1)
    at += 0.3
    fig.add_artist(_rule(fig, PAGE_SIZE_IN[1] - at + 0.03))
    for row in _results_rows(src):
        for x, cell_text in zip(_COLUMN_X, row):
            put(x, at, cell_text, fontsize=8)
        at += 0.16
    at += 0.08
    for label, value in _header_rows(src):
        small = label == "model choices"
        put(0.0, at, label, fontsize=7.5, fontweight="bold")
        put(_VALUE_X, at, value, fontsize=6.5 if small else 7.5, linespacing=1.15, color="0.15")
        at += (0.115 if small else 0.15) * (value.count("\n") + 1) + 0.03


def _rule(fig: Any, y_in: float) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([_MARGIN_IN, PAGE_SIZE_IN[0] - _MARGIN_IN], [y_in, y_in], transform=fig.dpi_scale_trans,
                  color="0.5", lw=0.6)


def _header_height_in(src: Source) -> float:
    n_targets = len(_results_rows(src))
    rows = _header_rows(src)
    lines = sum((0.115 if k == "model choices" else 0.15) * (v.count("\n") + 1) + 0.03 for k, v in rows)
    return 0.38 + 0.3 + 0.16 * n_targets + 0.08 + lines


def _check_every_figure(src: Source) -> bool:
    """InputError (one line) unless `src` holds what every figure of the summary page needs;
    whether it holds the encounter table too (then its figures are drawn, and it must be whole)."""
    for figure in NEEDS:
        src.need(figure)
    src.start()  # InputError (one line) where the analysis start is missing or not a time
    with_encounters = src.has_encounters()
    if with_encounters:
        src.encounters("summary")
    return with_encounters


def summary_page(source: Any) -> Any:
    """One page (PAGE_SIZE_IN at DPI): a header (per target the mean, median and 5–95 % P and the
    mean expected collisions with its standard error and the realizations a ±10 % error needs, as
    a table; then the scenario, window in UTC, realizations, seed, device, run time and model
    choices) and the five figures, and where the source holds the encounter table the encounter
    timeline and the risk windows too; a panel that does not apply says why in words.
    source: path, Dataset or RunResults; returns a matplotlib Figure."""
    src = as_source(source)
    with_encounters = _check_every_figure(src)
    fig = _figure(PAGE_SIZE_IN)
    header_in = _header_height_in(src)
    _draw_header(fig, src)
    # The panels in a subfigure below the header: its height is exact (a gridspec row's is not,
    # constrained layout taking the panels' titles and labels out of their rows).
    _, body = fig.subfigures(2, 1, height_ratios=[header_in, PAGE_SIZE_IN[1] - header_in])
    rows = 4 if with_encounters else 3
    grid = body.add_gridspec(rows, 2)
    draws = (dr.draw_gabbard, dr.draw_pc_histogram, dr.draw_rate_vs_time, dr.draw_by_size,
             dr.draw_fragments_in_orbit)
    cells = (grid[0, 0], grid[0, 1], grid[1, 0], grid[1, 1], grid[2, :])
    if with_encounters:
        draws += (dr.draw_encounter_timeline, dr.draw_risk_windows)
        cells = (grid[0, 0], grid[0, 1], grid[1, 0], grid[1, 1], grid[2, 0], grid[2, 1], grid[3, :])
    for draw, cell in zip(draws, cells):
        ax = body.add_subplot(cell)
        draw(ax, src, compact=True)
        ax.xaxis.label.set_fontsize("small")
        ax.yaxis.label.set_fontsize("small")
        ax.tick_params(which="both", labelsize="x-small")
    return fig
