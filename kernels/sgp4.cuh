/* Near-earth SGP4 propagation for one object at one time: the CUDA twin of
 * engine/physics/sgp4_numpy.py:propagate_block (same names, same order of operations).
 *
 * Source: Vallado, Crawford, Hujsak & Kelso, "Revisiting Spacetrack Report #3" (AIAA 2006-6753),
 * as python-sgp4's C++ core evaluates it (WGS-72, 'i' mode). The per-object coefficients come
 * from engine/physics/sgp4_numpy.py:sgp4_init, one row per SGP4_C_* index (generated, see below), n objects
 * per row.
 *
 * This file is kept in a C subset that gcc also compiles (tests/test_sgp4.py runs it on the CPU,
 * through tests/c/sgp4_harness.c, against the NumPy path): no C++ features, no CUDA intrinsics,
 * only <math.h> functions that CUDA provides as device functions with the same IEEE semantics.
 */
#ifndef FRAGRISK_SGP4_CUH
#define FRAGRISK_SGP4_CUH

#include "common.cuh"

/* Constants shared with the Python engine are not written here: kernels/build.py prepends them as
 * generated #defines (build.constant_defines; gcc gets them through build.constants_header):
 *   SGP4_C_<ROW> (0 .. SGP4_N_COEFFICIENTS-1)  rows of the coefficient table, engine/physics/sgp4_numpy.py COEFFICIENTS
 *   SGP4_RADIUS_EARTH_KM, SGP4_J2, SGP4_XKE,   WGS-72 as engine/physics/sgp4_numpy.py (XKE: sqrt(mu) in earth
 *   SGP4_VKMPERSEC, SGP4_TWOPI                   radii^1.5 / min; VKMPERSEC: earth radii/min -> km/s)
 *   SGP4_KEPLER_TOLERANCE_RAD,                 python-sgp4's stopping rule for Kepler's equation
 *   SGP4_KEPLER_MAX_ITERATIONS
 *   SGP4_SMALL_ANGLE_RAD                       below it, sin/cos of a + d from those of a and a
 *                                              series in d (engine/physics/sgp4_numpy.py SMALL_ANGLE_RAD)
 *   SGP4_OK, SGP4_ERR_ECCENTRICITY, SGP4_ERR_MEAN_MOTION, SGP4_ERR_SEMILATUS, SGP4_ERR_DECAYED
 *                                              python-sgp4's error codes (engine/physics/sgp4_numpy.py ERR_*) */

/* One object's coefficients, gathered from the table (row-major, `stride` objects a row). */
typedef struct {
    double no_unkozai, ecco, inclo, nodeo, argpo, mo, bstar;
    double mdot, argpdot, nodedot, nodecf;
    double cc1, cc4, cc5, d2, d3, d4;
    double t2cof, t3cof, t4cof, t5cof;
    double omgcof, xmcof, eta, delmo, sinmao;
    double con41, x1mth2, x7thm1, xlcof, aycof;
    double sinio, cosio, am_coef;
} sgp4_coef;

FR_DEVICE void sgp4_load(const double *table, long stride, long i, sgp4_coef *c)
{
    const double *p = table + i;
    c->no_unkozai = p[SGP4_C_NO_UNKOZAI * stride];
    c->ecco = p[SGP4_C_ECCO * stride];
    c->inclo = p[SGP4_C_INCLO * stride];
    c->nodeo = p[SGP4_C_NODEO * stride];
    c->argpo = p[SGP4_C_ARGPO * stride];
    c->mo = p[SGP4_C_MO * stride];
    c->bstar = p[SGP4_C_BSTAR * stride];
    c->mdot = p[SGP4_C_MDOT * stride];
    c->argpdot = p[SGP4_C_ARGPDOT * stride];
    c->nodedot = p[SGP4_C_NODEDOT * stride];
    c->nodecf = p[SGP4_C_NODECF * stride];
    c->cc1 = p[SGP4_C_CC1 * stride];
    c->cc4 = p[SGP4_C_CC4 * stride];
    c->cc5 = p[SGP4_C_CC5 * stride];
    c->d2 = p[SGP4_C_D2 * stride];
    c->d3 = p[SGP4_C_D3 * stride];
    c->d4 = p[SGP4_C_D4 * stride];
    c->t2cof = p[SGP4_C_T2COF * stride];
    c->t3cof = p[SGP4_C_T3COF * stride];
    c->t4cof = p[SGP4_C_T4COF * stride];
    c->t5cof = p[SGP4_C_T5COF * stride];
    c->omgcof = p[SGP4_C_OMGCOF * stride];
    c->xmcof = p[SGP4_C_XMCOF * stride];
    c->eta = p[SGP4_C_ETA * stride];
    c->delmo = p[SGP4_C_DELMO * stride];
    c->sinmao = p[SGP4_C_SINMAO * stride];
    c->con41 = p[SGP4_C_CON41 * stride];
    c->x1mth2 = p[SGP4_C_X1MTH2 * stride];
    c->x7thm1 = p[SGP4_C_X7THM1 * stride];
    c->xlcof = p[SGP4_C_XLCOF * stride];
    c->aycof = p[SGP4_C_AYCOF * stride];
    c->sinio = p[SGP4_C_SINIO * stride];
    c->cosio = p[SGP4_C_COSIO * stride];
    c->am_coef = p[SGP4_C_AM_COEF * stride];
}

