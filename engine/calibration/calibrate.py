"""Calibration of a breakup scenario to tracked fragments (``fragrisk calibrate``): the fit, step
by step.

The NASA Standard Breakup Model is a fit to ground tests and old events; after a real breakup,
analysts tune it to the fragments as the catalog fills in (Cimmino et al. 2021, Aerospace
8(7):185). `calibrate` fits the scenario's [event] knobs (knobs.py) to element sets of tracked
fragments (observations.py) with the statistic of statistic.py, evaluated on model samples
(model.py) by common random numbers (search.py), with bootstrap uncertainties and an optional
ablation (bootstrap.py); result.py holds what it returns and the files made of it. The method,
and why each choice, is docs/calibration.md: §1 the knobs, §2 what is compared, §3 the
statistic, §4 the fit, §5 the uncertainties.

calibrate() reads as its steps: check the inputs; "before" (the scenario as it is); the fit
(Nelder-Mead, then the design's steps); the design and its bootstrap; the fitted values with
their uncertainties and warnings; "after" (the calibrated scenario, sampled as `run` samples it);
the ablation; the report's table.

Everything here is arrays in, arrays out; ``on_progress`` callbacks are the front end's business.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from ..errors import InputError
from ..scenario import LC_MIN_RANGE_M, Scenario, breakup_params
from .bootstrap import Design, ablation_refits, bootstrap_design, design_steps
from .knobs import COUNT_EXPONENT, COUNT_FACTOR_RANGE, COUNT_KNOB, DEFAULT_KNOBS, KNOB_SPECS, SHAPE_KNOBS
from .observations import Observed
from .result import CalibrationResult, KnobFit
from .search import Objective, Progress, nelder_mead, no_progress, scipy_minimize
from .statistic import Statistic, band_km, describe

DEFAULT_MIN_SIZE_M = 0.1
DEFAULT_BOOTSTRAP = 200
#: Realizations per candidate when the caller gives none. The model sample then dwarfs a catalog
#: of a few hundred objects, yet its Monte Carlo noise still moves the optimum along the flatter
#: directions (on the COSMOS 1408 debris, 12 and 24 realizations give dv_sigma_log10 0.267 and
#: 0.241): the bootstrap resamples the realizations for that reason. 24 keeps the CPU fit within
#: a few minutes; a GPU affords more.
DEFAULT_REALIZATIONS = {"cpu": 24, "gpu": 64}


def check_min_size(min_size_m) -> float:
    """The catalog's size threshold as a float, or InputError (one line): a size in the
    breakup model's range of validity, [0.001, 1) m (the remnants' sizes start at 1 m)."""
    lo, hi = LC_MIN_RANGE_M
    if isinstance(min_size_m, bool) or not isinstance(min_size_m, (int, float)) \
            or not math.isfinite(min_size_m) or not lo <= min_size_m < hi:
        raise InputError(f"--min-size-m {min_size_m!r}: expected a size in [{lo:g}, {hi:g}) m")
    return float(min_size_m)


def check_options(scenario: Scenario, *, realizations, bootstrap: int, cataloged, min_size_m,
                  knobs: str | None) -> tuple:
    """`fragrisk calibrate`'s options, checked before any work (before the observations are
    read): InputError (one line, naming the option) for a [population] scenario, R < 1,
    B < 0, N < 1, a size threshold out of range or an unknown knob. Returns the shape knobs to fit
    from "K1,K2,..." (None: DEFAULT_KNOBS)."""
    if scenario.population is not None:
        raise InputError(f"{scenario.source}: a [population] scenario has no breakup to calibrate; "
                         f"fragrisk calibrate needs [parent] and [event]")
    if realizations is not None and realizations < 1:
        raise InputError(f"--realizations: must be >= 1, got {realizations}")
    if bootstrap < 0:
        raise InputError(f"--bootstrap: must be >= 0, got {bootstrap}")
    if cataloged is not None and cataloged < 1:
        raise InputError(f"--cataloged: must be >= 1, got {cataloged}")
    check_min_size(min_size_m)
    fitted = DEFAULT_KNOBS if knobs is None else tuple(k.strip() for k in knobs.split(",") if k.strip())
    for k in fitted:
        if k not in SHAPE_KNOBS:
            raise InputError(f"--knobs: unknown knob {k!r} (valid: {', '.join(SHAPE_KNOBS)})")
    return fitted


def calibrate(scenario: Scenario, observed: Observed, *, cataloged: int | None = None,
              min_size_m: float = DEFAULT_MIN_SIZE_M, realizations: int | None = None,
              device: str = "cpu", knobs: tuple = DEFAULT_KNOBS, bootstrap: int = DEFAULT_BOOTSTRAP,
              ablation: bool = False, max_evaluations: int = 200,
              on_progress: Progress = no_progress) -> CalibrationResult:
    """Fit the scenario's knobs to the observed fragments (docs/calibration.md).

    scenario: a breakup scenario ([parent] + [event]). observed: from load_observed.
    cataloged: N, the fragments the catalog held in all (default: the observed objects).
    min_size_m: the catalog's size threshold (Lc). realizations: R per candidate (default
    DEFAULT_REALIZATIONS[device]); realizations 0..R-1 of the scenario's seed. knobs: the shape
    knobs to fit (the count knob is always fitted); the others keep the scenario's values.
    bootstrap: resamples for the uncertainties (0: none). ablation: also refit with each fitted
    shape knob held at its scenario value, to show what each one is worth. Returns a
    CalibrationResult with the calibrated scenario (knobs rounded to 4 significant digits).
    """
    t0 = time.perf_counter()
    N, R = _checked_inputs(scenario, observed, cataloged, min_size_m, realizations, device, knobs)
    event = scenario.event
    exponent, count_name = COUNT_EXPONENT[event.type], COUNT_KNOB[event.type]
    count_ref = _count_reference(scenario)
    stat = Statistic(observed.values, N)
    names = tuple(k for k in SHAPE_KNOBS if k in knobs)
    before_knobs = {k: float(getattr(event, k)) for k in SHAPE_KNOBS}
    fixed = {k: v for k, v in before_knobs.items() if k not in names}
    bounds = [KNOB_SPECS[k].bounds for k in names]
    u0 = np.array([min(max(float(KNOB_SPECS[k].to_u(before_knobs[k])), lo), hi)
                   for k, (lo, hi) in zip(names, bounds)])
    obj = Objective(scenario, names, fixed, np.arange(R, dtype=np.int64), min_size_m, observed, stat,
                    exponent, COUNT_FACTOR_RANGE, device, on_progress, 2 * max_evaluations)
    bands = {t.name: band_km(t) for t in scenario.targets}

    # Before: the scenario as it is (its count knob, sampled, not scaled).
    obj.stage = "before"
    sample_before, before = _described(obj, before_knobs, bands, {**before_knobs, count_name: count_ref})

    u_best, total_best, sample_best, h = _fit(obj, u0, bounds, max_evaluations)
    design = bootstrap_design(obj, u_best, h, bounds, bootstrap, total_best, n_obs=len(observed),
                              cataloged=N, realizations=R)

    # The fitted values, rounded to 4 significant digits for the scenario file.
    fitted = {name: _round4(float(KNOB_SPECS[name].from_u(x))) for name, x in zip(names, u_best)}
    f_best = obj.count_factor(sample_best)
    count_value = _round4(f_best * count_ref)
    count_estimates = design.count_estimates(u_best, exponent, count_ref)
    knob_fits = (_count_fit(count_name, count_ref, count_value, f_best, count_estimates),
                 *_shape_fits(names, u_best, bounds, design.estimates, fitted, before_knobs))
    warnings = _fit_warnings(design.flat, knob_fits)

    # After: the calibrated scenario, sampled as `run` will sample it (its own count).
    after_knobs = {**before_knobs, **fitted, count_name: count_value}
    obj.stage = "after"
    sample_after, after = _described(obj, after_knobs, bands, after_knobs)
    calibrated = dataclasses.replace(
        scenario, event=dataclasses.replace(event, **fitted, **{count_name: count_value}))

    ablation_out = (ablation_refits(obj, names, before_knobs, u_best, max_evaluations)
                    if ablation and len(names) > 1 else {})

    result = CalibrationResult(
        scenario=scenario, calibrated=calibrated, observed=observed, knobs=knob_fits,
        before=before, after=after, table=_report_table(observed, bands, N, before, after),
        cataloged=N, cataloged_given=cataloged is not None, min_size_m=float(min_size_m),
        realizations=R, seed=int(scenario.analysis.seed), device=device, evaluations=obj.evaluations,
        bootstrap=int(bootstrap),
        bootstrap_estimates=_bootstrap_estimates(names, design, count_name, count_estimates),
        profiles=design.profiles(names),
        samples={"before": sample_before, "after": sample_after, "fit": sample_best},
        warnings=warnings, ablation=ablation_out, fit_statistic=total_best)
    result.elapsed_s = time.perf_counter() - t0
    return result


# --- the steps ----------------------------------------------------------------------------------

def _checked_inputs(scenario: Scenario, observed: Observed, cataloged, min_size_m, realizations,
                    device: str, knobs) -> tuple[int, int]:
    """(N, R): the catalog count and the realizations per candidate, or InputError (one line);
    FragriskError where SciPy is missing (before any work: the fit needs it)."""
    if scenario.event is None:
        raise InputError(f"{scenario.source}: a [population] scenario has no breakup to calibrate; "
                         f"fragrisk calibrate needs [parent] and [event]")
    check_min_size(min_size_m)
    scipy_minimize()
    unknown = [k for k in knobs if k not in SHAPE_KNOBS]
    if unknown:
        raise InputError(f"calibrate: unknown knob {unknown[0]!r} (valid: {', '.join(SHAPE_KNOBS)})")
    n_obs = len(observed)
    N = n_obs if cataloged is None else int(cataloged)
    if N < n_obs:
        raise InputError(f"--cataloged {N}: fewer than the {n_obs:,} observed objects compared")
    R = DEFAULT_REALIZATIONS.get(device, 12) if realizations is None else int(realizations)
    if R < 1:
        raise InputError(f"--realizations {R}: expected an integer >= 1")
    return N, R


def _count_reference(scenario: Scenario) -> float:
    """The count knob's value in the scenario: the count law's M (collisions) or S (explosions)."""
    event = scenario.event
    params = breakup_params(event, scenario.parent)
    return params.count_mass_kg if event.type == "collision" else event.explosion_scale


def _described(obj: Objective, knobs: dict, bands: dict, reported_knobs: dict):
    """The model sampled at `knobs` with its own count (no scaling): (ModelSample, its statistic
    with the summary numbers of the report, the knobs reported and the count after the breakup)."""
    sample = obj.sample(knobs)
    out = obj.stat.evaluate(sample, 1.0, obj.exponent)
    out.update(describe(sample.values, bands, sample.bstar), knobs=reported_knobs,
               after_breakup=float(np.mean(sample.after_breakup)))
    return sample, out


def _fit(obj: Objective, u0: np.ndarray, bounds: list, max_evaluations: int):
    """Nelder-Mead from u0, then the design's steps around its optimum (design_steps), which may
    find a lower point still. Returns (u_best, T there, its ModelSample, the steps h)."""
    obj.stage = "fit"
    u_best = nelder_mead(obj, u0, bounds, step=0.4, max_evaluations=max_evaluations)
    total_best, _, sample_best = obj.evaluate(u_best)
    # Design around the optimum, scaled on each axis to where the statistic has risen by about
    # DESIGN_RISE.
    obj.stage = "steps"
    h = design_steps(obj, u_best, total_best, bounds)
    if obj.best[0] < total_best - 1e-9:  # the steps found a lower point than the simplex
        u_best = obj.best[1]
        total_best, _, sample_best = obj.evaluate(u_best)
    return u_best, total_best, sample_best, h


def _shape_fits(names: tuple, u_best: np.ndarray, bounds: list, estimates, fitted: dict,
                before_knobs: dict) -> list:
    """A KnobFit per shape knob: the fitted ones (their bootstrap spread, whether they ended on a
    bound), then the others (not fitted, at the scenario's value)."""
    fits = []
    for i, name in enumerate(names):
        spec = KNOB_SPECS[name]
        vals = spec.from_u(estimates[:, i]) if estimates is not None else np.array([fitted[name]])
        at = bool(u_best[i] <= bounds[i][0] + 1e-3 or u_best[i] >= bounds[i][1] - 1e-3)
        fits.append(KnobFit(name, before_knobs[name], fitted[name], float(vals.std()),
                            float(np.percentile(vals, 16)), float(np.percentile(vals, 84)),
                            spec.lo, spec.hi, at))
    for name in SHAPE_KNOBS:
        if name not in names:
            v = before_knobs[name]
            spec = KNOB_SPECS[name]
            fits.append(KnobFit(name, v, v, 0.0, v, v, spec.lo, spec.hi, False, False))
    return fits


def _count_fit(count_name: str, count_ref: float, count_value: float, f_best: float,
               count_estimates) -> KnobFit:
    """The count knob's KnobFit (its range: COUNT_FACTOR_RANGE times the scenario's value)."""
    lo_f, hi_f = COUNT_FACTOR_RANGE
    cvals = count_estimates if count_estimates is not None else np.array([count_value])
    count_at = bool(f_best <= lo_f * (1 + 1e-6) or f_best >= hi_f * (1 - 1e-6))
    return KnobFit(count_name, count_ref, count_value, float(cvals.std()),
                   float(np.percentile(cvals, 16)), float(np.percentile(cvals, 84)),
                   lo_f * count_ref, hi_f * count_ref, count_at)


def _fit_warnings(flat: bool, knob_fits) -> list[str]:
    warnings = []
    if flat:
        warnings.append("calibrate: the statistic is flat along some combination of knobs near "
                        "the optimum; the uncertainties along it are lower bounds")
    for k in knob_fits:
        if k.at_bound:
            warnings.append(f"calibrate: {k.name} ended on an end of its search range "
                            f"[{k.lo:.4g}, {k.hi:.4g}] at {k.value:.4g}: the data ask for more "
                            f"than this knob can give (check the observations and the scenario)")
    return warnings


def _bootstrap_estimates(names: tuple, design: Design, count_name: str, count_estimates) -> dict:
    """{knob: its bootstrap resamples' values (B,)}, the count knob's too; {} without a bootstrap."""
    out = {}
    if design.estimates is not None:
        out.update({n: KNOB_SPECS[n].from_u(design.estimates[:, i]) for i, n in enumerate(names)})
    if count_estimates is not None:
        out[count_name] = count_estimates
    return out


def _report_table(observed: Observed, bands: dict, N: int, before: dict, after: dict) -> dict:
    """The report's table: the summary numbers of the observed objects, before and after."""
    observed_table = describe(observed.values, bands, observed.elements.bstar)
    observed_table["count"] = N
    return {"observed": observed_table,
            "before": {**{k: before[k] for k in observed_table if k in before},
                       "count": before["model_count"], "after_breakup": before["after_breakup"]},
            "after": {**{k: after[k] for k in observed_table if k in after},
                      "count": after["model_count"], "after_breakup": after["after_breakup"]}}


def _round4(x: float) -> float:
    return float(f"{x:.4g}")
