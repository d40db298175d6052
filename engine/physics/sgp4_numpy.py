"""Near-earth SGP4, vectorized with NumPy: initialisation and propagation of many objects.

The algorithm is Vallado's revision of SGP4 (Hoots & Roehrich, Spacetrack Report #3, 1980;
Vallado, Crawford, Hujsak & Kelso, "Revisiting Spacetrack Report #3", AIAA 2006-6753), WGS-72
constants, 'i' (improved) operation mode, exactly as python-sgp4's C++ core evaluates it. The
CUDA twin lives in kernels/sgp4.cuh; both read the per-object coefficient table built here by
`sgp4_init`, with the same names, in the same order (COEFFICIENTS).

Conventions
- Elements: `no_kozai` (rad/min, Kozai mean motion as in a TLE), `ecco`, `inclo`, `nodeo`,
  `argpo`, `mo` (rad), `bstar` (1/earth radii). Arrays of shape (n,).
- Times: minutes since each object's own epoch (`tsince_min`).
- States: TEME, position in km, velocity in km/s.
- Error codes are python-sgp4's: 0 ok; 1 mean eccentricity outside [-0.001, 1); 2 mean motion
  <= 0; 4 semi-latus rectum < 0 (no state: NaN); 6 decayed (radius < 1 earth radius; the state
  is kept, as python-sgp4 keeps it). Codes 3 and 5 occur only in deep-space or not at all.
- Deep-space objects (period >= 225 min) are not handled here: `is_deep_space` finds them, and
  engine.orbits.propagation hands them to python-sgp4.

`sgp4_init` is written against an array module `xp` (NumPy or CuPy), so the GPU path builds its
coefficient table with this very code.
"""

from __future__ import annotations

import math

import numpy as np

# WGS-72 (python-sgp4's `wgs72`; Spacetrack Report #3 uses these).
MU_KM3_S2 = 398600.8
RADIUS_EARTH_KM = 6378.135
XKE = 60.0 / math.sqrt(RADIUS_EARTH_KM**3 / MU_KM3_S2)  # sqrt(mu) in earth radii^1.5 / min
J2 = 0.001082616
J3 = -0.00000253881
J4 = -0.00000165597
J3OJ2 = J3 / J2
VKMPERSEC = RADIUS_EARTH_KM * XKE / 60.0  # earth radii/min -> km/s
TWOPI = 2.0 * math.pi
DEEP_SPACE_PERIOD_MIN = 225.0

#: Objects (or object-times) NumPy evaluates at once: the few dozen float64 temporaries of a
#: block of 8,192 stay in a core's L2 cache, and NumPy's per-call overhead stays small next to
#: the per-element work (one block of everything is markedly slower; benchmarks/propagate.py
#: measures propagate's rate with it).
NUMPY_BLOCK = 8192

# Kepler's equation: python-sgp4 stops when the Newton step is below 1e-12 rad or after 10 steps.
KEPLER_TOLERANCE_RAD = 1.0e-12
KEPLER_MAX_ITERATIONS = 10

#: Below this angle (rad) sin and cos of a + d come from sin a, cos a and a series in d (exact in
#: float64: the first omitted term is d^9/9! < 3e-24), instead of two libm calls. SGP4 adds such
#: small angles three times: Newton steps of Kepler's equation after the first, and the J2
#: short-period corrections of the argument of latitude and of the inclination (< 1e-3 rad).
SMALL_ANGLE_RAD = 1.0e-2

#: python-sgp4's error codes (texts: sgp4.api.SGP4_ERRORS) that near-earth SGP4 returns.
ERR_OK = 0
ERR_ECCENTRICITY = 1
ERR_MEAN_MOTION = 2
ERR_SEMILATUS = 4
ERR_DECAYED = 6

#: Rows of the coefficient table, in the order kernels/sgp4.cuh indexes them (SGP4_C_*, generated
#: from this tuple by kernels/build.py).
COEFFICIENTS = (
    "no_unkozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar",
    "mdot", "argpdot", "nodedot", "nodecf",
    "cc1", "cc4", "cc5", "d2", "d3", "d4",
    "t2cof", "t3cof", "t4cof", "t5cof",
    "omgcof", "xmcof", "eta", "delmo", "sinmao",
    "con41", "x1mth2", "x7thm1", "xlcof", "aycof",
    "sinio", "cosio", "am_coef",
)
N_COEFFICIENTS = len(COEFFICIENTS)
_ROW = {name: k for k, name in enumerate(COEFFICIENTS)}


