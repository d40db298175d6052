"""Figures of a calibration (``fragrisk calibrate --report DIR``): observed against model, before
and after.

- ``gabbard``: apogee and perigee altitude against period at the observation epoch, the observed
  objects over the model's fragments, before and after (SGP4 mean elements, engine.calibration.calibrate);
- ``marginals``: the four compared distributions (apogee, perigee, inclination, node), observed
  and model before and after, with each one's energy distance;
- ``profiles``: the statistic against each fitted knob near the optimum (the design points of the
  bootstrap, on each knob's axis), with the fitted value and its 16-84 % bootstrap interval.

Figures are matplotlib Figures on an Agg canvas (no pyplot, no global state), as in engine.plots.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .calibration.compare import MARGINAL_LABELS
from .calibration.knobs import KNOB_LABELS
from .calibration.result import CalibrationResult, summary
from .calibration.statistic import band_km
from .errors import InputError
from .physics.sgp4_numpy import MU_KM3_S2, RADIUS_EARTH_KM
from .plots import DPI, FORMATS, _figure, _legend, _title

FIGURE_SIZE_IN = (10.0, 5.0)
#: Model points drawn in a Gabbard panel at most (realization order): enough to show the cloud's
#: shape, few enough that the observed points stay visible on top.
GABBARD_MAX_MODEL_POINTS = 4000
_COLORS = {"observed": "black", "before": "tab:red", "after": "tab:blue"}


def _period_min(apogee_km: np.ndarray, perigee_km: np.ndarray) -> np.ndarray:
    a_km = 0.5 * (apogee_km + perigee_km) + RADIUS_EARTH_KM
    return 2.0 * math.pi * np.sqrt(a_km**3 / MU_KM3_S2) / 60.0


def gabbard(result: CalibrationResult) -> Any:
    """Gabbard diagrams at the observation epoch: model before (left) and after (right), the
    observed objects on top of each."""
    fig = _figure(FIGURE_SIZE_IN)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    obs = result.observed.values
    # The observed cloud sets the frame; the model's fast fragments may run off it.
    top = float(np.percentile(obs[:, 0], 99.5)) * 1.15
    lo = max(0.0, float(np.percentile(obs[:, 1], 0.5)) - 80.0)
    p_obs = _period_min(obs[:, 0], obs[:, 1])
    p_lo, p_hi = np.percentile(p_obs, [0.5, 99.5])
    pad = 0.3 * (p_hi - p_lo)
    for ax, when in zip(axes, ("before", "after")):
        v = result.samples[when].values[:GABBARD_MAX_MODEL_POINTS]
        p = _period_min(v[:, 0], v[:, 1])
        ax.scatter(p, v[:, 0], s=2, color=_COLORS[when], alpha=0.35, lw=0,
                   label=f"model {when}: apogee")
        ax.scatter(p, v[:, 1], s=2, color=_COLORS[when], alpha=0.15, lw=0, marker="s",
                   label="perigee")
        po = _period_min(obs[:, 0], obs[:, 1])
        ax.scatter(po, obs[:, 0], s=5, color="black", marker="^", lw=0, label="observed: apogee")
        ax.scatter(po, obs[:, 1], s=5, color="0.35", marker="v", lw=0, label="perigee")
        for name, (b_lo, b_hi) in {t.name: band_km(t)
                                   for t in result.scenario.targets}.items():
            ax.axhspan(b_lo, b_hi, color="tab:green", alpha=0.15, lw=0)
            ax.text(0.99, b_hi, f" {name}", transform=ax.get_yaxis_transform(), ha="right",
                    va="bottom", fontsize=7, color="tab:green")
        ax.set_ylim(lo, top)
        ax.set_xlim(p_lo - pad, p_hi + pad)
        ax.set_xlabel("period (min)")
        ax.grid(alpha=0.3)
        T = result.before["total"] if when == "before" else result.after["total"]
        _title(ax, f"{when} calibration", f"statistic T = {T:,.1f}; showing "
               f"{min(len(result.samples[when].values), GABBARD_MAX_MODEL_POINTS):,} of "
               f"{len(result.samples[when].values):,} model fragments")
        _legend(ax, False, loc="upper left", markerscale=3)
    axes[0].set_ylabel("altitude (km)")
    fig.suptitle(f"{result.scenario.name}: Gabbard diagram at {result.observed.epoch} "
                 f"({len(result.observed):,} tracked objects)", fontsize=11)
    return fig


def marginals(result: CalibrationResult) -> Any:
    """The four compared distributions (probability density), observed and model before and
    after; the legend gives each model's energy distance from the observed."""
    fig = _figure((10.0, 7.5))
    axes = fig.subplots(2, 2).ravel()
    obs = result.observed.values
    for k, ax in enumerate(axes):
        lo, hi = np.percentile(obs[:, k], [0.5, 99.5])
        pad = 0.25 * (hi - lo)
        bins = np.linspace(lo - pad, hi + pad, 50)
        for when in ("before", "after"):
            v = result.samples[when].values[:, k]
            D = getattr(result, when)["distances"][k]
            ax.hist(v, bins=bins, density=True, histtype="step", lw=1.5, color=_COLORS[when],
                    label=f"model {when} (D = {D:.3f})")
        ax.hist(obs[:, k], bins=bins, density=True, histtype="stepfilled", color="0.6",
                alpha=0.5, label="observed")
        ax.set_xlabel(MARGINAL_LABELS[k])
        ax.grid(alpha=0.3)
        _legend(ax, True, loc="upper right")
    fig.suptitle(f"{result.scenario.name}: observed and model at {result.observed.epoch}; "
                 f"D = 1-D energy distance in units of the observed spread", fontsize=10)
    return fig


