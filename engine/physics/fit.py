"""Osculating state -> SGP4 mean elements: SGP4's epoch map inverted, then checked by SGP4.

A fragment has no TLE: it has a TEME state (r, v) at the event epoch. SGP4's mean elements are
not osculating elements (SGP4 adds J3 long-period and J2 short-period terms and uses Kozai's mean
motion), so the elements that reproduce (r, v) at t = 0 are found in two stages:

1. `invert_sgp4_at_epoch` undoes SGP4's own steps at t = 0 in reverse order: the state gives
   SGP4's final variables (radius, argument of latitude, node, inclination, radial and
   transverse velocity); the short-period terms (engine.physics.sgp4_numpy.short_period_terms, shared with the
   propagator) are removed by a fixed-point iteration, since they depend on the orbit they
   correct, but only through J2 (1e-3) times it; Kepler's equation and the long-period terms are
   then undone in closed form, and the Kozai mean motion recovered (engine.physics.sgp4_numpy.kozai_mean_motion).
   No SGP4 evaluation, and only four atan2 per state: about a third of a full SGP4 evaluation.
2. `fit_mean_elements` evaluates SGP4 (the NumPy path or the CUDA path, chosen by the caller
   through `propagate_at_epoch`) at those elements and accepts the states it reproduces within
   the tolerance. Where it does not (mean eccentricity near 1 or below SGP4's floor of 1e-6,
   inclination exactly 0), it goes on with the fixed-point iteration

       x_{k+1} = x_k + (E(r, v) - E(SGP4(x_k, t=0)))

   where E maps a state to its osculating equinoctial elements (n, h, k, p, q, lambda) (Broucke &
   Cefola 1972), non-singular at e = 0 and i = 0.

SGP4's state at t = 0 does not depend on B*, so B* is set apart (`bstar_from_area_to_mass`).
Everything runs on the array module `xp` (NumPy or CuPy).
"""

from __future__ import annotations

import math

import numpy as np

from . import sgp4_numpy as sgp4

#: Reference density of SGP4's B* per earth radius (docs/breakup-model.md §8): 2.461e-8 kg/m^3 x
#: 6378.145 km, the radius the breakup model's references use (not WGS-72's 6378.135 km).
RHO0_KG_M2_ER = 0.15696615

#: Convergence: position within 1e-4 km (10 cm) and velocity within 1e-7 km/s (0.1 mm/s) of the
#: target: ten times below the 1 m / 1 mm/s round trip through python-sgp4 that the tests demand,
#: and far below what the breakup model knows of a fragment (its velocity to m/s). The inversion
#: lands within 1e-8 km and 1e-11 km/s of the target (every near-earth state of the built-in
#: scenario at lc_min 0.1 m and 1 cm), so one SGP4 evaluation confirms it.
TOLERANCE_POSITION_KM = 1.0e-4
TOLERANCE_VELOCITY_KM_S = 1.0e-7
#: Short-period passes of the inversion: each gains a factor of about 3e-3 (J2 times the
#: sensitivities), so the built-in scenario's states are reproduced within 2e-5 km after 2 passes
#: and 7e-8 km after 3; 4 leave the elements within ~1e-12 of SGP4's own (tests/test_fit.py), for
#: 5 % of the fit's time.
INVERSION_PASSES = 4
#: SGP4 evaluations at most (the first checks the inversion); the corrector contracts by about
#: J2 per step, so 30 cover eccentric orbits and leave the rare non-converging state marked as
#: failed rather than wrong.
MAX_EVALUATIONS = 30


def bstar_from_area_to_mass(am_m2_kg, drag_coefficient, drag_scale=1.0):
    """SGP4 B* (1/earth radii) from area-to-mass ratio A/m (m^2/kg): B* = k Cd (A/m) rho0 / 2.

    Source: docs/breakup-model.md §8. Example: Cd 2.2, A/m 0.1 m^2/kg, k 1 -> 0.0173.
    """
    return drag_scale * drag_coefficient * np.asarray(am_m2_kg) * RHO0_KG_M2_ER / 2.0


