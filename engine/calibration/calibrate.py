"""Calibration of a breakup scenario to tracked fragments (``fragrisk calibrate``).

The NASA Standard Breakup Model is a fit to ground tests and old events; after a real breakup,
analysts tune it to the fragments as the catalog fills in (Cimmino et al. 2021, "Tuning of NASA
Standard Breakup Model for Fragmentation Events Modelling", Aerospace 8(7):185, fit the mass
that fragments). This module fits the scenario's [event] knobs (engine.scenario
CALIBRATION_FIELDS) to element sets of tracked fragments:

- the fragment count: ``fragmenting_mass_kg``, M of the count law N = 0.1·M^0.75·Lc^-1.71
  (``explosion_scale`` for explosions);
- the ejection speeds: ``dv_scale`` (a factor on every Δv) and ``dv_sigma_log10`` (the spread of
  log10 Δv about its mean; the SBM's 0.4 gives the cloud a tail of fast fragments that tracked
  clouds do not show);
- drag: ``drag_scale``, k in B* = k·Cd·(A/m)·ρ0/2 (SGP4's static atmosphere and B* from the SBM's
  A/m overstate the drag of the real fragments);
- the velocity change of the whole cloud, ``cloud_dv_radial_m_s``, ``cloud_dv_cross_track_m_s``
  (and ``cloud_dv_along_track_m_s`` on request): the SBM ejects fragments isotropically about the
  parent, but the projectile's momentum moves the cloud's centre (m_p/(m_t + m_p) times its
  relative velocity: about 70 m/s for 20 kg at 7.5 km/s on 2,220 kg).

What is compared
    Both sides are taken to one common epoch, the median epoch of the observed element sets,
    with SGP4 (each observed set from its own epoch, each model fragment from the event), and
    described the same way there: SGP4's mean elements (engine.physics.sgp4_numpy.mean_elements), as apogee
    and perigee altitude (semi-major axis from the Kozai mean motion, as catalogs derive it from
    a TLE's mean motion, over the WGS-72 equatorial radius), inclination and right ascension of
    the ascending node. A model fragment counts if it is kept at the event (bound, perigee above
    100 km, fitted; engine.cloud), its Lc is at least the catalog's size threshold, and it has
    not decayed by the epoch (``in_orbit``): SGP4 reports no error there, its mean perigee is at
    least 100 km, and SGP4's drag factor is still positive (it falls monotonically from 1 and
    its polynomial turns a back up only after passing 0, long after the model's reentry; on the
    built-in cloud this rule agrees object for object with an hourly grid of the same tests, and
    with osculating altitudes sampled every 10 minutes for all but 0.3 % of the decayed: those
    whose mean perigee is already below 100 km a few hours before their sampled altitude is).

The statistic
    T = n_obs · Σ_k D_k + (C − N)² / N

    D_k is the one-dimensional energy distance between the observed and the model distribution
    of marginal k (apogee, perigee, inclination, node), each in units of the observed spread
    (interquartile range / 1.349): D = 2E|X−Y| − E|X−X'| − E|Y−Y'| = 2∫(F−G)² dx (Székely &
    Rizzo 2013; in one dimension it is twice Cramér's distance). Why this one: it is a proper
    two-sample statistic (zero only where the distributions agree); it is continuous in every
    sample value, because it integrates the squared difference of the empirical CDFs over x, so
    moving a model fragment a little moves D a little (Cramér-von Mises and Kolmogorov-Smirnov see
    only ranks and move in steps, which stalls a simplex search); and in one dimension it costs a
    sort. Scaled by the number of observed objects, each term is of order one when both samples
    share a distribution (its expectation is then E|X−X'|·(1 + n/m), about 1.1 in these units),
    which makes the sum commensurate with the count term, a χ² of one degree of freedom: C is the
    model's mean count per realization in orbit at the epoch (Lc >= the size threshold), N the
    number the catalog held (``--cataloged``), taken as Poisson.

How it fits
    Common random numbers: every candidate samples the same realizations of the same seed, so
    the fragments move continuously with the knobs and the objective is smooth up to the few
    fragments that cross the decay line, and reproducible. The count knob changes only how many
    fragments a realization has (their sizes, A/m and Δv do not depend on M), so the fit samples
    at the scenario's count and scales the count by the law (M/M0)^0.75; this keeps the random
    streams fixed and lets the count knob be solved in closed form for every candidate (C = N).
    The other knobs are searched by Nelder-Mead (scipy.optimize.minimize) in the logarithm of
    their values (the cloud's velocity change in units of 50 m/s), within KNOB_SPECS, restarted
    once from its optimum.

Uncertainties
    A bootstrap over the observed objects, the model's realizations (its Monte Carlo noise) and
    a Poisson draw of the catalog count. The model is
    simulated once at design points around the optimum (each knob's axis at ±h and ±2h, the four
    corners of every pair of axes at ±h, with h the step that raises the statistic by about
    DESIGN_RISE on that axis); every resample's statistic is evaluated at every design point
    with the resample's weights (the model samples are shared: common random numbers again); a
    quadratic is fitted to each resample's surface, and its minimum is found by one Newton step
    on the full data's curvature (_bootstrap_offsets says why). A knob's uncertainty is the
    standard deviation of these minima (their 16th-84th percentiles are reported too). What they
    cover, measured on catalogs drawn from the model itself (tests/test_calibrate.py), is said in
    the README's "Calibration" section: where the data leave a direction nearly flat (a narrower
    spread of log10 Δv traded against a larger Δv factor and more drag), a few hundred objects
    give estimates that scatter more than their bootstrap says.

Everything here is arrays in, arrays out; ``on_progress`` callbacks are the front end's business.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import cloud as cloud_mod
from ..errors import FragriskError, InputError
from ..orbits.elements import EARTH_RADIUS_KM, ElementSet, concat, load_elements
from ..physics import fit
from ..physics import sgp4_numpy as sgp4
from ..physics.constants import DECAY_ALTITUDE_KM
from ..scenario import LC_MIN_RANGE_M, Scenario, breakup_params, scenario_to_toml
from ..timeutil import format_utc, minutes_between


# --- the knobs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class KnobSpec:
    """A shape knob's search: range [lo, hi] of the [event] field, searched in u = ln(value)
    (``scale`` None) or u = value / scale."""

    lo: float
    hi: float
    scale: float | None = None

    def to_u(self, x):
        return np.log(x) if self.scale is None else np.asarray(x) / self.scale

    def from_u(self, u):
        return np.exp(u) if self.scale is None else np.asarray(u) * self.scale

    @property
    def bounds(self) -> tuple[float, float]:
        return float(self.to_u(self.lo)), float(self.to_u(self.hi))


#: The shape knobs and their search ranges. Wide enough for any plausible event (Δv from a fifth
#: to five times the SBM's; a spread of log10 Δv from 0.05 to 1, the SBM having 0.4; drag from
#: 1/200 to 5 times the B* of the SBM's A/m; a cloud velocity change of up to 300 m/s each way,
#: a 20 kg projectile at 7.5 km/s giving a 2,200 kg parent about 70 m/s); an end reached is
#: warned about. The cloud components are searched in units of 50 m/s (a step of 0.4 is 20 m/s).
KNOB_SPECS = {
    "dv_scale": KnobSpec(0.2, 5.0),
    "dv_sigma_log10": KnobSpec(0.05, 1.0),
    "drag_scale": KnobSpec(0.005, 5.0),
    "cloud_dv_radial_m_s": KnobSpec(-300.0, 300.0, 50.0),
    "cloud_dv_along_track_m_s": KnobSpec(-300.0, 300.0, 50.0),
    "cloud_dv_cross_track_m_s": KnobSpec(-300.0, 300.0, 50.0),
}
SHAPE_KNOBS = tuple(KNOB_SPECS)
#: What `fragrisk calibrate` fits by default, besides the count. Each earns its place: on the
#: tracked COSMOS 1408 debris, holding one at its plain-model value and refitting the others
#: raises the fitted statistic by 8 (dv_sigma_log10) to 25 (cross-track) and more (README,
#: "Calibration"); the along-track component lowers it by 0.1 and is left at 0 unless asked for.
DEFAULT_KNOBS = ("dv_scale", "dv_sigma_log10", "drag_scale", "cloud_dv_radial_m_s",
                 "cloud_dv_cross_track_m_s")
#: The count knob's range, as a factor on the scenario's value (the SBM's M by default).
COUNT_FACTOR_RANGE = (0.1, 10.0)
#: The count law's exponent in the count knob: N ∝ M^0.75 (collisions), N ∝ S (explosions).
COUNT_EXPONENT = {"collision": 0.75, "explosion": 1.0}
COUNT_KNOB = {"collision": "fragmenting_mass_kg", "explosion": "explosion_scale"}

KNOB_LABELS = {
    "fragmenting_mass_kg": ("fragmenting mass", "kg"),
    "explosion_scale": ("explosion scale S", "1"),
    "dv_scale": ("Δv factor", "1"),
    "dv_sigma_log10": ("σ of log10 Δv", "log10(m/s)"),
    "drag_scale": ("drag scale k", "1"),
    "cloud_dv_radial_m_s": ("cloud Δv, radial", "m/s"),
    "cloud_dv_along_track_m_s": ("cloud Δv, along-track", "m/s"),
    "cloud_dv_cross_track_m_s": ("cloud Δv, cross-track", "m/s"),
}

# --- what is compared --------------------------------------------------------------------------
MARGINALS = ("apogee_km", "perigee_km", "inclination_deg", "node_deg")
MARGINAL_LABELS = ("apogee altitude (km)", "perigee altitude (km)", "inclination (deg)",
                   "right ascension of the node (deg)")
#: An observed object whose orbit plane, taken back to the event epoch by its own J2 node
#: precession, is more than this far from the parent's cannot come from the event: turning a
#: plane by 10 deg takes 2·v·sin(5 deg) = 1.3 km/s across the track, beyond the ejection speed
#: of all but about 1e-4 of the SBM's catalog-size fragments.
PLANE_ANGLE_MAX_DEG = 10.0

DEFAULT_MIN_SIZE_M = 0.1
DEFAULT_BOOTSTRAP = 200
#: Realizations per candidate when the caller gives none. The model sample then dwarfs a catalog
#: of a few hundred objects, yet its Monte Carlo noise still moves the optimum along the flatter
#: directions (on the COSMOS 1408 debris, 12 and 24 realizations give dv_sigma_log10 0.267 and
#: 0.241): the bootstrap resamples the realizations for that reason. 24 keeps the CPU fit within
#: a few minutes; a GPU affords more.
DEFAULT_REALIZATIONS = {"cpu": 24, "gpu": 64}
#: Bootstrap seed (fixed: the reported uncertainties are reproducible).
BOOTSTRAP_SEED = 20220111


# ================================================================================================
# Observations
# ================================================================================================
@dataclass(frozen=True)
class ObservedFile:
    """One --observed file: path, SHA-256 of its bytes, objects read, first and last epoch."""

    path: str
    sha256: str
    n_objects: int
    first_epoch: str
    last_epoch: str


@dataclass(frozen=True)
class Observed:
    """Tracked fragments at the common epoch.

    elements: the objects compared (ElementSet, n), exclusions removed. values: (n, 4) float64
    MARGINALS at the epoch. epoch_jd, epoch_fr: the common epoch (split Julian date). files:
    tuple of ObservedFile. excluded: tuple of (name, satnum, reason) for the objects left out.
    """

    elements: ElementSet
    values: np.ndarray
    epoch_jd: float
    epoch_fr: float
    files: tuple
    excluded: tuple

    @property
    def epoch(self) -> str:
        return format_utc(self.epoch_jd, self.epoch_fr)

    def __len__(self) -> int:
        return len(self.elements)


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_observed_files(paths) -> tuple[ElementSet, tuple]:
    """Element sets of every file in ``paths`` (TLE or OMM, any mix of epochs), concatenated,
    and an ObservedFile for each. An empty, unreadable or malformed file raises InputError
    naming it (one line)."""
    if not paths:
        raise InputError("--observed: give at least one file of element sets (TLE or OMM)")
    sets, files = [], []
    for path in paths:
        where = f"--observed {os.fspath(path)}"
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            raise InputError(f"{where}: the file is empty (expected TLE or OMM element sets)")
        try:
            el = load_elements(path)
        except InputError as exc:
            raise InputError(f"--observed {exc}") from None
        try:
            digest = _sha256(path)
        except OSError as exc:
            raise InputError(f"{where}: cannot read: {exc.strerror or exc}") from None
        order = np.argsort(el.epoch_jd + el.epoch_fr)
        first, last = int(order[0]), int(order[-1])
        files.append(ObservedFile(
            path=os.path.abspath(path), sha256=digest, n_objects=len(el),
            first_epoch=format_utc(el.epoch_jd[first], el.epoch_fr[first]),
            last_epoch=format_utc(el.epoch_jd[last], el.epoch_fr[last])))
        sets.append(el)
    return concat(sets), tuple(files)


def _median_epoch(el: ElementSet) -> tuple[float, float]:
    """The epoch of the object with the (lower) median epoch: a split Julian date kept exact."""
    order = np.lexsort((el.epoch_fr, el.epoch_jd))
    k = int(order[(len(order) - 1) // 2])
    return float(el.epoch_jd[k]), float(el.epoch_fr[k])


def _minutes_to(el: ElementSet, jd: float, fr: float) -> np.ndarray:
    """Minutes from each object's own epoch to (jd, fr), (n,)."""
    return np.array([minutes_between(jd, fr, float(a), float(b))
                     for a, b in zip(el.epoch_jd, el.epoch_fr)])