def profiles(result: CalibrationResult) -> Any:
    """The statistic against each fitted knob, the others at their fitted values."""
    names = [k for k in result.profiles]
    n = max(1, len(names))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _figure((3.6 * cols, 3.0 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, name in zip(axes, names):
        x, T = result.profiles[name]
        knob = result.knob(name)
        ax.plot(x, T, "o-", color="tab:blue", ms=4)
        ax.axvline(knob.value, color="black", lw=1)
        ax.axvspan(knob.p16, knob.p84, color="tab:blue", alpha=0.15, lw=0)
        label, unit = KNOB_LABELS[name]
        ax.set_xlabel(f"{name}" + ("" if unit == "1" else f" ({unit})"), fontsize=8)
        ax.set_ylabel("statistic T", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_title(f"{label}: {knob.value:.4g} ± {knob.sigma:.2g}", fontsize=8.5)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{result.scenario.name}: statistic near the optimum (each knob alone; line: "
                 f"fitted value, band: 16-84 % bootstrap)", fontsize=9.5)
    return fig


FIGURES = (("gabbard", gabbard), ("marginals", marginals), ("profiles", profiles))


def write_report(result: CalibrationResult, outdir, fmt: str = "png") -> list[Path]:
    """Write the figures (FIGURES, as ``<name>.<fmt>``) and ``summary.json``
    (engine.calibration.result.summary) into outdir, created if missing; return the paths written."""
    fmt = str(fmt).lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"--report {outdir}: exists and is not a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--report {outdir}: cannot create the folder "
                         f"({' '.join(str(exc).split())})") from None
    written = []
    for name, make in FIGURES:
        out = outdir / f"{name}.{fmt}"
        try:
            make(result).savefig(out, format=fmt, dpi=DPI)
        except OSError as exc:
            raise InputError(f"{out}: cannot write ({' '.join(str(exc).split())})") from None
        written.append(out)
    out = outdir / "summary.json"
    try:
        out.write_text(json.dumps(summary(result), indent=1, default=float) + "\n")
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({' '.join(str(exc).split())})") from None
    written.append(out)
    return written
