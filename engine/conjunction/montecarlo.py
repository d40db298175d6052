"""Two-body Monte Carlo Pc: sample both objects' orbits, propagate each trial across the
encounter, count the trials that come within the hard-body radius.

Like CARA's two-body Monte Carlo (Hall et al., "High-fidelity collision probabilities estimated
using brute force Monte Carlo simulations", AAS 18-244, 2018), each object's orbit is sampled from
its Gaussian in equinoctial elements at TCA (the covariance mapped through the elements' Jacobian),
so every sample is a Keplerian orbit and stays on it: no straight-line or short-encounter
assumption, the reference the 2D and 3D methods are judged by.

One trial: 12 normals from Philox (philox.py), elements E_i = mean_i + L_i z_i (L L^T = Q), then the
separation |r2(t) - r1(t)| on a grid of times across the window (`time_grid`), and Newton steps on
d/dt |r|^2 = 2 r . v from the grid's closest point (bracketed by its neighbours) to the exact
minimum. A hit is a minimum below the HBR. Hits / trials estimates the Pc, with its
Clopper-Pearson interval (Clopper & Pearson 1934, Biometrika 26, 404).

The CUDA kernel (kernels/pc_mc.cu) runs `min_distance` per thread, the same steps in the same
order, so the GPU and CPU give the same hits for the same seed.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
from scipy import stats

from . import philox, twobody

#: Newton steps on r . v = 0 from the closest grid point: the relative motion between two grid
#: points is nearly straight (the grid resolves the orbit's curvature), so 4 steps reach rounding.
REFINE_STEPS = 4
#: Grid spacing across the window, as a fraction of the shorter orbital period: 1/128 of an orbit
#: (45 s in LEO) keeps each interval's relative motion within a few per cent of a straight line.
GRID_FRACTION_OF_PERIOD = 1.0 / 128.0
#: Trials per NumPy chunk: ~2 MB per array of 2^15 doubles, cache-friendly on one core.
CHUNK = 1 << 15


@dataclasses.dataclass(frozen=True)
class Encounter:
    """What every trial shares: mean elements (2, 6), square roots of their covariances
    (2, 6, 6), the time grid (s from TCA), HBR (km)."""

    mean: np.ndarray
    sqrt_cov: np.ndarray
    times_s: np.ndarray
    hbr_km: float


@dataclasses.dataclass(frozen=True)
class McResult:
    """Hits, trials, Pc = hits / trials and its Clopper-Pearson interval at `confidence`."""

    hits: int
    trials: int
    pc: float
    low: float
    high: float
    confidence: float
    seconds: float
    window_s: tuple[float, float]
    n_times: int


def _sqrt_psd(q: np.ndarray) -> np.ndarray:
    lam, vec = np.linalg.eigh(0.5 * (q + q.T))
    return vec * np.sqrt(np.clip(lam, 0.0, None))


def encounter(x1_km, cov1, x2_km, cov2, hbr_km: float, window_s: tuple[float, float]) -> Encounter:
    """The shared setup of a Monte Carlo: states (6,) km, km/s and 6x6 inertial covariances
    (PSD; repaired first), the window (t0, t1) in s from TCA."""
    m = twobody.regular_frame(x1_km, x2_km)
    means, roots = [], []
    for x, c in ((x1_km, cov1), (x2_km, cov2)):
        x = twobody.rotate_state(m, np.asarray(x, dtype=float))
        e = twobody.state_to_elements(x)
        k = np.linalg.inv(twobody.jacobian(e)[1])
        means.append(e)
        roots.append(_sqrt_psd(k @ twobody.rotate_covariance(m, c) @ k.T))
    mean = np.array(means)
    return Encounter(mean=mean, sqrt_cov=np.array(roots),
                     times_s=time_grid(window_s, float(twobody.period_s(mean).min())), hbr_km=hbr_km)


def time_grid(window_s: tuple[float, float], period_s: float) -> np.ndarray:
    """Grid times over the window: at least 3, spaced at most GRID_FRACTION_OF_PERIOD x period."""
    t0, t1 = window_s
    n = max(3, int(math.ceil((t1 - t0) / (GRID_FRACTION_OF_PERIOD * period_s))) + 1)
    return np.linspace(t0, t1, n)


def sample_elements(enc: Encounter, z: np.ndarray):
    """(e1, e2), each (n, 6): the trials' elements from their (n, 12) normals."""
    e1 = enc.mean[0] + z[:, :6] @ enc.sqrt_cov[0].T
    e2 = enc.mean[1] + z[:, 6:] @ enc.sqrt_cov[1].T
    return e1, e2


def _relative(e1, e2, t):
    x1 = twobody.elements_to_state(e1, t)
    x2 = twobody.elements_to_state(e2, t)
    return x1, x2


