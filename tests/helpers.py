"""Helpers that only tests use (kept out of engine/): the estimator in one piece over the whole
window, the reference that the run's time chunks are tested against, and a catalog drawn from the
breakup model for the calibration's self-consistency tests."""

import dataclasses
import time

import numpy as np
from fragrisk.engine import cloud as cloud_mod
from fragrisk.engine.calibration.calibrate import DEFAULT_MIN_SIZE_M
from fragrisk.engine.calibration.compare import in_orbit, mean_orbits
from fragrisk.engine.calibration.model import calibration_scenario
from fragrisk.engine.orbits.elements import ElementSet
from fragrisk.engine.physics import fit
from fragrisk.engine.physics import sgp4_numpy as sgp4
from fragrisk.engine.physics.risk import Passages
from fragrisk.engine.run.estimate import _rows_of_batch, object_rates_gpu, object_rates_numpy, screen
from fragrisk.engine.run.objects import ObjectBatch
from fragrisk.engine.run.setup import Setup
from fragrisk.engine.scenario import Scenario
from fragrisk.engine.timeutil import minutes_between


def object_rates(setup: Setup, objs: ObjectBatch, *, passages: bool = False):
    """Per-object rates (n, K, T) and decay samples (n,) over the whole window on the setup's
    device, with the prefilter (the driver of engine.physics.risk.fragment_rates and its CUDA twin
    kernels.risk_gpu.fragment_rates; skipped objects: 0 and never decayed), in one piece (no time
    chunks: the reference that run_batch's chunks are tested against). Returns (lam, decay,
    propagated, seconds), and with passages=True also the passages (engine.physics.risk.Passages,
    rows index objs)."""
    w = setup.window
    n, K = objs.lc_m.size, len(setup.targets.names)
    idx, reach, order = screen(setup, objs)
    lam = np.zeros((n, K, w.n_bins))
    decay = np.full(n, w.times_s.size, dtype=np.int64)
    found = Passages.empty()
    start = time.perf_counter()
    if idx.size:
        if setup.device == "gpu":
            import cupy

            lam_d, decay_d, *more = object_rates_gpu(setup, objs, idx, reach, order, passages=passages)
            lam[idx], decay[idx] = cupy.asnumpy(lam_d), cupy.asnumpy(decay_d)
        else:
            lam[idx], decay[idx], *more = object_rates_numpy(setup, objs, idx, reach, passages=passages)
        if passages:
            found = _rows_of_batch(more[0], idx)
    seconds = time.perf_counter() - start
    if passages:
        return lam, decay, int(idx.size), seconds, found
    return lam, decay, int(idx.size), seconds


def synthetic_observations(scenario: Scenario, knobs: dict, *, seed: int, realization: int,
                           epoch_jd: float, epoch_fr: float, n_objects: int,
                           min_size_m: float = DEFAULT_MIN_SIZE_M,
                           pick_seed: int = 0) -> tuple[ElementSet, int]:
    """A catalog drawn from the model, for tests of the fit: one realization (seed, realization)
    of the scenario with the knobs set, its fragments of Lc >= min_size_m in orbit at the epoch,
    n_objects of them picked at random (pick_seed; all if fewer), each with SGP4 mean elements
    fitted anew to its SGP4 state at the epoch (engine.physics.fit), the way a catalog's element sets
    are fitted to tracking, with its model B*. Returns (elements at the epoch, the realization's
    count in orbit: its "cataloged" N)."""

    s = calibration_scenario(scenario, min_size_m, knobs)
    s = dataclasses.replace(s, analysis=dataclasses.replace(s.analysis, seed=int(seed)))
    cloud = cloud_mod.sample_cloud(s, np.array([realization]))
    idx = np.flatnonzero(cloud.kept & (cloud.fragments.lc_m >= min_size_m))
    table = sgp4.sgp4_init(*(cloud.elements[n][idx] for n in cloud_mod.MEAN_ELEMENTS),
                           cloud.bstar[idx])
    t = minutes_between(epoch_jd, epoch_fr, cloud.epoch_jd, cloud.epoch_fr)
    alive = in_orbit(mean_orbits(table, np.full(idx.size, t)))
    idx, table = idx[alive], table[:, alive]
    count = int(idx.size)
    pick = np.sort(np.random.default_rng(pick_seed).permutation(idx.size)[:n_objects])
    r, v, err = sgp4.propagate(table[:, pick], np.full((pick.size, 1), t))
    el, ok = fit.fit_mean_elements(r[:, 0], v[:, 0], cloud_mod.propagate_at_epoch_numpy)
    good = ok & (err[:, 0] == 0)
    n = int(good.sum())
    return ElementSet(
        satnum=np.arange(1, n + 1), name=tuple(f"SYNTHETIC {k}" for k in range(1, n + 1)),
        epoch_jd=np.full(n, epoch_jd), epoch_fr=np.full(n, epoch_fr),
        bstar=cloud.bstar[idx[pick]][good], source="synthetic catalog",
        **{name: el[name][good] for name in cloud_mod.MEAN_ELEMENTS}), count
