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

/* RISK_DECAY_RADIUS_KM (engine/risk.py DECAY_RADIUS_KM: the earth radius plus the decay altitude)
 * is a generated #define of kernels/build.py. */

/* Fragment i of the table over the m samples.
 *   times_min (m): minutes since the analysis start, uniform steps; offset_min: this fragment's
 *     minutes from its epoch to the analysis start.
 *   target_r (K, m, 3) km, target_valid (K, m): the targets' samples.
 *   sigma_over_volume (K): this fragment's sigma_ik / V_s (1/km).
 *   reach_km: bound on how far the fragment moves relative to any target per step, > 0 only
 *     where it cannot decay (engine/risk.py prefilter); 0: every sample is evaluated.
 *   seg_bin (m-1): time bin of each segment; lam_out (K, n_bins): this fragment's row, zeroed
 *     by the caller; bins are written once each, in time order.
 * Jumps: at a distance D beyond every target's sphere, the next ceil(D / reach) - 1 segments lie
 * within a ball that misses the spheres, so their chords are exactly 0 and their samples are not
 * evaluated. engine/risk.py uses the same bound another way (it screens such fragments every
 * COARSE_STRIDE samples and evaluates sample by sample only the intervals that may reach a
 * sphere); the sums agree (tests/test_risk_backends.py).
 * Returns the decay sample (first sample with an SGP4 error or altitude < 100 km), m if none. */
FR_DEVICE long risk_fragment(const sgp4_coef *c, double offset_min, const double *times_min, long m,
                             const double *target_r, const unsigned char *target_valid,
                             const double *sigma_over_volume, double reach_km, double kernel_radius_km,
                             const int *seg_bin, long n_bins, double *lam_out)
{
    double prev[RISK_N_TARGETS][3];
    double acc[RISK_N_TARGETS];
    double r[3], v[3], d[3];
    int k, bin = m > 1 ? seg_bin[0] : 0;
    int have_prev = 0;
    long j = 0;
#pragma unroll
    for (k = 0; k < RISK_N_TARGETS; ++k)
        acc[k] = 0.0;
    while (j < m) {
        int e = sgp4_propagate(c, offset_min + times_min[j], r, v);
        double r2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        double gap = 1.0e300; /* distance beyond the nearest valid target's sphere, km */
        int all_valid = 1;
        long jump = 1;
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
            if (have_prev && target_valid[k * m + j - 1] && target_valid[k * m + j])
                acc[k] += chord_length_km(prev[k], d, kernel_radius_km);
            prev[k][0] = d[0];
            prev[k][1] = d[1];
            prev[k][2] = d[2];
            if (target_valid[k * m + j]) {
                double g = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) - kernel_radius_km;
                gap = g < gap ? g : gap;
            } else {
                all_valid = 0;
            }
        }
        have_prev = 1;
        if (reach_km > 0.0 && all_valid && gap > 2.0 * reach_km) {
            jump = (long)ceil(gap / reach_km) - 1; /* segments j .. j+jump-1 miss every sphere */
            have_prev = 0;                          /* and so does the one ending at j + jump */
        }
        j += jump;
    }
    if (m > 1) {
#pragma unroll
        for (k = 0; k < RISK_N_TARGETS; ++k)
            lam_out[k * n_bins + bin] = acc[k] * sigma_over_volume[k];
    }
    return j < m ? j : m;
}

#endif /* FRAGRISK_RISK_CUH */
