/* Runs kernels/sgp4.cuh's device functions on the CPU (gcc), so CPU-only CI checks the very
 * arithmetic the GPU runs against the NumPy path. Same contract as sgp4_grid_pairs. */
#include "sgp4.cuh"

void sgp4_grid_host(const double *table, long n, const double *offset_min, const double *times_min,
                    long m, double *r, double *v, signed char *err)
{
    for (long i = 0; i < n; ++i) {
        sgp4_coef c;
        sgp4_load(table, n, i, &c);
        for (long j = 0; j < m; ++j) {
            long k = i * m + j;
            err[k] = (signed char)sgp4_propagate(&c, offset_min[i] + times_min[j], r + 3 * k, v + 3 * k);
        }
    }
}
