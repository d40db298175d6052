"""`fragrisk calibrate`: fit the breakup model's knobs to tracked fragments (docs/calibration.md)."""

from __future__ import annotations

import json
import sys

import click

from ..engine.backend import resolve_device
from ..engine.calibration import calibrate as calibration
from ..engine.calibration.observations import load_observed
from ..engine.calibration.result import calibrated_toml
from ..engine.calibration.result import summary as calibration_summary
from ..engine.calibration_plots import write_report
from ..engine.files.h5io import atomic_write_text, check_output_path
from ..engine.scenario import load_scenario
from .common import FLOAT, INT, device_option, echo_warnings, epoch_gap_option, scenario_argument


# --- calibrate -------------------------------------------------------------------------------------
@click.command()
@scenario_argument
@click.option("--observed", "observed", multiple=True, required=True, metavar="PATH",
              help="TLE or OMM file of tracked fragments (repeat for several; any mix of epochs).")
@click.option("--cataloged", type=INT, default=None, metavar="N",
              help="Fragments the catalog held in all (default: the observed objects).")
@click.option("--min-size-m", type=FLOAT, default=0.1, show_default=True, metavar="L",
              help="The catalog's size threshold: model fragments of Lc >= L are compared.")
@click.option("--realizations", type=INT, default=None, metavar="R",
              help="Realizations per candidate (default: 24 on the CPU, 64 on the GPU).")
@device_option
@click.option("-o", "--output", required=True, metavar="OUT.toml", help="Calibrated scenario to write.")
@click.option("--report", default=None, metavar="DIR",
              help="Also write figures (Gabbard, marginals, profiles) and summary.json into DIR.")
@click.option("--knobs", default=None, metavar="K1,K2,...",
              help="Shape knobs to fit besides the count (default: dv_scale, dv_sigma_log10, "
                   "drag_scale, cloud_dv_radial_m_s, cloud_dv_cross_track_m_s).")
@click.option("--bootstrap", type=INT, default=200, show_default=True, metavar="B",
              help="Bootstrap resamples of the observed objects for the uncertainties.")
@click.option("--ablation", is_flag=True,
              help="Also refit with each knob held at the scenario's value: what each is worth.")
@click.option("--overwrite", is_flag=True, help="Replace OUT.toml if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
@epoch_gap_option
def calibrate(scenario, observed, cataloged, min_size_m, realizations, device, output, report,
              knobs, bootstrap, ablation, overwrite, as_json, max_epoch_gap_days) -> None:
    """Fit SCENARIO's breakup knobs (default: cosmos1408) to tracked fragments and write the
    calibrated scenario to OUT.toml."""
    resolved = resolve_device(device)
    s = load_scenario(scenario, max_epoch_gap_days=max_epoch_gap_days)
    fitted = calibration.check_options(s, realizations=realizations, bootstrap=bootstrap,
                                       cataloged=cataloged, min_size_m=min_size_m, knobs=knobs)
    check_output_path(output, overwrite=overwrite, what="a scenario file")
    echo_warnings(s.warnings)
    obs, warnings = load_observed(list(observed), s)
    echo_warnings(warnings)
    bar = _CalibrateProgress(enabled=sys.stderr.isatty() and not as_json)
    try:
        result = calibration.calibrate(s, obs, cataloged=cataloged, min_size_m=min_size_m,
                                       realizations=realizations, device=resolved, knobs=fitted,
                                       bootstrap=bootstrap, ablation=ablation,
                                       on_progress=bar.update)
    finally:
        bar.close()
    command = " ".join(["fragrisk calibrate", scenario, *(f"--observed {p}" for p in observed),
                        f"--cataloged {result.cataloged}", f"--min-size-m {min_size_m:g}",
                        f"--realizations {result.realizations}", f"--device {resolved}",
                        f"--knobs {','.join(fitted)}", f"--bootstrap {bootstrap}",
                        *(["--ablation"] if ablation else []), f"-o {output}"])
    written = []
    if report is not None:
        written = write_report(result, report)
    path = atomic_write_text(output, calibrated_toml(result, command), overwrite=overwrite,
                             what="a scenario file")
    echo_warnings(result.warnings)
    info = calibration_summary(result)
    info.update(output=str(path), report=[str(p) for p in written])
    if as_json:
        click.echo(json.dumps(info, default=float))
        return
    click.echo("\n".join(_calibration_lines(result, path, written)))


def _calibration_lines(result, path, written) -> list[str]:
    r = result
    obs = r.observed
    lines = [f"wrote {path}: {r.scenario.name} fitted to {len(obs):,} tracked objects at "
             f"{obs.epoch} (N = {r.cataloged:,}), {r.realizations} realizations per candidate, "
             f"{r.evaluations} evaluations, device {r.device}, {r.elapsed_s:.1f} s"]
    for k in r.knobs:
        if k.fitted:
            lines.append(f"  {k.name:26s} {k.before:10.4g} -> {k.value:10.4g} +- {k.sigma:.2g}"
                         + ("  (on a bound)" if k.at_bound else ""))
    lines.append(f"  statistic T: {r.before['total']:,.1f} -> {r.after['total']:,.1f} "
                 f"(distributions {r.before['distribution']:,.1f} -> "
                 f"{r.after['distribution']:,.1f}, count {r.before['count']:,.1f} -> "
                 f"{r.after['count']:,.1f})")
    t = r.table
    bands = [k for k in t["observed"] if k.startswith("band_share_")]
    rows = [("count in orbit >= {:g} m".format(r.min_size_m), "count", "{:,.0f}"),
            ("apogee median (km)", "apogee_median_km", "{:.1f}"),
            ("perigee median (km)", "perigee_median_km", "{:.1f}"),
            *[(f"{b[len('band_share_'):]} band share", b, "{:.1%}") for b in bands],
            ("node 5th percentile (deg)", "node_p05_deg", "{:.1f}"),
            ("node 95th percentile (deg)", "node_p95_deg", "{:.1f}"),
            ("B* median (1/ER, not fitted)", "bstar_median", "{:.3g}")]
    lines.append(f"  {'at ' + obs.epoch:36s} {'before':>10s} {'after':>10s} {'observed':>10s}")
    for label, key, fmt in rows:
        lines.append(f"  {label:36s} " + " ".join(
            f"{fmt.format(t[w][key]):>10s}" for w in ("before", "after", "observed")))
    for name, a in r.ablation.items():
        lines.append(f"  without {name} (held at {r.knob(name).before:g}, the others refitted): "
                     f"T {a['total']:,.1f} (fitted with it: {r.fit_statistic:,.1f})")
    for p in written:
        lines.append(f"  report: {p}")
    return lines


class _CalibrateProgress:
    """A progress line on stderr: the stage, evaluations and the best statistic so far."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.shown = False

    def update(self, stage: str, done: int, total: int, best: float) -> None:
        if not self.enabled:
            return
        what = f"{done:,} evaluations" if stage == "fit" else f"{done:,}/{total:,}"
        click.echo(f"\rcalibrate: {stage}: {what}, best T {best:,.2f}        ", nl=False, err=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("", err=True)
            self.shown = False
