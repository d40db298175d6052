/* The fused estimator for one fragment: propagate, screen against every target, accumulate.
 * Twin of engine/physics/risk.py:fragment_rates (same decay rule, same segments, same bins); C subset,
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

/* RISK_DECAY_RADIUS_KM (engine/physics/risk.py DECAY_RADIUS_KM: the earth radius plus the decay altitude)
 * is a generated #define of kernels/build.py. */

/* RISK_ENCOUNTERS 1: record every passage through a sphere (engine/physics/risk.py Passages): a
 * run of consecutive segments with a positive chord. 0: the lean kernel, without them. */
#ifndef RISK_ENCOUNTERS
#error "define RISK_ENCOUNTERS 0 or 1 (kernels/risk_gpu.py defines)"
#endif

/* Where passages go: the thread that closes one takes the next slot of a counter shared by all
 * threads; slots at or beyond capacity are counted but not written, so the caller sees the
 * overflow (count > capacity) and runs again with a buffer of `count` slots: nothing is lost. */
typedef struct {
    unsigned long long *count;
    long long capacity;
    long long *record;   /* (capacity, 4): fragment row, target, first segment, last segment */
    double *length_km;   /* (capacity,): chord length inside the sphere summed over the run */
} risk_passages;

#if RISK_ENCOUNTERS
FR_DEVICE void risk_record(const risk_passages *out, long row, int k, long first, long last, double length_km)
{
    unsigned long long slot = FR_NEXT_SLOT(out->count);
    if (slot < (unsigned long long)out->capacity) {
        long long *rec = out->record + 4 * slot;
        rec[0] = row;
        rec[1] = k;
        rec[2] = first;
        rec[3] = last;
        out->length_km[slot] = length_km;
    }
}
#endif

/* Fragment i of the table over the m samples.
 *   times_min (m): minutes since the analysis start, uniform steps; offset_min: this fragment's
 *     minutes from its epoch to the analysis start.
 *   target_r (K, m, 3) km, target_valid (K, m): the targets' samples.
 *   sigma_over_volume (K): this fragment's sigma_ik / V_s (1/km).
 *   reach_km: bound on how far the fragment moves relative to any target per step, > 0 only
 *     where it cannot decay (engine/physics/risk.py prefilter); 0: every sample is evaluated.
 *   seg_bin (m-1): time bin of each segment; lam_out (K, n_bins): this fragment's row, zeroed
 *     by the caller; bins are written once each, in time order.
 *   passages, row (RISK_ENCOUNTERS only): where this fragment's passages are recorded, and its
 *     row in the table. A passage ends at the first segment without a chord, at a jump (whose
 *     segments have none), at the decay sample or at the last sample.
 * Jumps: at a distance D beyond every target's sphere, the next ceil(D / reach) - 1 segments lie
 * within a ball that misses the spheres, so their chords are exactly 0 and their samples are not
 * evaluated. engine/physics/risk.py uses the same bound another way (it screens such fragments every
 * COARSE_STRIDE samples and evaluates sample by sample only the intervals that may reach a
 * sphere); the sums agree (tests/test_risk_backends.py).
 * Returns the decay sample (first sample with an SGP4 error or altitude < 100 km), m if none. */
FR_DEVICE long risk_fragment(const sgp4_coef *c, double offset_min, const double *times_min, long m,
                             const double *target_r, const unsigned char *target_valid,
                             const double *sigma_over_volume, double reach_km, double kernel_radius_km,
                             const int *seg_bin, long n_bins, double *lam_out,
                             const risk_passages *passages, long row)
{
    double prev[RISK_N_TARGETS][3];
    double acc[RISK_N_TARGETS];
    double r[3], v[3], d[3];
    int k, bin = m > 1 ? seg_bin[0] : 0;
    int have_prev = 0;
    long j = 0;
#if RISK_ENCOUNTERS
    long run_first[RISK_N_TARGETS]; /* first segment of the open passage; -1: none open */
    double run_km[RISK_N_TARGETS];
#pragma unroll
    for (k = 0; k < RISK_N_TARGETS; ++k) {
        run_first[k] = -1;
        run_km[k] = 0.0;
    }
#else
    (void)passages;
    (void)row;
#endif
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
            double chord = 0.0;
            if (have_prev && target_valid[k * m + j - 1] && target_valid[k * m + j]) {
                chord = chord_length_km(prev[k], d, kernel_radius_km);
                acc[k] += chord;
            }
#if RISK_ENCOUNTERS
            if (chord > 0.0) { /* segment j-1 opens or extends a passage */
                if (run_first[k] < 0) {
                    run_first[k] = j - 1;
                    run_km[k] = 0.0;
                }
                run_km[k] += chord;
            } else if (run_first[k] >= 0) { /* the open passage ended with segment j-2 */
                risk_record(passages, row, k, run_first[k], j - 2, run_km[k]);
                run_first[k] = -1;
            }
#endif
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
#if RISK_ENCOUNTERS
#pragma unroll
            for (k = 0; k < RISK_N_TARGETS; ++k) { /* none is open this far out; closed to be sure */
                if (run_first[k] >= 0) {
                    risk_record(passages, row, k, run_first[k], j - 1, run_km[k]);
                    run_first[k] = -1;
                }
            }
#endif
        }
        j += jump;
    }
#if RISK_ENCOUNTERS
    /* Decay at sample j, or the end (j = m): an open passage's last segment is j - 2, the one
     * ending at sample j - 1 (a jump would have closed it). */
#pragma unroll
    for (k = 0; k < RISK_N_TARGETS; ++k)
        if (run_first[k] >= 0)
            risk_record(passages, row, k, run_first[k], j - 2, run_km[k]);
#endif
    if (m > 1) {
#pragma unroll
        for (k = 0; k < RISK_N_TARGETS; ++k)
            lam_out[k * n_bins + bin] = acc[k] * sigma_over_volume[k];
    }
    return j < m ? j : m;
}

#endif /* FRAGRISK_RISK_CUH */