def unkozai_mean_motion(no_kozai, ecco, inclo, xp=np):
    """Brouwer mean motion (rad/min) from the Kozai mean motion of a TLE; shapes broadcast.

    Source: Vallado's `initl` (the "un-Kozai" step of SGP4's initialisation).
    """
    ak = (XKE / no_kozai) ** (2.0 / 3.0)
    return no_kozai / (1.0 + _brouwer_delta(ak, _kozai_d1(ecco, xp.cos(inclo), xp)))


def kozai_mean_motion(no_unkozai, ecco, cosio, xp=np, iterations=6):
    """Inverse of `unkozai_mean_motion`: the Kozai mean motion (rad/min) whose un-Kozai'd value
    is no_unkozai, for eccentricity ecco and cos(inclination) cosio; shapes broadcast.

    With ak = (XKE / no_kozai)^(2/3) and ao = (XKE / no_unkozai)^(2/3), initl's step reads
    ao = ak (1 + delta(ak))^(2/3), so ak = ao (1 + delta(ak))^(-2/3) is iterated from ak = ao.
    delta is about J2 / (1 - e^2)^1.5 (1e-3 in LEO, up to 4.5e-3 at e = 0.7) and varies as
    1/ak^2, so each step gains a factor of 4/3 delta: `iterations` = 6 leaves < 1e-14 relative
    up to e = 0.7. (1 + delta)^(-2/3) is its binomial series to the fifth power, not a pow() call: the
    first omitted term, 0.4 delta^6, is below 1e-16 for e < 0.5 (delta < 2.5e-3) and 4e-13 at
    delta = 1e-2.
    """
    ao = (XKE / no_unkozai) ** (2.0 / 3.0)
    d1 = _kozai_d1(ecco, cosio, xp)
    ak = ao
    for _ in range(iterations):
        x = _brouwer_delta(ak, d1)
        ak = ao * (1.0 + x * (-2.0 / 3.0 + x * (5.0 / 9.0 + x * (-40.0 / 81.0 + x * (110.0 / 243.0
                                                                                   - x * 308.0 / 729.0)))))
    return XKE / (ak * xp.sqrt(ak))


def _kozai_d1(ecco, cosio, xp):
    """initl's d1 = 3/4 J2 (3 cos^2 i - 1) / (1 - e^2)^(3/2)."""
    omeosq = 1.0 - ecco * ecco
    return 0.75 * J2 * (3.0 * cosio * cosio - 1.0) / (xp.sqrt(omeosq) * omeosq)


def _brouwer_delta(ak, d1):
    """initl's delta_0 from the Kozai semi-major axis ak (earth radii): no_unkozai = no_kozai /
    (1 + delta_0)."""
    del_ = d1 / (ak * ak)
    adel = ak * (1.0 - del_ * del_ - del_ * (1.0 / 3.0 + 134.0 * del_ * del_ / 81.0))
    return d1 / (adel * adel)


def is_deep_space(no_kozai, ecco, inclo, xp=np):
    """True where SGP4 would use its deep-space branch (period >= 225 min); shape (n,)."""
    return TWOPI / unkozai_mean_motion(no_kozai, ecco, inclo, xp) >= DEEP_SPACE_PERIOD_MIN


def short_period_inclination_terms(cosio):
    """SGP4's functions of the mean inclination in the short-period terms (Vallado's sgp4init):
    con41 = 3 cos^2 i - 1, x1mth2 = sin^2 i, x7thm1 = 7 cos^2 i - 1. Shapes broadcast."""
    cosio2 = cosio * cosio
    con41 = -(1.0 - 5.0 * cosio2) - cosio2 - cosio2
    x1mth2 = 1.0 - cosio2
    x7thm1 = 7.0 * cosio2 - 1.0
    return con41, x1mth2, x7thm1


def long_period_coefficients(sinio, cosio, xp=np):
    """SGP4's J3 long-period coefficients xlcof and aycof of the mean inclination (Vallado's
    sgp4init). Shapes broadcast."""
    # Vallado's guard against 1 + cos(i) = 0 (retrograde equatorial orbits).
    one_plus_cosio = xp.where(xp.abs(cosio + 1.0) > 1.5e-12, 1.0 + cosio, 1.5e-12)
    xlcof = -0.25 * J3OJ2 * sinio * (3.0 + 5.0 * cosio) / one_plus_cosio
    aycof = -0.5 * J3OJ2 * sinio
    return xlcof, aycof


