/* The two-body Monte Carlo's per-trial arithmetic (kernels/pc_mc.cu runs one trial per thread):
 * Philox4x32-10 normals in the layout of engine/conjunction/philox.py, equinoctial sampling and
 * two-body states (engine/conjunction/twobody.py), the grid scan and Newton refinement of
 * engine/conjunction/montecarlo.min_distance, step for step. A C subset gcc also compiles
 * (tests/c/pc_mc_harness.c), so CPU-only CI checks the GPU's arithmetic against NumPy.
 * The PC_* constants are prepended by kernels/pc_mc_gpu.py (pc_mc_gpu.defines), from Python. */
#ifndef FRAGRISK_PC_MC_CUH
#define FRAGRISK_PC_MC_CUH
#include "common.cuh"

#if !defined(PC_MU_KM3_S2) || !defined(PC_KEPLER_STEPS) || !defined(PC_REFINE_STEPS) || !defined(PC_PHILOX_M0)
#error "kernels/pc_mc_gpu.py defines the PC_* constants"
#endif

/* Philox4x32-10 of counter c under key k (Salmon et al. 2011), in place. */
FR_DEVICE void pc_philox(unsigned int c[4], unsigned int k0, unsigned int k1)
{
    for (int round = 0; round < PC_PHILOX_ROUNDS; ++round) {
        unsigned long long p0 = (unsigned long long)PC_PHILOX_M0 * c[0];
        unsigned long long p1 = (unsigned long long)PC_PHILOX_M1 * c[2];
        unsigned int hi0 = (unsigned int)(p0 >> 32), lo0 = (unsigned int)p0;
        unsigned int hi1 = (unsigned int)(p1 >> 32), lo1 = (unsigned int)p1;
        unsigned int n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
        k0 += PC_PHILOX_W0;
        k1 += PC_PHILOX_W1;
    }
}

/* A double in (0, 1) from two words: 53 random bits, half an ulp off 0 (philox._uniform). */
FR_DEVICE double pc_uniform(unsigned int a, unsigned int b)
{
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6) + 0.5) / 9007199254740992.0;
}

/* The 12 normals of a trial (philox.trial_normals). */
FR_DEVICE void pc_normals(unsigned long long seed, unsigned long long trial, double z[12])
{
    for (int block = 0; block < 6; ++block) {
        unsigned int c[4] = {(unsigned int)trial, (unsigned int)(trial >> 32), (unsigned int)block, 0u};
        pc_philox(c, (unsigned int)seed, (unsigned int)(seed >> 32));
        double u1 = pc_uniform(c[0], c[1]), u2 = pc_uniform(c[2], c[3]);
        double r = sqrt(-2.0 * log(u1));
        z[2 * block] = r * cos(PC_TWOPI * u2);
        z[2 * block + 1] = r * sin(PC_TWOPI * u2);
    }
}

/* Cartesian state at t of equinoctial elements e = (n, k, h, chi, psi, lam0) (twobody.elements_to_state). */
FR_DEVICE void pc_state(const double e[6], double t, double x[6])
{
    double n = e[0], k = e[1], h = e[2], chi = e[3], psi = e[4];
    double lam = e[5] + n * t;
    double a = pow(PC_MU_KM3_S2 / (n * n), 1.0 / 3.0);
    double F = lam;
    for (int i = 0; i < PC_KEPLER_STEPS; ++i) {
        double s = sin(F), c = cos(F);
        F = F - (F + h * c - k * s - lam) / (1.0 - k * c - h * s);
    }
    double s = sin(F), c = cos(F);
    double beta = 1.0 / (1.0 + sqrt(1.0 - h * h - k * k));
    double x1 = a * ((1.0 - h * h * beta) * c + h * k * beta * s - k);
    double y1 = a * (h * k * beta * c + (1.0 - k * k * beta) * s - h);
    double rmag = a * (1.0 - k * c - h * s);
    double scale = a * a * n / rmag;
    double xd1 = scale * (h * k * beta * c - (1.0 - h * h * beta) * s);
    double yd1 = scale * ((1.0 - k * k * beta) * c - h * k * beta * s);
    double d = 1.0 + chi * chi + psi * psi;
    double f[3] = {(1.0 - chi * chi + psi * psi) / d, 2.0 * chi * psi / d, -2.0 * chi / d};
    double g[3] = {2.0 * chi * psi / d, (1.0 + chi * chi - psi * psi) / d, 2.0 * psi / d};
    for (int j = 0; j < 3; ++j) {
        x[j] = x1 * f[j] + y1 * g[j];
        x[3 + j] = xd1 * f[j] + yd1 * g[j];
    }
}

/* Minimum separation [km] over the grid of trial `trial`: mean (2, 6), sqrt_cov (2, 6, 6) and
 * times (n_times,) as montecarlo.Encounter holds them. */
FR_DEVICE double pc_trial_min_distance(const double *mean, const double *sqrt_cov, const double *times,
                                       int n_times, unsigned long long seed, unsigned long long trial)
{
    double z[12], e1[6], e2[6];
    pc_normals(seed, trial, z);
    for (int j = 0; j < 6; ++j) {
        double s1 = 0.0, s2 = 0.0;
        for (int k = 0; k < 6; ++k) {
            s1 += sqrt_cov[j * 6 + k] * z[k];
            s2 += sqrt_cov[36 + j * 6 + k] * z[6 + k];
        }
        e1[j] = mean[j] + s1;
        e2[j] = mean[6 + j] + s2;
    }
    double x1[6], x2[6];
    double best = 0.0;
    int best_k = -1;
    for (int k = 0; k < n_times; ++k) {
        pc_state(e1, times[k], x1);
        pc_state(e2, times[k], x2);
        double d2 = 0.0;
        for (int j = 0; j < 3; ++j)
            d2 += (x2[j] - x1[j]) * (x2[j] - x1[j]);
        if (best_k < 0 || d2 < best) {
            best = d2;
            best_k = k;
        }
    }
    double lo = times[best_k > 0 ? best_k - 1 : 0];
    double hi = times[best_k < n_times - 1 ? best_k + 1 : n_times - 1];
    double t = times[best_k];
    for (int step = 0; step < PC_REFINE_STEPS; ++step) {
        pc_state(e1, t, x1);
        pc_state(e2, t, x2);
        double r1 = sqrt(x1[0] * x1[0] + x1[1] * x1[1] + x1[2] * x1[2]);
        double r2 = sqrt(x2[0] * x2[0] + x2[1] * x2[1] + x2[2] * x2[2]);
        double g = 0.0, vv = 0.0, ra = 0.0, d2 = 0.0;
        for (int j = 0; j < 3; ++j) {
            double r = x2[j] - x1[j], v = x2[3 + j] - x1[3 + j];
            double acc = -PC_MU_KM3_S2 * (x2[j] / (r2 * r2 * r2) - x1[j] / (r1 * r1 * r1));
            g += r * v;
            vv += v * v;
            ra += r * acc;
            d2 += r * r;
        }
        double dg = vv + ra;
        double next = t + (dg > 0.0 ? -g / dg : 0.0);
        t = next < lo ? lo : (next > hi ? hi : next);
        best = d2 < best ? d2 : best;
    }
    pc_state(e1, t, x1);
    pc_state(e2, t, x2);
    double d2 = 0.0;
    for (int j = 0; j < 3; ++j)
        d2 += (x2[j] - x1[j]) * (x2[j] - x1[j]);
    return sqrt(d2 < best ? d2 : best);
}

#endif /* FRAGRISK_PC_MC_CUH */
