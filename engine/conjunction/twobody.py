"""Two-body (Keplerian) motion in equinoctial elements, for the 3D and Monte Carlo Pc methods.

Equinoctial elements E = (n, k, h, chi, psi, lam), prograde form (Broucke & Cefola 1972;
Vallado, "Fundamentals of Astrodynamics and Applications", 4th ed., sec. 2.4.2):
n mean motion [rad/s], (k, h) = e (cos, sin)(omega + Omega), (chi, psi) = tan(i/2) (sin, cos) Omega,
lam = M + omega + Omega the mean longitude [rad]. They are regular at e = 0 and i = 0 (the GEO
and LEO circular orbits of the test set), singular only at i = 180 deg.  Under two-body motion
only lam moves, lam(t) = lam0 + n t, which is why Hall (2021) and CARA's Monte Carlo take the
orbit-determination PDF as Gaussian in these elements: a Gaussian there stays on its orbits.

Everything is vectorized over leading axes; units km, s, rad.  `elements_to_state` takes complex
input too (no abs, no comparisons, a fixed number of Newton steps), so `jacobian` differentiates
it by the complex step, exact to rounding (Squire & Trapp 1998).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

#: Earth's gravitational parameter, EGM-96 [km^3/s^2] (the value CARA's tools use).
MU_KM3_S2 = 398600.4418
#: Newton steps of the equinoctial Kepler equation from F = lam: quadratic convergence reaches
#: float64 rounding in 5 steps for e < 0.7 (checked in tests against a converged solve).
KEPLER_STEPS = 8
#: Complex-step size: the derivative is Im f(x + i h)/h, with no subtraction, so h can be tiny.
COMPLEX_STEP = 1e-30


def state_to_elements(state_km: np.ndarray, mu: float = MU_KM3_S2, strict: bool = True) -> np.ndarray:
    """(..., 6) Cartesian state [km, km/s] -> (..., 6) equinoctial (n, k, h, chi, psi, lam).

    Raises InputError for unbound states (energy >= 0) and orbits within 1e-12 of retrograde
    equatorial (chi, psi infinite); with ``strict=False`` their rows are NaN instead."""
    r = state_km[..., :3]
    v = state_km[..., 3:]
    hvec = np.cross(r, v)
    w = hvec / np.linalg.norm(hvec, axis=-1, keepdims=True)
    if strict and np.any(1.0 + w[..., 2] < 1e-12):
        raise InputError("orbit is retrograde equatorial (i = 180 deg): equinoctial elements are singular")
    rmag = np.linalg.norm(r, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _elements(r, v, w, rmag, mu, strict)


def _elements(r, v, w, rmag, mu, strict):
    singular = 1.0 + w[..., 2] < 1e-12
    hvec = np.cross(r, v)
    chi = w[..., 0] / (1.0 + w[..., 2])
    psi = -w[..., 1] / (1.0 + w[..., 2])
    inv_a = 2.0 / rmag - np.sum(v * v, axis=-1) / mu
    unbound = inv_a <= 0
    if strict and np.any(unbound):
        raise InputError("a state is unbound (two-body energy >= 0): no orbit to sample")
    a = 1.0 / inv_a
    n = np.sqrt(mu * inv_a ** 3)
    f, g = _basis(chi, psi)
    ecc = np.cross(v, hvec) / mu - r / rmag[..., None]
    k = np.sum(ecc * f, axis=-1)
    h = np.sum(ecc * g, axis=-1)
    x1 = np.sum(r * f, axis=-1)
    y1 = np.sum(r * g, axis=-1)
    root = np.sqrt(1.0 - h * h - k * k)
    beta = 1.0 / (1.0 + root)
    cos_f = k + ((1.0 - k * k * beta) * x1 - h * k * beta * y1) / (a * root)
    sin_f = h + ((1.0 - h * h * beta) * y1 - h * k * beta * x1) / (a * root)
    big_f = np.arctan2(sin_f, cos_f)
    lam = big_f + h * np.cos(big_f) - k * np.sin(big_f)
    out = np.stack([n, k, h, chi, psi, lam], axis=-1)
    if not strict:
        out[singular | unbound | (h * h + k * k >= 1.0)] = np.nan
    return out


def _basis(chi, psi):
    """The orbit plane's unit vectors f, g (..., 3) of the equinoctial frame."""
    d = 1.0 + chi * chi + psi * psi
    f = np.stack([1.0 - chi * chi + psi * psi, 2.0 * chi * psi, -2.0 * chi], axis=-1) / d[..., None]
    g = np.stack([2.0 * chi * psi, 1.0 + chi * chi - psi * psi, 2.0 * psi], axis=-1) / d[..., None]
    return f, g


def eccentric_longitude(lam, k, h, steps: int = KEPLER_STEPS):
    """F solving lam = F + h cos F - k sin F (equinoctial Kepler equation), by Newton from F = lam."""
    big_f = lam + 0.0 * k
    for _ in range(steps):
        s, c = np.sin(big_f), np.cos(big_f)
        big_f = big_f - (big_f + h * c - k * s - lam) / (1.0 - k * c - h * s)
    return big_f