def short_period_terms(pl, betal, nm, sin2u, cos2u, con41, x1mth2, x7thm1, sinio, cosio):
    """Brouwer's J2 short-period corrections as SGP4 applies them (Spacetrack Report #3 eq. for
    r_k, u_k, Omega_k, i_k, rdot_k, rfdot_k; Vallado's sgp4 "short period periodics").

    pl (earth radii), betal = sqrt(1 - e_L^2), sin2u/cos2u (of twice the argument of latitude)
    describe the long-period orbit; nm (rad/min) the mean motion; the rest are the sin and cos
    of the mean inclination and `short_period_inclination_terms` of it. Returns (radius_scale,
    radius_add, dsu, dnode, dinc, dmvt, drvdot): the corrected radius is rl * radius_scale +
    radius_add (earth radii); the other five are added to u, Omega, i (rad), rdot and r fdot
    (earth radii per 1/XKE min).
    Shared by `propagate_block` and the element fit's inversion (engine.physics.fit), which solves
    these same relations backwards. Twin: the short-period block of kernels/sgp4.cuh.
    """
    temp = 1.0 / pl
    temp1 = 0.5 * J2 * temp
    temp2 = temp1 * temp
    radius_scale = 1.0 - 1.5 * temp2 * betal * con41
    radius_add = 0.5 * temp1 * x1mth2 * cos2u
    dsu = -0.25 * temp2 * x7thm1 * sin2u
    dnode = 1.5 * temp2 * cosio * sin2u
    dinc = 1.5 * temp2 * cosio * sinio * cos2u
    dmvt = -(nm * temp1 * x1mth2 * sin2u * (1.0 / XKE))
    drvdot = nm * temp1 * (x1mth2 * cos2u + 1.5 * con41) * (1.0 / XKE)
    return radius_scale, radius_add, dsu, dnode, dinc, dmvt, drvdot


def sgp4_init(no_kozai, ecco, inclo, nodeo, argpo, mo, bstar, xp=np, *, epoch_only=False):
    """Coefficient table of near-earth SGP4 for n objects.

    Parameters: mean elements, arrays of shape (n,) (see module docstring for units).
    Returns: float64 array (N_COEFFICIENTS, n), rows named by COEFFICIENTS, contiguous per row
    so that GPU threads reading one row for consecutive objects coalesce.

    Follows Vallado's `sgp4init` for near-earth orbits. Where SGP4 uses its simplified drag
    model (`isimp`, perigee below 220 km), the coefficients that only the full model uses
    (cc5, d2-d4, t3cof-t5cof, omgcof, xmcof, delmo, sinmao) are zero, so propagation needs no
    branch and gives bit-for-bit what the branch would.

    epoch_only: a table valid at t = 0 only (the element fit's SGP4 evaluations): the secular
    and drag rows, which t = 0 multiplies by zero, are left 0 (bstar is ignored), for a quarter
    of the cost; propagate() at t = 0 gives bit for bit what the full table with B* = 0 gives.

    NumPy fills the table NUMPY_BLOCK objects at a time (every column depends on its own object
    alone, so the bits are the same).
    """
    f64 = xp.float64
    elements = [xp.asarray(a, dtype=f64).reshape(-1) for a in (no_kozai, ecco, inclo, nodeo, argpo, mo, bstar)]
    n = elements[0].shape[0]
    if xp is np and n > NUMPY_BLOCK:
        table = np.empty((N_COEFFICIENTS, n))
        for lo in range(0, n, NUMPY_BLOCK):
            table[:, lo:lo + NUMPY_BLOCK] = _sgp4_init(*(a[lo:lo + NUMPY_BLOCK] for a in elements), xp=np,
                                                       epoch_only=epoch_only)
        return table
    return _sgp4_init(*elements, xp=xp, epoch_only=epoch_only)


