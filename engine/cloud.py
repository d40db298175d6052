"""The fragment cloud at the event epoch: breakup samples -> TEME states -> SGP4 mean elements.

Per realization (engine.physics.breakup.sample), each fragment's state is the parent's TEME state at the
event epoch (SGP4 of the parent's element set) plus its ejection velocity. States are classified
(docs/estimator.md §4):

    status 0  kept: bound, perigee >= 100 km, mean elements fitted (engine.physics.fit)
    status 1  sub-orbital: osculating perigee below 100 km altitude (reenters within a revolution)
    status 2  hyperbolic: specific energy >= 0
    status 3  element fit failed (did not converge)
    status 4  deep space: the fitted orbit's period is >= 225 min, outside the near-earth SGP4
              that fragrisk's kernels run (these are counted and reported, never dropped silently)

Only kept fragments are propagated. B* = k Cd (A/m) rho0 / 2 (docs/breakup-model.md §8).

The SBM ejects fragments isotropically about the parent's velocity. A projectile's momentum
moves the whole cloud: the scenario's [event] cloud_dv_*_m_s (radial, along-track, cross-track at
the event; 0 by default) is added to every fragment's Δv (``cloud_dv_teme_m_s``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..kernels import sgp4_gpu
from .orbits.elements import ElementSet
from .physics import breakup, fit
from .physics import sgp4_numpy as sgp4
from .physics.constants import DECAY_ALTITUDE_KM
from .scenario import CLOUD_DV_FIELDS, breakup_params
from .timeutil import minutes_between

STATUS_KEPT = 0
STATUS_SUBORBITAL = 1
STATUS_HYPERBOLIC = 2
STATUS_FIT_FAILED = 3
STATUS_DEEP_SPACE = 4
STATUS_MEANINGS = "kept sub_orbital hyperbolic element_fit_failed deep_space"
N_STATUSES = len(STATUS_MEANINGS.split())

MEAN_ELEMENTS = ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo")


@dataclasses.dataclass
class Cloud:
    """n fragments of one or many realizations at the event epoch (struct of arrays).

    fragments: engine.physics.breakup.Fragments (n). position_km, velocity_km_s: (n, 3) TEME at the
    event epoch. status: (n,) int8 (module docstring). elements: dict of (n,) float64 SGP4 mean
    elements (MEAN_ELEMENTS; rad/min and rad), NaN where status != 0. bstar: (n,) 1/earth radii.
    epoch_jd, epoch_fr: the event epoch (split Julian date), the elements' epoch.
    """

    fragments: breakup.Fragments
    position_km: np.ndarray
    velocity_km_s: np.ndarray
    status: np.ndarray
    elements: dict
    bstar: np.ndarray
    epoch_jd: float
    epoch_fr: float

    @property
    def kept(self) -> np.ndarray:
        return self.status == STATUS_KEPT

    def kept_elements(self, name_prefix: str = "FRAGMENT", first_satnum: int = 1):
        """The kept fragments as an engine.orbits.elements.ElementSet (synthetic catalog numbers from
        first_satnum, names "<prefix> R<realization> F<index>"), epoch = the event epoch."""

        k = np.flatnonzero(self.kept)
        n = k.size
        return ElementSet(
            satnum=np.arange(first_satnum, first_satnum + n),
            name=tuple(f"{name_prefix} R{int(self.fragments.realization[i])} F{int(i)}" for i in k),
            epoch_jd=np.full(n, self.epoch_jd), epoch_fr=np.full(n, self.epoch_fr),
            bstar=self.bstar[k], source="sampled fragment cloud",
            **{name: self.elements[name][k] for name in MEAN_ELEMENTS})

    def sgp4_table(self, xp=np):
        """SGP4 coefficient table (N_COEFFICIENTS, n_kept) of the kept fragments."""
        k = self.kept
        return sgp4.sgp4_init(*(xp.asarray(self.elements[name][k]) for name in MEAN_ELEMENTS),
                              xp.asarray(self.bstar[k]), xp=xp)


def parent_state(parent, event):
    """The parent's TEME state at the event epoch: r (3,) km, v (3,) km/s (SGP4, NumPy path)."""
    el = parent.elements
    table = el.sgp4_table()
    t = minutes_between(event.epoch_jd, event.epoch_fr, float(el.epoch_jd[0]), float(el.epoch_fr[0]))
    r, v, _ = sgp4.propagate(table, np.array([[t]]))
    return r[0, 0], v[0, 0]


