"""Uncertainties and ablation of a calibration (docs/calibration.md §5).

The model is simulated once at design points around the optimum (each knob's axis at ±h and
±2h, the four corners of every pair of axes at ±h, h the step that raises the statistic by about
DESIGN_RISE on that axis: `design_steps`); every bootstrap resample (of the observed objects, the
model's realizations and a Poisson draw of the catalog count) is evaluated at every design point
with the resample's weights (the model samples are shared: common random numbers); a quadratic
is fitted to each resample's surface and its minimum found by one Newton step on the full data's
curvature (`_bootstrap_offsets` says why): `bootstrap_design`. The ablation refits with each
knob held at its scenario value (`ablation_refits`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .knobs import COUNT_FACTOR_RANGE, KNOB_SPECS
from .search import Objective, nelder_mead

#: Bootstrap seed (fixed: the reported uncertainties are reproducible).
BOOTSTRAP_SEED = 20220111

#: The design's step on each knob's axis is where the statistic has risen by about this much:
#: the scale on which the bootstrap's estimates spread (a step far smaller leaves the surface to
#: the noise of the few fragments that cross the decay line; far larger, to its non-quadratic
#: shape).
DESIGN_RISE = 2.0


def design_steps(objective, u, T0: float, bounds: list, h0: float = 0.1,
                  tries: int = 4) -> np.ndarray:
    """Per knob, a step h_i (u units) with ½(T(u + h_i) + T(u − h_i)) − T0 ≈ DESIGN_RISE
    (within a factor 2; at most `tries` pairs of evaluations per knob), kept within a quarter of
    the knob's range. (Sizing it by the flatter side instead, on catalogs drawn from the model,
    narrowed the spread of log10 Δv's bootstrap further from its true scatter.)"""
    h = np.full(len(u), h0)
    lower, upper = np.array(bounds).T
    for i, (lo, hi) in enumerate(bounds):
        for _ in range(tries):
            e = np.zeros(len(u))
            e[i] = h[i]
            rise = 0.5 * (objective(np.clip(u + e, lower, upper))
                          + objective(np.clip(u - e, lower, upper))) - T0
            if rise <= 0.0:
                h[i] *= 3.0
            else:
                ratio = DESIGN_RISE / rise
                if 0.5 <= ratio <= 2.0:
                    break
                h[i] *= min(max(math.sqrt(ratio), 0.25), 4.0)
            h[i] = min(h[i], 0.25 * (hi - lo))
    return h


def _quadratic_design(k: int) -> np.ndarray:
    """Design offsets in units of the steps h: the centre, ±1 and ±2 on each axis, and the four
    corners (±1, ±1) of each pair of axes: 1 + 4k + 2k(k−1) points, (P, k). The axes give the
    profiles; with the corners a full quadratic in k variables is over-determined."""
    rows = [np.zeros(k)]
    for i in range(k):
        for s in (-2.0, -1.0, 1.0, 2.0):
            e = np.zeros(k)
            e[i] = s
            rows.append(e)
    for i in range(k):
        for j in range(i + 1, k):
            for si in (1.0, -1.0):
                for sj in (1.0, -1.0):
                    e = np.zeros(k)
                    e[i], e[j] = si, sj
                    rows.append(e)
    return np.array(rows)


def _quadratic_features(d: np.ndarray) -> np.ndarray:
    """[1, d_i, d_i·d_j (i <= j)] of offsets d (P, k): (P, 1 + k + k(k+1)/2)."""
    P, k = d.shape
    cols = [np.ones(P)] + [d[:, i] for i in range(k)]
    cols += [d[:, i] * d[:, j] for i in range(k) for j in range(i, k)]
    return np.stack(cols, axis=1)