def _sgp4_init(no_kozai, ecco, inclo, nodeo, argpo, mo, bstar, xp, epoch_only):
    f64 = xp.float64
    x2o3 = 2.0 / 3.0
    ss = 78.0 / RADIUS_EARTH_KM + 1.0
    qzms2t = ((120.0 - 78.0) / RADIUS_EARTH_KM) ** 4

    # initl: un-Kozai the mean motion; auxiliary quantities of eccentricity and inclination.
    eccsq = ecco * ecco
    omeosq = 1.0 - eccsq
    rteosq = xp.sqrt(omeosq)
    cosio = xp.cos(inclo)
    cosio2 = cosio * cosio
    no_unkozai = unkozai_mean_motion(no_kozai, ecco, inclo, xp)
    ao = (XKE / no_unkozai) ** x2o3
    sinio = xp.sin(inclo)
    po = ao * omeosq
    con42 = 1.0 - 5.0 * cosio2
    posq = po * po
    rp = ao * (1.0 - ecco)
    con41, x1mth2, x7thm1 = short_period_inclination_terms(cosio)
    xlcof, aycof = long_period_coefficients(sinio, cosio, xp)
    table = xp.zeros((N_COEFFICIENTS, no_kozai.shape[0]), dtype=f64)
    if epoch_only:
        rows = dict(no_unkozai=no_unkozai, ecco=ecco, inclo=inclo, nodeo=nodeo, argpo=argpo, mo=mo,
                    con41=con41, x1mth2=x1mth2, x7thm1=x7thm1, xlcof=xlcof, aycof=aycof,
                    sinio=sinio, cosio=cosio, am_coef=ao)
        for name, value in rows.items():
            table[_ROW[name]] = value
        return table

    isimp = rp < 220.0 / RADIUS_EARTH_KM + 1.0

    # Atmosphere parameters s and q0 (Spacetrack Report #3): lowered for low perigees.
    perige_km = (rp - 1.0) * RADIUS_EARTH_KM
    sfour_km = xp.where(perige_km < 98.0, 20.0, perige_km - 78.0)
    low = perige_km < 156.0
    sfour = xp.where(low, sfour_km / RADIUS_EARTH_KM + 1.0, ss)
    qz = (120.0 - sfour_km) / RADIUS_EARTH_KM
    qzms24 = xp.where(low, (qz * qz) * (qz * qz), qzms2t)

    pinvsq = 1.0 / posq
    tsi = 1.0 / (ao - sfour)
    eta = ao * ecco * tsi
    etasq = eta * eta
    eeta = ecco * eta
    psisq = xp.abs(1.0 - etasq)
    # Integer and half-integer powers by multiplication: pow() costs ~20 ns an element in NumPy.
    tsi2 = tsi * tsi
    coef = qzms24 * (tsi2 * tsi2)
    coef1 = coef / (psisq * psisq * psisq * xp.sqrt(psisq))
    cc2 = coef1 * no_unkozai * (ao * (1.0 + 1.5 * etasq + eeta * (4.0 + etasq))
                                + 0.375 * J2 * tsi / psisq * con41 * (8.0 + 3.0 * etasq * (8.0 + etasq)))
    cc1 = bstar * cc2
    eccentric = ecco > 1.0e-4
    # The divisions by ecco and eeta are only used where ecco > 1e-4; guard them so that
    # circular orbits give 0 without a division warning.
    safe_ecco = xp.where(eccentric, ecco, 1.0)
    safe_eeta = xp.where(eccentric, eeta, 1.0)
    cc3 = xp.where(eccentric, -2.0 * coef * tsi * J3OJ2 * no_unkozai * sinio / safe_ecco, 0.0)
    cc4 = 2.0 * no_unkozai * coef1 * ao * omeosq * (
        eta * (2.0 + 0.5 * etasq) + ecco * (0.5 + 2.0 * etasq)
        - J2 * tsi / (ao * psisq) * (
            -3.0 * con41 * (1.0 - 2.0 * eeta + etasq * (1.5 - 0.5 * eeta))
            + 0.75 * x1mth2 * (2.0 * etasq - eeta * (1.0 + etasq)) * xp.cos(2.0 * argpo)))
    cc5 = 2.0 * coef1 * ao * omeosq * (1.0 + 2.75 * (etasq + eeta) + eeta * etasq)
    cosio4 = cosio2 * cosio2
    temp1 = 1.5 * J2 * pinvsq * no_unkozai
    temp2 = 0.5 * temp1 * J2 * pinvsq
    temp3 = -0.46875 * J4 * pinvsq * pinvsq * no_unkozai
    mdot = (no_unkozai + 0.5 * temp1 * rteosq * con41
            + 0.0625 * temp2 * rteosq * (13.0 - 78.0 * cosio2 + 137.0 * cosio4))
    argpdot = (-0.5 * temp1 * con42 + 0.0625 * temp2 * (7.0 - 114.0 * cosio2 + 395.0 * cosio4)
               + temp3 * (3.0 - 36.0 * cosio2 + 49.0 * cosio4))
    xhdot1 = -temp1 * cosio
    nodedot = xhdot1 + (0.5 * temp2 * (4.0 - 19.0 * cosio2) + 2.0 * temp3 * (3.0 - 7.0 * cosio2)) * cosio
    omgcof = bstar * cc3 * xp.cos(argpo)
    xmcof = xp.where(eccentric, -x2o3 * coef * bstar / safe_eeta, 0.0)
    nodecf = 3.5 * omeosq * xhdot1 * cc1
    t2cof = 1.5 * cc1
    delmo = 1.0 + eta * xp.cos(mo)
    delmo = delmo * delmo * delmo
    sinmao = xp.sin(mo)

    cc1sq = cc1 * cc1
    d2 = 4.0 * ao * tsi * cc1sq
    temp = d2 * tsi * cc1 / 3.0
    d3 = (17.0 * ao + sfour) * temp
    d4 = 0.5 * temp * ao * tsi * (221.0 * ao + 31.0 * sfour) * cc1
    t3cof = d2 + 2.0 * cc1sq
    t4cof = 0.25 * (3.0 * d3 + cc1 * (12.0 * d2 + 10.0 * cc1sq))
    t5cof = 0.2 * (3.0 * d4 + 12.0 * cc1 * d3 + 6.0 * d2 * d2 + 15.0 * cc1sq * (2.0 * d2 + cc1sq))

    full = ~isimp
    rows = dict(
        no_unkozai=no_unkozai, ecco=ecco, inclo=inclo, nodeo=nodeo, argpo=argpo, mo=mo, bstar=bstar,
        mdot=mdot, argpdot=argpdot, nodedot=nodedot, nodecf=nodecf,
        cc1=cc1, cc4=cc4, cc5=xp.where(full, cc5, 0.0),
        d2=xp.where(full, d2, 0.0), d3=xp.where(full, d3, 0.0), d4=xp.where(full, d4, 0.0),
        t2cof=t2cof, t3cof=xp.where(full, t3cof, 0.0), t4cof=xp.where(full, t4cof, 0.0),
        t5cof=xp.where(full, t5cof, 0.0),
        omgcof=xp.where(full, omgcof, 0.0), xmcof=xp.where(full, xmcof, 0.0),
        eta=eta, delmo=xp.where(full, delmo, 0.0), sinmao=xp.where(full, sinmao, 0.0),
        con41=con41, x1mth2=x1mth2, x7thm1=x7thm1, xlcof=xlcof, aycof=aycof,
        sinio=sinio, cosio=cosio, am_coef=ao,
    )
    for k, name in enumerate(COEFFICIENTS):
        table[k] = rows[name]
    return table