def propagate_at_epoch_numpy(table):
    """`fit_mean_elements`'s propagate_at_epoch on the NumPy path: SGP4 at t = 0 of a
    coefficient table (N_COEFFICIENTS, n) -> r (n, 3), v (n, 3), error (n,)."""
    r, v, err = sgp4.propagate(table, np.zeros((table.shape[1], 1)))
    return r[:, 0], v[:, 0], err[:, 0]


def equinoctial_from_state(r_km, v_km_s, xp=np):
    """Osculating equinoctial elements of TEME states (two-body, WGS-72 mu).

    r_km, v_km_s: (n, 3). Returns a (6, n) array of n (rad/min), h = e sin(w+O), k = e cos(w+O),
    p = tan(i/2) sin O, q = tan(i/2) cos O, lambda = M + w + O (rad), and the semi-major axis a_km
    (n,) (negative for hyperbolic states).
    """
    with np.errstate(all="ignore"):  # hyperbolic and degenerate states give NaN, not warnings
        return _equinoctial_from_state(r_km, v_km_s, xp)


def semi_major_axis_and_eccentricity(r_km, v_km_s, xp=np):
    """Two-body (WGS-72 mu) semi-major axis a_km (n,) (negative for hyperbolic states) and
    eccentricity vector (3 arrays (n,)) of TEME states r_km, v_km_s (n, 3): vis-viva and
    e = ((v^2 - mu/r) r - (r.v) v) / mu. No trigonometry: the cheap part of
    `equinoctial_from_state`."""
    mu = sgp4.MU_KM3_S2
    x, y, z = r_km[:, 0], r_km[:, 1], r_km[:, 2]
    vx, vy, vz = v_km_s[:, 0], v_km_s[:, 1], v_km_s[:, 2]
    with np.errstate(all="ignore"):  # r = 0 or v^2 = 2 mu / r: inf/NaN, read as not bound
        rmag = xp.sqrt(x * x + y * y + z * z)
        v2 = vx * vx + vy * vy + vz * vz
        rv = x * vx + y * vy + z * vz
        a_km = 1.0 / (2.0 / rmag - v2 / mu)
        c1 = v2 / mu - 1.0 / rmag
        e_vector = (c1 * x - rv / mu * vx, c1 * y - rv / mu * vy, c1 * z - rv / mu * vz)
    return a_km, e_vector


def _equinoctial_from_state(r_km, v_km_s, xp):
    x, y, z = r_km[:, 0], r_km[:, 1], r_km[:, 2]
    vx, vy, vz = v_km_s[:, 0], v_km_s[:, 1], v_km_s[:, 2]
    a_km, (ex, ey, ez) = semi_major_axis_and_eccentricity(r_km, v_km_s, xp)
    mu = sgp4.MU_KM3_S2
    # Unit angular momentum.
    hx, hy, hz = y * vz - z * vy, z * vx - x * vz, x * vy - y * vx
    hmag = xp.sqrt(hx * hx + hy * hy + hz * hz)
    wx, wy, wz = hx / hmag, hy / hmag, hz / hmag
    p = wx / (1.0 + wz)
    q = -wy / (1.0 + wz)
    # Equinoctial frame (f, g) in the orbit plane.
    s = 1.0 + p * p + q * q
    fx, fy, fz = (1.0 - p * p + q * q) / s, 2.0 * p * q / s, -2.0 * p / s
    gx, gy, gz = 2.0 * p * q / s, (1.0 + p * p - q * q) / s, 2.0 * q / s
    h = ex * gx + ey * gy + ez * gz
    k = ex * fx + ey * fy + ez * fz
    X = x * fx + y * fy + z * fz
    Y = x * gx + y * gy + z * gz
    # Eccentric longitude F from the position in the equinoctial frame, then Kepler's equation.
    root = xp.sqrt(xp.maximum(1.0 - h * h - k * k, 0.0))
    beta = 1.0 / (1.0 + root)
    denom = a_km * root
    cos_f = k + ((1.0 - k * k * beta) * X - h * k * beta * Y) / denom
    sin_f = h + ((1.0 - h * h * beta) * Y - h * k * beta * X) / denom
    f = xp.arctan2(sin_f, cos_f)
    lam = f + h * xp.cos(f) - k * xp.sin(f)
    n = xp.sqrt(mu / xp.abs(a_km) ** 3) * 60.0
    return xp.stack([n, h, k, p, q, lam]), a_km