/* fmod(x, 2 pi), as fma(-k, 2 pi, x) with k = trunc(x / 2 pi): one rounding of an exactly
 * representable value, so it equals fmod's result bit for bit, except where k is off by one next
 * to a multiple of 2 pi and the angle comes out shifted by 2 pi (harmless: it only enters sums
 * reduced again, sin and cos). CUDA's fmod is an integer loop costing more than the rest of a
 * step's angle arithmetic. The NumPy twin keeps np.fmod (one vectorized call). */
FR_DEVICE double sgp4_fmod_twopi(double x)
{
    return fma(-trunc(x * (1.0 / SGP4_TWOPI)), SGP4_TWOPI, x);
}

/* sin and cos of a + d from those of a, for |d| < SGP4_SMALL_ANGLE_RAD: Taylor series to d^7 and
 * d^8, the next terms below 1e-24 (twin: engine/physics/sgp4_numpy.py sincos_small and rotate). */
FR_DEVICE void sgp4_rotate(double *sin_a, double *cos_a, double d)
{
    double d2 = d * d;
    double sin_d = ((d2 * (-1.0 / 5040.0) + 1.0 / 120.0) * d2 - 1.0 / 6.0) * d2 * d + d;
    double cos_d = (((d2 * (1.0 / 40320.0) - 1.0 / 720.0) * d2 + 1.0 / 24.0) * d2 - 0.5) * d2 + 1.0;
    double s = *sin_a * cos_d + *cos_a * sin_d;
    double c = *cos_a * cos_d - *sin_a * sin_d;
    *sin_a = s;
    *cos_a = c;
}

/* State of one object at t minutes since its epoch. Writes r (km) and v (km/s), TEME; returns
 * the error code. Codes 1, 2 and 4 leave no state (r and v are NaN); 6 keeps it. */
