"""Philox4x32-10, a counter-based random number generator, and the normals the Monte Carlo draws.

Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11 (the
generator of NumPy's ``Philox`` and cuRAND's ``PHILOX4_32_10``). A counter-based generator makes
draw j of trial i a pure function of (seed, i, j): the NumPy path here and the CUDA kernel
(kernels/pc_mc.cu) compute the same numbers from the same formula, whatever the chunking or the
thread layout, so the same seed gives the same trials on the CPU and the GPU.

Layout: trial i, block b (b = 0..5) is the counter (i mod 2^32, i div 2^32, b, 0) with key
(seed mod 2^32, seed div 2^32); its four 32-bit words make two uniforms in (0, 1) of 53 bits,
``((w0 >> 5) 2^26 + (w1 >> 6) + 1/2) / 2^53``, and each pair of uniforms two normals by
Box-Muller. Six blocks give the 12 normals of a trial (6 per object).
"""

from __future__ import annotations

import numpy as np

#: Philox4x32 round multipliers and Weyl key increments (Salmon et al. 2011, table 2).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
PHILOX_ROUNDS = 10
#: Normals per trial: a 6-vector of equinoctial-element deviates for each object.
NORMALS_PER_TRIAL = 12
#: 2 pi of Box-Muller's angle, one double for both paths.
TWO_PI = 2.0 * np.pi
_MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32(c0, c1, c2, c3, k0: int, k1: int):
    """Philox4x32-10 of counters (arrays of uint32, any shape) under key (k0, k1): 4 uint32 arrays."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in (c0, c1, c2, c3))
    k0, k1 = np.uint64(k0), np.uint64(k1)
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    for _ in range(PHILOX_ROUNDS):
        p0 = m0 * c0  # exact: both factors < 2^32
        p1 = m1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + np.uint64(PHILOX_W0)) & _MASK32
        k1 = (k1 + np.uint64(PHILOX_W1)) & _MASK32
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


def _uniform(a, b):
    """A double in (0, 1) from two 32-bit words (53 random bits, offset half an ulp off 0)."""
    hi = (a >> np.uint32(5)).astype(np.float64)
    lo = (b >> np.uint32(6)).astype(np.float64)
    return (hi * 67108864.0 + lo + 0.5) / 9007199254740992.0


def trial_normals(seed: int, first: int, count: int) -> np.ndarray:
    """(count, 12) standard normals of trials first .. first + count - 1 under ``seed``."""
    seed = int(seed)
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"seed must be in [0, 2^64), got {seed}")
    idx = np.arange(first, first + count, dtype=np.uint64)
    lo, hi = (idx & _MASK32).astype(np.uint32), (idx >> np.uint64(32)).astype(np.uint32)
    out = np.empty((count, NORMALS_PER_TRIAL))
    for block in range(NORMALS_PER_TRIAL // 2):
        w0, w1, w2, w3 = philox4x32(lo, hi, np.full(count, block, np.uint32), np.zeros(count, np.uint32),
                                    seed & 0xFFFFFFFF, seed >> 32)
        u1, u2 = _uniform(w0, w1), _uniform(w2, w3)
        r = np.sqrt(-2.0 * np.log(u1))
        out[:, 2 * block] = r * np.cos(TWO_PI * u2)
        out[:, 2 * block + 1] = r * np.sin(TWO_PI * u2)
    return out
