"""Thin CuPy wrapper of kernels/pc_mc.cu: the Monte Carlo trials of engine/conjunction/montecarlo.py
on the GPU, the same trials (same Philox counters) for the same seed."""

from __future__ import annotations

import numpy as np

from ..engine.conjunction import montecarlo, philox, twobody
from .build import check_array, module

THREADS_PER_BLOCK = 128


def defines() -> tuple:
    """The kernel's constants, each from its Python home (twobody, montecarlo, philox)."""
    return (("PC_MU_KM3_S2", repr(float(twobody.MU_KM3_S2))),
            ("PC_KEPLER_STEPS", int(twobody.KEPLER_STEPS)),
            ("PC_REFINE_STEPS", int(montecarlo.REFINE_STEPS)),
            ("PC_PHILOX_M0", f"{philox.PHILOX_M0}u"), ("PC_PHILOX_M1", f"{philox.PHILOX_M1}u"),
            ("PC_PHILOX_W0", f"{philox.PHILOX_W0}u"), ("PC_PHILOX_W1", f"{philox.PHILOX_W1}u"),
            ("PC_PHILOX_ROUNDS", int(philox.PHILOX_ROUNDS)), ("PC_TWOPI", repr(philox.TWO_PI)))


def _kernel():
    return module("pc_mc.cu", defines()).get_function("pc_mc_min_distance")


def min_distance(mean, sqrt_cov, times, seed: int, first: int, n: int):
    """cupy (n,) minimum separations [km] of trials first .. first + n - 1 (cupy arrays in:
    mean (2, 6), sqrt_cov (2, 6, 6), times (m,), float64, C-contiguous)."""
    import cupy

    m = int(times.shape[0])
    check_array(mean, "mean", cupy.float64, (2, 6))
    check_array(sqrt_cov, "sqrt_cov", cupy.float64, (2, 6, 6))
    check_array(times, "times", cupy.float64, (m,))
    if m < 1 or n < 1:
        raise ValueError(f"need at least one time and one trial, got {m} and {n}")
    out = cupy.empty(n, dtype=cupy.float64)
    blocks = (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    _kernel()((blocks,), (THREADS_PER_BLOCK,),
              (mean, sqrt_cov, times, np.int32(m), np.uint64(seed), np.uint64(first), np.int64(n), out))
    return out


def count_hits(enc: "montecarlo.Encounter", seed: int, first: int, n: int) -> int:
    """Hits among trials first .. first + n - 1 of an Encounter (numpy arrays, copied over)."""
    import cupy

    d = min_distance(cupy.asarray(enc.mean), cupy.asarray(enc.sqrt_cov), cupy.asarray(enc.times_s),
                     seed, first, n)
    return int(cupy.count_nonzero(d < enc.hbr_km))
