"""`[analysis] atmosphere = "nrlmsis"` in a run: the fragments' SGP4 tables renewed every drag step.

The estimator (engine.physics.risk and kernels/risk.cu) reads one SGP4 coefficient table per
object and time chunk. With the real atmosphere the window's chunks end at every drag step
(`split_chunks`), and before each step `DragSteps.begin_step` gives every object still up the
table of engine.atmosphere.drag's coupling: its mean elements at the step's start (re-fitted at
the previous step's end), B*_eff = B*_true x R x f, where R is the ratio of the real
orbit-averaged drag to SGP4's own and f the realization's density factor (`density_factors`).
Both devices get these same host-made tables, so the CUDA path computes what the NumPy path
computes, with the kernels unchanged. docs/atmosphere.md.

B*_true: a fragment's B* from its A/m and Cd (engine.physics.fit.bstar_from_area_to_mass, the
cloud's own) is its ballistic coefficient in B* units; a [population]'s element sets' B* is
converted at their epochs (engine.atmosphere.drag.true_bstar_from_element_set).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..atmosphere import drag
from ..physics import sgp4_numpy as sgp4

#: Spawn-key tag of the density factors' stream: realization r of seed s draws its factor from
#: default_rng(SeedSequence(s, spawn_key=(r, DENSITY_STREAM))), apart from the breakup's
#: stream (spawn_key (r,)): adding density_sigma changes no fragment.
DENSITY_STREAM = 0xD5


@dataclasses.dataclass(frozen=True)
class RunAtmosphere:
    """The atmosphere of a run: engine.atmosphere.drag.Atmosphere and the density factor's
    log-normal sigma."""

    air: drag.Atmosphere
    density_sigma: float = 0.0


def density_factors(seed: int, realizations, sigma: float) -> np.ndarray:
    """One log-normal density factor per realization, exp(sigma N(0, 1)), median 1, from
    (seed, realization) alone (so the same wherever the realization is computed): (R,)."""
    out = np.ones(len(realizations))
    if sigma > 0:
        for k, r in enumerate(np.asarray(realizations, dtype=np.int64)):
            rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(r), DENSITY_STREAM)))
            out[k] = float(np.exp(sigma * rng.standard_normal()))
    return out


def split_chunks(chunks, step_s: float, drag_step_days: float) -> tuple:
    """The window's time chunks (s0, s1) split so that every drag step starts a chunk."""
    per_step = max(1, int(round(drag_step_days * 86400.0 / step_s)))
    out = []
    for s0, s1 in chunks:
        cuts = list(range((s0 // per_step + 1) * per_step, s1, per_step))
        bounds = [s0, *cuts, s1]
        out.extend(zip(bounds[:-1], bounds[1:]))
    return tuple(out), per_step


def _elements_of_table(table) -> dict:
    """The mean elements at epoch held in SGP4 tables (Kozai mean motion recovered)."""
    row = {name: table[k] for k, name in enumerate(sgp4.COEFFICIENTS)}
    return {"no_kozai": sgp4.kozai_mean_motion(row["no_unkozai"], row["ecco"], np.cos(row["inclo"])),
            "ecco": row["ecco"].copy(), "inclo": row["inclo"].copy(), "nodeo": row["nodeo"].copy(),
            "argpo": row["argpo"].copy(), "mo": row["mo"].copy()}


class DragSteps:
    """The drag-step state of one batch's objects (their ObjectBatch's table and offsets are
    renewed in place at each step's start)."""

    def __init__(self, atmosphere: RunAtmosphere, objs, start_jd: float, step_min: float,
                 seed: int, population_epochs_jd=None):
        self.atmosphere = atmosphere
        self.objs = objs
        self.start_jd = float(start_jd)
        self.step_min = float(step_min)
        table = atmosphere.air.table
        self.elements = _elements_of_table(objs.table)
        bstar = objs.table[sgp4.COEFFICIENTS.index("bstar")].copy()
        if population_epochs_jd is not None:
            bstar = drag.true_bstar_from_element_set(self.elements, bstar, population_epochs_jd, table)
        realizations, rows = np.unique(objs.realization, return_inverse=True)
        factor = density_factors(seed, realizations, atmosphere.density_sigma)[rows]
        self.bstar_true = bstar * factor
        # From the epochs (the event's, or the element sets') to the start, through drag steps.
        at_start = drag.advance_to_start(self.elements, self.bstar_true, objs.offset_min,
                                         self.start_jd, self.step_min, table)
        self.elements = at_start.elements
        self.tsince0 = at_start.tsince_min  # at the current step's start
        #: (n,) bool: objects found below the decay altitude before the start
        self.down_at_start = at_start.down

    def begin_step(self, t0_min: float, t1_min: float, live) -> None:
        """Tables of the objects ``live`` for the step [t0, t1] (minutes after the start)."""
        if live.size == 0:
            return
        el = {k: a[live] for k, a in self.elements.items()}
        coef, _ = drag.step_table(el, self.bstar_true[live], self.tsince0[live],
                                  self.start_jd + 0.5 * (t0_min + t1_min) / 1440.0, self.atmosphere.air.table)
        self.objs.table[:, live] = coef
        # The estimator takes tsince = offset_min + times_min: the step starts at t0.
        self.objs.offset_min[live] = self.tsince0[live] - t0_min

    def end_step(self, t0_min: float, t1_min: float, live) -> np.ndarray:
        """Re-fit the objects ``live`` at the step's end (engine.atmosphere.drag.step_end);
        returns those found below the decay altitude there."""
        if live.size == 0:
            return live
        end = drag.step_end(np.ascontiguousarray(self.objs.table[:, live]), self.tsince0[live] + (t1_min - t0_min))
        self.tsince0[live] += t1_min - t0_min
        dest = live[end.refitted]
        for name in drag.ELEMENT_NAMES:
            self.elements[name][dest] = end.elements[name]
        self.tsince0[dest] = 0.0
        return live[end.down]
