/* Runs kernels/pc_mc.cuh's per-trial Monte Carlo on the CPU (gcc), same contract as
 * pc_mc_min_distance (kernels/pc_mc.cu): minimum separations of trials first .. first + n - 1. */
#include "pc_mc.cuh"

void pc_mc_min_distance_host(const double *mean, const double *sqrt_cov, const double *times, int n_times,
                             unsigned long long seed, unsigned long long first, long long n, double *dmin)
{
    for (long long i = 0; i < n; ++i)
        dmin[i] = pc_trial_min_distance(mean, sqrt_cov, times, n_times, seed, first + (unsigned long long)i);
}
