"""Figures of a results file. Each takes a results path, an xarray Dataset or a RunResults.

One module per concern, read top-down:

- `source`   what a figure reads (`Source`: the arrays it needs, or a one-line InputError; the
             kind of run: a breakup or a [population]; times in UTC).
- `draw`     one axes-level `draw_*` per figure; each decides from the source what applies and
             says in words where it draws nothing (a population's unknown sizes, a shard without
             realization 0, a run without encounters).
- `figures`  the figure functions (`gabbard`, `pc_histogram`, `rate_vs_time`, `by_size`,
             `fragments_in_orbit`, `encounter_timeline`, `risk_windows`, `summary_page`) and
             `not_drawn`, the figures that do not apply to a source and why.
- here       `plot_all`, which the CLI's `fragrisk plot` calls.

The two encounter figures need the encounter table (engine/results/encounter_table.py); a file
without it (written before it existed, or with [analysis] encounters = "none") gets the others.
Time axes are UTC dates.

Figures are `matplotlib.figure.Figure` objects on an Agg canvas: no pyplot, no global
matplotlib state; matplotlib is imported inside the functions only. Sizes are fixed
(`FIGURE_SIZE_IN`, `PAGE_SIZE_IN` at `DPI`), so a PNG of a figure is `FIGURE_SIZE_PX` pixels
and of the summary page `PAGE_SIZE_PX`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError
from ..files.h5io import check_writable_folder
# _title, _legend and _figure serve engine/calibration_plots.py too (the same look).
from .draw import RISK_WINDOW_SHARES, RISK_WINDOW_WIDTH_S, _legend, _title
from .figures import (DPI, ENCOUNTER_FIGURES, FIGURE_SIZE_IN, FIGURE_SIZE_PX, PAGE_SIZE_IN, PAGE_SIZE_PX,
                      _check_every_figure, _figure, by_size, encounter_timeline, fragments_in_orbit, gabbard,
                      not_drawn, pc_histogram, rate_vs_time, risk_windows, summary_page)
from .source import as_source

__all__ = [
    "DPI",
    "FIGURE_SIZE_IN",
    "FIGURE_SIZE_PX",
    "FORMATS",
    "PAGE_SIZE_IN",
    "PAGE_SIZE_PX",
    "RISK_WINDOW_SHARES",
    "RISK_WINDOW_WIDTH_S",
    "by_size",
    "encounter_timeline",
    "fragments_in_orbit",
    "gabbard",
    "not_drawn",
    "pc_histogram",
    "plot_all",
    "rate_vs_time",
    "risk_windows",
    "summary_page",
]

FORMATS = ("png", "pdf", "svg")
_ENCOUNTER_FIGURES = ENCOUNTER_FIGURES

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
    fragments_in_orbit, encounter_timeline, risk_windows and summary, with the `fmt` suffix,
    leaving out those that do not apply to the file (`not_drawn` says which and why: a
    population's by_size, encounter figures without encounters, ...); the summary page shows
    their panels with the reason in words. Existing ones are refused unless `overwrite`,
    before anything is drawn.
    Every needed variable is checked before anything is written: InputError (one line) if the
    file is not a fragrisk results file or lacks a variable. The figures are drawn into
    temporary files in `outdir` and moved onto their names only when all of them are drawn, so
    a failure leaves no figure half-written and none replaced (and no folder it created).
    """

    fmt_clean = str(fmt).lower().lstrip(".")
    if fmt_clean not in FORMATS:
        raise InputError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    src = as_source(path)
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
    skipped = {name for name, _ in not_drawn(src)}
    figures = [(name, make) for name, make in _FIGURES
               if (with_encounters or name not in _ENCOUNTER_FIGURES) and name not in skipped]
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