def equinoctial_from_classical(el, xp=np):
    """Dict of no_kozai, ecco, inclo, nodeo, argpo, mo (as `classical_from_equinoctial` returns)
    -> (6, n) equinoctial elements (n, h, k, p, q, lambda)."""
    lon_perigee = el["argpo"] + el["nodeo"]
    tan_half_i = xp.tan(0.5 * el["inclo"])
    return xp.stack([el["no_kozai"], el["ecco"] * xp.sin(lon_perigee), el["ecco"] * xp.cos(lon_perigee),
                     tan_half_i * xp.sin(el["nodeo"]), tan_half_i * xp.cos(el["nodeo"]),
                     el["mo"] + lon_perigee])


def classical_from_equinoctial(eq, xp=np):
    """(6, n) equinoctial -> dict of SGP4 inputs no_kozai, ecco, inclo, nodeo, argpo, mo (rad)."""
    n, h, k, p, q, lam = eq
    ecco = xp.sqrt(h * h + k * k)
    lon_perigee = xp.arctan2(h, k)
    nodeo = xp.arctan2(p, q)
    inclo = 2.0 * xp.arctan(xp.sqrt(p * p + q * q))
    two_pi = 2.0 * math.pi
    return dict(no_kozai=n, ecco=ecco, inclo=inclo, nodeo=xp.mod(nodeo, two_pi),
                argpo=xp.mod(lon_perigee - nodeo, two_pi), mo=xp.mod(lam - lon_perigee, two_pi))


def invert_sgp4_at_epoch(r_km, v_km_s, xp=np, passes=None):
    """Mean elements from which SGP4 at t = 0 gives (r_km, v_km_s): SGP4's epoch map undone.

    r_km, v_km_s: (n, 3) TEME. Returns a dict of (n,) arrays no_kozai (rad/min), ecco, inclo,
    nodeo, argpo, mo (rad, angles in [0, 2 pi)), as `fit_mean_elements` does. Exact up to the
    `passes` (>= 1; default INVERSION_PASSES) of the short-period iteration, for near-earth
    orbits with a mean eccentricity in [1e-6, 1) and an inclination above 0; elsewhere the
    elements are approximate or NaN, and `fit_mean_elements`'s SGP4 check catches them.

    Names follow engine.physics.sgp4_numpy.propagate_block, read bottom-up. Units there are SGP4's: earth radii,
    time in 1/XKE minutes, so mu = 1 and velocities are in VKMPERSEC km/s.
    """
    with np.errstate(all="ignore"):  # degenerate states give NaN, which the SGP4 check rejects
        return _invert_sgp4_at_epoch(xp.asarray(r_km, dtype=xp.float64),
                                     xp.asarray(v_km_s, dtype=xp.float64), xp,
                                     INVERSION_PASSES if passes is None else max(1, passes))


