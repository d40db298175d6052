"""The per-target summary of a run, for the CLI's table, ``--json`` and the summary page.

The mean expected collisions of R realizations is a Monte Carlo estimate: its standard error is
s / sqrt(R), s the sample standard deviation of the realizations' expected collisions (the
central limit theorem; realizations are independent draws of the breakup). The realizations a
relative precision eps needs follow from the same scatter: the smallest R with
s / sqrt(R) <= eps * mean, i.e. R = ceil((s / (eps * mean))^2) (about 68 % of such runs land
within +-eps of the converged mean; for 95 %, four times as many).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from .runresults import RunResults

__all__ = ["PRECISION_GOAL", "mean_and_error", "realizations_for", "summary", "uncertainty_text"]

#: The relative precision "realizations needed" is quoted for: +-10 % (one standard error).
PRECISION_GOAL = 0.10


def mean_and_error(values: Any) -> tuple[float, float | None]:
    """(mean, standard error of the mean) of the last axis' samples; the error is None for one
    sample (no scatter to estimate it from)."""
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[-1]
    mean = float(x.mean()) if n else float("nan")
    if n < 2:
        return mean, None
    return mean, float(x.std(ddof=1) / math.sqrt(n))


def realizations_for(values: Any, goal: float = PRECISION_GOAL) -> int | None:
    """Realizations for a standard error of `goal` x the mean, from these samples' scatter;
    None where it cannot be said (fewer than 2 samples, or a mean of 0)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2 or not x.mean() > 0:
        return None
    s = float(x.std(ddof=1))
    return max(1, math.ceil((s / (goal * float(x.mean()))) ** 2 - 1e-9))


def summary(results: RunResults) -> dict[str, dict[str, Any]]:
    """Per-target summary for the CLI and `--json`: {target name: {key: value}}.

    Keys: n_realizations (R held), population (True for a [population] run: one realization of
    fixed objects, so no sampling error), p_mean, p_median, p_p05, p_p95 (collision probability,
    unitless, across realizations), lambda_mean (mean expected collisions), lambda_stderr (its
    standard error, None for R = 1), lambda_rel_error (stderr / mean, None where undefined),
    realizations_for_10pct (realizations for a standard error of 10 % of the mean, from this
    run's scatter; None where undefined), peak_rate_time_h (centre of the time bin with the
    highest mean collision rate, hours since analysis start; None when every rate is 0),
    peak_rate_utc (that time, ISO 8601 UTC, or None) and peak_rate_per_h (that mean rate,
    expected collisions per hour). Plain Python values, JSON-serializable.
    """
    if not isinstance(results, RunResults):
        raise InputError(f"summary: results is a {type(results).__name__}; expected RunResults")
    P = results.collision_probability
    lam = results.expected_collisions
    width_h = np.diff(results.time_edges_s) / 3600.0
    mean_rate = results.expected_collisions_by_time.mean(axis=1) / width_h  # (K, T) 1/h
    centres_h = results.time_centers_s / 3600.0
    centres_utc = results.time_utc
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(results.target_names.tolist()):
        p05, p50, p95 = np.percentile(P[k], [5.0, 50.0, 95.0])
        j = int(np.argmax(mean_rate[k]))
        peak = float(mean_rate[k, j])
        mean, err = mean_and_error(lam[k])
        out[name] = {
            "n_realizations": results.n_realizations_held,
            "population": results.attrs.get("cloud") == "population",
            "p_mean": float(P[k].mean()),
            "p_median": float(p50),
            "p_p05": float(p05),
            "p_p95": float(p95),
            "lambda_mean": mean,
            "lambda_stderr": err,
            "lambda_rel_error": err / mean if err is not None and mean > 0 else None,
            "realizations_for_10pct": realizations_for(lam[k]),
            "peak_rate_time_h": float(centres_h[j]) if peak > 0 else None,
            "peak_rate_utc": (np.datetime_as_string(centres_utc[j], unit="s") + "Z") if peak > 0 else None,
            "peak_rate_per_h": peak,
        }
    return out


def uncertainty_text(entry: dict[str, Any]) -> str:
    """'1.23e-3 +- 0.08e-3 (standard error, 6.5 %); about 130 realizations for +-10 %' from a
    `summary` entry: what the CLI and the summary page print beside the mean."""
    mean, err = entry["lambda_mean"], entry["lambda_stderr"]
    if entry.get("population"):
        return f"{mean:.3g} (a fixed population: no sampling error)"
    if err is None:
        return f"{mean:.3g} (1 realization: no scatter to estimate an error from)"
    rel = entry["lambda_rel_error"]
    text = f"{mean:.3g} ± {err:.2g} (standard error" + (f", {100 * rel:.2g} %)" if rel is not None else ")")
    need = entry["realizations_for_10pct"]
    if need is not None:
        text += f"; ±{100 * PRECISION_GOAL:g} % needs about {need:,} realization{'' if need == 1 else 's'}"
    return text