FR_DEVICE int sgp4_propagate(const sgp4_coef *C, double t, double r[3], double v[3])
{
    const double xke = SGP4_XKE;
    const double vkmpersec = SGP4_VKMPERSEC;
    const double inv_xke = 1.0 / xke;
    double xmdf, argpdf, nodedf, t2, nodem, delomg, delmtemp, delm, temp, mm, argpm, t3, t4;
    double tempa, tempe, templ, nm, am, em, xlm, sinargpm, cosargpm, axnl, aynl, xl, u, eo1, sineo1, coseo1, tem5;
    double ecose, esine, el2, pl, rl, rdotl, rvdotl, betal, sinu, cosu, su, sin2u, cos2u;
    double temp1, temp2, mrt, xnode, dsu, dinc, norm, mvt, rvdot;
    double sinsu, cossu, snod, cnod, sini, cosi, xmx, xmy, ux, uy, uz, vx, vy, vz, mr;
    int ktr;

    if (C->no_unkozai <= 0.0) {
        r[0] = r[1] = r[2] = v[0] = v[1] = v[2] = FR_NAN;
        return SGP4_ERR_MEAN_MOTION;
    }

    /* Secular gravity and atmospheric drag. */
    xmdf = C->mo + C->mdot * t;
    argpdf = C->argpo + C->argpdot * t;
    nodedf = C->nodeo + C->nodedot * t;
    t2 = t * t;
    nodem = nodedf + C->nodecf * t2;
    delomg = C->omgcof * t;
    delmtemp = 1.0 + C->eta * cos(xmdf);
    delm = C->xmcof * (delmtemp * delmtemp * delmtemp - C->delmo);
    temp = delomg + delm;
    mm = xmdf + temp;
    argpm = argpdf - temp;
    t3 = t2 * t;
    t4 = t3 * t;
    tempa = 1.0 - C->cc1 * t - C->d2 * t2 - C->d3 * t3 - C->d4 * t4;
    tempe = C->bstar * C->cc4 * t + C->bstar * C->cc5 * (sin(mm) - C->sinmao);
    templ = C->t2cof * t2 + C->t3cof * t3 + t4 * (C->t4cof + t * C->t5cof);

    nm = C->no_unkozai;
    am = C->am_coef * tempa * tempa;
    nm = xke / (am * sqrt(am));
    em = C->ecco - tempe;
    if (em >= 1.0 || em < -0.001) {
        r[0] = r[1] = r[2] = v[0] = v[1] = v[2] = FR_NAN;
        return SGP4_ERR_ECCENTRICITY;
    }
    if (em < 1.0e-6)
        em = 1.0e-6;
    mm = mm + C->no_unkozai * templ;
    xlm = mm + argpm + nodem;
    nodem = sgp4_fmod_twopi(nodem);
    argpm = sgp4_fmod_twopi(argpm);
    xlm = sgp4_fmod_twopi(xlm);
    mm = sgp4_fmod_twopi(xlm - argpm - nodem);

    /* Long-period periodics. */
    FR_SINCOS(argpm, &sinargpm, &cosargpm);
    axnl = em * cosargpm;
    temp = 1.0 / (am * (1.0 - em * em));
    aynl = em * sinargpm + temp * C->aycof;
    xl = mm + argpm + nodem + temp * C->xlcof * axnl;

    /* Kepler's equation, Newton steps capped at 0.95 rad. */
    u = sgp4_fmod_twopi(xl - nodem);
    eo1 = u;
    FR_SINCOS(eo1, &sineo1, &coseo1);
    for (ktr = 1; ktr <= SGP4_KEPLER_MAX_ITERATIONS; ++ktr) {
        tem5 = (u - aynl * coseo1 + axnl * sineo1 - eo1) / (1.0 - coseo1 * axnl - sineo1 * aynl);
        if (tem5 > 0.95) tem5 = 0.95;
        if (tem5 < -0.95) tem5 = -0.95;
        eo1 = eo1 + tem5;
        if (fabs(tem5) < SGP4_KEPLER_TOLERANCE_RAD || ktr == SGP4_KEPLER_MAX_ITERATIONS)
            break;
        if (ktr > 1 && fabs(tem5) < SGP4_SMALL_ANGLE_RAD) { /* the first step is about e: libm */
            sgp4_rotate(&sineo1, &coseo1, tem5);
        } else {
            FR_SINCOS(eo1, &sineo1, &coseo1);
        }
    }

    /* Short-period periodics. */
    ecose = axnl * coseo1 + aynl * sineo1;
    esine = axnl * sineo1 - aynl * coseo1;
    el2 = axnl * axnl + aynl * aynl;
    pl = am * (1.0 - el2);
    if (pl < 0.0) {
        r[0] = r[1] = r[2] = v[0] = v[1] = v[2] = FR_NAN;
        return SGP4_ERR_SEMILATUS;
    }
    rl = am * (1.0 - ecose);
    rdotl = sqrt(am) * esine / rl;
    rvdotl = sqrt(pl) / rl;
    betal = sqrt(1.0 - el2);
    temp = esine / (1.0 + betal);
    sinu = am / rl * (sineo1 - aynl - axnl * temp);
    cosu = am / rl * (coseo1 - axnl + aynl * temp);
    sin2u = (cosu + cosu) * sinu;
    cos2u = 1.0 - 2.0 * sinu * sinu;
    temp = 1.0 / pl;
    temp1 = 0.5 * SGP4_J2 * temp;
    temp2 = temp1 * temp;
    mrt = rl * (1.0 - 1.5 * temp2 * betal * C->con41) + 0.5 * temp1 * C->x1mth2 * cos2u;
    dsu = -0.25 * temp2 * C->x7thm1 * sin2u;
    xnode = nodem + 1.5 * temp2 * C->cosio * sin2u;
    dinc = 1.5 * temp2 * C->cosio * C->sinio * cos2u;
    mvt = rdotl - nm * temp1 * C->x1mth2 * sin2u * inv_xke;
    rvdot = rvdotl + nm * temp1 * (C->x1mth2 * cos2u + 1.5 * C->con41) * inv_xke;

    /* Orientation vectors, then TEME position and velocity. */
    /* su = atan2(sinu, cosu) + dsu and xinc = inclo + dinc, by rotation (dsu, dinc < 1e-3). */
    norm = sqrt(sinu * sinu + cosu * cosu);
    if (fabs(dsu) < SGP4_SMALL_ANGLE_RAD) {
        sinsu = sinu / norm;
        cossu = cosu / norm;
        sgp4_rotate(&sinsu, &cossu, dsu);
    } else {
        su = atan2(sinu, cosu) + dsu;
        FR_SINCOS(su, &sinsu, &cossu);
    }
    if (fabs(dinc) < SGP4_SMALL_ANGLE_RAD) {
        sini = C->sinio;
        cosi = C->cosio;
        sgp4_rotate(&sini, &cosi, dinc);
    } else {
        FR_SINCOS(C->inclo + dinc, &sini, &cosi);
    }
    FR_SINCOS(xnode, &snod, &cnod);
    xmx = -snod * cosi;
    xmy = cnod * cosi;
    ux = xmx * sinsu + cnod * cossu;
    uy = xmy * sinsu + snod * cossu;
    uz = sini * sinsu;
    vx = xmx * cossu - cnod * sinsu;
    vy = xmy * cossu - snod * sinsu;
    vz = sini * cossu;
    mr = mrt * SGP4_RADIUS_EARTH_KM;
    r[0] = mr * ux;
    r[1] = mr * uy;
    r[2] = mr * uz;
    mvt = mvt * vkmpersec;
    rvdot = rvdot * vkmpersec;
    v[0] = mvt * ux + rvdot * vx;
    v[1] = mvt * uy + rvdot * vy;
    v[2] = mvt * uz + rvdot * vz;
    return mrt < 1.0 ? SGP4_ERR_DECAYED : SGP4_OK;
}

#endif /* FRAGRISK_SGP4_CUH */