def elements_to_state(elements: np.ndarray, dt_s=0.0, mu: float = MU_KM3_S2) -> np.ndarray:
    """(..., 6) equinoctial elements at t0 -> (..., 6) Cartesian state [km, km/s] at t0 + dt_s
    (dt_s broadcasts against the leading axes)."""
    n, k, h, chi, psi, lam0 = (elements[..., i] for i in range(6))
    lam = lam0 + n * dt_s
    a = (mu / (n * n)) ** (1.0 / 3.0)
    big_f = eccentric_longitude(lam, k, h)
    s, c = np.sin(big_f), np.cos(big_f)
    beta = 1.0 / (1.0 + (1.0 - h * h - k * k) ** 0.5)
    x1 = a * ((1.0 - h * h * beta) * c + h * k * beta * s - k)
    y1 = a * (h * k * beta * c + (1.0 - k * k * beta) * s - h)
    rmag = a * (1.0 - k * c - h * s)
    scale = a * a * n / rmag
    xd1 = scale * (h * k * beta * c - (1.0 - h * h * beta) * s)
    yd1 = scale * ((1.0 - k * k * beta) * c - h * k * beta * s)
    f, g = _basis(chi, psi)
    r = x1[..., None] * f + y1[..., None] * g
    v = xd1[..., None] * f + yd1[..., None] * g
    return np.concatenate([r, v], axis=-1)


def jacobian(elements: np.ndarray, dt_s=0.0, mu: float = MU_KM3_S2):
    """(state, J): the state at t0 + dt_s (..., 6) and J = d state(t0 + dt_s) / d elements(t0)
    (..., 6, 6), by the complex step (exact to rounding; lam's dependence on n through
    lam0 + n dt is included)."""
    elements = np.asarray(elements, dtype=float)
    shape = np.broadcast_shapes(elements.shape[:-1], np.shape(dt_s))
    e = np.broadcast_to(elements, shape + (6,))
    probe = np.repeat(e[..., None, :], 6, axis=-2).astype(complex)  # (..., 6 probes, 6)
    idx = np.arange(6)
    probe[..., idx, idx] += 1j * COMPLEX_STEP
    dt = np.asarray(dt_s, dtype=float)[..., None] if np.ndim(dt_s) else dt_s
    out = elements_to_state(probe, dt, mu)  # (..., 6 probes, 6 components)
    state = out[..., 0, :].real
    jac = np.swapaxes(out.imag / COMPLEX_STEP, -1, -2)  # (..., component, element)
    return state, jac


def _rotation(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [k for k in range(3) if k != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


#: Candidate frame rotations for `regular_frame`: identity, then half and quarter turns.
_ROTATIONS = (np.eye(3), _rotation(0, np.pi), _rotation(0, np.pi / 2), _rotation(0, -np.pi / 2),
              _rotation(1, np.pi / 2), _rotation(1, -np.pi / 2))


def regular_frame(*states_km: np.ndarray) -> np.ndarray:
    """A rotation (3, 3) of the inertial frame that keeps every orbit given far from the
    equinoctial singularity (i = 180 deg): the candidate maximizing the smallest 1 + cos(i).
    Alfano's GEO cases are retrograde equatorial as given; a Pc does not depend on the frame
    (Hall 2021 reorients retrograde orbits the same way)."""
    normals = []
    for x in states_km:
        h = np.cross(x[:3], x[3:])
        normals.append(h / np.linalg.norm(h))
    normals = np.array(normals)
    scores = [min(1.0 + (m @ normals.T)[2]) for m in _ROTATIONS]
    return _ROTATIONS[int(np.argmax(scores))]


def rotate_state(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """State (..., 6) in the frame rotated by m."""
    return np.concatenate([x[..., :3] @ m.T, x[..., 3:] @ m.T], axis=-1)


def rotate_covariance(m: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """6x6 covariance in the frame rotated by m."""
    big = np.zeros((6, 6))
    big[:3, :3] = big[3:, 3:] = m
    return big @ cov @ big.T


def wrap_angle(x):
    """x wrapped to (-pi, pi]."""
    return np.pi - np.mod(np.pi - x, 2.0 * np.pi)


def state_period_s(state_km: np.ndarray) -> np.ndarray:
    """Orbital period [s] of a Cartesian state (..., 6) from its energy (any frame)."""
    r = np.linalg.norm(state_km[..., :3], axis=-1)
    inv_a = 2.0 / r - np.sum(state_km[..., 3:] ** 2, axis=-1) / MU_KM3_S2
    return 2.0 * np.pi / np.sqrt(MU_KM3_S2 * inv_a ** 3)


def period_s(elements: np.ndarray) -> np.ndarray:
    """Orbital period [s] from the mean motion."""
    return 2.0 * np.pi / elements[..., 0]