def cloud_dv_teme_m_s(event, r_km, v_km_s) -> np.ndarray:
    """The cloud's velocity change (3,) in m/s, TEME, from the event's radial, along-track and
    cross-track components (CLOUD_DV_FIELDS) at the parent's state r_km, v_km_s (3,): radial
    along r, cross-track along r x v (the orbit normal), along-track completing the right-handed
    triad (along v for a circular orbit)."""
    r = np.asarray(r_km, dtype=np.float64)
    v = np.asarray(v_km_s, dtype=np.float64)
    radial = r / np.linalg.norm(r)
    h = np.cross(r, v)
    cross = h / np.linalg.norm(h)
    along = np.cross(cross, radial)
    dv_r, dv_s, dv_w = (float(getattr(event, name)) for name in CLOUD_DV_FIELDS)
    return dv_r * radial + dv_s * along + dv_w * cross


def classify_states(r_km, v_km_s):
    """Status 0/1/2 of TEME states from their osculating two-body orbit: (n,) int8."""
    a_km, ecc = _size_and_eccentricity(r_km, v_km_s)
    perigee_alt_km = a_km * (1.0 - ecc) - sgp4.RADIUS_EARTH_KM
    status = np.full(a_km.shape, STATUS_KEPT, dtype=np.int8)
    status[perigee_alt_km < DECAY_ALTITUDE_KM] = STATUS_SUBORBITAL
    status[~(a_km > 0.0) | ~(ecc < 1.0)] = STATUS_HYPERBOLIC
    return status


def osculating_orbit(r_km, v_km_s):
    """Apogee and perigee altitude (km) and period (min) of TEME states (two-body): Gabbard data."""
    a_km, ecc = _size_and_eccentricity(r_km, v_km_s)
    with np.errstate(invalid="ignore"):
        period_min = 2.0 * np.pi * np.sqrt(a_km**3 / sgp4.MU_KM3_S2) / 60.0
    return (a_km * (1.0 + ecc) - sgp4.RADIUS_EARTH_KM, a_km * (1.0 - ecc) - sgp4.RADIUS_EARTH_KM, period_min)


def _size_and_eccentricity(r_km, v_km_s):
    a_km, (ex, ey, ez) = fit.semi_major_axis_and_eccentricity(r_km, v_km_s)
    return a_km, np.sqrt(ex * ex + ey * ey + ez * ez)


propagate_at_epoch_numpy = fit.propagate_at_epoch_numpy  # the element fit's NumPy SGP4 at t = 0


def propagate_at_epoch_cuda(table):
    import cupy


    n = table.shape[1]
    r, v, err = sgp4_gpu.propagate(table, cupy.zeros(n), cupy.zeros(1))
    return r[:, 0], v[:, 0], err[:, 0]


def sample_cloud(scenario, realizations, device: str = "cpu") -> Cloud:
    """Fragments of the given realizations of scenario's breakup, with states and elements.

    realizations: int array (R,). device: "cpu" or "gpu" (where the element fit's SGP4 runs; the
    sampling is always on the host, so a seed gives the same fragments on either backend).
    """
    event, parent = scenario.event, scenario.parent
    frags = breakup.sample(breakup_params(event, parent), scenario.analysis.seed, np.asarray(realizations))
    r0, v0 = parent_state(parent, event)
    if any(getattr(event, name) != 0.0 for name in CLOUD_DV_FIELDS):
        # The whole cloud's Δv joins every fragment's (dv_m_s stays "relative to the parent").
        frags = dataclasses.replace(frags, dv_m_s=frags.dv_m_s + cloud_dv_teme_m_s(event, r0, v0))
    n = len(frags)
    position = np.broadcast_to(r0, (n, 3)).copy()
    velocity = v0[None, :] + frags.dv_m_s * 1e-3
    status = classify_states(position, velocity)
    elements = {name: np.full(n, np.nan) for name in MEAN_ELEMENTS}
    bstar = fit.bstar_from_area_to_mass(frags.am_m2_kg, event.drag_coefficient, event.drag_scale)
    kept = np.flatnonzero(status == STATUS_KEPT)
    if kept.size:
        if device == "gpu":
            import cupy

            el, ok = fit.fit_mean_elements(cupy.asarray(position[kept]), cupy.asarray(velocity[kept]),
                                           propagate_at_epoch_cuda, xp=cupy)
            el = {k: cupy.asnumpy(a) for k, a in el.items()}
            ok = cupy.asnumpy(ok)
        else:
            el, ok = fit.fit_mean_elements(position[kept], velocity[kept], propagate_at_epoch_numpy)
        with np.errstate(invalid="ignore"):  # failed fits may hold NaN: not deep space
            deep = sgp4.is_deep_space(el["no_kozai"], el["ecco"], el["inclo"])
        status[kept[deep]] = STATUS_DEEP_SPACE  # fitted or not: near-earth SGP4 is not theirs
        status[kept[~ok & ~deep]] = STATUS_FIT_FAILED
        good = ok & ~deep
        for name in MEAN_ELEMENTS:
            elements[name][kept[good]] = el[name][good]
    return Cloud(frags, position, velocity, status, elements, bstar, event.epoch_jd, event.epoch_fr)