def _invert_sgp4_at_epoch(r_km, v_km_s, xp, passes):
    # SGP4's last step: r = mrt U, v = mvt U + rvdot V, where U, V span the orbit plane of
    # node xnode and inclination xinc, at argument of latitude su.
    x, y, z = (r_km[:, k] * (1.0 / sgp4.RADIUS_EARTH_KM) for k in range(3))
    vx, vy, vz = (v_km_s[:, k] * (1.0 / sgp4.VKMPERSEC) for k in range(3))
    mrt = xp.sqrt(x * x + y * y + z * z)
    ux, uy, uz = x / mrt, y / mrt, z / mrt
    mvt = ux * vx + uy * vy + uz * vz
    hx, hy, hz = y * vz - z * vy, z * vx - x * vz, x * vy - y * vx
    hmag = xp.sqrt(hx * hx + hy * hy + hz * hz)
    rvdot = hmag / mrt
    wx, wy, wz = hx / hmag, hy / hmag, hz / hmag
    sin_xinc = xp.sqrt(wx * wx + wy * wy)
    cos_xinc = wz
    cnod, snod = -wy / sin_xinc, wx / sin_xinc
    cos_su = ux * cnod + uy * snod
    sin_su = (uy * cnod - ux * snod) * cos_xinc + uz * sin_xinc
    sin_2su = 2.0 * sin_su * cos_su
    cos_2su = cos_su * cos_su - sin_su * sin_su

    # Short-period terms: they are functions of the long-period orbit (rl, rdotl, rvdotl, u, i)
    # they correct, so iterate from "no correction". The corrections of u and i are < 1e-3 rad
    # for any perigee above the ground (they scale as J2 / p^2), so the sin/cos of the corrected
    # angles follow by rotation, without libm.
    rl, rdotl, rvdotl = mrt, mvt, rvdot
    sinio, cosio, sin2u, cos2u = sin_xinc, cos_xinc, sin_2su, cos_2su
    for _ in range(passes):
        pl = (rl * rvdotl) ** 2  # rvdotl = sqrt(pl) / rl (mu = 1)
        inv_am = 2.0 / rl - rdotl * rdotl - rvdotl * rvdotl  # vis-viva
        betal = xp.sqrt(pl * inv_am)
        nm = sgp4.XKE * inv_am * xp.sqrt(inv_am)
        con41, x1mth2, x7thm1 = sgp4.short_period_inclination_terms(cosio)
        radius_scale, radius_add, dsu, dnode, dinc, dmvt, drvdot = sgp4.short_period_terms(
            pl, betal, nm, sin2u, cos2u, con41, x1mth2, x7thm1, sinio, cosio)
        rl = (mrt - radius_add) / radius_scale
        rdotl = mvt - dmvt
        rvdotl = rvdot - drvdot
        sinio, cosio = _rotate_second_order(sin_xinc, cos_xinc, -dinc)
        sin2u, cos2u = _rotate_second_order(sin_2su, cos_2su, -2.0 * dsu)
    pl = (rl * rvdotl) ** 2
    inv_am = 2.0 / rl - rdotl * rdotl - rvdotl * rvdotl
    betal = xp.sqrt(pl * inv_am)
    sinu, cosu = sgp4.rotate_small(sin_su, cos_su, -dsu)

    # The long-period orbit's (axnl, aynl) = e_L (cos w, sin w), from e cos(nu) and e sin(nu),
    # then eo1 = E + w and the mean argument of latitude from Kepler's equation as SGP4 writes
    # it: u_mean = eo1 - axnl sin(eo1) + aynl cos(eo1). No division by e: fine at e = 0.
    ecosnu = pl / rl - 1.0
    esinnu = rdotl * rl * rvdotl
    axnl = ecosnu * cosu + esinnu * sinu
    aynl = ecosnu * sinu - esinnu * cosu
    temp = rdotl * rl * xp.sqrt(inv_am) / (1.0 + betal)  # e sin(E) / (1 + betal)
    sineo1 = sinu * rl * inv_am + aynl + axnl * temp
    coseo1 = cosu * rl * inv_am + axnl - aynl * temp
    eo1 = xp.arctan2(sineo1, coseo1)
    u_mean = eo1 - axnl * sineo1 + aynl * coseo1

    # Long-period terms: aynl = e sin w + aycof / (am (1 - e^2)), xl = M + w + node +
    # xlcof axnl / (am (1 - e^2)), with the mean e: e^2 converges in a few steps (aycof ~ 1e-3).
    xlcof, aycof = sgp4.long_period_coefficients(sinio, cosio, xp)
    e2 = axnl * axnl + aynl * aynl
    for _ in range(3):
        e_sin_w = aynl - aycof * inv_am / (1.0 - e2)
        e2 = axnl * axnl + e_sin_w * e_sin_w
    temp = inv_am / (1.0 - e2)
    e_sin_w = aynl - aycof * temp
    ecco = xp.sqrt(e2)
    argpo = xp.arctan2(e_sin_w, axnl)
    mo = u_mean - temp * xlcof * axnl - argpo
    inclo = xp.arctan2(sin_xinc, cos_xinc) - dinc
    nodeo = xp.arctan2(wx, -wy) - dnode
    no_kozai = sgp4.kozai_mean_motion(sgp4.XKE * inv_am * xp.sqrt(inv_am), ecco, cosio, xp)
    return dict(no_kozai=no_kozai, ecco=ecco, inclo=inclo, nodeo=_wrap_two_pi(nodeo, xp),
                argpo=_wrap_two_pi(argpo, xp), mo=_wrap_two_pi(mo, xp))