def _plane_angle_deg(incl1, node1, incl2, node2):
    """Angle between two orbit planes (normals), deg; radians in."""
    c = (np.cos(incl1) * np.cos(incl2)
         + np.sin(incl1) * np.sin(incl2) * np.cos(node1 - node2))
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def load_observed(paths, scenario: Scenario) -> tuple[Observed, list]:
    """Read the --observed files (read_observed_files) and take the objects to the common epoch
    (observe). Returns (Observed, warnings)."""
    el_all, files = read_observed_files(paths)
    return observe(el_all, files, scenario)


def observe(el_all: ElementSet, files: tuple, scenario: Scenario) -> tuple[Observed, list]:
    """Tracked objects at the common epoch, the median epoch of their element sets.

    Left out, each with a reason (and a warning line in the returned list): older element sets of
    a catalog number that has a later one, deep-space objects (period >= 225 min), objects
    whose plane is more than PLANE_ANGLE_MAX_DEG from the parent's at the event epoch (see
    there), and objects SGP4 finds decayed at the epoch. Raises InputError when no object is
    left. Returns (Observed, warnings).
    """
    if scenario.event is None:
        raise InputError(f"{scenario.source}: a [population] scenario has no breakup to calibrate; "
                         f"fragrisk calibrate needs [parent] and [event]")
    event, parent = scenario.event, scenario.parent
    excluded: list[tuple[str, int, str]] = []
    keep = np.ones(len(el_all), dtype=bool)

    # The latest element set of each catalog number.
    order = np.lexsort((el_all.epoch_fr, el_all.epoch_jd, el_all.satnum))
    for a, b in zip(order[:-1], order[1:]):
        if el_all.satnum[a] == el_all.satnum[b]:
            keep[a] = False
            excluded.append((el_all.name[a], int(el_all.satnum[a]),
                             "an older element set of the same object"))
    deep = el_all.is_deep_space & keep
    for i in np.flatnonzero(deep):
        excluded.append((el_all.name[i], int(el_all.satnum[i]),
                         f"deep space (period {el_all.period_min[i]:.0f} min): not a near-earth "
                         f"fragment of this event"))
    keep &= ~deep
    if not keep.any():
        where = " ".join(["--observed", *(os.path.basename(f.path) for f in files)])
        raise InputError(f"{where}: none of the {len(el_all):,} objects can be compared with "
                         f"the event ({excluded[0][2]})")

    # The plane at the event epoch, by each object's own secular node rate (J2); the parent's from
    # SGP4's mean elements at the event.
    el = el_all.take(np.flatnonzero(keep))
    table = el.sgp4_table()
    to_event = _minutes_to(el, event.epoch_jd, event.epoch_fr)
    node_at_event = table[sgp4.COEFFICIENTS.index("nodeo")] + \
        table[sgp4.COEFFICIENTS.index("nodedot")] * to_event
    p_el = parent.elements
    p_mean = sgp4.mean_elements(p_el.sgp4_table(), _minutes_to(p_el, event.epoch_jd, event.epoch_fr))
    angle = _plane_angle_deg(el.inclo, node_at_event, p_mean["inclo"][0], p_mean["nodeo"][0])
    off_plane = angle > PLANE_ANGLE_MAX_DEG

    jd, fr = _median_epoch(el)
    values, decayed = _observed_values(el, jd, fr)
    bad = off_plane | decayed
    for i in np.flatnonzero(off_plane):
        excluded.append((el.name[i], int(el.satnum[i]),
                         f"its plane is {angle[i]:.1f} deg from the parent's at the event "
                         f"(inclination {math.degrees(el.inclo[i]):.2f} deg): cannot belong to "
                         f"the event (limit {PLANE_ANGLE_MAX_DEG:g} deg)"))
    for i in np.flatnonzero(decayed & ~off_plane):
        excluded.append((el.name[i], int(el.satnum[i]),
                         f"decayed by {format_utc(jd, fr)} (SGP4 from its elements of "
                         f"{format_utc(el.epoch_jd[i], el.epoch_fr[i])})"))
    good = np.flatnonzero(~bad)
    if good.size == 0:
        where = " ".join(["--observed", *(os.path.basename(f.path) for f in files)])
        raise InputError(f"{where}: none of the {len(el_all):,} objects can be compared with "
                         f"the event ({excluded[0][2] if excluded else 'no objects'})")
    if bad.any():  # the common epoch of the objects that are compared
        el = el.take(good)
        jd, fr = _median_epoch(el)
        values, _ = _observed_values(el, jd, fr)
    warnings = []
    if excluded:
        listed = "; ".join(f"{name} (NORAD {num}): {why}" for name, num, why in excluded[:20])
        more = f"; and {len(excluded) - 20} more" if len(excluded) > 20 else ""
        warnings.append(f"--observed: {len(excluded)} of {len(el_all):,} element sets left out: "
                        f"{listed}{more}")
    return Observed(el, values, jd, fr, files, tuple(excluded)), warnings


