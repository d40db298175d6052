/* The fused Monte Carlo kernel: one thread per fragment propagates it through every sample,
 * screens it against every target and accumulates its expected collisions per time bin, never
 * holding the fragments x samples positions. The rates are deterministic: each thread writes
 * only its own row, and per-realization sums are taken in fragment order by segment_sum. With
 * RISK_ENCOUNTERS the passages take slots of one buffer through an atomic counter (their order
 * varies between launches; kernels/risk_gpu.py sorts them).
 * RISK_N_TARGETS and RISK_ENCOUNTERS are prepended by kernels/risk_gpu.py (risk_gpu.defines). */
#include "risk.cuh"

/* Launch shape: kernels/risk_gpu.py passes both (risk_gpu.defines; its DEFAULT_LAUNCH, which
 * benchmarks/profile_kernel.py sweeps). RISK_MIN_BLOCKS caps the registers so that many blocks of
 * RISK_BLOCK_THREADS fit on an SM. */
#if !defined(RISK_BLOCK_THREADS) || !defined(RISK_MIN_BLOCKS)
#error "define RISK_BLOCK_THREADS and RISK_MIN_BLOCKS (kernels/risk_gpu.py defines)"
#endif

extern "C" __global__ void __launch_bounds__(RISK_BLOCK_THREADS, RISK_MIN_BLOCKS) risk_fused(
    const long long *__restrict__ order, const double *__restrict__ table, long n, const double *__restrict__ offset_min,
    const double *__restrict__ times_min, long m,
    const double *__restrict__ target_r, const unsigned char *__restrict__ target_valid,
    const double *__restrict__ sigma_over_volume, const double *__restrict__ reach_km, double kernel_radius_km,
    const int *__restrict__ seg_bin, long n_bins,
    double *__restrict__ lam, long long *__restrict__ decay,
    unsigned long long *passage_count, long long passage_capacity, long long *passage_record,
    double *passage_km)
{
    long t = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n)
        return;
    long i = (long)order[t]; /* threads of a warp take fragments of similar work */
    sgp4_coef c;
    risk_passages passages;
    passages.count = passage_count;
    passages.capacity = passage_capacity;
    passages.record = passage_record;
    passages.length_km = passage_km;
    sgp4_load(table, n, i, &c);
    decay[i] = risk_fragment(&c, offset_min[i], times_min, m, target_r, target_valid,
                             sigma_over_volume + i * RISK_N_TARGETS, reach_km[i], kernel_radius_km,
                             seg_bin, n_bins, lam + i * RISK_N_TARGETS * n_bins, &passages, i);
}

/* out[r, col] = sum of x[f, col] over fragments f in [starts[r], starts[r+1]), in order. */
extern "C" __global__ void segment_sum(
    const double *__restrict__ x, long width, const long long *__restrict__ starts, long n_segments,
    double *__restrict__ out)
{
    long k = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n_segments * width)
        return;
    long s = k / width;
    long col = k - s * width;
    double acc = 0.0;
    for (long long f = starts[s]; f < starts[s + 1]; ++f)
        acc += x[f * width + col];
    out[k] = acc;
}
