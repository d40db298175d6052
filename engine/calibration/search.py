"""The search (docs/calibration.md §4): the objective over the shape knobs with common random
numbers, the count knob solved in closed form for every candidate, and Nelder-Mead
(scipy.optimize.minimize, an optional dependency) restarted once from its optimum."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..errors import FragriskError
from .knobs import KNOB_SPECS
from .model import ModelSample, simulate

Progress = Callable[[str, int, int, float], None]


def no_progress(stage: str, done: int, total: int, best: float) -> None:
    pass


class Objective:
    """The fit's objective over u = log(shape knob values) with common random numbers; counts
    evaluations and keeps the best."""

    def __init__(self, scenario, names, fixed, reals, min_size_m, observed, stat, exponent,
                 count_range, device, on_progress, stage_total):
        self.scenario, self.names, self.fixed = scenario, names, fixed
        self.reals, self.min_size_m, self.observed = reals, min_size_m, observed
        self.stat, self.exponent, self.count_range = stat, exponent, count_range
        self.device, self.on_progress = device, on_progress
        self.evaluations = 0
        self.best = (math.inf, None)
        self.stage, self.stage_total = "fit", stage_total

    def knobs(self, u) -> dict:
        out = dict(self.fixed)
        out.update({name: float(KNOB_SPECS[name].from_u(x)) for name, x in zip(self.names, u)})
        return out

    def sample(self, knobs: dict) -> ModelSample:
        return simulate(self.scenario, knobs, self.reals, self.min_size_m, self.observed.epoch_jd,
                        self.observed.epoch_fr, self.device)

    def count_factor(self, sample: ModelSample, cataloged: float | None = None) -> float:
        """The count knob's factor (on the scenario's value) that makes the model count equal N,
        within COUNT_FACTOR_RANGE."""
        N = self.stat.cataloged if cataloged is None else cataloged
        frag = float(np.mean(sample.in_orbit - sample.in_orbit_remnants))
        rem = float(np.mean(sample.in_orbit_remnants))
        lo, hi = self.count_range
        if frag <= 0.0:
            return hi
        f = (max(N - rem, 0.0) / frag) ** (1.0 / self.exponent)
        return float(min(max(f, lo), hi))

    def evaluate(self, u) -> tuple[float, dict, ModelSample]:
        knobs = self.knobs(u)
        sample = self.sample(knobs)
        f = self.count_factor(sample)
        parts = self.stat.evaluate(sample, f, self.exponent)
        parts["count_factor"] = f
        self.evaluations += 1
        if parts["total"] < self.best[0]:
            self.best = (parts["total"], np.array(u, dtype=np.float64))
        self.on_progress(self.stage, self.evaluations, self.stage_total, self.best[0])
        return parts["total"], parts, sample

    def __call__(self, u) -> float:
        return self.evaluate(u)[0]


def scipy_minimize():
    """scipy.optimize.minimize, or FragriskError (one line) where SciPy is not installed."""
    try:
        from scipy.optimize import minimize
    except ImportError:
        raise FragriskError("calibrate: SciPy is not installed; install it with: "
                            "pip install 'fragrisk[calibrate]'") from None
    return minimize


def nelder_mead(objective: Objective, u0: np.ndarray, bounds: list, step: float,
              max_evaluations: int) -> np.ndarray:
    """Nelder-Mead from u0 with an initial simplex of `step` along each axis (inward at a bound),
    then once more from the optimum with a simplex a third as large."""
    minimize = scipy_minimize()
    u = np.array(u0, dtype=np.float64)
    for size in (step, step / 3.0):
        simplex = [u.copy()]
        for i, (lo, hi) in enumerate(bounds):
            v = u.copy()
            v[i] = u[i] + size if u[i] + size <= hi else u[i] - size
            simplex.append(v)
        res = minimize(objective, u, method="Nelder-Mead", bounds=bounds,
                       options={"initial_simplex": np.array(simplex), "xatol": 2e-3,
                                "fatol": 1e-3, "maxfev": max_evaluations})
        u = np.array(res.x, dtype=np.float64)
    best = objective.best[1]
    return u if best is None else best