def sincos_small(d):
    """sin d and cos d for |d| < SMALL_ANGLE_RAD, by their Taylor series to d^7 and d^8 (the next
    terms are below 1e-24). Twin: sgp4_rotate in kernels/sgp4.cuh. In-place Horner steps: NumPy
    pays per temporary array as much as per flop."""
    d2 = d * d
    sin_d = d2 * (-1.0 / 5040.0)
    sin_d += 1.0 / 120.0
    sin_d *= d2
    sin_d -= 1.0 / 6.0
    sin_d *= d2
    sin_d *= d
    sin_d += d
    cos_d = d2 * (1.0 / 40320.0)
    cos_d -= 1.0 / 720.0
    cos_d *= d2
    cos_d += 1.0 / 24.0
    cos_d *= d2
    cos_d -= 0.5
    cos_d *= d2
    cos_d += 1.0
    return sin_d, cos_d


def rotate_small(sin_a, cos_a, d):
    """sin and cos of a + d from those of a, for |d| < SMALL_ANGLE_RAD (any array module)."""
    sin_d, cos_d = sincos_small(d)
    sin_new = sin_a * cos_d
    sin_new += cos_a * sin_d
    cos_new = cos_a * cos_d
    cos_new -= sin_a * sin_d
    return sin_new, cos_new


