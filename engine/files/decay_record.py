"""Reentry dates of cataloged objects: a CSV of ``norad,decay_date`` rows (a header first).

``decay_date`` is a calendar date (YYYY-MM-DD, UTC) or ``in orbit`` where the catalog recorded no
decay. The record that engine/data/cosmos1408_decay_even.csv holds (517 COSMOS 1408 fragments,
decays recorded through 2026-06-19) is used as validation: docs/atmosphere.md.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os

import numpy as np

from ..errors import InputError
from ..timeutil import parse_utc

IN_ORBIT = "in orbit"


def read_decay_record(path) -> dict[int, float]:
    """NORAD number -> Julian date (00:00 UTC) of the decay day, or inf for ``in orbit``."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the decay record: {getattr(e, 'strerror', None) or e}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip().lower() for c in rows[0]] != ["norad", "decay_date"]:
        raise InputError(f"{path}: line 1: expected the header 'norad,decay_date'")
    out: dict[int, float] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise InputError(f"{path}: line {lineno}: {len(row)} fields; expected norad,decay_date")
        norad, date = row[0].strip(), row[1].strip()
        if not norad.isdigit():
            raise InputError(f"{path}: line {lineno}: norad {norad!r} is not a catalog number")
        if norad and int(norad) in out:
            raise InputError(f"{path}: line {lineno}: norad {norad} appears twice")
        if date.lower() == IN_ORBIT:
            out[int(norad)] = float("inf")
            continue
        try:
            _dt.date.fromisoformat(date)
        except ValueError:
            raise InputError(f"{path}: line {lineno}: decay_date {date!r} is neither YYYY-MM-DD "
                             f"nor '{IN_ORBIT}'") from None
        jd, fr = parse_utc(date + "T00:00:00Z", where=f"{path}: line {lineno}: decay_date")
        out[int(norad)] = jd + fr
    if not out:
        raise InputError(f"{path}: no rows")
    return out


def lifetimes_days(record: dict[int, float], norads, start_jd: float) -> np.ndarray:
    """Days from ``start_jd`` to each object's recorded decay (inf: still in orbit; NaN: not in
    the record), float64 (n,)."""
    return np.array([record.get(int(k), np.nan) - start_jd for k in norads], dtype=np.float64)


def compare_lifetimes(predicted_days, actual_days, survival_days, horizon_days: float) -> dict:
    """Predicted against recorded lifetimes (days after a common start) of the same objects.

    predicted_days: (n,) inf where the prediction keeps the object up past ``horizon_days``.
    actual_days:    (n,) inf for ``in orbit``, NaN where unknown (those objects are left out).
    Returns counts, the median and 10th/90th percentiles of predicted/actual lifetime (objects
    with a recorded decay after the start; a prediction past the horizon counts as the horizon,
    a lower bound) and, at each of ``survival_days``, the share of objects still up, predicted
    and real, and their ratio.
    """
    p = np.asarray(predicted_days, dtype=np.float64)
    a = np.asarray(actual_days, dtype=np.float64)
    known = ~np.isnan(a)
    decayed = known & np.isfinite(a) & (a > 0)
    ratio = np.minimum(p[decayed], horizon_days) / a[decayed]
    out = {"n_objects": int(known.sum()), "n_with_decay": int(decayed.sum()),
           "lifetime_ratio_median": float(np.median(ratio)),
           "lifetime_ratio_p10": float(np.percentile(ratio, 10)),
           "lifetime_ratio_p90": float(np.percentile(ratio, 90)), "survival": []}
    for d in survival_days:
        pred, real = float(np.mean(p[known] > d)), float(np.mean(a[known] > d))
        out["survival"].append({"days": float(d), "predicted": pred, "real": real,
                                "ratio": pred / real if real > 0 else float("nan")})
    return out
