"""Covariances: RTN to inertial, and CARA's repair of non-positive-definite ones.

A CDM gives each object's covariance in its RTN frame at TCA: R along the position, N along the
orbit normal r x v, T = N x R. Position and velocity blocks rotate with the same 3x3 matrix (the
CDM's RTN covariance is the inertial state's covariance expressed on RTN axes, as CARA's RIC2ECI
takes it).

Repair: a covariance from an orbit determination should be positive semi-definite, but CDMs
carry round-off and interpolation error that gives small negative eigenvalues (the Omitron
test case 7). CARA clips the eigenvalues of the matrix at a floor and rebuilds it (Hall, Hejduk &
Johnson, "Remediating Non-Positive Definite State Covariances for Collision Probability
Estimation", AAS 17-567, 2017; CARA's CovRemEigValClip): V diag(max(lambda, floor)) V^T. Here the floor is 0 for the 6x6 used for
sampling and the Nc integrand; `repair` says whether anything was clipped, and by how much.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def rtn_basis(state_km: np.ndarray) -> np.ndarray:
    """(3, 3) matrix whose rows are the R, T, N unit vectors of a state (6,) [km, km/s]."""
    r, v = state_km[:3], state_km[3:]
    rhat = r / np.linalg.norm(r)
    n = np.cross(r, v)
    nhat = n / np.linalg.norm(n)
    that = np.cross(nhat, rhat)
    return np.stack([rhat, that, nhat])


def rtn_to_inertial(cov_rtn: np.ndarray, state_km: np.ndarray) -> np.ndarray:
    """(6, 6) RTN position-velocity covariance -> (6, 6) inertial, same units."""
    m = rtn_basis(state_km).T  # columns R, T, N in inertial coordinates
    rot = np.zeros((6, 6))
    rot[:3, :3] = m
    rot[3:, 3:] = m
    return rot @ cov_rtn @ rot.T


def inertial_to_rtn(cov: np.ndarray, state_km: np.ndarray) -> np.ndarray:
    """The inverse of `rtn_to_inertial`."""
    m = rtn_basis(state_km)
    rot = np.zeros((6, 6))
    rot[:3, :3] = m
    rot[3:, 3:] = m
    return rot @ cov @ rot.T


@dataclasses.dataclass(frozen=True)
class Repair:
    """What `repair` did: the repaired matrix, whether any eigenvalue was clipped, the smallest
    eigenvalue before (in the matrix's units) and how many were clipped."""

    matrix: np.ndarray
    repaired: bool
    min_eigenvalue: float
    n_clipped: int


def repair(cov: np.ndarray, floor: float = 0.0) -> Repair:
    """Clip the eigenvalues of a symmetric covariance at ``floor`` (CARA's eigenvalue clipping).

    The matrix is symmetrized first ((C + C^T) / 2). Where no eigenvalue is below the floor the
    matrix is returned unchanged (not rebuilt from its eigenvectors, which would add rounding)."""
    sym = 0.5 * (cov + cov.T)
    lam, vec = np.linalg.eigh(sym)
    low = lam < floor
    if not np.any(low):
        return Repair(sym, False, float(lam[0]), 0)
    fixed = (vec * np.where(low, floor, lam)) @ vec.T
    return Repair(0.5 * (fixed + fixed.T), True, float(lam[0]), int(low.sum()))


def clipped_inverse(a: np.ndarray, floor: float):
    """(inverse, determinant) of symmetric (..., 3, 3) matrices with eigenvalues clipped at
    ``floor`` > 0: stable where a covariance is (nearly) singular, as in CARA's Pc3D."""
    lam, vec = np.linalg.eigh(a)
    lam = np.maximum(lam, floor)
    inv = (vec / lam[..., None, :]) @ np.swapaxes(vec, -1, -2)
    return inv, np.prod(lam, axis=-1)