def min_distance(e1: np.ndarray, e2: np.ndarray, times_s: np.ndarray, mu: float = twobody.MU_KM3_S2):
    """(n,) smallest separation [km] over the grid's span of trials with elements e1, e2 (n, 6)."""
    n = e1.shape[0]
    best_d2 = np.full(n, np.inf)
    best_k = np.zeros(n, dtype=np.int64)
    for k, t in enumerate(times_s):
        x1, x2 = _relative(e1, e2, t)
        d2 = np.sum((x2[:, :3] - x1[:, :3]) ** 2, axis=1)
        closer = d2 < best_d2
        best_d2 = np.where(closer, d2, best_d2)
        best_k = np.where(closer, k, best_k)
    last = len(times_s) - 1
    lo = times_s[np.maximum(best_k - 1, 0)]
    hi = times_s[np.minimum(best_k + 1, last)]
    t = times_s[best_k]
    for _ in range(REFINE_STEPS):
        x1, x2 = _relative(e1, e2, t)
        r = x2[:, :3] - x1[:, :3]
        v = x2[:, 3:] - x1[:, 3:]
        r1 = np.sqrt(np.sum(x1[:, :3] ** 2, axis=1))
        r2 = np.sqrt(np.sum(x2[:, :3] ** 2, axis=1))
        a = -mu * (x2[:, :3] / (r2 ** 3)[:, None] - x1[:, :3] / (r1 ** 3)[:, None])
        g = np.sum(r * v, axis=1)
        dg = np.sum(v * v, axis=1) + np.sum(r * a, axis=1)
        step = np.where(dg > 0, -g / np.where(dg > 0, dg, 1.0), 0.0)
        t = np.clip(t + step, lo, hi)
        d2 = np.sum(r * r, axis=1)
        best_d2 = np.minimum(best_d2, d2)
    x1, x2 = _relative(e1, e2, t)
    d2 = np.sum((x2[:, :3] - x1[:, :3]) ** 2, axis=1)
    return np.sqrt(np.minimum(best_d2, d2))


def clopper_pearson(hits: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of hits / trials at the given two-sided confidence."""
    alpha = 1.0 - confidence
    low = 0.0 if hits == 0 else float(stats.beta.ppf(alpha / 2, hits, trials - hits + 1))
    high = 1.0 if hits == trials else float(stats.beta.ppf(1 - alpha / 2, hits + 1, trials - hits))
    return low, high


def run(enc: Encounter, trials: int, seed: int = 0, rel_halfwidth: float | None = None,
        confidence: float = 0.95, chunk: int = CHUNK, count_hits=None,
        window_s: tuple[float, float] = (0.0, 0.0)) -> McResult:
    """Run up to ``trials`` trials in chunks; stop early once the interval's half-width is within
    ``rel_halfwidth`` of the Pc (and at least one hit is in), looked at after 1, 2, 4, ... chunks.

    count_hits(enc, seed, first, n) -> hits of trials first .. first + n - 1: None for NumPy
    (`count_hits_numpy`); the CLI passes kernels/pc_mc_gpu.count_hits for the GPU (same trials,
    same hits; this layer does not import kernels/)."""
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    count = count_hits_numpy if count_hits is None else count_hits
    start = time.perf_counter()
    hits = done = 0
    chunks = 0
    while done < trials:
        n = min(chunk, trials - done)
        hits += int(count(enc, seed, done, n))
        done += n
        chunks += 1
        # Look at the interval only after 1, 2, 4, 8, ... chunks: every look is a chance to stop
        # on a high fluctuation, and few looks keep that bias (optional stopping) small.
        if rel_halfwidth is not None and hits > 0 and chunks & (chunks - 1) == 0:
            low, high = clopper_pearson(hits, done, confidence)
            if 0.5 * (high - low) <= rel_halfwidth * hits / done:
                break
    low, high = clopper_pearson(hits, done, confidence)
    return McResult(hits=hits, trials=done, pc=hits / done, low=low, high=high,
                    confidence=confidence, seconds=time.perf_counter() - start,
                    window_s=tuple(window_s), n_times=len(enc.times_s))


def count_hits_numpy(enc: Encounter, seed: int, first: int, n: int) -> int:
    """Hits among trials first .. first + n - 1 (the NumPy path)."""
    return int(np.count_nonzero(chunk_min_distance(enc, seed, first, n) < enc.hbr_km))


def chunk_min_distance(enc: Encounter, seed: int, first: int, n: int) -> np.ndarray:
    """(n,) minimum separations [km] of trials first .. first + n - 1 (the NumPy path)."""
    z = philox.trial_normals(seed, first, n)
    e1, e2 = sample_elements(enc, z)
    return min_distance(e1, e2, enc.times_s)
