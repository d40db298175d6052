"""Figures of a results file. Each takes a results path, an xarray Dataset or a RunResults.

Read top-down: the loader (`_Source`: what a figure needs, or a one-line InputError), the
figure functions (`gabbard`, `pc_histogram`, `rate_vs_time`, `by_size`, `fragments_in_orbit`,
`summary_page`), each built from an axes-level `_draw_*` helper, then `plot_all`, which the
CLI's `fragrisk plot` calls.

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
from .results import load_fields

__all__ = [
    "DPI",
    "FIGURE_SIZE_IN",
    "FIGURE_SIZE_PX",
    "FORMATS",
    "PAGE_SIZE_IN",
    "PAGE_SIZE_PX",
    "by_size",
    "fragments_in_orbit",
    "gabbard",
    "pc_histogram",
    "plot_all",
    "rate_vs_time",
    "summary_page",
]

DPI = 120
FIGURE_SIZE_IN = (8.0, 5.0)
PAGE_SIZE_IN = (8.5, 11.0)
FIGURE_SIZE_PX = (round(FIGURE_SIZE_IN[0] * DPI), round(FIGURE_SIZE_IN[1] * DPI))  # (960, 600)
PAGE_SIZE_PX = (round(PAGE_SIZE_IN[0] * DPI), round(PAGE_SIZE_IN[1] * DPI))  # (1020, 1320)
FORMATS = ("png", "pdf", "svg")

# RunResults field -> (file variable, its dims)
_VARIABLE = {
    "target_names": ("target", ("target",)),
    "realization": ("realization", ("realization",)),
    "time_edges_s": ("time_bnds", None),
    "size_edges_m": ("size_bin_bnds", None),
    "pc_edges_log10": ("pc_bin_bnds", None),
    "expected_collisions": ("expected_collisions", ("target", "realization")),
    "collision_probability": ("collision_probability", ("target", "realization")),
    "expected_collisions_by_time": ("expected_collisions_by_time", ("target", "realization", "time")),
    "expected_collisions_by_size": (
        "expected_collisions_by_size", ("target", "realization", "size_bin")),
    "pc_histogram": ("pc_histogram", ("target", "pc_bin")),
    "fragments_in_orbit": ("fragments_in_orbit", ("realization", "time")),
    "gabbard_apogee_km": ("gabbard_apogee_km", ("fragment",)),
    "gabbard_perigee_km": ("gabbard_perigee_km", ("fragment",)),
    "gabbard_period_min": ("gabbard_period_min", ("fragment",)),
    "target_perigee_km": ("target_perigee_km", ("target",)),
    "target_apogee_km": ("target_apogee_km", ("target",)),
}
_DIM_FROM = {  # dim -> (field, size from its length minus this)
    "target": ("target_names", 0),
    "realization": ("realization", 0),
    "time": ("time_edges_s", 1),
    "size_bin": ("size_edges_m", 1),
    "pc_bin": ("pc_edges_log10", 1),
    "fragment": ("gabbard_apogee_km", 0),
}
_NEEDS = {
    "gabbard": ("gabbard_apogee_km", "gabbard_perigee_km", "gabbard_period_min",
                "target_names", "target_perigee_km", "target_apogee_km"),
    "pc_histogram": ("target_names", "collision_probability", "pc_histogram", "pc_edges_log10"),
    "rate_vs_time": ("target_names", "expected_collisions_by_time", "time_edges_s"),
    "by_size": ("target_names", "expected_collisions_by_size", "size_edges_m"),
    "fragments_in_orbit": ("fragments_in_orbit", "time_edges_s"),
    "text": ("target_names", "collision_probability", "expected_collisions", "realization"),
}
_META = ("title", "source", "history", "Conventions", "scenario", "seed", "n_realizations",
         "device", "elapsed_s", "analysis_start", "realization_start", "realization_stop")


class _Source:
    """A loaded results source: its arrays, attributes and a label for error messages."""

    def __init__(self, source: Any) -> None:
        self.fields, self.attrs, self.label = load_fields(source)

    def need(self, figure: str) -> dict[str, np.ndarray]:
        """The arrays `figure` needs, shape-checked; InputError (one line) if one is missing."""
        out = {}
        for name in _NEEDS[figure]:
            var, dims = _VARIABLE[name]
            if name not in self.fields:
                raise InputError(
                    f"{self.label}: variable {var!r} is missing; the {figure} figure needs it"
                )
            a = np.asarray(self.fields[name])
            if dims is not None:
                expected = []
                for dim in dims:
                    src, minus = _DIM_FROM[dim]
                    expected.append(
                        np.asarray(self.fields[src]).shape[0] - minus
                        if src in self.fields and src != name else None
                    )
                if a.ndim != len(dims) or any(
                    e is not None and e != s for e, s in zip(expected, a.shape)
                ):
                    raise InputError(
                        f"{self.label}: variable {var!r} has shape {a.shape}; expected "
                        f"({', '.join(dims)}) = ({', '.join('?' if e is None else str(e) for e in expected)})"
                    )
            out[name] = a if name == "target_names" else a.astype(np.float64)
        return out

    def time_axis_h(self, edges_s: np.ndarray) -> tuple[np.ndarray, str]:
        """Bin centres in hours since the breakup event (when known) and the axis label."""
        centres_h = 0.5 * (edges_s[:-1] + edges_s[1:]) / 3600.0
        offset_h = self._event_offset_h()
        if offset_h is None:
            return centres_h, "time since analysis start [h]"
        return centres_h + offset_h, "time since the breakup event [h]"

    def _event_offset_h(self) -> float | None:
        from .results import _parse_iso_utc  # one ISO parser for the package

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
                ev = _parse_iso_utc(str(event))
            return (_parse_iso_utc(str(start)) - ev).total_seconds() / 3600.0
        except (TypeError, ValueError):
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
    if any(np.any(np.asarray(a) > 0) for a in arrays):
        ax.set_yscale("log")
        return True
    ax.text(0.5, 0.5, "all values are 0", transform=ax.transAxes, ha="center", va="center")
    return False


# --------------------------------------------------------------------------------------------
# axes-level drawing
# --------------------------------------------------------------------------------------------


def _draw_gabbard(ax: Any, src: _Source) -> None:
    d = src.need("gabbard")
    period, apo, peri = d["gabbard_period_min"], d["gabbard_apogee_km"], d["gabbard_perigee_km"]
    ax.scatter(period, apo, s=3, marker="^", color="C0", label="apogee", rasterized=True)
    ax.scatter(period, peri, s=3, marker="v", color="C3", label="perigee", rasterized=True)
    for k, name in enumerate(d["target_names"].tolist()):
        lo, hi = sorted((d["target_perigee_km"][k], d["target_apogee_km"][k]))
        color = f"C{(k + 2) % 10}"
        ax.axhspan(lo, hi, color=color, alpha=0.25, lw=0,
                   label=f"{name} altitude band {lo:.0f}–{hi:.0f} km")
        ax.axhline(0.5 * (lo + hi), color=color, lw=0.8)
    if period.size == 0:
        ax.text(0.5, 0.5, "no fragments: this file does not hold realization 0",
                transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel("orbital period [min]")
    ax.set_ylabel("altitude [km]")
    ax.set_title(f"Gabbard diagram, realization 0 at the event epoch ({period.size} fragments)")
    ax.legend(fontsize="small", markerscale=3, loc="best")
    ax.grid(True, alpha=0.3)


def _draw_pc_histogram(ax: Any, src: _Source) -> None:
    d = src.need("pc_histogram")
    edges = 10.0 ** d["pc_edges_log10"]
    counts, P = d["pc_histogram"], d["collision_probability"]
    for k, name in enumerate(d["target_names"].tolist()):
        color = f"C{k % 10}"
        ax.stairs(counts[k], edges, color=color, lw=1.5, label=f"{name}: realizations")
        for value, what, style in ((P[k].mean(), "mean", "--"), (np.median(P[k]), "median", ":")):
            if edges[0] <= value <= edges[-1]:
                ax.axvline(value, color=color, ls=style, lw=1.2, label=f"{name}: {what} P = {value:.3g}")
            else:
                ax.plot([], [], color=color, ls=style,
                        label=f"{name}: {what} P = {value:.3g} (off scale)")
    ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("collision probability P [1]")
    ax.set_ylabel("realizations [count]")
    ax.set_title(f"P across realizations (P < {edges[0]:.0e}, P = 0 in the lowest bin)")
    ax.legend(fontsize="small", loc="best")
    ax.grid(True, alpha=0.3)


def _draw_rate_vs_time(ax: Any, src: _Source) -> None:
    d = src.need("rate_vs_time")
    edges_s = d["time_edges_s"]
    width_h = np.diff(edges_s) / 3600.0
    rate = d["expected_collisions_by_time"] / width_h  # (K, R, T) 1/h
    t_h, xlabel = src.time_axis_h(edges_s)
    for k, name in enumerate(d["target_names"].tolist()):
        med, lo, hi = _band(rate[k], axis=0)
        color = f"C{k % 10}"
        ax.fill_between(t_h, lo, hi, color=color, alpha=0.25, lw=0, label=f"{name}: 5–95 %")
        ax.plot(t_h, med, color=color, lw=1.2, label=f"{name}: median")
    _log_y_if_positive(ax, rate)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("expected collisions per hour [1/h]")
    ax.set_title("Collision rate across realizations")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)


def _draw_by_size(ax: Any, src: _Source) -> None:
    d = src.need("by_size")
    edges = d["size_edges_m"]
    by_size = d["expected_collisions_by_size"]  # (K, R, S)
    for k, name in enumerate(d["target_names"].tolist()):
        mean = by_size[k].mean(axis=0)
        _, lo, hi = _band(by_size[k], axis=0)
        color = f"C{k % 10}"
        ax.fill_between(edges, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post",
                        color=color, alpha=0.25, lw=0, label=f"{name}: 5–95 %")
        ax.stairs(mean, edges, color=color, lw=1.5, label=f"{name}: mean")
    ax.set_xscale("log")
    _log_y_if_positive(ax, by_size)
    ax.set_xlabel("fragment characteristic length Lc [m]")
    ax.set_ylabel("expected collisions per size bin [1]")
    ax.set_title("Expected collisions by fragment size")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)


def _draw_fragments_in_orbit(ax: Any, src: _Source) -> None:
    d = src.need("fragments_in_orbit")
    t_h, xlabel = src.time_axis_h(d["time_edges_s"])
    med, lo, hi = _band(d["fragments_in_orbit"], axis=0)
    ax.fill_between(t_h, lo, hi, color="C0", alpha=0.25, lw=0, label="5–95 %")
    ax.plot(t_h, med, color="C0", lw=1.2, label="median")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fragments in orbit [count]")
    ax.set_title("Fragments in orbit across realizations")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)


def _text_lines(src: _Source) -> list[str]:
    d = src.need("text")
    a = src.attrs
    name = src.scenario_table().get("name", "?")
    R = d["realization"].size
    elapsed = a.get("elapsed_s")
    run_time = (f"{float(elapsed):.1f} s ({float(elapsed) / 60:.1f} min)"
                if isinstance(elapsed, (int, float)) else "?")
    lines = [
        str(a.get("title", "fragrisk results")),
        f"scenario: {name}    source: {a.get('source', '?')}",
        f"analysis start: {a.get('analysis_start', '?')}    seed: {a.get('seed', '?')}",
        f"realizations: {R} in this file of {a.get('n_realizations', '?')} "
        f"(indices {a.get('realization_start', '?')}..{int(a.get('realization_stop', 0)) - 1})",
        f"device: {a.get('device', '?')}    run time: {run_time}",
    ]
    choices = [f"{k} = {v}" for k, v in sorted(a.items()) if k not in _META and k != "shard"]
    if choices:
        lines.append("model choices: " + "; ".join(choices))
    P, lam = d["collision_probability"], d["expected_collisions"]
    for k, target in enumerate(d["target_names"].tolist()):
        lines.append(
            f"{target}: mean P = {P[k].mean():.3g}, median P = {np.median(P[k]):.3g}, "
            f"mean expected collisions = {lam[k].mean():.3g}"
        )
    wrapped: list[str] = []
    for line in lines:
        while len(line) > 110:
            cut = line.rfind(" ", 0, 110)
            cut = cut if cut > 40 else 110
            wrapped.append(line[:cut])
            line = "    " + line[cut:].lstrip()
        wrapped.append(line)
    return wrapped[:24]


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def _single(draw: Callable[[Any, _Source], None], figure: str, source: Any) -> Any:
    src = _as_source(source)
    src.need(figure)  # fail before creating anything
    fig = _figure(FIGURE_SIZE_IN)
    draw(fig.add_subplot(), src)
    return fig


def gabbard(source: Any) -> Any:
    """Gabbard diagram: apogee and perigee altitude [km] of realization 0's fragments at the
    event epoch against orbital period [min], each target's perigee–apogee band shaded.

    source: results path, xarray Dataset or RunResults. Returns a matplotlib Figure
    (FIGURE_SIZE_IN at DPI). InputError (one line) if a needed variable is missing.
    """
    return _single(_draw_gabbard, "gabbard", source)


def pc_histogram(source: Any) -> Any:
    """Histogram of the collision probability P across realizations (stored pc_histogram),
    log x, with the mean and median P of each target as labelled vertical lines.
    source: results path, xarray Dataset or RunResults; returns a matplotlib Figure."""
    return _single(_draw_pc_histogram, "pc_histogram", source)


def rate_vs_time(source: Any) -> Any:
    """Expected collisions per hour [1/h] against time [h]: median and 5–95 % band across
    realizations for each target, log y. Time is counted from the breakup event when the
    scenario (or the `event_epoch` attribute) gives it, else from the analysis start.
    source: results path, xarray Dataset or RunResults; returns a matplotlib Figure."""
    return _single(_draw_rate_vs_time, "rate_vs_time", source)


def by_size(source: Any) -> Any:
    """Expected collisions per fragment size bin (mean, 5–95 % band across realizations)
    against Lc [m], log x. source: path, Dataset or RunResults; returns a matplotlib Figure."""
    return _single(_draw_by_size, "by_size", source)


def fragments_in_orbit(source: Any) -> Any:
    """Fragments in orbit [count] against time [h]: median and 5–95 % band across
    realizations. source: path, Dataset or RunResults; returns a matplotlib Figure."""
    return _single(_draw_fragments_in_orbit, "fragments_in_orbit", source)


def summary_page(source: Any) -> Any:
    """One page (PAGE_SIZE_IN at DPI): a text panel of scenario and run metadata (model
    choices, realizations, device, run time, mean and median P per target) and the five
    figures. source: path, Dataset or RunResults; returns a matplotlib Figure."""
    src = _as_source(source)
    for figure in _NEEDS:
        src.need(figure)
    lines = _text_lines(src)
    fig = _figure(PAGE_SIZE_IN)
    text_in = 0.13 * len(lines) + 0.1  # 7.5 pt monospace lines
    grid = fig.add_gridspec(
        4, 2, height_ratios=[text_in / ((PAGE_SIZE_IN[1] - text_in) / 3.0), 1, 1, 1]
    )
    text_ax = fig.add_subplot(grid[0, :])
    text_ax.set_axis_off()
    text_ax.text(0.0, 1.0, "\n".join(lines), transform=text_ax.transAxes,
                 ha="left", va="top", family="monospace", fontsize=7.5)
    draws = (_draw_gabbard, _draw_pc_histogram, _draw_rate_vs_time, _draw_by_size,
             _draw_fragments_in_orbit)
    cells = (grid[1, 0], grid[1, 1], grid[2, 0], grid[2, 1], grid[3, :])
    for draw, cell in zip(draws, cells):
        ax = fig.add_subplot(cell)
        draw(ax, src)
        ax.title.set_fontsize("small")
        ax.xaxis.label.set_fontsize("small")
        ax.yaxis.label.set_fontsize("small")
        ax.tick_params(labelsize="x-small")
        legend = ax.get_legend()
        if legend is not None:
            for t in legend.get_texts():
                t.set_fontsize("x-small")
    return fig


_FIGURES: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("gabbard", gabbard),
    ("pc_histogram", pc_histogram),
    ("rate_vs_time", rate_vs_time),
    ("by_size", by_size),
    ("fragments_in_orbit", fragments_in_orbit),
    ("summary", summary_page),
)


def plot_all(
    path: str | os.PathLike | Any, outdir: str | os.PathLike | None = None, fmt: str = "png"
) -> list[Path]:
    """Write every figure of a results file; return the written paths.

    path: results file (or an xarray Dataset / RunResults, then `outdir` is required).
    outdir: folder to write into, created if missing; default `<stem>_plots/` beside the file.
    fmt: "png", "pdf" or "svg". Files: gabbard, pc_histogram, rate_vs_time, by_size,
    fragments_in_orbit and summary, with the `fmt` suffix; existing ones are replaced.
    Every needed variable is checked before anything is written: InputError (one line) if the
    file is not a fragrisk results file or lacks a variable.
    """
    fmt_clean = str(fmt).lower().lstrip(".")
    if fmt_clean not in FORMATS:
        raise InputError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    src = _as_source(path)
    for figure in _NEEDS:
        src.need(figure)
    if outdir is None:
        if not isinstance(path, (str, os.PathLike)):
            raise InputError(f"{src.label}: an output folder is needed to plot an in-memory result")
        p = Path(path)
        outdir = p.parent / f"{p.stem}_plots"
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir}: exists and is not a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{outdir}: cannot create the folder ({' '.join(str(exc).split())})") from None
    written = []
    for name, make in _FIGURES:
        fig = make(src)
        out = outdir / f"{name}.{fmt_clean}"
        try:
            fig.savefig(out, format=fmt_clean, dpi=DPI)
        except OSError as exc:
            raise InputError(f"{out}: cannot write ({' '.join(str(exc).split())})") from None
        written.append(out)
    return written

