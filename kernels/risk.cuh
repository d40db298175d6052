/* The fused estimator for one fragment: propagate, screen against every target, accumulate.
 * Twin of engine/risk.py:fragment_rates (same decay rule, same segments, same bins); C subset,
 * so tests/c/risk_harness.c runs it on the CPU.
 *
 * RISK_N_TARGETS (the number of targets K) is a compile-time constant, so the per-target state
 * lives in registers; kernels/risk_gpu.py prepends it to the source.
 */
#ifndef FRAGRISK_RISK_CUH
#define FRAGRISK_RISK_CUH

#include "common.cuh"
#include "sgp4.cuh"
#include "chord.cuh"

#ifndef RISK_N_TARGETS
#error "define RISK_N_TARGETS (the number of targets) before including risk.cuh"
#endif

#define RISK_DECAY_RADIUS_KM (SGP4_RADIUS_EARTH_KM + 100.0)

/* Fragment i of the table over the m samples.
 *   times_min (m): minutes since the analysis start; offset_min: this fragment's minutes from
 *     its epoch to the analysis start.
 *   target_r (K, m, 3) km, target_valid (K, m): the targets' samples.
 *   sigma_over_volume (K): this fragment's sigma_ik / V_s (1/km).
 *   seg_bin (m-1): time bin of each segment; lam_out (K, n_bins): this fragment's row, zeroed
 *     by the caller; bins are written once each, in time order.
 * Returns the decay sample (first sample with an SGP4 error or altitude < 100 km), m if none. */
FR_DEVICE long risk_fragment(const sgp4_coef *c, double offset_min, const double *times_min, long m,
                             const double *target_r, const unsigned char *target_valid,
                             const double *sigma_over_volume, double kernel_radius_km,
                             const int *seg_bin, long n_bins, double *lam_out)
{
    double prev[RISK_N_TARGETS][3];
    double acc[RISK_N_TARGETS];
    double r[3], v[3], d[3];
    int k, bin = m > 1 ? seg_bin[0] : 0;
    long j;
#pragma unroll
    for (k = 0; k < RISK_N_TARGETS; ++k)
        acc[k] = 0.0;
    for (j = 0; j < m; ++j) {
        int e = sgp4_propagate(c, offset_min + times_min[j], r, v);
        double r2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        if (e != SGP4_OK || !(r2 >= RISK_DECAY_RADIUS_KM * RISK_DECAY_RADIUS_KM))
            break;
        if (j > 0 && seg_bin[j - 1] != bin) {
#pragma unroll
            for (k = 0; k < RISK_N_TARGETS; ++k) {
                lam_out[k * n_bins + bin] = acc[k] * sigma_over_volume[k];
                acc[k] = 0.0;
            }
            bin = seg_bin[j - 1];
        }
#pragma unroll
        for (k = 0; k < RISK_N_TARGETS; ++k) {
            const double *tr = target_r + (k * m + j) * 3;
            d[0] = r[0] - tr[0];
            d[1] = r[1] - tr[1];
            d[2] = r[2] - tr[2];
            if (j > 0 && target_valid[k * m + j - 1] && target_valid[k * m + j])
                acc[k] += chord_length_km(prev[k], d, kernel_radius_km);
            prev[k][0] = d[0];
            prev[k][1] = d[1];
            prev[k][2] = d[2];
        }
    }
    if (m > 1) {
#pragma unroll
        for (k = 0; k < RISK_N_TARGETS; ++k)
            lam_out[k * n_bins + bin] = acc[k] * sigma_over_volume[k];
    }
    return j;
}

#endif /* FRAGRISK_RISK_CUH */
