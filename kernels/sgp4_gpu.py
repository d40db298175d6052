"""Thin CuPy wrapper of kernels/sgp4_propagate.cu: check the arrays, launch, return."""

from __future__ import annotations

import numpy as np

from ..engine.physics.sgp4_numpy import N_COEFFICIENTS
from .build import check_array, module

LAYOUTS = {"pairs": "sgp4_grid_pairs", "objects": "sgp4_grid_objects"}
THREADS_PER_BLOCK = 128


def propagate(table, offset_min, times_min, *, layout: str = "pairs"):
    """SGP4 on the GPU for n objects at m shared times.

    table: cupy float64 (N_COEFFICIENTS, n) from engine.physics.sgp4_numpy.sgp4_init(..., xp=cupy);
    offset_min: cupy float64 (n,), minutes from each object's epoch to time zero;
    times_min: cupy float64 (m,), minutes since time zero.
    Returns cupy arrays r_km (n, m, 3), v_km_s (n, m, 3) float64 and error (n, m) int8.
    """
    import cupy


    n = table.shape[1] if table.ndim == 2 else -1
    m = times_min.shape[0] if times_min.ndim == 1 else -1
    check_array(table, "table", np.float64, (N_COEFFICIENTS, n))
    check_array(offset_min, "offset_min", np.float64, (n,))
    check_array(times_min, "times_min", np.float64, (m,))
    r = cupy.empty((n, m, 3), dtype=np.float64)
    v = cupy.empty((n, m, 3), dtype=np.float64)
    err = cupy.empty((n, m), dtype=np.int8)
    if n == 0 or m == 0:
        return r, v, err
    kernel = module("sgp4_propagate.cu").get_function(LAYOUTS[layout])
    threads = n * m if layout == "pairs" else n
    blocks = (threads + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    kernel((blocks,), (THREADS_PER_BLOCK,),
           (table, np.int64(n), offset_min, times_min, np.int64(m), r, v, err))
    return r, v, err
