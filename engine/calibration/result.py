"""What `fragrisk calibrate` reports: the fitted knobs (`KnobFit`), everything else of a fit
(`CalibrationResult`), the calibrated scenario file (`calibrated_toml`) and the JSON summary
(`summary`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..scenario import Scenario, scenario_to_toml
from .compare import MARGINALS
from .knobs import KNOB_LABELS
from .observations import Observed


@dataclass(frozen=True)
class KnobFit:
    """One knob: its value before and after, its bootstrap standard deviation and 16-84 %
    interval, its search range, and whether the fit ended on an end of it."""

    name: str
    before: float
    value: float
    sigma: float
    p16: float
    p84: float
    lo: float
    hi: float
    at_bound: bool
    fitted: bool = True


@dataclass
class CalibrationResult:
    """Everything ``fragrisk calibrate`` reports; see calibrate()."""

    scenario: Scenario
    calibrated: Scenario
    observed: Observed
    knobs: tuple
    before: dict
    after: dict
    table: dict
    cataloged: int
    cataloged_given: bool
    min_size_m: float
    realizations: int
    seed: int
    device: str
    evaluations: int
    bootstrap: int
    bootstrap_estimates: dict
    profiles: dict
    samples: dict
    warnings: list
    ablation: dict
    fit_statistic: float = math.nan
    elapsed_s: float = 0.0

    def knob(self, name: str) -> KnobFit:
        return next(k for k in self.knobs if k.name == name)


# --- the calibrated scenario file ----------------------------------------------------------------


def calibrated_toml(result: CalibrationResult, command: str = "") -> str:
    """The calibrated scenario as TOML: a comment block (what was fitted, to what, the values
    with their uncertainties, the statistic before and after), then the resolved scenario
    (engine.scenario.scenario_to_toml) with the fitted [event] fields set."""
    r = result
    obs = r.observed
    lines = [
        "# Calibrated by fragrisk calibrate" + (f": {command}" if command else ""),
        f"# Scenario {r.scenario.name} ({r.scenario.source}), fitted to {len(obs):,} tracked "
        f"objects at {obs.epoch} (SGP4 mean elements; {len(obs.excluded)} left out):",
    ]
    for f in obs.files:
        lines.append(f"#   {f.path}")
        lines.append(f"#     SHA-256 {f.sha256}, {f.n_objects:,} element sets, epochs "
                     f"{f.first_epoch} to {f.last_epoch}")
    lines += [
        f"# Catalog count N = {r.cataloged:,}"
        + (" (--cataloged)" if r.cataloged_given else " (the observed objects)")
        + f"; size threshold {r.min_size_m:g} m; {r.realizations} realizations of seed {r.seed} "
        f"per candidate (common random numbers); {r.evaluations} evaluations; device {r.device}.",
        "# Statistic T = n_obs * sum of 1-D energy distances of apogee, perigee, inclination and",
        "# node (standardized) + (C - N)^2 / N (engine/calibration/calibrate.py):",
        f"#   before {r.before['total']:.2f} (distributions {r.before['distribution']:.2f}, "
        f"count {r.before['count']:.2f}, model count {r.before['model_count']:.0f})",
        f"#   after  {r.after['total']:.2f} (distributions {r.after['distribution']:.2f}, "
        f"count {r.after['count']:.2f}, model count {r.after['model_count']:.0f})",
        f"# Fitted [event] values, uncertainty = standard deviation over {r.bootstrap} bootstrap "
        f"resamples of the observed objects:",
    ]
    for k in r.knobs:
        label, unit = KNOB_LABELS[k.name]
        u = "" if unit == "1" else f" {unit}"
        if k.fitted:
            lines.append(f"#   {k.name} = {k.value:.4g} +- {k.sigma:.2g}{u} (16-84 %: "
                         f"{k.p16:.4g} to {k.p84:.4g}; before {k.before:.4g})"
                         + ("  [ON A BOUND]" if k.at_bound else ""))
        else:
            lines.append(f"#   {k.name} = {k.value:.4g}{u} (not fitted)")
    lines.append("")
    return "\n".join(lines) + scenario_to_toml(r.calibrated)


def summary(result: CalibrationResult) -> dict:
    """A JSON-ready summary of a calibration (``fragrisk calibrate --json``)."""
    r = result
    return {
        "scenario": r.scenario.name,
        "observed": [dataclasses.asdict(f) for f in r.observed.files],
        "observed_objects": len(r.observed),
        "excluded": [{"name": n, "norad_cat_id": s, "reason": w} for n, s, w in r.observed.excluded],
        "epoch": r.observed.epoch,
        "cataloged": r.cataloged,
        "min_size_m": r.min_size_m,
        "realizations": r.realizations,
        "seed": r.seed,
        "device": r.device,
        "evaluations": r.evaluations,
        "bootstrap": r.bootstrap,
        "elapsed_s": round(r.elapsed_s, 3),
        "knobs": {k.name: {"before": k.before, "value": k.value, "sigma": k.sigma, "p16": k.p16,
                           "p84": k.p84, "range": [k.lo, k.hi], "at_bound": k.at_bound,
                           "fitted": k.fitted} for k in r.knobs},
        "statistic": {when: {"total": getattr(r, when)["total"],
                             "distribution": getattr(r, when)["distribution"],
                             "count": getattr(r, when)["count"],
                             "distances": dict(zip(MARGINALS, map(float, getattr(r, when)["distances"])))}
                      for when in ("before", "after")},
        "fit_statistic": r.fit_statistic,
        "table": r.table,
        "ablation": r.ablation,
        "warnings": r.warnings,
    }
