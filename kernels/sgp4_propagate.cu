/* SGP4 propagation of n objects at m times: the GPU path of engine/orbits/propagation.py.
 *
 * Two thread layouts, both measured by benchmarks/propagate.py:
 *   sgp4_grid_pairs      one thread per (object, time): all threads busy even when n is small;
 *                        the object's coefficients are re-read (from L1/L2) by each thread.
 *   sgp4_grid_objects    one thread per object, looping over the m times: coefficients stay in
 *                        registers; needs n in the tens of thousands to fill the GPU.
 * Times: tsince = offset_min[i] + times_min[j] (minutes since object i's epoch).
 * Outputs: r (n, m, 3) km, v (n, m, 3) km/s, TEME; err (n, m) int8 error codes.
 */
#include "sgp4.cuh"

extern "C" __global__ void sgp4_grid_pairs(
    const double *__restrict__ table, long n, const double *__restrict__ offset_min,
    const double *__restrict__ times_min, long m,
    double *__restrict__ r, double *__restrict__ v, signed char *__restrict__ err)
{
    long k = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n * m)
        return;
    long i = k / m;
    long j = k - i * m;
    sgp4_coef c;
    double rr[3], vv[3];
    sgp4_load(table, n, i, &c);
    int e = sgp4_propagate(&c, offset_min[i] + times_min[j], rr, vv);
    r[3 * k] = rr[0]; r[3 * k + 1] = rr[1]; r[3 * k + 2] = rr[2];
    v[3 * k] = vv[0]; v[3 * k + 1] = vv[1]; v[3 * k + 2] = vv[2];
    err[k] = (signed char)e;
}

extern "C" __global__ void sgp4_grid_objects(
    const double *__restrict__ table, long n, const double *__restrict__ offset_min,
    const double *__restrict__ times_min, long m,
    double *__restrict__ r, double *__restrict__ v, signed char *__restrict__ err)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    sgp4_coef c;
    double rr[3], vv[3];
    sgp4_load(table, n, i, &c);
    double offset = offset_min[i];
    for (long j = 0; j < m; ++j) {
        long k = i * m + j;
        int e = sgp4_propagate(&c, offset + times_min[j], rr, vv);
        r[3 * k] = rr[0]; r[3 * k + 1] = rr[1]; r[3 * k + 2] = rr[2];
        v[3 * k] = vv[0]; v[3 * k + 1] = vv[1]; v[3 * k + 2] = vv[2];
        err[k] = (signed char)e;
    }
}