def rotate(sin_a, cos_a, d, a_plus_d):
    """sin and cos of a + d from those of a. Elements with |d| >= SMALL_ANGLE_RAD take libm on
    a_plus_d (a callable giving a + d for the index array it is passed); the rest the series."""
    sin_new, cos_new = rotate_small(sin_a, cos_a, d)
    big = np.flatnonzero(~(np.abs(d) < SMALL_ANGLE_RAD))
    if big.size:
        angle = a_plus_d(big)
        sin_new.flat[big] = np.sin(angle)
        cos_new.flat[big] = np.cos(angle)
    return sin_new, cos_new


def _secular(C, t, xp):
    """Secular gravity and atmospheric drag: SGP4's mean elements at t minutes since epoch.

    C: coefficient rows by name (COEFFICIENTS), broadcastable against t. Returns am (earth
    radii), nm (rad/min, un-Kozai'd), em (clipped below at 1e-6, as SGP4 continues with it),
    mm, argpm, nodem (rad, reduced by fmod into (-2pi, 2pi)), bad_ecc (SGP4 error 1: em >= 1
    or em < -0.001 before the clip) and tempa (the drag factor, am = a0·tempa²). The shared first
    stage of `propagate_block` and `mean_elements`.
    """
    xmdf = C["mo"] + C["mdot"] * t
    argpdf = C["argpo"] + C["argpdot"] * t
    nodedf = C["nodeo"] + C["nodedot"] * t
    t2 = t * t
    nodem = nodedf + C["nodecf"] * t2
    delomg = C["omgcof"] * t
    delmtemp = 1.0 + C["eta"] * xp.cos(xmdf)
    delm = C["xmcof"] * (delmtemp * delmtemp * delmtemp - C["delmo"])
    temp = delomg + delm
    mm = xmdf + temp
    argpm = argpdf - temp
    t3 = t2 * t
    t4 = t3 * t
    tempa = 1.0 - C["cc1"] * t - C["d2"] * t2 - C["d3"] * t3 - C["d4"] * t4
    tempe = C["bstar"] * C["cc4"] * t + C["bstar"] * C["cc5"] * (xp.sin(mm) - C["sinmao"])
    templ = C["t2cof"] * t2 + C["t3cof"] * t3 + t4 * (C["t4cof"] + t * C["t5cof"])

    am = C["am_coef"] * tempa * tempa
    nm = XKE / (am * xp.sqrt(am))
    em = C["ecco"] - tempe
    bad_ecc = (em >= 1.0) | (em < -0.001)
    em = xp.maximum(em, 1.0e-6)
    mm = mm + C["no_unkozai"] * templ
    xlm = mm + argpm + nodem
    nodem = xp.fmod(nodem, TWOPI)
    argpm = xp.fmod(argpm, TWOPI)
    xlm = xp.fmod(xlm, TWOPI)
    mm = xp.fmod(xlm - argpm - nodem, TWOPI)
    return am, nm, em, mm, argpm, nodem, bad_ecc, tempa


def mean_elements(coef, tsince_min, xp=np):
    """SGP4's mean elements of n objects at given times: what python-sgp4 leaves in a Satrec's
    ``am``, ``em``, ``im``, ``Om``, ``om``, ``mm``, ``nm`` after ``sgp4()`` (secular gravity and
    drag applied; no long- or short-period periodics).

    coef: (N_COEFFICIENTS, n) from `sgp4_init` (NumPy, or CuPy with xp=cupy). tsince_min: minutes
    since each object's epoch, shape (n,) or (n, m). Returns a dict of float64 arrays of the shape
    of tsince_min: ``a_er`` (semi-major axis, earth radii, from the un-Kozai'd mean motion),
    ``no_unkozai`` (rad/min), ``ecco``, ``inclo``, ``nodeo``, ``argpo``, ``mo`` (rad; angles
    reduced into (-2pi, 2pi) as SGP4 reduces them), ``tempa`` (SGP4's drag factor, a = a0·tempa²:
    with B* > 0 it falls from 1 (cc1 and d2-d4 are positive for near-earth orbits) and passes 0
    long after the model's reentry, where a starts to grow again: tempa > 0 tells a live orbit
    from one past its reentry) and ``error`` (int8: 2 where the epoch mean motion is <= 0,
    1 where the mean eccentricity has left [-0.001, 1), else 0; the propagator's codes 4 and 6
    need the periodics and are not tested here).
    """
    coef = xp.asarray(coef, dtype=xp.float64)
    t = xp.asarray(tsince_min, dtype=xp.float64)
    c = coef.reshape(coef.shape[:2] + (1,) * (t.ndim - 1))
    C = dict(zip(COEFFICIENTS, c))
    with np.errstate(all="ignore"):  # decayed objects: negative tempa, NaN; flagged by error
        am, nm, em, mm, argpm, nodem, bad_ecc, tempa = _secular(C, t, xp)
    bad_nm = xp.broadcast_to(C["no_unkozai"] <= 0.0, t.shape)
    error = xp.where(bad_nm, 2, xp.where(bad_ecc, 1, 0)).astype(xp.int8)
    return {"a_er": am, "no_unkozai": nm, "ecco": em,
            "inclo": xp.broadcast_to(C["inclo"], t.shape).copy(),
            "nodeo": nodem, "argpo": argpm, "mo": mm, "tempa": tempa, "error": error}


