"""Thin CuPy wrapper of kernels/risk.cu: check the arrays, launch, return."""

from __future__ import annotations

import numpy as np

from ..engine.physics.risk import Passages
from ..engine.physics.sgp4_numpy import N_COEFFICIENTS
from .build import check_array, module

THREADS_PER_BLOCK = 128
#: (threads per block, minimum resident blocks per SM) of risk_fused, the fastest measured by
#: benchmarks/profile_kernel.py (its last sweep is in
#: benchmarks/results/gpu_check_h200/profile_risk_kernel.json).
DEFAULT_LAUNCH = (256, 2)


def defines(n_targets: int, launch: tuple = DEFAULT_LAUNCH, encounters: bool = False) -> tuple:
    """The #defines kernels/risk.cu needs besides the shared constants: the number of targets K,
    the launch shape (threads per block, minimum resident blocks per SM) and whether passages
    are recorded (RISK_ENCOUNTERS)."""
    threads, min_blocks = launch
    return (("RISK_N_TARGETS", int(n_targets)), ("RISK_BLOCK_THREADS", int(threads)),
            ("RISK_MIN_BLOCKS", int(min_blocks)), ("RISK_ENCOUNTERS", int(encounters)))


def _module(n_targets: int, launch: tuple = DEFAULT_LAUNCH, encounters: bool = False):
    return module("risk.cu", defines(n_targets, launch, encounters))


def passage_capacity(n: int, n_targets: int) -> int:
    """Slots of the passage buffer for n fragments and K targets: a bound on what a batch finds,
    not a guarantee (run_until_it_fits retries where it is exceeded). The built-in scenario has
    about 0.01 passages per fragment and target over 7 days (a random chord of the 10 km sphere
    is 13 km long; lambda ~ 5e-4 per 1,400 fragments at sigma/V ~ 3e-6 /km), so n K / 8 leaves
    more than ten times that, at 40 bytes a slot."""
    return max(4096, int(n) * int(n_targets) // 8)


def run_until_it_fits(launch, capacity: int, max_launches: int = 3):
    """launch(capacity) -> (count, result): runs a kernel with a record buffer of `capacity`
    slots; count is what its counter reached, which keeps counting past the end. Where count
    exceeds capacity the records did not all fit: launch again with exactly `count` slots (the
    kernel is deterministic in what it finds, so once suffices). Never returns a truncated
    result. Returns (result, capacity used, launches)."""
    for launches in range(1, max_launches + 1):
        count, result = launch(capacity)
        if count <= capacity:
            return result, capacity, launches
        capacity = int(count)
    raise RuntimeError(f"passage buffer overflowed {max_launches} times (last count {count}, "
                       f"capacity {capacity}): the kernel's count is not reproducible")


def fragment_rates(table, offset_min, times_min, target_r_km, target_valid, sigma_over_volume,
                   kernel_radius_km, seg_bin, n_bins, *, reach_km=None, order=None,
                   launch: tuple = DEFAULT_LAUNCH, passages: bool = False, capacity: int | None = None):
    """GPU twin of engine.physics.risk.fragment_rates, with its argument order (all arrays cupy arrays,
    float64 unless noted).

    table (N_COEFFICIENTS, n); offset_min (n,); times_min (m,); target_r_km (K, m, 3);
    target_valid (K, m) uint8; sigma_over_volume (n, K) = sigma_ik / V_s (1/km); kernel_radius_km
    R_s; seg_bin (m-1,) int32; n_bins T. reach_km (n,) per-step relative motion bound for jumps
    (0: none; engine.physics.risk.prefilter; default: no jumps). order: int64 (n,) permutation, thread t takes row order[t] (default:
    identity). launch: (threads per block, min blocks per SM), see DEFAULT_LAUNCH.
    passages: also record the passages through the spheres (kernel built with RISK_ENCOUNTERS)
    in a buffer of `capacity` slots (default passage_capacity(n, K)); an overflow runs the
    kernel again with a buffer that fits (run_until_it_fits).
    Returns lam (n, K, n_bins) and decay (n,) int64 (cupy), and with passages an
    engine.physics.risk.Passages (NumPy, sorted by row, target, first segment).
    """
    import cupy


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

    decay = cupy.empty(n, dtype=np.int64)
    if n == 0:
        lam = cupy.zeros((n, K, n_bins), dtype=np.float64)
        return (lam, decay, Passages.empty()) if passages else (lam, decay)
    kernel = _module(K, launch, passages).get_function("risk_fused")
    threads = launch[0]
    blocks = (n + threads - 1) // threads

    def run(slots: int):
        lam = cupy.zeros((n, K, n_bins), dtype=np.float64)
        count = cupy.zeros(1, dtype=np.uint64)
        record = cupy.empty((max(slots, 1), 4), dtype=np.int64)
        length = cupy.empty(max(slots, 1), dtype=np.float64)
        kernel((blocks,), (threads,),
               (order, table, np.int64(n), offset_min, times_min, np.int64(m), target_r_km, target_valid,
                sigma_over_volume, reach_km, np.float64(kernel_radius_km), seg_bin, np.int64(n_bins), lam, decay,
                count, np.int64(slots), record, length))
        found = int(count.get()[0])
        return found, (lam, record[:min(found, slots)], length[:min(found, slots)])

    if not passages:
        _, (lam, _, _) = run(0)
        return lam, decay
    slots = passage_capacity(n, K) if capacity is None else int(capacity)
    (lam, record, length), _, _ = run_until_it_fits(run, slots)
    rec = cupy.asnumpy(record)
    found = Passages(rec[:, 0].copy(), rec[:, 1].copy(), rec[:, 2].copy(), rec[:, 3].copy(), cupy.asnumpy(length))
    return lam, decay, found.sorted()


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
