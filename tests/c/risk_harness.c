/* Runs kernels/risk.cuh's fused estimator on the CPU (gcc), same contract as risk_fused
 * (kernels/risk.cu), passage buffer included (compiled with -DRISK_ENCOUNTERS=0 or 1). */
#include "risk.cuh"

void risk_fused_host(const long long *order, const double *table, long n, const double *offset_min, const double *times_min, long m,
                     const double *target_r, const unsigned char *target_valid,
                     const double *sigma_over_volume, const double *reach_km, double kernel_radius_km,
                     const int *seg_bin, long n_bins, double *lam, long long *decay,
                     unsigned long long *passage_count, long long passage_capacity, long long *passage_record,
                     double *passage_km)
{
    risk_passages passages;
    passages.count = passage_count;
    passages.capacity = passage_capacity;
    passages.record = passage_record;
    passages.length_km = passage_km;
    for (long t = 0; t < n; ++t) {
        long i = (long)order[t];
        sgp4_coef c;
        sgp4_load(table, n, i, &c);
        decay[i] = risk_fragment(&c, offset_min[i], times_min, m, target_r, target_valid,
                                 sigma_over_volume + i * RISK_N_TARGETS, reach_km[i], kernel_radius_km,
                                 seg_bin, n_bins, lam + i * RISK_N_TARGETS * n_bins, &passages, i);
    }
}
