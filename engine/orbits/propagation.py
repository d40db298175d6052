"""Propagate a set of SGP4 element sets to shared times: one entry point for every caller.

``propagate_elements(elements, start_jd, start_fr, times_min, device)`` returns the TEME states
of n objects at m times given in minutes since a start epoch (split Julian date).  It is the
function ``fragrisk propagate`` calls, and the one that propagates targets and real-object
populations for the risk estimate, so it takes any ElementSet and any time grid.

Who propagates what:
- near-earth objects (period < 225 min) run through fragrisk's own SGP4, engine.physics.sgp4_numpy on the CPU
  (NumPy) or kernels.sgp4_gpu on the GPU (CuPy), in chunks of objects so that memory stays
  bounded and progress can be reported;
- deep-space objects (period >= 225 min, SGP4's SDP4 branch, which fragrisk does not implement)
  run through python-sgp4's SatrecArray on the CPU and are merged in place; ``notes`` says so.

Time: each object's time since its own epoch is ``offset_min[i] + times_min[j]``, where
``offset_min`` = start - epoch is taken part by part from the split Julian dates (whole days,
then fractions; engine.timeutil.minutes_between, vectorized), never as (jd + fr) - (jd0 + fr0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sgp4.api import SatrecArray

from ...kernels import sgp4_gpu
from ..atmosphere.drag import ELEMENT_NAMES, Atmosphere, propagate_element_sets
from ..backend import resolve_device
from ..physics import sgp4_numpy as sgp4
from ..physics.constants import DECAY_RADIUS_KM
from .elements import ElementSet

_MINUTES_PER_DAY = 1440.0

#: Objects x times per CPU chunk: bounds the per-chunk time grid and copies (the SGP4 temporaries
#: are bounded by engine.physics.sgp4_numpy.propagate itself) and sets how often progress is reported
#: (a fraction of a second of NumPy SGP4 per chunk).
CPU_CHUNK_ELEMENTS = 1 << 19

#: Fraction of the free GPU memory one chunk's r, v and error arrays may take.
GPU_MEMORY_FRACTION = 0.25

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class Ephemeris:
    """States of n objects at m times (TEME, float64), in the order of the ElementSet.

    r_km        (n, m, 3) km, position
    v_km_s      (n, m, 3) km/s, velocity
    error       (n, m) int8, python-sgp4's error codes (0 = ok; see SGP4_ERROR_MEANINGS)
    deep_space  (n,) bool, True where python-sgp4 propagated the object (period >= 225 min)
    notes       one-line remarks about how the states were made, for summaries and files
    """

    r_km: np.ndarray
    v_km_s: np.ndarray
    error: np.ndarray
    deep_space: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def n_objects(self) -> int:
        return int(self.error.shape[0])

    @property
    def n_times(self) -> int:
        return int(self.error.shape[1])

    @property
    def n_errors(self) -> int:
        """Number of (object, time) samples with a non-zero SGP4 error code."""
        return int(np.count_nonzero(self.error))


#: python-sgp4's error codes (sgp4.api.SGP4_ERRORS), as CF flag_values / flag_meanings.
SGP4_ERROR_MEANINGS = (
    (0, "ok"),
    (1, "mean_eccentricity_out_of_range"),
    (2, "mean_motion_negative"),
    (3, "perturbed_eccentricity_out_of_range"),
    (4, "semi_latus_rectum_negative"),
    (5, "unused"),
    (6, "decayed"),
)


def offset_minutes(elements: ElementSet, start_jd: float, start_fr: float) -> np.ndarray:
    """Minutes from each object's epoch to the start (start - epoch), float64 (n,).

    Vectorized ``engine.timeutil.minutes_between(start_jd, start_fr, epoch_jd, epoch_fr)``: whole
    days and fractions are subtracted separately, then each difference is scaled to minutes.
    """
    days = float(start_jd) - elements.epoch_jd
    fraction = float(start_fr) - elements.epoch_fr
    return days * _MINUTES_PER_DAY + fraction * _MINUTES_PER_DAY


def sample_times_s(duration_s: float, step_s: float) -> np.ndarray:
    """Sample times of a window, seconds since its start, float64 (m,): 0, step, 2 step, ...
    up to ``duration_s``, and ``duration_s`` itself where it falls off that grid, so the whole
    window is covered (the last step is then shorter).  Both arguments must be > 0."""
    if not (duration_s > 0 and step_s > 0 and np.isfinite(duration_s) and np.isfinite(step_s)):
        raise ValueError(f"duration_s = {duration_s!r} and step_s = {step_s!r} must be finite and > 0")
    k = int(np.floor(duration_s / step_s + 1e-9))
    t = step_s * np.arange(k + 1, dtype=np.float64)
    if duration_s - t[-1] > 1e-9 * duration_s:
        t = np.append(t, float(duration_s))
    return t


def _check_times(times_min) -> np.ndarray:
    t = np.asarray(times_min, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"times_min has shape {t.shape}; expected (m,)")
    if not np.all(np.isfinite(t)):
        raise ValueError("times_min has non-finite values")
    return t


def propagate_elements(elements: ElementSet, start_jd: float, start_fr: float, times_min,
                       device: str = "cpu",
                       on_progress: ProgressCallback | None = None,
                       atmosphere: Atmosphere | None = None) -> Ephemeris:
    """TEME states of every object of ``elements`` at ``times_min`` minutes after the start.

    elements:    n SGP4 element sets (any mix of near-earth and deep-space).
    start_jd, start_fr: the start epoch, split Julian date (UTC), as engine.timeutil.parse_utc.
    times_min:   (m,) float64 minutes since the start, the same for every object.
    device:      "cpu" (NumPy) or "gpu" (CuPy kernels) for the near-earth objects; "auto"
                 is resolved by engine.backend.resolve_device (InputError for an unusable gpu).
    on_progress: called as on_progress(done, total) in objects after each chunk, ending with
                 (n, n).
    atmosphere:  None: SGP4's own static atmosphere (B* as given). An engine.atmosphere.drag
                 .Atmosphere: the near-earth objects go through drag steps with the real
                 density (docs/atmosphere.md), on the CPU whatever ``device`` says (the drag
                 steps have no CUDA path yet), from the start on: times_min must be >= 0.

    Returns an ``Ephemeris``.  Deep-space objects always run on the CPU through python-sgp4.
    """
    if device not in ("cpu", "gpu"):

        device = resolve_device(device)
    t = _check_times(times_min)
    n, m = len(elements), t.shape[0]
    r = np.empty((n, m, 3))
    v = np.empty((n, m, 3))
    error = np.zeros((n, m), dtype=np.int8)
    deep = np.asarray(elements.is_deep_space, dtype=bool).copy()
    offset = offset_minutes(elements, start_jd, start_fr)

    progress = _Progress(n, on_progress)
    near_idx = np.flatnonzero(~deep)
    deep_idx = np.flatnonzero(deep)
    if near_idx.size and m and atmosphere is not None:
        if t.min() < 0:
            raise ValueError("with a real atmosphere, times_min must be >= 0 (drag steps run "
                             "forward from the start)")
        _near_earth_drag(elements.take(near_idx), offset[near_idx], start_jd + start_fr, t,
                         near_idx, r, v, error, atmosphere)
        progress.add(near_idx.size)
    elif near_idx.size and m:
        near = elements.take(near_idx)
        if device == "gpu":
            _near_earth_gpu(near, offset[near_idx], t, near_idx, r, v, error, progress)
        else:
            _near_earth_cpu(near, offset[near_idx], t, near_idx, r, v, error, progress)
    else:
        progress.add(near_idx.size)
    if deep_idx.size and m:
        _deep_space_python_sgp4(elements.take(deep_idx), start_jd, start_fr, t, deep_idx,
                                r, v, error, progress)
    else:
        progress.add(deep_idx.size)

    notes = list(atmosphere.notes) if atmosphere is not None else []
    if atmosphere is not None and device == "gpu" and near_idx.size:
        notes.append("the drag steps ran on the CPU (they have no GPU path yet)")
    if deep_idx.size:
        count = int(deep_idx.size)
        notes.append(f"{count} deep-space object{'' if count == 1 else 's'} propagated by "
                     f"python-sgp4 on the CPU")
    return Ephemeris(r_km=r, v_km_s=v, error=error, deep_space=deep, notes=tuple(notes))


def history_set_index(elements: ElementSet, start_jd: float, start_fr: float, times_min) -> np.ndarray:
    """For one object's element-set history (n sets, in any order): the set each sample time
    uses, (m,) int64 indices into ``elements``: the latest set whose epoch is at or before the
    time, the earliest set before the first epoch (each set from its epoch until the next's, as
    analysts use element-set histories)."""
    t = _check_times(times_min)
    epoch_min = -offset_minutes(elements, start_jd, start_fr)  # each epoch, minutes after start
    order = np.argsort(epoch_min, kind="stable")
    k = np.searchsorted(epoch_min[order], t, side="right") - 1
    return order[np.clip(k, 0, len(elements) - 1)]


def propagate_target(elements: ElementSet, start_jd: float, start_fr: float, times_min,
                     device: str = "cpu") -> Ephemeris:
    """One target's states at ``times_min``: its element set, or, for an element-set history
    (several sets of one object), each sample from the set `history_set_index` picks. Returns a
    one-object Ephemeris."""
    if len(elements) == 1:
        return propagate_elements(elements, start_jd, start_fr, times_min, device=device)
    t = _check_times(times_min)
    which = history_set_index(elements, start_jd, start_fr, t)
    r, v = np.empty((1, t.size, 3)), np.empty((1, t.size, 3))
    error = np.zeros((1, t.size), dtype=np.int8)
    deep, notes = np.zeros(1, dtype=bool), set()
    for k in np.unique(which):
        at = np.flatnonzero(which == k)
        eph = propagate_elements(elements.take([k]), start_jd, start_fr, t[at], device=device)
        r[0, at], v[0, at], error[0, at] = eph.r_km[0], eph.v_km_s[0], eph.error[0]
        deep |= eph.deep_space
        notes.update(eph.notes)
    return Ephemeris(r_km=r, v_km_s=v, error=error, deep_space=deep, notes=tuple(sorted(notes)))


def reentry_times_min(ephemeris: Ephemeris, times_min) -> np.ndarray:
    """Each object's first sample time (minutes since the start) with an SGP4 error or a radius
    below the decay altitude (engine.physics.constants), inf where there is none: (n,) float64.
    With --atmosphere nrlmsis the drag steps mark an object decayed (error 6) from the step's
    end at which its mean perigee fell below that altitude."""
    t = _check_times(times_min)
    with np.errstate(invalid="ignore"):
        radius = np.sqrt(np.sum(ephemeris.r_km * ephemeris.r_km, axis=2))
        down = (ephemeris.error != 0) | ~(radius >= DECAY_RADIUS_KM)
    first = np.argmax(down, axis=1)
    return np.where(down.any(axis=1), t[first], np.inf)


class _Progress:
    """Counts objects done and forwards (done, total) to the caller's callback."""

    def __init__(self, total: int, callback: ProgressCallback | None):
        self.total = total
        self.done = 0
        self.callback = callback

    def add(self, k: int) -> None:
        if k <= 0:
            return
        self.done += int(k)
        if self.callback is not None:
            self.callback(self.done, self.total)


