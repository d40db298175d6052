"""The statistic T = n_obs·Σ_k D_k + (C − N)²/N of a model sample against the observed
(docs/calibration.md §3: why the energy distance), and the summary numbers of the report's
table (`describe`)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .model import ModelSample


def energy_distance_1d(x, y, x_weights=None, y_weights=None) -> np.ndarray:
    """One-dimensional energy distance 2E|X−Y| − E|X−X'| − E|Y−Y'| = 2∫(F−G)² dt between the
    weighted samples x (n,) and y (m,), in the units of x and y.

    x_weights, y_weights: None (equal weights), or (B, n) and (B, m) rows of weights summing to
    1 (bootstrap resamples; given one, the other may be None) for B distances at once. Returns a
    float (both None) or (B,). The integral runs over the merged sorted sample: F − G is
    constant between consecutive values.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, m = x.size, y.size
    if n == 0 or m == 0:
        raise ValueError("energy_distance_1d needs non-empty samples")
    z = np.concatenate([x, y])
    order = np.argsort(z, kind="stable")
    gaps = np.diff(z[order])
    if x_weights is None and y_weights is None:
        w = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])[order]
        diff = np.cumsum(w)[:-1]
        return float(2.0 * np.dot(diff * diff, gaps))
    B = (x_weights if x_weights is not None else y_weights).shape[0]
    w = np.empty((B, n + m))
    w[:, :n] = 1.0 / n if x_weights is None else np.asarray(x_weights, dtype=np.float64)
    w[:, n:] = -1.0 / m if y_weights is None else -np.asarray(y_weights, dtype=np.float64)
    w = w[:, order]
    diff = np.cumsum(w, axis=1)[:, :-1]
    diff *= diff
    return 2.0 * (diff @ gaps)


class Statistic:
    """T = n_obs·Σ_k D_k + (C − N)²/N of a model sample against the observed (docs/calibration.md §3).

    observed_values: (n, 4) MARGINALS. cataloged: N. The standardization (the observed
    interquartile range / 1.349 per marginal, and the node taken relative to the observed circular
    mean so that it never wraps) is fixed here, from all observed objects, for every candidate and
    every bootstrap resample.
    """

    def __init__(self, observed_values: np.ndarray, cataloged: float):
        v = np.asarray(observed_values, dtype=np.float64)
        self.n = v.shape[0]
        self.cataloged = float(cataloged)
        node = np.radians(v[:, 3])
        self.node_ref_deg = math.degrees(math.atan2(np.sin(node).mean(), np.cos(node).mean()))
        z = self._relative(v)
        q75, q25 = np.percentile(z, [75, 25], axis=0)
        scale = (q75 - q25) / 1.349
        # A degenerate marginal (all observed equal) keeps unit scale rather than dividing by 0.
        self.scale = np.where(scale > 0, scale, 1.0)
        self.observed = z / self.scale

    def _relative(self, values: np.ndarray) -> np.ndarray:
        z = np.array(values, dtype=np.float64, copy=True)
        z[:, 3] = (z[:, 3] - self.node_ref_deg + 180.0) % 360.0 - 180.0
        return z

    def standardize(self, values: np.ndarray) -> np.ndarray:
        return self._relative(values) / self.scale

    def distances(self, model_values: np.ndarray, weights=None, model_weights=None) -> np.ndarray:
        """D_k (4,), or (B, 4) for (B, n) observed and/or (B, m) model weights."""
        y = self.standardize(model_values)
        cols = [energy_distance_1d(self.observed[:, k], y[:, k], weights, model_weights)
                for k in range(4)]
        return np.stack(cols, axis=-1)

    def count_term(self, count: float, cataloged: float | None = None) -> float:
        N = self.cataloged if cataloged is None else cataloged
        return (count - N) ** 2 / N

    def evaluate(self, sample: ModelSample, count_factor: float, exponent: float) -> dict:
        """{"total", "distribution", "count", "distances" (4,), "model_count"}."""
        if sample.values.shape[0] == 0:
            raise InputError("calibrate: no model fragment is left in orbit at the observation "
                             "epoch with these knobs")
        d = self.distances(sample.values)
        count = sample.count(count_factor, exponent)
        dist = self.n * float(d.sum())
        c = self.count_term(count)
        return {"total": dist + c, "distribution": dist, "count": c, "distances": d,
                "model_count": count}


# --- summary numbers (the table of the report) ---------------------------------------------------


def band_km(target) -> tuple[float, float]:
    """A target's altitude band for the crossing share: its mean perigee and apogee rounded
    outward to whole 5 km, so that the band does not hang on the last digits of one element set
    (the ISS of 2021-11-15: 418-424 km -> 415-425 km)."""
    el = target.elements
    return (5.0 * math.floor(float(el.perigee_km[0]) / 5.0),
            5.0 * math.ceil(float(el.apogee_km[0]) / 5.0))


def describe(values: np.ndarray, bands: dict, bstar=None) -> dict:
    """The summary numbers of MARGINALS values (m, 4): apogee and perigee medians (km), the share
    crossing each band (perigee below its top and apogee above its bottom), the node's 5th and
    95th percentiles (deg, on the cloud's own branch so that a wrap at 360 is harmless), and,
    given B* (m,), its median (1/earth radii; not fitted: a check of drag_scale against the drag
    the catalog's own element sets carry)."""
    v = np.asarray(values, dtype=np.float64)
    node = np.radians(v[:, 3])
    ref = math.degrees(math.atan2(np.sin(node).mean(), np.cos(node).mean()))
    rel = (v[:, 3] - ref + 180.0) % 360.0 - 180.0
    p05, p95 = np.percentile(rel, [5, 95]) + ref
    out = {"apogee_median_km": float(np.median(v[:, 0])),
           "perigee_median_km": float(np.median(v[:, 1])),
           "inclination_median_deg": float(np.median(v[:, 2])),
           "node_p05_deg": float(p05 % 360.0), "node_p95_deg": float(p95 % 360.0)}
    for name, (lo, hi) in bands.items():
        out[f"band_share_{name}"] = float(np.mean((v[:, 1] < hi) & (v[:, 0] > lo)))
    if bstar is not None:
        out["bstar_median"] = float(np.median(bstar))
    return out