def _observed_values(el: ElementSet, jd: float, fr: float):
    """MARGINALS (n, 4) of element sets at (jd, fr) and a decayed flag (n,) (see in_orbit)."""
    orbit = mean_orbits(el.sgp4_table(), _minutes_to(el, jd, fr))
    return _stack(orbit), ~in_orbit(orbit)


# ================================================================================================
# SGP4 mean orbits
# ================================================================================================
def mean_orbits(coef, tsince_min, xp=np) -> dict:
    """The compared quantities of n objects at given times, from SGP4's mean elements.

    coef: (N_COEFFICIENTS, n) SGP4 table (engine.physics.sgp4_numpy.sgp4_init); tsince_min: (n,) or (n, m)
    minutes since each object's epoch. Returns arrays of the shape of tsince_min: ``apogee_km``,
    ``perigee_km`` (altitudes over the WGS-72 radius with the semi-major axis of the Kozai mean
    motion, a TLE's convention), ``inclination_deg``, ``node_deg`` (in [0, 360)),
    ``perigee_mean_km`` (with SGP4's own, Brouwer, semi-major axis: the decay test), ``tempa``
    and ``error`` (engine.physics.sgp4_numpy.mean_elements).
    """
    m = sgp4.mean_elements(coef, tsince_min, xp)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_kozai = sgp4.kozai_mean_motion(m["no_unkozai"], m["ecco"], xp.cos(m["inclo"]), xp)
        a_km = (sgp4.XKE / n_kozai) ** (2.0 / 3.0) * EARTH_RADIUS_KM
    return {
        "apogee_km": a_km * (1.0 + m["ecco"]) - EARTH_RADIUS_KM,
        "perigee_km": a_km * (1.0 - m["ecco"]) - EARTH_RADIUS_KM,
        "inclination_deg": xp.degrees(m["inclo"]),
        "node_deg": xp.degrees(m["nodeo"]) % 360.0,
        "perigee_mean_km": (m["a_er"] * (1.0 - m["ecco"]) - 1.0) * EARTH_RADIUS_KM,
        "tempa": m["tempa"],
        "error": m["error"],
    }


def in_orbit(orbit: dict):
    """Not decayed (module docstring): no SGP4 error, mean perigee >= 100 km, drag factor > 0.
    orbit: from mean_orbits; same shape and array module out (bool)."""
    with np.errstate(invalid="ignore"):
        return ((orbit["error"] == 0) & (orbit["perigee_mean_km"] >= DECAY_ALTITUDE_KM)
                & (orbit["tempa"] > 0.0))


def _stack(orbit: dict) -> np.ndarray:
    return np.stack([_host(orbit[k]) for k in MARGINALS], axis=-1).astype(np.float64)


def _host(a) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


# ================================================================================================
# The model side
# ================================================================================================
@dataclass
class ModelSample:
    """Model fragments in orbit at the epoch, of R realizations (struct of arrays, m fragments).

    values: (m, 4) MARGINALS. realization: (m,) int64. is_remnant: (m,) bool. bstar: (m,) B*
    (1/earth radii). Per realization
    (R,): ``in_orbit`` (Lc >= the size threshold, in orbit at the epoch; ``in_orbit_remnants`` of
    them remnants), ``after_breakup`` (Lc >= the size threshold, kept right after the event) and
    ``sampled`` (Lc >= the size threshold). knobs: the [event] knob values sampled.
    """

    values: np.ndarray
    realization: np.ndarray
    is_remnant: np.ndarray
    bstar: np.ndarray
    in_orbit: np.ndarray
    in_orbit_remnants: np.ndarray
    after_breakup: np.ndarray
    sampled: np.ndarray
    knobs: dict

    def count(self, count_factor: float = 1.0, exponent: float = 0.75) -> float:
        """Mean count in orbit per realization with the count knob scaled by count_factor from the
        value sampled: the fragments scale as count_factor**exponent, the remnants do not."""
        frag = self.in_orbit - self.in_orbit_remnants
        return float(np.mean(frag) * count_factor**exponent + np.mean(self.in_orbit_remnants))