def _element_arrays(el: ElementSet, xp=np):
    return tuple(xp.asarray(getattr(el, k)) for k in
                 ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar"))


def _near_earth_cpu(el, offset, t, out_idx, r, v, error, progress) -> None:
    n, m = len(el), t.shape[0]
    rows = max(1, CPU_CHUNK_ELEMENTS // m)
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        table = sgp4.sgp4_init(*(a[lo:hi] for a in _element_arrays(el)))
        tsince = offset[lo:hi, None] + t[None, :]
        rc, vc, ec = sgp4.propagate(table, tsince)
        dest = out_idx[lo:hi]
        r[dest], v[dest], error[dest] = rc, vc, ec
        progress.add(hi - lo)


def _near_earth_drag(el, offset, start_jd, t, out_idx, r, v, error, atmosphere) -> None:
    result = propagate_element_sets({k: getattr(el, k) for k in ELEMENT_NAMES}, el.bstar,
                                    el.epoch_jd + el.epoch_fr, offset, start_jd, t, atmosphere)
    r[out_idx], v[out_idx], error[out_idx] = result.r_km, result.v_km_s, result.error


def gpu_chunk_objects(free_bytes: int, m: int) -> int:
    """Objects per GPU chunk so that r, v (float64, m x 3 each), the error codes (int8, m) and
    the coefficient table of one chunk fit in GPU_MEMORY_FRACTION of ``free_bytes``."""
    per_object = m * (3 * 8 * 2 + 1) + 8 * (sgp4.N_COEFFICIENTS + 8)
    return max(1, int(free_bytes * GPU_MEMORY_FRACTION) // per_object)


def _near_earth_gpu(el, offset, t, out_idx, r, v, error, progress) -> None:
    import cupy


    n, m = len(el), t.shape[0]
    pool = cupy.get_default_memory_pool()
    free = cupy.cuda.runtime.memGetInfo()[0] + pool.free_bytes()
    rows = gpu_chunk_objects(free, m)
    times_d = cupy.asarray(t)
    arrays = _element_arrays(el)
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        table = sgp4.sgp4_init(*(cupy.asarray(a[lo:hi]) for a in arrays), xp=cupy)
        rc, vc, ec = sgp4_gpu.propagate(table, cupy.asarray(offset[lo:hi]), times_d)
        dest = out_idx[lo:hi]
        r[dest], v[dest], error[dest] = rc.get(), vc.get(), ec.get()
        del table, rc, vc, ec
        progress.add(hi - lo)


def _deep_space_python_sgp4(el, start_jd, start_fr, t, out_idx, r, v, error, progress) -> None:
    m = t.shape[0]
    # The sample times as split Julian dates: whole part the start's, fraction start_fr + t/1440,
    # so python-sgp4 forms tsince = (jd - jdsatepoch)*1440 + (fr - jdsatepochF)*1440 part by part.
    jd = np.full(m, float(start_jd))
    fr = float(start_fr) + t / _MINUTES_PER_DAY
    sats = el.to_satrecs()
    rows = max(1, CPU_CHUNK_ELEMENTS // m)
    for lo in range(0, len(sats), rows):
        hi = min(len(sats), lo + rows)
        ec, rc, vc = SatrecArray(sats[lo:hi]).sgp4(jd, fr)
        dest = out_idx[lo:hi]
        r[dest], v[dest], error[dest] = rc, vc, ec.astype(np.int8)
        progress.add(hi - lo)