def _rotate_second_order(sin_a, cos_a, d):
    """sin and cos of a + d to second order in d, for the inversion's angle corrections
    (|d| < 2e-3): the d^3/6 it leaves (< 1.4e-9) enters the short-period terms times J2 / p^2
    (< 6e-4) and the J3 and Kozai terms times ~1e-3, so < 1e-12 in the elements, at a third of the
    cost of the exact series (engine.physics.sgp4_numpy.rotate_small)."""
    half_d = 0.5 * d
    sin_new = sin_a + d * (cos_a - half_d * sin_a)
    cos_new = cos_a - d * (sin_a + half_d * cos_a)
    return sin_new, cos_new


def _within(a, b, tolerance):
    """(n,) bool: every coordinate of a (n, 3) within tolerance of b's (NaN: False). Column by
    column: NumPy reduces a length-3 axis several times slower than it compares three columns."""
    d = abs(a - b)
    return (d[:, 0] < tolerance) & (d[:, 1] < tolerance) & (d[:, 2] < tolerance)


def _wrap_two_pi(angle, xp):
    """angle mod 2 pi, in [0, 2 pi) (floor is a fraction of the price of xp.mod)."""
    return angle - (2.0 * math.pi) * xp.floor(angle * (1.0 / (2.0 * math.pi)))


def fit_mean_elements(r_km, v_km_s, propagate_at_epoch, xp=np):
    """SGP4 mean elements whose state at t = 0 is (r_km, v_km_s).

    r_km, v_km_s: (n, 3) TEME (bound, near-earth orbits; filter hyperbolic and sub-orbital
        states first).
    propagate_at_epoch: function(table (N_COEFFICIENTS, m)) -> (r (m, 3), v (m, 3), error (m,))
        evaluating SGP4 at t = 0 on the chosen backend.
    Returns (elements, converged): elements a dict of (n,) arrays no_kozai (rad/min), ecco,
    inclo, nodeo, argpo, mo (rad); converged (n,) bool: SGP4 at these elements reproduces the
    state within TOLERANCE_POSITION_KM and TOLERANCE_VELOCITY_KM_S.

    The first evaluation checks `invert_sgp4_at_epoch`'s elements; only the near-earth states it
    leaves outside the tolerance go on to the equinoctial corrector (see the module docstring),
    so the cost of the corrector follows the few that need it. Deep-space states (period >= 225
    min, `engine.physics.sgp4_numpy.is_deep_space` of the returned elements) keep the inversion's elements,
    converged or not: near-earth SGP4 does not propagate them. Each state's result depends on
    that state alone, so NumPy takes them engine.physics.sgp4_numpy.NUMPY_BLOCK at a time (cache-resident
    temporaries: 20-30 % faster at 110,000 states).
    """
    r_km = xp.asarray(r_km, dtype=xp.float64)
    v_km_s = xp.asarray(v_km_s, dtype=xp.float64)
    n = r_km.shape[0]
    block = sgp4.NUMPY_BLOCK
    if xp is np and n > block:
        parts = [_fit_block(r_km[lo:lo + block], v_km_s[lo:lo + block], propagate_at_epoch, xp)
                 for lo in range(0, n, block)]
        elements = {name: np.concatenate([el[name] for el, _ in parts]) for name in parts[0][0]}
        return elements, np.concatenate([ok for _, ok in parts])
    return _fit_block(r_km, v_km_s, propagate_at_epoch, xp)


