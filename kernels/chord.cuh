/* Length of a straight segment inside a sphere: the "secant chord" of the estimator
 * (docs/estimator.md §2). Twin of engine/physics/risk.py:chord_length_km; C subset (gcc compiles it
 * too). */
#ifndef FRAGRISK_CHORD_CUH
#define FRAGRISK_CHORD_CUH

#include "common.cuh"

/* Length (km) of the segment d0 -> d1 (relative positions, km) inside |d| <= radius_km:
 * solves |d0 + s (d1 - d0)|^2 = R^2 for s in [0, 1] (half-b form). */
FR_DEVICE double chord_length_km(const double d0[3], const double d1[3], double radius_km)
{
    double dx = d1[0] - d0[0], dy = d1[1] - d0[1], dz = d1[2] - d0[2];
    double a = dx * dx + dy * dy + dz * dz;
    double b = d0[0] * dx + d0[1] * dy + d0[2] * dz;
    double c = d0[0] * d0[0] + d0[1] * d0[1] + d0[2] * d0[2] - radius_km * radius_km;
    double disc = b * b - a * c;
    double root, s_in, s_out;
    if (!(disc > 0.0) || !(a > 0.0))
        return 0.0;
    root = sqrt(disc);
    s_in = (-b - root) / a;
    s_out = (-b + root) / a;
    s_in = s_in < 0.0 ? 0.0 : (s_in > 1.0 ? 1.0 : s_in);
    s_out = s_out < 0.0 ? 0.0 : (s_out > 1.0 ? 1.0 : s_out);
    return (s_out - s_in) * sqrt(a);
}

#endif /* FRAGRISK_CHORD_CUH */