def calibration_scenario(scenario: Scenario, min_size_m: float, knobs: dict) -> Scenario:
    """The scenario the fit samples: the knobs set, and fragments sampled from the catalog's size
    threshold on (the knobs do not depend on lc_min_m; the count law gives N(>= min_size_m))."""
    event = dataclasses.replace(scenario.event, lc_min_m=float(min_size_m), **knobs)
    return dataclasses.replace(scenario, event=event)


def simulate(scenario: Scenario, knobs: dict, realizations, min_size_m: float,
             epoch_jd: float, epoch_fr: float, device: str = "cpu") -> ModelSample:
    """Sample realizations of the scenario's breakup with the given knobs ([event] field ->
    value), propagate the kept fragments of Lc >= min_size_m with SGP4 to the epoch and return
    those still in orbit (module docstring) as a ModelSample. realizations: int array (R,)."""
    s = calibration_scenario(scenario, min_size_m, knobs)
    reals = np.asarray(realizations, dtype=np.int64)
    cloud = cloud_mod.sample_cloud(s, reals, device)
    frags = cloud.fragments
    big = frags.lc_m >= min_size_m
    kept = np.flatnonzero(cloud.kept & big)
    t_epoch = minutes_between(epoch_jd, epoch_fr, cloud.epoch_jd, cloud.epoch_fr)
    xp = _xp(device)
    el = {name: xp.asarray(cloud.elements[name][kept]) for name in cloud_mod.MEAN_ELEMENTS}
    table = sgp4.sgp4_init(*(el[name] for name in cloud_mod.MEAN_ELEMENTS),
                           xp.asarray(cloud.bstar[kept]), xp=xp)
    orbit = mean_orbits(table, xp.full(kept.size, t_epoch), xp)
    alive = _host(in_orbit(orbit))
    values = _stack(orbit)[alive]
    idx = kept[alive]
    real = frags.realization[idx]
    rem = frags.is_remnant[idx]
    pos = np.zeros(int(reals.max()) + 1 if reals.size else 0, dtype=np.int64)
    pos[reals] = np.arange(reals.size)
    per = lambda sel: np.bincount(pos[frags.realization[sel]], minlength=reals.size)  # noqa: E731
    return ModelSample(
        values=values, realization=real, is_remnant=rem, bstar=cloud.bstar[idx],
        in_orbit=per(idx), in_orbit_remnants=per(idx[rem]), after_breakup=per(kept),
        sampled=per(np.flatnonzero(big)), knobs=dict(knobs))


def _xp(device: str):
    if device == "gpu":
        import cupy

        return cupy
    return np