def _fit_block(r_km, v_km_s, propagate_at_epoch, xp):
    elements = invert_sgp4_at_epoch(r_km, v_km_s, xp)
    converged = xp.zeros(r_km.shape[0], dtype=bool)
    active = xp.arange(r_km.shape[0])  # the states still iterated, and their elements `trial`
    trial = elements
    x = target = None
    for _ in range(MAX_EVALUATIONS):
        with np.errstate(invalid="ignore"):  # a corrector step may leave n <= 0: error code 2
            table = sgp4.sgp4_init(trial["no_kozai"], trial["ecco"], trial["inclo"], trial["nodeo"],
                                   trial["argpo"], trial["mo"], xp.zeros_like(trial["ecco"]), xp=xp,
                                   epoch_only=True)
        r, v, err = propagate_at_epoch(table)
        done = (err == 0) & _within(r, r_km[active], TOLERANCE_POSITION_KM) & _within(
            v, v_km_s[active], TOLERANCE_VELOCITY_KM_S)
        converged[active[done]] = True
        rest = ~done
        if x is None:
            # Deep-space orbits (period >= 225 min by the inversion's elements) are not refined:
            # near-earth SGP4 is not their propagator (python-sgp4 takes SDP4 for them), and the
            # few of them the inversion misses (e > 0.95, where rounding at apogee exceeds the
            # tolerance) would cost the corrector many passes for elements nobody propagates.
            missed = xp.flatnonzero(rest)
            with np.errstate(invalid="ignore"):
                rest[missed] = ~sgp4.is_deep_space(trial["no_kozai"][missed], trial["ecco"][missed],
                                                   trial["inclo"][missed], xp)
        active, r, v = active[rest], r[rest], v[rest]
        if active.size == 0:
            break
        got, _ = equinoctial_from_state(r, v, xp)
        if x is None:  # the corrector's first step: from the inversion's elements ...
            target, _ = equinoctial_from_state(r_km[active], v_km_s[active], xp)
            x = equinoctial_from_classical({k: a[rest] for k, a in trial.items()}, xp)
            # ... or, where they or their SGP4 state are not finite (inclination 0, mean
            # eccentricity >= 1), from the osculating elements, evaluated on the next pass.
            restart = ~(xp.all(xp.isfinite(x), axis=0) & xp.all(xp.isfinite(got), axis=0))
            x = xp.where(restart, target, x)
            got = xp.where(restart, target, got)
        else:
            x, target = x[:, rest], target[:, rest]
        step = target - got
        step[5] = xp.mod(step[5] + math.pi, 2.0 * math.pi) - math.pi  # wrap the longitude
        keep = xp.all(xp.isfinite(step), axis=0)
        active, x, target = active[keep], x[:, keep] + step[:, keep], target[:, keep]
        trial = classical_from_equinoctial(x, xp)
        for name, value in trial.items():
            elements[name][active] = value
    return elements, converged
