"""The area-to-mass law of the NASA Standard Breakup Model (§4 of docs/breakup-model.md): the
distribution of χ = log10(A/M / (m²/kg)) given a fragment's size, small-fragment law below 8 cm,
the bimodal law of the object's kind above 11 cm, ESA's bridge in between; the analytic density
(`am_density`) and χ and A/M from given random draws (`am_from_draws`, which the sampler in
engine.physics.breakup uses with its own random stream).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .checks import check_choice, check_positive

KINDS = ("spacecraft", "rocket_body")
AM_SAMPLINGS = ("mixture", "weighted_sum")

# §4: below 8 cm the small-fragment law, above 11 cm the bimodal law, in between a bridge.
SMALL_LAW_MAX_LC_M = 0.08
LARGE_LAW_MIN_LC_M = 0.11

# §4 piecewise-linear parameters, each as (a, s, c, lo, hi): f(λc) = a + s·(λc + c), clipped to
# [lo, hi]. Clipping (instead of switching at the printed breakpoints) is what keeps every law
# continuous: the printed slopes are rounded (0.318 for 0.35/1.1, 1.333 for 0.8/0.6, 0.3571 for
# 0.5/1.4, 0.1636 for 0.18/1.1), so the ramps end up to 2e-4 short of the plateau at the upper
# breakpoint; clipped, they meet it less than 7e-4 in λc later. Elsewhere this is §4 verbatim.
_LARGE_LAW = {
    "spacecraft": {
        "alpha": (0.3, 0.4, 1.2, 0.0, 1.0),
        "mu1": (-0.6, -0.318, 1.1, -0.95, -0.6),
        "sigma1": (0.1, 0.2, 1.3, 0.1, 0.3),
        "mu2": (-1.2, -1.333, 0.7, -2.0, -1.2),
        "sigma2": (0.5, -1.0, 0.5, 0.3, 0.5),
    },
    "rocket_body": {
        "alpha": (1.0, -0.3571, 1.4, 0.5, 1.0),
        "mu1": (-0.45, -0.9, 0.5, -0.9, -0.45),
        "sigma1": (0.55, 0.0, 0.0, 0.55, 0.55),
        "mu2": (-0.9, 0.0, 0.0, -0.9, -0.9),
        "sigma2": (0.28, -0.1636, 1.0, 0.1, 0.28),
    },
}
_SMALL_MU = (-0.3, -1.4, 1.75, -1.0, -0.3)
_SMALL_SIGMA = (0.2, 0.1333, 3.5, 0.2, math.inf)  # no upper plateau in §4

_LN10 = math.log(10.0)


def _ramp(lambda_c, coeffs) -> np.ndarray:
    """Evaluate a clipped ramp (a, s, c, lo, hi) at λc (any shape, float64 out, same shape)."""
    a, s, c, lo, hi = coeffs
    x = np.asarray(lambda_c, dtype=np.float64)
    if s == 0.0:  # the rocket-body constants
        return np.full(x.shape, a)
    # s·λc + (a + s·c): one pass fewer than a + s·(λc + c), equal to rounding.
    out = np.multiply(x, s, out=np.empty(x.shape))  # out= keeps a 0-d input an array
    out += a + s * c
    return np.clip(out, lo, hi, out=out)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InputError(f"kind must be 'spacecraft' or 'rocket_body', got {kind!r}")
    return kind


def am_alpha(lambda_c, kind: str) -> np.ndarray:
    """Weight α of the first normal of the bimodal A/M law (§4, Lc > 11 cm; Johnson 2001).

    lambda_c: log10(Lc / m), any shape. kind: "spacecraft" or "rocket_body". Dimensionless,
    same shape as lambda_c.
    """
    return _ramp(lambda_c, _LARGE_LAW[check_kind(kind)]["alpha"])


def am_mu1(lambda_c, kind: str) -> np.ndarray:
    """Mean μ1 of the first normal of χ = log10(A/M / (m²/kg)) (§4, Lc > 11 cm).

    lambda_c: log10(Lc / m), any shape; same shape out."""
    return _ramp(lambda_c, _LARGE_LAW[check_kind(kind)]["mu1"])


def am_sigma1(lambda_c, kind: str) -> np.ndarray:
    """Standard deviation σ1 of the first normal of χ (§4, Lc > 11 cm). Shape of lambda_c."""
    return _ramp(lambda_c, _LARGE_LAW[check_kind(kind)]["sigma1"])


def am_mu2(lambda_c, kind: str) -> np.ndarray:
    """Mean μ2 of the second normal of χ (§4, Lc > 11 cm). Shape of lambda_c."""
    return _ramp(lambda_c, _LARGE_LAW[check_kind(kind)]["mu2"])


def am_sigma2(lambda_c, kind: str) -> np.ndarray:
    """Standard deviation σ2 of the second normal of χ (§4, Lc > 11 cm). Shape of lambda_c."""
    return _ramp(lambda_c, _LARGE_LAW[check_kind(kind)]["sigma2"])


def am_small_mu(lambda_c) -> np.ndarray:
    """Mean of χ for Lc < 8 cm, any object (§4 small-fragment law). Shape of lambda_c."""
    return _ramp(lambda_c, _SMALL_MU)


def am_small_sigma(lambda_c) -> np.ndarray:
    """Standard deviation of χ for Lc < 8 cm, any object (§4 small-fragment law).

    lambda_c: log10(Lc / m), any shape; same shape out."""
    return _ramp(lambda_c, _SMALL_SIGMA)


def _normal_pdf(x, mu, sigma) -> np.ndarray:
    z = (x - mu) / sigma
    return np.exp(-0.5 * z * z) / (sigma * math.sqrt(2.0 * math.pi))


def am_density(chi, lc_m: float, kind: str, am_sampling: str) -> np.ndarray:
    """Analytic pdf of χ = log10(A/M / (m²/kg)) at a fixed Lc (§4), per unit χ.

    chi: any shape. lc_m: scalar, metres. Lc < 8 cm: the small-fragment normal. Lc > 11 cm:
    "mixture" → α·N(μ1, σ1) + (1−α)·N(μ2, σ2) (the paper's density); "weighted_sum" →
    χ = α·X1 + (1−α)·X2 with independent X1, X2, i.e. N(αμ1 + (1−α)μ2, sqrt(α²σ1² + (1−α)²σ2²)).
    The 8-11 cm bridge mixes two lognormals in A/M and has no closed form: InputError.
    """
    lc = check_positive("lc_m", lc_m)
    check_kind(kind)
    check_choice("am_sampling", am_sampling, AM_SAMPLINGS)
    chi = np.asarray(chi, dtype=np.float64)
    lam = math.log10(lc)
    if lc < SMALL_LAW_MAX_LC_M:
        return _normal_pdf(chi, float(am_small_mu(lam)), float(am_small_sigma(lam)))
    if lc <= LARGE_LAW_MIN_LC_M:
        raise InputError(f"am_density has no closed form in the 8-11 cm bridge, got lc_m={lc_m!r}")
    a = float(am_alpha(lam, kind))
    mu1, s1 = float(am_mu1(lam, kind)), float(am_sigma1(lam, kind))
    mu2, s2 = float(am_mu2(lam, kind)), float(am_sigma2(lam, kind))
    if am_sampling == "mixture":
        return a * _normal_pdf(chi, mu1, s1) + (1.0 - a) * _normal_pdf(chi, mu2, s2)
    mu = a * mu1 + (1.0 - a) * mu2
    sd = math.sqrt(a * a * s1 * s1 + (1.0 - a) ** 2 * s2 * s2)
    return _normal_pdf(chi, mu, sd)


# --- χ from given draws (shared by the sampler, its remnants and the tests) --------------------
def _chi_small(lambda_c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """χ of the small-fragment law (§4) from standard normals z (same shape as lambda_c)."""
    chi = _ramp(lambda_c, _SMALL_SIGMA)
    chi *= z
    chi += _ramp(lambda_c, _SMALL_MU)
    return chi


def chi_large(lambda_c, kind, am_sampling, z1, z2, u_mix) -> np.ndarray:
    """χ of the bimodal law (§4) from draws of lambda_c's shape.

    mixture: component 1 if u_mix < α, else component 2, drawn with z1 (z2 unused).
    weighted_sum: α·(μ1 + σ1·z1) + (1 − α)·(μ2 + σ2·z2) (u_mix unused).
    """
    law = _LARGE_LAW[kind]
    alpha = _ramp(lambda_c, law["alpha"])
    mu1, s1 = _ramp(lambda_c, law["mu1"]), _ramp(lambda_c, law["sigma1"])
    mu2, s2 = _ramp(lambda_c, law["mu2"]), _ramp(lambda_c, law["sigma2"])
    if am_sampling == "mixture":
        # first = 1.0 for component 1 (probability α), else 0.0; blending arithmetically is
        # several times faster than np.where on a random mask (no branch mispredictions).
        first = (u_mix < alpha).astype(np.float64)
        s1 -= s2
        s1 *= first
        s1 += s2
        mu1 -= mu2
        mu1 *= first
        mu1 += mu2
        s1 *= z1
        s1 += mu1
        return s1
    x1 = s1 * z1
    x1 += mu1
    x2 = s2 * z2
    x2 += mu2
    # α·x1 + (1 − α)·x2 written as x2 + α·(x1 − x2): one temporary fewer.
    x1 -= x2
    x1 *= alpha
    x1 += x2
    return x1


def am_from_draws(lc_m, lambda_c, kind, am_sampling, z_small, z1, z2, u_mix, am_out=None):
    """A/M (m²/kg) and χ for fragments of sizes lc_m (λc = lambda_c), from given draws (§4).

    All arguments are arrays of one shape (z2 / u_mix may be None when the reading does not use
    them). Lc < 8 cm: small law with z_small; Lc > 11 cm: bimodal law with z1, z2, u_mix;
    8 cm ≤ Lc ≤ 11 cm: A/M = y0 + (Lc − 0.08)·(y1 − y0)/0.03 (ESA's bridge, linear in A/M), and
    χ = log10(A/M). Only the fragments that need a law are evaluated with it (most of a 1 cm
    cloud is small, all of a 10 cm cloud is large).
    Returns (am_m2_kg, chi), float64, shape of lc_m; am_m2_kg is written into am_out if given.
    """
    small = lc_m <= LARGE_LAW_MIN_LC_M
    large = lc_m >= SMALL_LAW_MAX_LC_M
    all_small, all_large = bool(small.all()), bool(large.all())
    # Each law on its subset only, or on everything when its subset is everything (no gather).
    chi_s = chi_l = None
    if all_small:
        chi_s = _chi_small(lambda_c, z_small)
    elif small.any():
        chi_s = _chi_small(lambda_c[small], z_small[small])
    if all_large:
        chi_l = chi_large(lambda_c, kind, am_sampling, z1, z2, u_mix)
    elif large.any():
        sub = lambda a: None if a is None else a[large]  # noqa: E731
        chi_l = chi_large(lambda_c[large], kind, am_sampling, sub(z1), sub(z2), sub(u_mix))
    bridge = small & large
    has_bridge = bool(bridge.any())
    if has_bridge:
        # The two laws' χ of the bridge fragments, taken before chi_s / chi_l are merged.
        chi_s_b = chi_s[bridge] if all_small else chi_s[bridge[small]]
        chi_l_b = chi_l[bridge] if all_large else chi_l[bridge[large]]
    if all_small:
        chi = chi_s
        if chi_l is not None:
            chi[large] = chi_l
    elif all_large:
        chi = chi_l
        if chi_s is not None:
            chi[small] = chi_s
    else:
        chi = np.empty_like(lambda_c)
        chi[small] = chi_s
        chi[large] = chi_l
    am = np.multiply(chi, _LN10, out=am_out)
    np.exp(am, out=am)
    if has_bridge:
        # y0, y1: the small and large laws' A/M of the bridge fragments, as if each law held alone.
        y0 = np.exp(chi_s_b * _LN10)
        y1 = np.exp(chi_l_b * _LN10)
        w = (lc_m[bridge] - SMALL_LAW_MAX_LC_M) / (LARGE_LAW_MIN_LC_M - SMALL_LAW_MAX_LC_M)
        am_b = y0 + w * (y1 - y0)
        am[bridge] = am_b
        chi[bridge] = np.log(am_b) * (1.0 / _LN10)
    return am, chi