# ================================================================================================
# The statistic
# ================================================================================================
def energy_distance_1d(x, y, x_weights=None, y_weights=None) -> np.ndarray:
    """One-dimensional energy distance 2E|X−Y| − E|X−X'| − E|Y−Y'| = 2∫(F−G)² dt between the
    weighted samples x (n,) and y (m,), in the units of x and y.

    x_weights, y_weights: None (equal weights), or (B, n) and (B, m) rows of weights summing to
    1 (bootstrap resamples; given one, the other may be None) for B distances at once. Returns a
    float (both None) or (B,). The integral runs over the merged sorted sample: F − G is
    constant between consecutive values.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, m = x.size, y.size
    if n == 0 or m == 0:
        raise ValueError("energy_distance_1d needs non-empty samples")
    z = np.concatenate([x, y])
    order = np.argsort(z, kind="stable")
    gaps = np.diff(z[order])
    if x_weights is None and y_weights is None:
        w = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])[order]
        diff = np.cumsum(w)[:-1]
        return float(2.0 * np.dot(diff * diff, gaps))
    B = (x_weights if x_weights is not None else y_weights).shape[0]
    w = np.empty((B, n + m))
    w[:, :n] = 1.0 / n if x_weights is None else np.asarray(x_weights, dtype=np.float64)
    w[:, n:] = -1.0 / m if y_weights is None else -np.asarray(y_weights, dtype=np.float64)
    w = w[:, order]
    diff = np.cumsum(w, axis=1)[:, :-1]
    diff *= diff
    return 2.0 * (diff @ gaps)


class Statistic:
    """T = n_obs·Σ_k D_k + (C − N)²/N of a model sample against the observed (module docstring).

    observed_values: (n, 4) MARGINALS. cataloged: N. The standardization (the observed
    interquartile range / 1.349 per marginal, and the node taken relative to the observed circular
    mean so that it never wraps) is fixed here, from all observed objects, for every candidate and
    every bootstrap resample.
    """

    def __init__(self, observed_values: np.ndarray, cataloged: float):
        v = np.asarray(observed_values, dtype=np.float64)
        self.n = v.shape[0]
        self.cataloged = float(cataloged)
        node = np.radians(v[:, 3])
        self.node_ref_deg = math.degrees(math.atan2(np.sin(node).mean(), np.cos(node).mean()))
        z = self._relative(v)
        q75, q25 = np.percentile(z, [75, 25], axis=0)
        scale = (q75 - q25) / 1.349
        # A degenerate marginal (all observed equal) keeps unit scale rather than dividing by 0.
        self.scale = np.where(scale > 0, scale, 1.0)
        self.observed = z / self.scale

    def _relative(self, values: np.ndarray) -> np.ndarray:
        z = np.array(values, dtype=np.float64, copy=True)
        z[:, 3] = (z[:, 3] - self.node_ref_deg + 180.0) % 360.0 - 180.0
        return z

    def standardize(self, values: np.ndarray) -> np.ndarray:
        return self._relative(values) / self.scale

    def distances(self, model_values: np.ndarray, weights=None, model_weights=None) -> np.ndarray:
        """D_k (4,), or (B, 4) for (B, n) observed and/or (B, m) model weights."""
        y = self.standardize(model_values)
        cols = [energy_distance_1d(self.observed[:, k], y[:, k], weights, model_weights)
                for k in range(4)]
        return np.stack(cols, axis=-1)

    def count_term(self, count: float, cataloged: float | None = None) -> float:
        N = self.cataloged if cataloged is None else cataloged
        return (count - N) ** 2 / N

    def evaluate(self, sample: ModelSample, count_factor: float, exponent: float) -> dict:
        """{"total", "distribution", "count", "distances" (4,), "model_count"}."""
        if sample.values.shape[0] == 0:
            raise InputError("calibrate: no model fragment is left in orbit at the observation "
                             "epoch with these knobs")
        d = self.distances(sample.values)
        count = sample.count(count_factor, exponent)
        dist = self.n * float(d.sum())
        c = self.count_term(count)
        return {"total": dist + c, "distribution": dist, "count": c, "distances": d,
                "model_count": count}


# ================================================================================================
# Summary numbers (the table of the report)
# ================================================================================================
def band_km(target) -> tuple[float, float]:
    """A target's altitude band for the crossing share: its mean perigee and apogee rounded
    outward to whole 5 km, so that the band does not hang on the last digits of one element set
    (the ISS of 2021-11-15: 418-424 km -> 415-425 km)."""
    el = target.elements
    return (5.0 * math.floor(float(el.perigee_km[0]) / 5.0),
            5.0 * math.ceil(float(el.apogee_km[0]) / 5.0))


def describe(values: np.ndarray, bands: dict, bstar=None) -> dict:
    """The summary numbers of MARGINALS values (m, 4): apogee and perigee medians (km), the share
    crossing each band (perigee below its top and apogee above its bottom), the node's 5th and
    95th percentiles (deg, on the cloud's own branch so that a wrap at 360 is harmless), and,
    given B* (m,), its median (1/earth radii; not fitted: a check of drag_scale against the drag
    the catalog's own element sets carry)."""
    v = np.asarray(values, dtype=np.float64)
    node = np.radians(v[:, 3])
    ref = math.degrees(math.atan2(np.sin(node).mean(), np.cos(node).mean()))
    rel = (v[:, 3] - ref + 180.0) % 360.0 - 180.0
    p05, p95 = np.percentile(rel, [5, 95]) + ref
    out = {"apogee_median_km": float(np.median(v[:, 0])),
           "perigee_median_km": float(np.median(v[:, 1])),
           "inclination_median_deg": float(np.median(v[:, 2])),
           "node_p05_deg": float(p05 % 360.0), "node_p95_deg": float(p95 % 360.0)}
    for name, (lo, hi) in bands.items():
        out[f"band_share_{name}"] = float(np.mean((v[:, 1] < hi) & (v[:, 0] > lo)))
    if bstar is not None:
        out["bstar_median"] = float(np.median(bstar))
    return out


# ================================================================================================
# The fit
# ================================================================================================
@dataclass(frozen=True)
class KnobFit:
    """One knob: its value before and after, its bootstrap standard deviation and 16-84 %
    interval, its search range, and whether the fit ended on an end of it."""

    name: str
    before: float
    value: float
    sigma: float
    p16: float
    p84: float
    lo: float
    hi: float
    at_bound: bool
    fitted: bool = True


@dataclass
class CalibrationResult:
    """Everything ``fragrisk calibrate`` reports; see calibrate()."""

    scenario: Scenario
    calibrated: Scenario
    observed: Observed
    knobs: tuple
    before: dict
    after: dict
    table: dict
    cataloged: int
    cataloged_given: bool
    min_size_m: float
    realizations: int
    seed: int
    device: str
    evaluations: int
    bootstrap: int
    bootstrap_estimates: dict
    profiles: dict
    samples: dict
    warnings: list
    ablation: dict
    fit_statistic: float = math.nan
    elapsed_s: float = 0.0

    def knob(self, name: str) -> KnobFit:
        return next(k for k in self.knobs if k.name == name)


Progress = Callable[[str, int, int, float], None]


def _no_progress(stage: str, done: int, total: int, best: float) -> None:
    pass


class _Objective:
    """The fit's objective over u = log(shape knob values) with common random numbers; counts
    evaluations and keeps the best."""

    def __init__(self, scenario, names, fixed, reals, min_size_m, observed, stat, exponent,
                 count_range, device, on_progress, stage_total):
        self.scenario, self.names, self.fixed = scenario, names, fixed
        self.reals, self.min_size_m, self.observed = reals, min_size_m, observed
        self.stat, self.exponent, self.count_range = stat, exponent, count_range
        self.device, self.on_progress = device, on_progress
        self.evaluations = 0
        self.best = (math.inf, None)
        self.stage, self.stage_total = "fit", stage_total

    def knobs(self, u) -> dict:
        out = dict(self.fixed)
        out.update({name: float(KNOB_SPECS[name].from_u(x)) for name, x in zip(self.names, u)})
        return out

    def sample(self, knobs: dict) -> ModelSample:
        return simulate(self.scenario, knobs, self.reals, self.min_size_m, self.observed.epoch_jd,
                        self.observed.epoch_fr, self.device)

    def count_factor(self, sample: ModelSample, cataloged: float | None = None) -> float:
        """The count knob's factor (on the scenario's value) that makes the model count equal N,
        within COUNT_FACTOR_RANGE."""
        N = self.stat.cataloged if cataloged is None else cataloged
        frag = float(np.mean(sample.in_orbit - sample.in_orbit_remnants))
        rem = float(np.mean(sample.in_orbit_remnants))
        lo, hi = self.count_range
        if frag <= 0.0:
            return hi
        f = (max(N - rem, 0.0) / frag) ** (1.0 / self.exponent)
        return float(min(max(f, lo), hi))

    def evaluate(self, u) -> tuple[float, dict, ModelSample]:
        knobs = self.knobs(u)
        sample = self.sample(knobs)
        f = self.count_factor(sample)
        parts = self.stat.evaluate(sample, f, self.exponent)
        parts["count_factor"] = f
        self.evaluations += 1
        if parts["total"] < self.best[0]:
            self.best = (parts["total"], np.array(u, dtype=np.float64))
        self.on_progress(self.stage, self.evaluations, self.stage_total, self.best[0])
        return parts["total"], parts, sample

    def __call__(self, u) -> float:
        return self.evaluate(u)[0]


def _scipy_minimize():
    """scipy.optimize.minimize, or FragriskError (one line) where SciPy is not installed."""
    try:
        from scipy.optimize import minimize
    except ImportError:
        raise FragriskError("calibrate: SciPy is not installed; install it with: "
                            "pip install 'fragrisk[calibrate]'") from None
    return minimize


def _minimize(objective: _Objective, u0: np.ndarray, bounds: list, step: float,
              max_evaluations: int) -> np.ndarray:
    """Nelder-Mead from u0 with an initial simplex of `step` along each axis (inward at a bound),
    then once more from the optimum with a simplex a third as large."""
    minimize = _scipy_minimize()
    u = np.array(u0, dtype=np.float64)
    for size in (step, step / 3.0):
        simplex = [u.copy()]
        for i, (lo, hi) in enumerate(bounds):
            v = u.copy()
            v[i] = u[i] + size if u[i] + size <= hi else u[i] - size
            simplex.append(v)
        res = minimize(objective, u, method="Nelder-Mead", bounds=bounds,
                       options={"initial_simplex": np.array(simplex), "xatol": 2e-3,
                                "fatol": 1e-3, "maxfev": max_evaluations})
        u = np.array(res.x, dtype=np.float64)
    best = objective.best[1]
    return u if best is None else best


#: The design's step on each knob's axis is where the statistic has risen by about this much:
#: the scale on which the bootstrap's estimates spread (a step far smaller leaves the surface to
#: the noise of the few fragments that cross the decay line; far larger, to its non-quadratic
#: shape).
DESIGN_RISE = 2.0


def _design_steps(objective, u, T0: float, bounds: list, h0: float = 0.1,
                  tries: int = 4) -> np.ndarray:
    """Per knob, a step h_i (u units) with ½(T(u + h_i) + T(u − h_i)) − T0 ≈ DESIGN_RISE
    (within a factor 2; at most `tries` pairs of evaluations per knob), kept within a quarter of
    the knob's range. (Sizing it by the flatter side instead, on catalogs drawn from the model,
    narrowed the spread of log10 Δv's bootstrap further from its true scatter.)"""
    h = np.full(len(u), h0)
    lower, upper = np.array(bounds).T
    for i, (lo, hi) in enumerate(bounds):
        for _ in range(tries):
            e = np.zeros(len(u))
            e[i] = h[i]
            rise = 0.5 * (objective(np.clip(u + e, lower, upper))
                          + objective(np.clip(u - e, lower, upper))) - T0
            if rise <= 0.0:
                h[i] *= 3.0
            else:
                ratio = DESIGN_RISE / rise
                if 0.5 <= ratio <= 2.0:
                    break
                h[i] *= min(max(math.sqrt(ratio), 0.25), 4.0)
            h[i] = min(h[i], 0.25 * (hi - lo))
    return h


def _quadratic_design(k: int) -> np.ndarray:
    """Design offsets in units of the steps h: the centre, ±1 and ±2 on each axis, and the four
    corners (±1, ±1) of each pair of axes: 1 + 4k + 2k(k−1) points, (P, k). The axes give the
    profiles; with the corners a full quadratic in k variables is over-determined."""
    rows = [np.zeros(k)]
    for i in range(k):
        for s in (-2.0, -1.0, 1.0, 2.0):
            e = np.zeros(k)
            e[i] = s
            rows.append(e)
    for i in range(k):
        for j in range(i + 1, k):
            for si in (1.0, -1.0):
                for sj in (1.0, -1.0):
                    e = np.zeros(k)
                    e[i], e[j] = si, sj
                    rows.append(e)
    return np.array(rows)


def _quadratic_features(d: np.ndarray) -> np.ndarray:
    """[1, d_i, d_i·d_j (i <= j)] of offsets d (P, k): (P, 1 + k + k(k+1)/2)."""
    P, k = d.shape
    cols = [np.ones(P)] + [d[:, i] for i in range(k)]
    cols += [d[:, i] * d[:, j] for i in range(k) for j in range(i, k)]
    return np.stack(cols, axis=1)


def _quadratic_fit(d: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares quadratic T ≈ c + g·d + ½ d·H·d through points d (P, k) for every column
    of T (P, B): gradients g (B, k) and Hessians H (B, k, k) at d = 0."""
    P, k = d.shape
    coef, *_ = np.linalg.lstsq(_quadratic_features(d), T, rcond=None)
    B = T.shape[1]
    g = coef[1:1 + k].T.copy()
    H = np.empty((B, k, k))
    c = 1 + k
    for i in range(k):
        for j in range(i, k):
            H[:, i, j] = H[:, j, i] = coef[c] * (2.0 if i == j else 1.0)
            c += 1
    return g, H


def _positive_definite(H: np.ndarray) -> tuple[np.ndarray, bool]:
    """H (k, k) with its eigenvalues floored at 1e-3 of the largest; True if it was already
    positive definite."""
    w, V = np.linalg.eigh(0.5 * (H + H.T))
    floor = 1e-3 * max(float(np.abs(w).max()), 1e-300)
    ok = bool(w.min() > floor)
    return (V * np.maximum(w, floor)) @ V.T, ok


def _bootstrap_offsets(d: np.ndarray, T_full: np.ndarray, T_boot: np.ndarray):
    """Each bootstrap resample's minimum, as an offset from the full data's (d units), by one
    Newton step on the full data's quadratic surface: −H⁻¹(g_b − g), with g_b the gradient of
    the resample's surface and H the full data's Hessian (made positive definite where noise
    left it flat). A per-resample Hessian would be fitted from the same few points as its
    gradient, and a noisy, sometimes indefinite one moves the minimum far more than the data do.
    d: (P, k) design offsets; T_full: (P,); T_boot: (P, B). Returns (offsets (B, k), H was
    positive definite)."""
    g_full, H_full = _quadratic_fit(d, T_full[:, None])
    g_b, _ = _quadratic_fit(d, T_boot)
    H, ok = _positive_definite(H_full[0])
    return -np.linalg.solve(H, (g_b - g_full).T).T, ok


def check_min_size(min_size_m) -> float:
    """The catalog's size threshold as a float, or InputError (one line): a size in the
    breakup model's range of validity, [0.001, 1) m (the remnants' sizes start at 1 m)."""
    lo, hi = LC_MIN_RANGE_M
    if isinstance(min_size_m, bool) or not isinstance(min_size_m, (int, float)) \
            or not math.isfinite(min_size_m) or not lo <= min_size_m < hi:
        raise InputError(f"--min-size-m {min_size_m!r}: expected a size in [{lo:g}, {hi:g}) m")
    return float(min_size_m)


def calibrate(scenario: Scenario, observed: Observed, *, cataloged: int | None = None,
              min_size_m: float = DEFAULT_MIN_SIZE_M, realizations: int | None = None,
              device: str = "cpu", knobs: tuple = DEFAULT_KNOBS, bootstrap: int = DEFAULT_BOOTSTRAP,
              ablation: bool = False, max_evaluations: int = 200,
              on_progress: Progress = _no_progress) -> CalibrationResult:
    """Fit the scenario's knobs to the observed fragments (module docstring).

    scenario: a breakup scenario ([parent] + [event]). observed: from load_observed.
    cataloged: N, the fragments the catalog held in all (default: the observed objects).
    min_size_m: the catalog's size threshold (Lc). realizations: R per candidate (default
    DEFAULT_REALIZATIONS[device]); realizations 0..R-1 of the scenario's seed. knobs: the shape
    knobs to fit (the count knob is always fitted); the others keep the scenario's values.
    bootstrap: resamples for the uncertainties (0: none). ablation: also refit with each fitted
    shape knob held at its scenario value, to show what each one is worth. Returns a
    CalibrationResult with the calibrated scenario (knobs rounded to 4 significant digits).
    """
    import time

    t0 = time.perf_counter()
    if scenario.event is None:
        raise InputError(f"{scenario.source}: a [population] scenario has no breakup to calibrate; "
                         f"fragrisk calibrate needs [parent] and [event]")
    event = scenario.event
    check_min_size(min_size_m)
    _scipy_minimize()  # before any work: the fit needs it
    unknown = [k for k in knobs if k not in SHAPE_KNOBS]
    if unknown:
        raise InputError(f"calibrate: unknown knob {unknown[0]!r} (valid: {', '.join(SHAPE_KNOBS)})")
    n_obs = len(observed)
    cataloged_given = cataloged is not None
    N = n_obs if cataloged is None else int(cataloged)
    if N < n_obs:
        raise InputError(f"--cataloged {N}: fewer than the {n_obs:,} observed objects compared")
    R = DEFAULT_REALIZATIONS.get(device, 12) if realizations is None else int(realizations)
    if R < 1:
        raise InputError(f"--realizations {R}: expected an integer >= 1")
    reals = np.arange(R, dtype=np.int64)
    exponent = COUNT_EXPONENT[event.type]
    count_name = COUNT_KNOB[event.type]
    ref_params = breakup_params(event, scenario.parent)
    count_ref = ref_params.count_mass_kg if event.type == "collision" else event.explosion_scale
    stat = Statistic(observed.values, N)
    names = tuple(k for k in SHAPE_KNOBS if k in knobs)
    before_knobs = {k: float(getattr(event, k)) for k in SHAPE_KNOBS}
    fixed = {k: v for k, v in before_knobs.items() if k not in names}
    bounds = [KNOB_SPECS[k].bounds for k in names]
    u0 = np.array([min(max(float(KNOB_SPECS[k].to_u(before_knobs[k])), lo), hi)
                   for k, (lo, hi) in zip(names, bounds)])
    obj = _Objective(scenario, names, fixed, reals, min_size_m, observed, stat, exponent,
                     COUNT_FACTOR_RANGE, device, on_progress, 2 * max_evaluations)
    warnings: list[str] = []
    bands = {t.name: band_km(t) for t in scenario.targets}

    # Before: the scenario as it is (its count knob, sampled, not scaled).
    obj.stage = "before"
    sample_before = obj.sample(before_knobs)
    before = stat.evaluate(sample_before, 1.0, exponent)
    before.update(describe(sample_before.values, bands, sample_before.bstar),
                  knobs={**before_knobs, count_name: count_ref},
                  after_breakup=float(np.mean(sample_before.after_breakup)))

    # The fit.
    obj.stage = "fit"
    u_best = _minimize(obj, u0, bounds, step=0.4, max_evaluations=max_evaluations)
    total_best, parts_best, sample_best = obj.evaluate(u_best)

    # Design around the optimum, scaled on each axis to where the statistic has risen by about
    # DESIGN_RISE, then the bootstrap on it.
    obj.stage = "steps"
    h = _design_steps(obj, u_best, total_best, bounds)
    if obj.best[0] < total_best - 1e-9:  # the steps found a lower point than the simplex
        u_best = obj.best[1]
        total_best, parts_best, sample_best = obj.evaluate(u_best)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    boot_w = rng.multinomial(n_obs, np.full(n_obs, 1.0 / n_obs), size=max(bootstrap, 1)) / n_obs
    boot_N = rng.poisson(N, size=max(bootstrap, 1)).astype(np.float64)
    # The model's realizations are resampled too: its Monte Carlo noise moves the optimum along
    # the flatter directions as much as the observations' does (R = 12 and 24 differ by that).
    boot_r = rng.multinomial(R, np.full(R, 1.0 / R), size=max(bootstrap, 1)).astype(np.float64)
    design = _quadratic_design(len(names))
    estimates = None
    flat = False
    T_full, T_boot, counts, samples = [], [], [], []
    for done, d in enumerate(design, start=1):
        u = np.clip(u_best + d * h, [b[0] for b in bounds], [b[1] for b in bounds])
        smp = obj.sample(obj.knobs(u))
        full = stat.evaluate(smp, obj.count_factor(smp), exponent)
        T_full.append(full["total"])
        if bootstrap:
            wy = boot_r[:, smp.realization]          # (B, m): each fragment its realization's
            wy /= wy.sum(axis=1, keepdims=True)
            T_boot.append(n_obs * stat.distances(smp.values, boot_w, wy).sum(axis=-1))
        counts.append(smp)
        samples.append(u)
        on_progress("design", done, len(design), total_best)
    T_full = np.array(T_full)
    if bootstrap:
        offsets, convex = _bootstrap_offsets((np.array(samples) - u_best) / h, T_full,
                                             np.array(T_boot))
        estimates = u_best[None, :] + offsets * h[None, :]
        flat = not convex
    design_points = np.array(samples)
    profiles = {}
    for i, name in enumerate(names):
        on_axis = [p for p, d in enumerate(design) if np.all(np.delete(d, i) == 0)]
        xs = KNOB_SPECS[name].from_u(design_points[on_axis, i])
        order = np.argsort(xs)
        profiles[name] = (xs[order], T_full[on_axis][order])

    # The count knob of each bootstrap resample: solved at its shape estimate, with its N.
    def model_count_at(u_est):
        # Linear interpolation of the log count over the design (fragments and remnants apart).
        X = np.column_stack([np.ones(len(design_points)), design_points - u_best])
        frag = np.array([np.mean(s.in_orbit - s.in_orbit_remnants) for s in counts])
        rem = np.array([np.mean(s.in_orbit_remnants) for s in counts])
        cf, *_ = np.linalg.lstsq(X, np.log(np.maximum(frag, 1e-300)), rcond=None)
        Xe = np.column_stack([np.ones(len(u_est)), u_est - u_best])
        return np.exp(Xe @ cf), float(rem.mean())

    f_best = obj.count_factor(sample_best)
    count_estimates = None
    if bootstrap and estimates is not None:
        frag_b, rem_b = model_count_at(estimates)
        lo_f, hi_f = COUNT_FACTOR_RANGE
        count_estimates = np.clip((np.maximum(boot_N - rem_b, 0.0) / frag_b) ** (1.0 / exponent),
                                  lo_f, hi_f) * count_ref

    # The fitted values, rounded to 4 significant digits for the scenario file.
    fitted = {name: _round4(float(KNOB_SPECS[name].from_u(x))) for name, x in zip(names, u_best)}
    count_value = _round4(f_best * count_ref)
    knob_fits = []
    for i, name in enumerate(names):
        lo, hi = KNOB_SPECS[name].lo, KNOB_SPECS[name].hi
        vals = (KNOB_SPECS[name].from_u(estimates[:, i]) if estimates is not None
                else np.array([fitted[name]]))
        at = bool(u_best[i] <= bounds[i][0] + 1e-3 or u_best[i] >= bounds[i][1] - 1e-3)
        knob_fits.append(KnobFit(name, before_knobs[name], fitted[name], float(vals.std()),
                                 float(np.percentile(vals, 16)), float(np.percentile(vals, 84)),
                                 lo, hi, at))
    for name in SHAPE_KNOBS:
        if name not in names:
            v = before_knobs[name]
            spec = KNOB_SPECS[name]
            knob_fits.append(KnobFit(name, v, v, 0.0, v, v, spec.lo, spec.hi, False, False))
    lo_f, hi_f = COUNT_FACTOR_RANGE
    cvals = count_estimates if count_estimates is not None else np.array([count_value])
    count_at = bool(f_best <= lo_f * (1 + 1e-6) or f_best >= hi_f * (1 - 1e-6))
    knob_fits.insert(0, KnobFit(count_name, count_ref, count_value, float(cvals.std()),
                                float(np.percentile(cvals, 16)), float(np.percentile(cvals, 84)),
                                lo_f * count_ref, hi_f * count_ref, count_at))
    if flat:
        warnings.append("calibrate: the statistic is flat along some combination of knobs near "
                        "the optimum; the uncertainties along it are lower bounds")
    for k in knob_fits:
        if k.at_bound:
            warnings.append(f"calibrate: {k.name} ended on an end of its search range "
                            f"[{k.lo:.4g}, {k.hi:.4g}] at {k.value:.4g}: the data ask for more "
                            f"than this knob can give (check the observations and the scenario)")

    # After: the calibrated scenario, sampled as `run` will sample it (its own count).
    after_knobs = {**before_knobs, **fitted, count_name: count_value}
    obj.stage = "after"
    sample_after = obj.sample(after_knobs)
    after = stat.evaluate(sample_after, 1.0, exponent)
    after.update(describe(sample_after.values, bands, sample_after.bstar), knobs=after_knobs,
                 after_breakup=float(np.mean(sample_after.after_breakup)))
    calibrated = dataclasses.replace(
        scenario, event=dataclasses.replace(event, **fitted, **{count_name: count_value}))

    # Ablation: each fitted shape knob held at the scenario's value, the others refitted.
    ablation_out = {}
    if ablation and len(names) > 1:
        for i, name in enumerate(names):
            others = tuple(n for n in names if n != name)
            sub = _Objective(scenario, others, {**fixed, name: before_knobs[name]}, reals,
                             min_size_m, observed, stat, exponent, COUNT_FACTOR_RANGE, device,
                             on_progress, max_evaluations)
            sub.stage = f"without {name}"
            ub = [KNOB_SPECS[k].bounds for k in others]
            u_sub = _minimize(sub, np.delete(u_best, i), ub, step=0.3,
                              max_evaluations=max_evaluations)
            total_sub, parts_sub, _ = sub.evaluate(u_sub)
            ablation_out[name] = {"total": total_sub, "distribution": parts_sub["distribution"],
                                  "knobs": sub.knobs(u_sub)}
            obj.evaluations += sub.evaluations

    observed_table = describe(observed.values, bands, observed.elements.bstar)
    observed_table["count"] = N
    table = {"observed": observed_table,
             "before": {**{k: before[k] for k in observed_table if k in before},
                        "count": before["model_count"], "after_breakup": before["after_breakup"]},
             "after": {**{k: after[k] for k in observed_table if k in after},
                       "count": after["model_count"], "after_breakup": after["after_breakup"]}}
    result = CalibrationResult(
        scenario=scenario, calibrated=calibrated, observed=observed, knobs=tuple(knob_fits),
        before=before, after=after, table=table, cataloged=N, cataloged_given=cataloged_given,
        min_size_m=float(min_size_m), realizations=R, seed=int(scenario.analysis.seed),
        device=device, evaluations=obj.evaluations, bootstrap=int(bootstrap),
        bootstrap_estimates={**({n: KNOB_SPECS[n].from_u(estimates[:, i])
                                 for i, n in enumerate(names)}
                                if estimates is not None else {}),
                             **({count_name: count_estimates} if count_estimates is not None
                                else {})},
        profiles=profiles,
        samples={"before": sample_before, "after": sample_after, "fit": sample_best},
        warnings=warnings, ablation=ablation_out, fit_statistic=total_best)
    result.elapsed_s = time.perf_counter() - t0
    return result


def synthetic_observations(scenario: Scenario, knobs: dict, *, seed: int, realization: int,
                           epoch_jd: float, epoch_fr: float, n_objects: int,
                           min_size_m: float = DEFAULT_MIN_SIZE_M,
                           pick_seed: int = 0) -> tuple[ElementSet, int]:
    """A catalog drawn from the model, for tests of the fit: one realization (seed, realization)
    of the scenario with the knobs set, its fragments of Lc >= min_size_m in orbit at the epoch,
    n_objects of them picked at random (pick_seed; all if fewer), each with SGP4 mean elements
    fitted anew to its SGP4 state at the epoch (engine.physics.fit), the way a catalog's element sets
    are fitted to tracking, with its model B*. Returns (elements at the epoch, the realization's
    count in orbit: its "cataloged" N)."""

    s = calibration_scenario(scenario, min_size_m, knobs)
    s = dataclasses.replace(s, analysis=dataclasses.replace(s.analysis, seed=int(seed)))
    cloud = cloud_mod.sample_cloud(s, np.array([realization]))
    idx = np.flatnonzero(cloud.kept & (cloud.fragments.lc_m >= min_size_m))
    table = sgp4.sgp4_init(*(cloud.elements[n][idx] for n in cloud_mod.MEAN_ELEMENTS),
                           cloud.bstar[idx])
    t = minutes_between(epoch_jd, epoch_fr, cloud.epoch_jd, cloud.epoch_fr)
    alive = in_orbit(mean_orbits(table, np.full(idx.size, t)))
    idx, table = idx[alive], table[:, alive]
    count = int(idx.size)
    pick = np.sort(np.random.default_rng(pick_seed).permutation(idx.size)[:n_objects])
    r, v, err = sgp4.propagate(table[:, pick], np.full((pick.size, 1), t))
    el, ok = fit.fit_mean_elements(r[:, 0], v[:, 0], cloud_mod.propagate_at_epoch_numpy)
    good = ok & (err[:, 0] == 0)
    n = int(good.sum())
    return ElementSet(
        satnum=np.arange(1, n + 1), name=tuple(f"SYNTHETIC {k}" for k in range(1, n + 1)),
        epoch_jd=np.full(n, epoch_jd), epoch_fr=np.full(n, epoch_fr),
        bstar=cloud.bstar[idx[pick]][good], source="synthetic catalog",
        **{name: el[name][good] for name in cloud_mod.MEAN_ELEMENTS}), count


def _round4(x: float) -> float:
    return float(f"{x:.4g}")


# ================================================================================================
# The calibrated scenario file
# ================================================================================================
def calibrated_toml(result: CalibrationResult, command: str = "") -> str:
    """The calibrated scenario as TOML: a comment block (what was fitted, to what, the values
    with their uncertainties, the statistic before and after), then the resolved scenario
    (engine.scenario.scenario_to_toml) with the fitted [event] fields set."""
    r = result
    obs = r.observed
    lines = [
        "# Calibrated by fragrisk calibrate" + (f": {command}" if command else ""),
        f"# Scenario {r.scenario.name} ({r.scenario.source}), fitted to {len(obs):,} tracked "
        f"objects at {obs.epoch} (SGP4 mean elements; {len(obs.excluded)} left out):",
    ]
    for f in obs.files:
        lines.append(f"#   {f.path}")
        lines.append(f"#     SHA-256 {f.sha256}, {f.n_objects:,} element sets, epochs "
                     f"{f.first_epoch} to {f.last_epoch}")
    lines += [
        f"# Catalog count N = {r.cataloged:,}"
        + (" (--cataloged)" if r.cataloged_given else " (the observed objects)")
        + f"; size threshold {r.min_size_m:g} m; {r.realizations} realizations of seed {r.seed} "
        f"per candidate (common random numbers); {r.evaluations} evaluations; device {r.device}.",
        "# Statistic T = n_obs * sum of 1-D energy distances of apogee, perigee, inclination and",
        "# node (standardized) + (C - N)^2 / N (engine/calibration/calibrate.py):",
        f"#   before {r.before['total']:.2f} (distributions {r.before['distribution']:.2f}, "
        f"count {r.before['count']:.2f}, model count {r.before['model_count']:.0f})",
        f"#   after  {r.after['total']:.2f} (distributions {r.after['distribution']:.2f}, "
        f"count {r.after['count']:.2f}, model count {r.after['model_count']:.0f})",
        f"# Fitted [event] values, uncertainty = standard deviation over {r.bootstrap} bootstrap "
        f"resamples of the observed objects:",
    ]
    for k in r.knobs:
        label, unit = KNOB_LABELS[k.name]
        u = "" if unit == "1" else f" {unit}"
        if k.fitted:
            lines.append(f"#   {k.name} = {k.value:.4g} +- {k.sigma:.2g}{u} (16-84 %: "
                         f"{k.p16:.4g} to {k.p84:.4g}; before {k.before:.4g})"
                         + ("  [ON A BOUND]" if k.at_bound else ""))
        else:
            lines.append(f"#   {k.name} = {k.value:.4g}{u} (not fitted)")
    lines.append("")
    return "\n".join(lines) + scenario_to_toml(r.calibrated)


def summary(result: CalibrationResult) -> dict:
    """A JSON-ready summary of a calibration (``fragrisk calibrate --json``)."""
    r = result
    return {
        "scenario": r.scenario.name,
        "observed": [dataclasses.asdict(f) for f in r.observed.files],
        "observed_objects": len(r.observed),
        "excluded": [{"name": n, "norad_cat_id": s, "reason": w} for n, s, w in r.observed.excluded],
        "epoch": r.observed.epoch,
        "cataloged": r.cataloged,
        "min_size_m": r.min_size_m,
        "realizations": r.realizations,
        "seed": r.seed,
        "device": r.device,
        "evaluations": r.evaluations,
        "bootstrap": r.bootstrap,
        "elapsed_s": round(r.elapsed_s, 3),
        "knobs": {k.name: {"before": k.before, "value": k.value, "sigma": k.sigma, "p16": k.p16,
                           "p84": k.p84, "range": [k.lo, k.hi], "at_bound": k.at_bound,
                           "fitted": k.fitted} for k in r.knobs},
        "statistic": {when: {"total": getattr(r, when)["total"],
                             "distribution": getattr(r, when)["distribution"],
                             "count": getattr(r, when)["count"],
                             "distances": dict(zip(MARGINALS, map(float, getattr(r, when)["distances"])))}
                      for when in ("before", "after")},
        "fit_statistic": r.fit_statistic,
        "table": r.table,
        "ablation": r.ablation,
        "warnings": r.warnings,
    }
