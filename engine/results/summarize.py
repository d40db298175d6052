"""The per-target summary of a run, for the CLI's table and ``--json``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .runresults import RunResults

__all__ = ["summary"]


def summary(results: RunResults) -> dict[str, dict[str, Any]]:
    """Per-target summary for the CLI and `--json`: {target name: {key: value}}.

    Keys: n_realizations (R held), p_mean, p_median, p_p05, p_p95 (collision probability,
    unitless, across realizations), lambda_mean (mean expected collisions), peak_rate_time_h
    (centre of the time bin with the highest mean collision rate, hours since analysis start;
    None when every rate is 0) and peak_rate_per_h (that mean rate, expected collisions per
    hour). Plain Python floats, JSON-serializable.
    """
    if not isinstance(results, RunResults):
        raise InputError(f"summary: results is a {type(results).__name__}; expected RunResults")
    P = results.collision_probability
    lam = results.expected_collisions
    width_h = np.diff(results.time_edges_s) / 3600.0
    mean_rate = results.expected_collisions_by_time.mean(axis=1) / width_h  # (K, T) 1/h
    centres_h = results.time_centers_s / 3600.0
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(results.target_names.tolist()):
        p05, p50, p95 = np.percentile(P[k], [5.0, 50.0, 95.0])
        j = int(np.argmax(mean_rate[k]))
        peak = float(mean_rate[k, j])
        out[name] = {
            "n_realizations": results.n_realizations_held,
            "p_mean": float(P[k].mean()),
            "p_median": float(p50),
            "p_p05": float(p05),
            "p_p95": float(p95),
            "lambda_mean": float(lam[k].mean()),
            "peak_rate_time_h": float(centres_h[j]) if peak > 0 else None,
            "peak_rate_per_h": peak,
        }
    return out
