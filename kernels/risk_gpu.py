"""Thin CuPy wrapper of kernels/risk.cu: check the arrays, launch, return."""

from __future__ import annotations

import numpy as np

from .build import check_array, module

THREADS_PER_BLOCK = 128
#: (threads per block, minimum resident blocks per SM) of risk_fused, the fastest measured by
#: benchmarks/profile_kernel.py (its sweep is in benchmarks/results/profile_risk_kernel.json).
DEFAULT_LAUNCH = (256, 2)


def _module(n_targets: int, launch: tuple = DEFAULT_LAUNCH):
    threads, min_blocks = launch
    return module("risk.cu", (("RISK_N_TARGETS", int(n_targets)), ("RISK_BLOCK_THREADS", int(threads)),
                              ("RISK_MIN_BLOCKS", int(min_blocks))))


def fragment_rates(table, offset_min, times_min, target_r_km, target_valid, sigma_over_volume,
                   kernel_radius_km, seg_bin, n_bins, *, reach_km=None, order=None,
                   launch: tuple = DEFAULT_LAUNCH):
    """GPU twin of engine.risk.fragment_rates, with its argument order (all arrays cupy arrays,
    float64 unless noted).

    table (N_COEFFICIENTS, n); offset_min (n,); times_min (m,); target_r_km (K, m, 3);
    target_valid (K, m) uint8; sigma_over_volume (n, K) = sigma_ik / V_s (1/km); kernel_radius_km
    R_s; seg_bin (m-1,) int32; n_bins T. reach_km (n,) per-step relative motion bound for jumps
    (0: none; engine.risk.prefilter; default: no jumps). order: int64 (n,) permutation, thread t takes row order[t] (default:
    identity). launch: (threads per block, min blocks per SM), see DEFAULT_LAUNCH.
    Returns lam (n, K, n_bins) and decay (n,) int64.
    """
    import cupy

    from ..engine.sgp4 import N_COEFFICIENTS

    n = table.shape[1]
    m = times_min.shape[0]
    K = target_r_km.shape[0]
    check_array(table, "table", np.float64, (N_COEFFICIENTS, n))
    check_array(offset_min, "offset_min", np.float64, (n,))
    check_array(times_min, "times_min", np.float64, (m,))
    check_array(target_r_km, "target_r_km", np.float64, (K, m, 3))
    check_array(target_valid, "target_valid", np.uint8, (K, m))
    check_array(sigma_over_volume, "sigma_over_volume", np.float64, (n, K))
    if reach_km is None:
        reach_km = cupy.zeros(n, dtype=np.float64)
    check_array(reach_km, "reach_km", np.float64, (n,))
    if order is None:
        order = cupy.arange(n, dtype=np.int64)
    check_array(order, "order", np.int64, (n,))
    check_array(seg_bin, "seg_bin", np.int32, (max(m - 1, 0),))
    lam = cupy.zeros((n, K, n_bins), dtype=np.float64)
    decay = cupy.empty(n, dtype=np.int64)
    if n == 0:
        return lam, decay
    kernel = _module(K, launch).get_function("risk_fused")
    threads = launch[0]
    blocks = (n + threads - 1) // threads
    kernel((blocks,), (threads,),
           (order, table, np.int64(n), offset_min, times_min, np.int64(m), target_r_km, target_valid,
            sigma_over_volume, reach_km, np.float64(kernel_radius_km), seg_bin, np.int64(n_bins), lam, decay))
    return lam, decay


def segment_sum(x, starts):
    """Sums of rows of x (n, width) over consecutive segments [starts[s], starts[s+1]), in row order.

    x: cupy float64 (n, width); starts: cupy int64 (S+1,). Returns (S, width).
    """
    import cupy

    n, width = x.shape
    check_array(x, "x", np.float64, (n, width))
    check_array(starts, "starts", np.int64, (starts.shape[0],))
    n_segments = starts.shape[0] - 1
    out = cupy.empty((n_segments, width), dtype=np.float64)
    total = n_segments * width
    if total == 0:
        return out
    kernel = _module(1).get_function("segment_sum")
    blocks = (total + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    kernel((blocks,), (THREADS_PER_BLOCK,), (x, np.int64(width), starts, np.int64(n_segments), out))
    return out
