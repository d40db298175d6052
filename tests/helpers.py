"""Helpers that only tests use (kept out of engine/): the estimator in one piece over the whole
window, the reference that the run's time chunks are tested against, and a catalog drawn from the
breakup model for the calibration's self-consistency tests."""

import time

import numpy as np
from fragrisk.engine.physics.risk import Passages
from fragrisk.engine.run.estimate import _rows_of_batch, object_rates_gpu, object_rates_numpy, screen
from fragrisk.engine.run.objects import ObjectBatch
from fragrisk.engine.run.setup import Setup


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
