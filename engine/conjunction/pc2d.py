"""Foster's 2D probability of collision: the combined position Gaussian integrated over the
hard-body disk in the encounter plane.

Foster & Estes (1992), "A parametric analysis of orbital debris collision probability and
maneuver rate for space vehicles", NASA JSC-25898; Chan (2008), "Spacecraft Collision
Probability", ch. 2; CARA's PcCircle. Assumptions: straight-line relative motion through the
encounter, no velocity uncertainty, uncorrelated objects, so that the Pc is the mass of the
relative-position Gaussian, projected on the plane perpendicular to the relative velocity, that
falls within the disk of radius HBR about the origin.

In the encounter plane's principal axes (sigma_x, sigma_y; miss vector (x_m, y_m)):

    Pc = int_{-R}^{R} phi((x - x_m)/sigma_x)/sigma_x
                      [Phi((y_m + s(x))/sigma_y) - Phi((y_m - s(x))/sigma_y)] dx,
    s(x) = sqrt(R^2 - x^2),

a one-dimensional integral evaluated here by Gauss-Legendre quadrature in x = R sin(theta)
(smooth at the disk's edge), with enough nodes for 1e-12 relative where sigma_x >> R and the
adaptive refinement where the Gaussian is narrower than the disk.

`pc2d` is the whole method: states at TCA (km, km/s), 3x3 inertial position covariances (km^2)
of both objects, HBR (km). ``adjust_tca=True`` first moves both states along straight lines to
the exact closest approach of their relative motion, dTCA = -(r . v)/(v . v) (a CDM's TCA is
rounded to the millisecond): CARA's Pc2D; ``False`` uses them as given: CARA's Pc2D_NoAdj.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ..errors import InputError

#: Gauss-Legendre nodes of the disk integral: the integrand is analytic in theta, so 64 nodes
#: give ~1e-15 relative where the Gaussian is wide against the disk; narrow ones are split.
N_NODES = 64
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(N_NODES)
#: Relative speed below which no encounter plane exists [km/s]: 1 um/s, against orbital speeds
#: of km/s (rounding of the states' mm/s digits is 1000 times more). Two objects on identical
#: orbits (Alfano's case 12) have exactly zero; a 2D Pc there is undefined, and `pc2d` refuses
#: in one line (the 3D and Monte Carlo methods apply). Slow but non-zero encounters (Alfano 8,
#: 0.9 mm/s) get a 2D Pc, as CARA computes one; docs/conjunction.md says where it fails.
MIN_RELATIVE_SPEED_KM_S = 1e-9


class NotApplicable(InputError):
    """The 2D method does not apply to this encounter (the message says why)."""


def tca_offset_s(r1, v1, r2, v2) -> float:
    """dTCA [s] of linear relative motion: the time from the given states to their closest approach."""
    r, v = np.subtract(r2, r1), np.subtract(v2, v1)
    return -float(r @ v) / float(v @ v)


def encounter_plane(r_km: np.ndarray, v_km_s: np.ndarray, cov_km2: np.ndarray):
    """(miss (2,), cov (2, 2)) of relative position r and combined covariance in the plane
    perpendicular to the relative velocity v: axes x along the miss vector's in-plane part,
    z = x cross v-hat."""
    speed = float(np.linalg.norm(v_km_s))
    if speed < MIN_RELATIVE_SPEED_KM_S:
        raise NotApplicable(f"relative speed {speed * 1e3:.3g} m/s: no encounter plane "
                            f"(2D needs straight-line relative motion); use the 3D or Monte Carlo method")
    y = v_km_s / speed
    r_perp = r_km - (r_km @ y) * y
    if np.linalg.norm(r_perp) > 0:
        x = r_perp / np.linalg.norm(r_perp)
    else:  # zero miss: any in-plane axis
        trial = np.eye(3)[np.argmin(np.abs(y))]
        x = trial - (trial @ y) * y
        x /= np.linalg.norm(x)
    z = np.cross(x, y)
    basis = np.stack([x, z])
    return basis @ r_km, basis @ cov_km2 @ basis.T


def circle_probability(miss: np.ndarray, cov2: np.ndarray, hbr_km: float) -> float:
    """Mass of N(miss, cov2) within the disk |x| <= hbr_km about the origin."""
    lam, vec = np.linalg.eigh(0.5 * (cov2 + cov2.T))
    if lam[0] <= 0:
        raise NotApplicable(f"the combined covariance in the encounter plane is not positive "
                            f"definite (eigenvalues {lam[0]:.3g}, {lam[1]:.3g} km^2)")
    sx, sy = np.sqrt(lam)
    xm, ym = vec.T @ miss
    # Split the x range where the x-Gaussian is narrow against the disk: 64 nodes per panel of
    # width <= 2 sigma_x, so each panel's integrand is smooth on its scale.
    edges = _panels(xm, sx, hbr_km)
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        # theta in [asin(a/R), asin(b/R)], x = R sin(theta): removes the sqrt edge singularity.
        ta, tb = np.arcsin(a / hbr_km), np.arcsin(b / hbr_km)
        theta = 0.5 * (tb - ta) * _NODES + 0.5 * (tb + ta)
        x = hbr_km * np.sin(theta)
        half = hbr_km * np.cos(theta)
        gx = np.exp(-0.5 * ((x - xm) / sx) ** 2) / (np.sqrt(2 * np.pi) * sx)
        hi, lo = (ym + half) / sy, (ym - half) / sy
        # Phi(hi) - Phi(lo) without cancellation in the upper tail.
        strip = np.where(lo > 0, special.ndtr(-lo) - special.ndtr(-hi), special.ndtr(hi) - special.ndtr(lo))
        total += 0.5 * (tb - ta) * float(np.sum(_WEIGHTS * gx * strip * half))
    return total


def _panels(xm: float, sx: float, r: float) -> np.ndarray:
    lo, hi = max(-r, xm - 12 * sx), min(r, xm + 12 * sx)
    if lo >= hi:
        return np.array([-r, r])  # the Gaussian's mass is all outside: one panel, ~0
    n = int(np.clip(np.ceil((hi - lo) / (2 * sx)), 1, 400))
    inner = np.linspace(lo, hi, n + 1)
    return np.unique(np.concatenate([[-r], inner, [r]]))


def pc2d(r1, v1, cov1_km2, r2, v2, cov2_km2, hbr_km: float, adjust_tca: bool = True) -> float:
    """Foster's 2D Pc of two objects (states km, km/s; 3x3 inertial position covariances km^2).

    Raises NotApplicable where the relative speed is ~0 or the projected covariance is singular."""
    r1, v1, r2, v2 = (np.asarray(x, dtype=float) for x in (r1, v1, r2, v2))
    v = v2 - v1
    if float(np.linalg.norm(v)) < MIN_RELATIVE_SPEED_KM_S:
        encounter_plane(r2 - r1, v, np.zeros((3, 3)))  # raises, with the reason
    if adjust_tca:
        dt = tca_offset_s(r1, v1, r2, v2)
        r1, r2 = r1 + dt * v1, r2 + dt * v2
    miss, cov2 = encounter_plane(r2 - r1, v, np.asarray(cov1_km2) + np.asarray(cov2_km2))
    return circle_probability(miss, cov2, hbr_km)
