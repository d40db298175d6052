"""The model side of calibration: realizations of the breakup with given knobs, taken to the
common epoch, the fragments still in orbit there (`simulate` -> `ModelSample`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import cloud as cloud_mod
from ..physics import sgp4_numpy as sgp4
from ..scenario import Scenario
from ..timeutil import minutes_between
from .compare import in_orbit, mean_orbits, stack_marginals, to_host


@dataclass
class ModelSample:
    """Model fragments in orbit at the epoch, of R realizations (struct of arrays, m fragments).

    values: (m, 4) MARGINALS. realization: (m,) int64. is_remnant: (m,) bool. bstar: (m,) B*
    (1/earth radii). Per realization
    (R,): ``in_orbit`` (Lc >= the size threshold, in orbit at the epoch; ``in_orbit_remnants`` of
    them remnants), ``after_breakup`` (Lc >= the size threshold, kept right after the event) and
    ``sampled`` (Lc >= the size threshold). knobs: the [event] knob values sampled.
    """

    values: np.ndarray
    realization: np.ndarray
    is_remnant: np.ndarray
    bstar: np.ndarray
    in_orbit: np.ndarray
    in_orbit_remnants: np.ndarray
    after_breakup: np.ndarray
    sampled: np.ndarray
    knobs: dict

    def count(self, count_factor: float = 1.0, exponent: float = 0.75) -> float:
        """Mean count in orbit per realization with the count knob scaled by count_factor from the
        value sampled: the fragments scale as count_factor**exponent, the remnants do not."""
        frag = self.in_orbit - self.in_orbit_remnants
        return float(np.mean(frag) * count_factor**exponent + np.mean(self.in_orbit_remnants))


def calibration_scenario(scenario: Scenario, min_size_m: float, knobs: dict) -> Scenario:
    """The scenario the fit samples: the knobs set, and fragments sampled from the catalog's size
    threshold on (the knobs do not depend on lc_min_m; the count law gives N(>= min_size_m))."""
    event = dataclasses.replace(scenario.event, lc_min_m=float(min_size_m), **knobs)
    return dataclasses.replace(scenario, event=event)


def simulate(scenario: Scenario, knobs: dict, realizations, min_size_m: float,
             epoch_jd: float, epoch_fr: float, device: str = "cpu") -> ModelSample:
    """Sample realizations of the scenario's breakup with the given knobs ([event] field ->
    value), propagate the kept fragments of Lc >= min_size_m with SGP4 to the epoch and return
    those still in orbit (compare.in_orbit) as a ModelSample. realizations: int array (R,)."""
    s = calibration_scenario(scenario, min_size_m, knobs)
    reals = np.asarray(realizations, dtype=np.int64)
    cloud = cloud_mod.sample_cloud(s, reals, device)
    frags = cloud.fragments
    big = frags.lc_m >= min_size_m
    kept = np.flatnonzero(cloud.kept & big)
    t_epoch = minutes_between(epoch_jd, epoch_fr, cloud.epoch_jd, cloud.epoch_fr)
    xp = _xp(device)
    el = {name: xp.asarray(cloud.elements[name][kept]) for name in cloud_mod.MEAN_ELEMENTS}
    table = sgp4.sgp4_init(*(el[name] for name in cloud_mod.MEAN_ELEMENTS),
                           xp.asarray(cloud.bstar[kept]), xp=xp)
    orbit = mean_orbits(table, xp.full(kept.size, t_epoch), xp)
    alive = to_host(in_orbit(orbit))
    values = stack_marginals(orbit)[alive]
    idx = kept[alive]
    real = frags.realization[idx]
    rem = frags.is_remnant[idx]
    pos = np.zeros(int(reals.max()) + 1 if reals.size else 0, dtype=np.int64)
    pos[reals] = np.arange(reals.size)
    per = lambda sel: np.bincount(pos[frags.realization[sel]], minlength=reals.size)  # noqa: E731
    return ModelSample(
        values=values, realization=real, is_remnant=rem, bstar=cloud.bstar[idx],
        in_orbit=per(idx), in_orbit_remnants=per(idx[rem]), after_breakup=per(kept),
        sampled=per(np.flatnonzero(big)), knobs=dict(knobs))


def _xp(device: str):
    if device == "gpu":
        import cupy

        return cupy
    return np