def propagate(coef, tsince_min, *, max_elements=NUMPY_BLOCK):
    """Positions, velocities and error codes of n objects at m times each.

    coef: (N_COEFFICIENTS, n) from `sgp4_init`.
    tsince_min: minutes since each object's epoch, shape (n, m) or (m,) (same times for all).
    max_elements: objects x times evaluated at once; bounds memory (about 40 temporaries of
        this many float64) whatever the request size; NUMPY_BLOCK keeps them in the L2 cache
        while amortising NumPy's per-call overhead (measured by benchmarks/propagate.py).
    Returns r_km (n, m, 3), v_km_s (n, m, 3) float64 in TEME, error (n, m) int8.
    """
    coef = np.asarray(coef, dtype=np.float64)
    n = coef.shape[1]
    t = np.asarray(tsince_min, dtype=np.float64)
    if t.ndim == 1:
        t = np.broadcast_to(t, (n, t.shape[0]))
    if t.shape[0] != n:
        raise ValueError(f"tsince_min has {t.shape[0]} rows for {n} objects")
    m = t.shape[1]
    r = np.empty((n, m, 3))
    v = np.empty((n, m, 3))
    error = np.empty((n, m), dtype=np.int8)
    rows_per_chunk = max(1, max_elements // max(m, 1))
    for lo in range(0, n, rows_per_chunk):
        hi = min(n, lo + rows_per_chunk)
        propagate_block(coef[:, lo:hi, None], t[lo:hi], r[lo:hi], v[lo:hi], error[lo:hi])
    return r, v, error


def propagate_block(c, t, r_out, v_out, error_out):
    """SGP4 for one block: the NumPy twin of `sgp4_propagate` in kernels/sgp4.cuh.

    c: (N_COEFFICIENTS, ...) coefficient rows broadcastable against t; t: minutes since epoch.
    Writes r_out[..., 3] (km), v_out[..., 3] (km/s) and error_out (int8) in place.
    """
    C = dict(zip(COEFFICIENTS, c))
    with np.errstate(all="ignore"):  # rows with an error code carry NaN/inf; masked below
        am, nm, em, mm, argpm, nodem, bad_ecc, _ = _secular(C, t, np)

        # Long-period periodics.
        axnl = em * np.cos(argpm)
        temp = 1.0 / (am * (1.0 - em * em))
        aynl = em * np.sin(argpm) + temp * C["aycof"]
        xl = mm + argpm + nodem + temp * C["xlcof"] * axnl

        # Kepler's equation, Newton steps capped at 0.95 rad. Each element stops on its own, as
        # in Vallado's loop: a converged element keeps its eo1 and the sin/cos of the last eo1
        # it tested, so its state does not depend on which block it is evaluated in. After the
        # first step (about e), sin/cos of eo1 follow the later, small steps by `rotate`.
        u = np.fmod(xl - nodem, TWOPI)
        eo1 = u.copy()
        sineo1 = np.sin(eo1)
        coseo1 = np.cos(eo1)
        active = np.ones(eo1.shape, dtype=bool)
        for step in range(KEPLER_MAX_ITERATIONS - 1):
            tem5 = u - aynl * coseo1
            tem5 += axnl * sineo1
            tem5 -= eo1
            tem5 /= 1.0 - coseo1 * axnl - sineo1 * aynl
            np.clip(tem5, -0.95, 0.95, out=tem5)
            tem5 *= active
            eo1 += tem5
            active &= np.abs(tem5) >= KEPLER_TOLERANCE_RAD
            if not active.any():
                break
            if step == 0:  # the first step is as large as e: libm (rotation for the rest)
                np.copyto(sineo1, np.sin(eo1), where=active)
                np.copyto(coseo1, np.cos(eo1), where=active)
                continue
            tem5 *= active  # those that just converged keep the sin/cos they tested
            sineo1, coseo1 = rotate(sineo1, coseo1, tem5, lambda i: eo1.flat[i])
        else:
            # The tenth step: taken, but its sin/cos are never needed (the loop ends).
            tem5 = (u - aynl * coseo1 + axnl * sineo1 - eo1) / (1.0 - coseo1 * axnl - sineo1 * aynl)
            eo1 += np.clip(tem5, -0.95, 0.95) * active

        # Short-period periodics.
        ecose = axnl * coseo1 + aynl * sineo1
        esine = axnl * sineo1 - aynl * coseo1
        el2 = axnl * axnl + aynl * aynl
        pl = am * (1.0 - el2)
        rl = am * (1.0 - ecose)
        rdotl = np.sqrt(am) * esine / rl
        rvdotl = np.sqrt(pl) / rl
        betal = np.sqrt(1.0 - el2)
        temp = esine / (1.0 + betal)
        sinu = am / rl * (sineo1 - aynl - axnl * temp)
        cosu = am / rl * (coseo1 - axnl + aynl * temp)
        sin2u = (cosu + cosu) * sinu
        cos2u = 1.0 - 2.0 * sinu * sinu
        radius_scale, radius_add, dsu, dnode, dinc, dmvt, drvdot = short_period_terms(
            pl, betal, nm, sin2u, cos2u, C["con41"], C["x1mth2"], C["x7thm1"], C["sinio"], C["cosio"])
        mrt = rl * radius_scale + radius_add
        xnode = nodem + dnode
        mvt = rdotl + dmvt
        rvdot = rvdotl + drvdot

        # Orientation vectors, then TEME position and velocity.
        # su = atan2(sinu, cosu) + dsu and xinc = inclo + dinc, by rotation (dsu, dinc < 1e-3).
        norm = np.sqrt(sinu * sinu + cosu * cosu)
        sinsu, cossu = rotate(sinu / norm, cosu / norm, dsu,
                              lambda i: np.arctan2(sinu.flat[i], cosu.flat[i]) + dsu.flat[i])
        inclo = np.broadcast_to(C["inclo"], dinc.shape)
        sini, cosi = rotate(np.broadcast_to(C["sinio"], dinc.shape), np.broadcast_to(C["cosio"], dinc.shape),
                            dinc, lambda i: inclo.flat[i] + dinc.flat[i])
        snod = np.sin(xnode)
        cnod = np.cos(xnode)
        xmx = -snod * cosi
        xmy = cnod * cosi
        ux = xmx * sinsu + cnod * cossu
        uy = xmy * sinsu + snod * cossu
        uz = sini * sinsu
        vx = xmx * cossu - cnod * sinsu
        vy = xmy * cossu - snod * sinsu
        vz = sini * cossu
        mr = mrt * RADIUS_EARTH_KM
        np.multiply(mr, ux, out=r_out[..., 0])
        np.multiply(mr, uy, out=r_out[..., 1])
        np.multiply(mr, uz, out=r_out[..., 2])
        mvt *= VKMPERSEC
        rvdot *= VKMPERSEC
        for k, (uk, vk) in enumerate(((ux, vx), (uy, vy), (uz, vz))):
            np.multiply(mvt, uk, out=v_out[..., k])
            v_out[..., k] += rvdot * vk

    # Error codes in python-sgp4's order of tests; 1, 2 and 4 stop before a state exists.
    bad_nm = np.broadcast_to(C["no_unkozai"] <= 0.0, t.shape)
    no_state = bad_nm | bad_ecc | (pl < 0.0)
    error_out[...] = np.where(mrt < 1.0, ERR_DECAYED, ERR_OK)
    error_out[pl < 0.0] = ERR_SEMILATUS
    error_out[bad_ecc] = ERR_ECCENTRICITY
    error_out[bad_nm] = ERR_MEAN_MOTION
    r_out[no_state] = np.nan
    v_out[no_state] = np.nan
