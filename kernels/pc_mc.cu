/* Two-body Monte Carlo of one conjunction, one thread per trial: the trial's minimum separation
 * (kernels/pc_mc.cuh: pc_trial_min_distance, the twin of engine/conjunction/montecarlo.py's
 * min_distance). kernels/pc_mc_gpu.py launches it and counts the hits. */
#include "pc_mc.cuh"

/* mean (2, 6), sqrt_cov (2, 6, 6), times (n_times,): montecarlo.Encounter; dmin (n,) [km]. */
extern "C" __global__ void pc_mc_min_distance(const double *__restrict__ mean, const double *__restrict__ sqrt_cov,
                                              const double *__restrict__ times, int n_times,
                                              unsigned long long seed, unsigned long long first, long long n,
                                              double *__restrict__ dmin)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    dmin[i] = pc_trial_min_distance(mean, sqrt_cov, times, n_times, seed, first + (unsigned long long)i);
}