def _quadratic_fit(d: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares quadratic T ≈ c + g·d + ½ d·H·d through points d (P, k) for every column
    of T (P, B): gradients g (B, k) and Hessians H (B, k, k) at d = 0."""
    P, k = d.shape
    coef, *_ = np.linalg.lstsq(_quadratic_features(d), T, rcond=None)
    B = T.shape[1]
    g = coef[1:1 + k].T.copy()
    H = np.empty((B, k, k))
    c = 1 + k
    for i in range(k):
        for j in range(i, k):
            H[:, i, j] = H[:, j, i] = coef[c] * (2.0 if i == j else 1.0)
            c += 1
    return g, H


def _positive_definite(H: np.ndarray) -> tuple[np.ndarray, bool]:
    """H (k, k) with its eigenvalues floored at 1e-3 of the largest; True if it was already
    positive definite."""
    w, V = np.linalg.eigh(0.5 * (H + H.T))
    floor = 1e-3 * max(float(np.abs(w).max()), 1e-300)
    ok = bool(w.min() > floor)
    return (V * np.maximum(w, floor)) @ V.T, ok


def _bootstrap_offsets(d: np.ndarray, T_full: np.ndarray, T_boot: np.ndarray):
    """Each bootstrap resample's minimum, as an offset from the full data's (d units), by one
    Newton step on the full data's quadratic surface: −H⁻¹(g_b − g), with g_b the gradient of
    the resample's surface and H the full data's Hessian (made positive definite where noise
    left it flat). A per-resample Hessian would be fitted from the same few points as its
    gradient, and a noisy, sometimes indefinite one moves the minimum far more than the data do.
    d: (P, k) design offsets; T_full: (P,); T_boot: (P, B). Returns (offsets (B, k), H was
    positive definite)."""
    g_full, H_full = _quadratic_fit(d, T_full[:, None])
    g_b, _ = _quadratic_fit(d, T_boot)
    H, ok = _positive_definite(H_full[0])
    return -np.linalg.solve(H, (g_b - g_full).T).T, ok


@dataclass
class Design:
    """The model sampled at the design points around the optimum, and the bootstrap on them.

    offsets (P, k): the design in units of the steps h (_quadratic_design); points (P, k): the
    same in u; T_full (P,): the statistic of the full data at each; samples: the ModelSample at
    each; estimates (B, k): each resample's minimum in u (None without a bootstrap); flat: the
    full data's curvature had to be made positive definite; boot_N (B,): each resample's count.
    """

    offsets: np.ndarray
    points: np.ndarray
    T_full: np.ndarray
    samples: list
    estimates: np.ndarray | None
    flat: bool
    boot_N: np.ndarray

    def profiles(self, names) -> dict:
        """Per knob, (values, T) along its own axis of the design, in increasing value."""
        out = {}
        for i, name in enumerate(names):
            on_axis = [p for p, d in enumerate(self.offsets) if np.all(np.delete(d, i) == 0)]
            xs = KNOB_SPECS[name].from_u(self.points[on_axis, i])
            order = np.argsort(xs)
            out[name] = (xs[order], self.T_full[on_axis][order])
        return out

    def count_estimates(self, u_best: np.ndarray, exponent: float, count_ref: float):
        """The count knob of each bootstrap resample (B,), solved at its shape estimate with its
        N; None without a bootstrap. The model count at an estimate is a linear interpolation of
        the log count over the design (fragments and remnants apart)."""
        if self.estimates is None:
            return None
        X = np.column_stack([np.ones(len(self.points)), self.points - u_best])
        frag = np.array([np.mean(s.in_orbit - s.in_orbit_remnants) for s in self.samples])
        rem = np.array([np.mean(s.in_orbit_remnants) for s in self.samples])
        cf, *_ = np.linalg.lstsq(X, np.log(np.maximum(frag, 1e-300)), rcond=None)
        Xe = np.column_stack([np.ones(len(self.estimates)), self.estimates - u_best])
        frag_b, rem_b = np.exp(Xe @ cf), float(rem.mean())
        lo_f, hi_f = COUNT_FACTOR_RANGE
        return np.clip((np.maximum(self.boot_N - rem_b, 0.0) / frag_b) ** (1.0 / exponent),
                       lo_f, hi_f) * count_ref


def bootstrap_design(objective: Objective, u_best: np.ndarray, h: np.ndarray, bounds: list,
                     bootstrap: int, total_best: float, *, n_obs: int, cataloged: int,
                     realizations: int) -> Design:
    """The design around u_best with steps h (u units) and `bootstrap` resamples on it (0: the
    design alone, for the profiles and the count)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    B, R = max(bootstrap, 1), realizations
    boot_w = rng.multinomial(n_obs, np.full(n_obs, 1.0 / n_obs), size=B) / n_obs
    boot_N = rng.poisson(cataloged, size=B).astype(np.float64)
    # The model's realizations are resampled too: its Monte Carlo noise moves the optimum along
    # the flatter directions as much as the observations' does (R = 12 and 24 differ by that).
    boot_r = rng.multinomial(R, np.full(R, 1.0 / R), size=B).astype(np.float64)
    stat = objective.stat
    design = _quadratic_design(len(u_best))
    T_full, T_boot, samples, points = [], [], [], []
    for done, d in enumerate(design, start=1):
        u = np.clip(u_best + d * h, [b[0] for b in bounds], [b[1] for b in bounds])
        smp = objective.sample(objective.knobs(u))
        T_full.append(stat.evaluate(smp, objective.count_factor(smp), objective.exponent)["total"])
        if bootstrap:
            wy = boot_r[:, smp.realization]          # (B, m): each fragment its realization's
            wy /= wy.sum(axis=1, keepdims=True)
            T_boot.append(n_obs * stat.distances(smp.values, boot_w, wy).sum(axis=-1))
        samples.append(smp)
        points.append(u)
        objective.on_progress("design", done, len(design), total_best)
    T_full, points = np.array(T_full), np.array(points)
    estimates, flat = None, False
    if bootstrap:
        offsets, convex = _bootstrap_offsets((points - u_best) / h, T_full, np.array(T_boot))
        estimates = u_best[None, :] + offsets * h[None, :]
        flat = not convex
    return Design(design, points, T_full, samples, estimates, flat, boot_N)


def ablation_refits(objective: Objective, names: tuple, before_knobs: dict, u_best: np.ndarray,
                    max_evaluations: int) -> dict:
    """Each fitted shape knob held at the scenario's value, the others refitted from u_best:
    {knob: {"total", "distribution", "knobs"}}. The evaluations are added to objective's."""
    out = {}
    for i, name in enumerate(names):
        others = tuple(n for n in names if n != name)
        sub = Objective(objective.scenario, others, {**objective.fixed, name: before_knobs[name]},
                        objective.reals, objective.min_size_m, objective.observed, objective.stat,
                        objective.exponent, objective.count_range, objective.device,
                        objective.on_progress, max_evaluations)
        sub.stage = f"without {name}"
        ub = [KNOB_SPECS[k].bounds for k in others]
        u_sub = nelder_mead(sub, np.delete(u_best, i), ub, step=0.3, max_evaluations=max_evaluations)
        total_sub, parts_sub, _ = sub.evaluate(u_sub)
        out[name] = {"total": total_sub, "distribution": parts_sub["distribution"],
                     "knobs": sub.knobs(u_sub)}
        objective.evaluations += sub.evaluations
    return out
