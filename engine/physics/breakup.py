"""NASA Standard Breakup Model (SBM): event type, fragment counts, sizes, Δv and the fragment
sampler; the area-to-mass law (§4) is engine.physics.area_to_mass.

What stays here is one algorithm: `sample` draws every realization's sizes, A/M, Δv and remnants
from one random stream whose layout (below) the results depend on, evaluating the laws of §1-§3,
§5-§7 in place on its chunks (the functions of each law are its reference, which the tests check
against docs/breakup-model.md). Over 600 lines for that reason.

Sources: Johnson, Krisko, Liou, Anz-Meador, "NASA's new breakup model of EVOLVE 4.0",
Adv. Space Res. 28(9) 1377-1384 (2001); Krisko, "Proper implementation of the 1998 NASA breakup
model", ODQN 15(4) (2011). Section numbers (§n) refer to docs/breakup-model.md, which states
every equation and constant used here with its source.

Arrays in, arrays out: no printing, no global state, no work at import. Everything is float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InputError
# The model's choices are read from here, all four (engine.scenario validates against them).
from .area_to_mass import AM_SAMPLINGS, KINDS, am_from_draws, check_kind, chi_large  # noqa: F401
from .checks import check_choice, check_positive

# §1: catastrophic threshold of the energy-to-mass ratio, J/g.
CATASTROPHIC_EMR_J_G = 40.0

EVENT_TYPES = ("collision", "explosion")


def _check_event_type(event_type: str) -> str:
    if event_type not in EVENT_TYPES:
        raise InputError(f"event_type must be 'collision' or 'explosion', got {event_type!r}")
    return event_type


def energy_to_mass_ratio_j_g(
    projectile_mass_kg: float, impact_velocity_km_s: float, target_mass_kg: float
) -> float:
    """Energy-to-mass ratio EMR = ½·m_p·v² / m_t in J/g (§1; Johnson et al. 2001).

    m_t is the LARGER of the two objects (converted to grams), v the impact velocity
    (converted to m/s). Scalars in, scalar out.
    """
    m_p = check_positive("projectile_mass_kg", projectile_mass_kg)
    v_km_s = check_positive("impact_velocity_km_s", impact_velocity_km_s)
    m_t = check_positive("target_mass_kg", target_mass_kg)
    m_large_g = max(m_t, m_p) * 1e3
    kinetic_j = 0.5 * m_p * (v_km_s * 1e3) ** 2
    return kinetic_j / m_large_g


def is_catastrophic(
    projectile_mass_kg: float, impact_velocity_km_s: float, target_mass_kg: float
) -> bool:
    """True when EMR >= 40 J/g (§1): the collision destroys both objects."""
    emr = energy_to_mass_ratio_j_g(projectile_mass_kg, impact_velocity_km_s, target_mass_kg)
    return bool(emr >= CATASTROPHIC_EMR_J_G)


def sbm_mass_kg(
    event_type: str,
    parent_mass_kg: float,
    projectile_mass_kg: float = 0.0,
    impact_velocity_km_s: float = 0.0,
) -> float:
    """The mass M (kg) that enters the SBM size distribution (§1, §2).

    - "explosion": M = parent_mass_kg (only used for the mass budget; the count law uses S).
    - "collision", catastrophic (EMR >= 40 J/g): M = m_t + m_p, the two masses summed.
    - "collision", non-catastrophic: M = m_p·v² with v in km/s (Krisko 2011's correction of the
      2001 paper's m_p·v), m_p = projectile_mass_kg as given. The result is in "kg" only
      nominally: the law is empirical.
    """
    _check_event_type(event_type)
    m_parent = check_positive("parent_mass_kg", parent_mass_kg)
    if event_type == "explosion":
        return m_parent
    m_p = check_positive("projectile_mass_kg", projectile_mass_kg)
    v_km_s = check_positive("impact_velocity_km_s", impact_velocity_km_s)
    if is_catastrophic(m_p, v_km_s, m_parent):
        return m_parent + m_p
    return m_p * v_km_s**2


def cumulative_count(
    event_type: str, mass_kg: float, lc_m: float, explosion_scale: float = 1.0
) -> float:
    """Expected number of fragments with characteristic length >= lc_m (§2).

    Collision: N = 0.1·M^0.75·Lc^-1.71 (M from sbm_mass_kg). Explosion: N = 6·S·Lc^-1.6 with
    S = explosion_scale (mass_kg unused but checked). Scalars in, float out (not floored).
    """
    _check_event_type(event_type)
    m = check_positive("mass_kg", mass_kg)
    lc = check_positive("lc_m", lc_m)
    if event_type == "collision":
        return 0.1 * m**0.75 * lc**-1.71
    s = check_positive("explosion_scale", explosion_scale)
    return 6.0 * s * lc**-1.6


def lc_for_count(
    event_type: str, count: float, mass_kg: float, explosion_scale: float = 1.0
) -> float:
    """The characteristic length (m) at which cumulative_count gives ``count``: the count law
    of ``event_type`` inverted, with its own slope (§2: N ∝ Lc^-1.71 for collisions, Lc^-1.6
    for explosions). What a message suggests as the smallest lc_min_m that keeps a count."""
    n = check_positive("count", count)
    return (n / cumulative_count(event_type, mass_kg, 1.0, explosion_scale)) ** (
        1.0 / _LC_EXPONENT[event_type])


def count_mass_kg(event_type: str, mass_kg: float, fragmenting_mass_kg: float | None) -> float:
    """M of the count law (§2): a collision's fragmenting_mass_kg where given (the calibration
    knob), else the SBM's M ``mass_kg``; an explosion's law has no mass (its knob is S), so
    ``mass_kg``."""
    if event_type == "collision" and fragmenting_mass_kg is not None:
        return fragmenting_mass_kg
    return mass_kg


# ---------------------------------------------------------------------------------------------
# Sizes, Δv and the sampler
# ---------------------------------------------------------------------------------------------
MASS_POLICIES = ("remnants", "none", "drop")

_LN10 = math.log(10.0)

# §3: exponent k of the inverse CDF (pdf ∝ Lc^-(1-k)); the count laws of §2 have slope k.
_LC_EXPONENT = {"collision": -1.71, "explosion": -1.6}
# §7 (Krisko 2011 as MOCAT implements it): fragments are sampled up to 1 m, remnants carry the rest.
REMNANT_LC_CAP_M = 1.0
# §7: number of remnants, drawn uniformly in 2..8.
MIN_REMNANTS, MAX_REMNANTS = 2, 8
# Guard against lc_min so small that one realization cannot fit in memory (1e8 fragments ~ 7 GB).
MAX_FRAGMENTS_PER_REALIZATION = 100_000_000

# §6: ν = log10(Δv / (m/s)) ~ N(a·χ + b, 0.4).
_DV_MU = {"collision": (0.9, 2.9), "explosion": (0.2, 1.85)}
DV_SIGMA_LOG10 = 0.4


def sphere_law_lc_m(mass_kg) -> np.ndarray:
    """Characteristic length of an intact object from its mass (§3): Lc = (6m/(92.937π))^(1/2.26).

    mass_kg: any shape, kg (> 0). Returns metres, same shape (4.88 m for 1,750 kg).
    """
    m = np.asarray(mass_kg, dtype=np.float64)
    return (6.0 * m / (92.937 * math.pi)) ** (1.0 / 2.26)


def area_m2(lc_m) -> np.ndarray:
    """Average cross-section from Lc (§5): 0.540424·Lc² below 1.67 mm, else 0.556945·Lc^2.0047077.

    lc_m: any shape, metres. Returns m², same shape.
    """
    lc = np.asarray(lc_m, dtype=np.float64)
    return np.where(lc < 0.00167, 0.540424 * lc * lc, 0.556945 * lc**2.0047077)


def characteristic_length_m(u, lc_min_m: float, lc_max_m: float, event_type: str) -> np.ndarray:
    """Inverse CDF of the size law (§3): Lc = ((Lmax^k − Lmin^k)·u + Lmin^k)^(1/k).

    u: uniforms in [0, 1), any shape. k = −1.71 (collision) or −1.6 (explosion); lc_max_m may be
    math.inf. Returns metres, same shape as u, in [lc_min_m, lc_max_m).
    """
    k = _LC_EXPONENT[_check_event_type(event_type)]
    return np.exp(_log10_lc(np.asarray(u, dtype=np.float64), lc_min_m, lc_max_m, k) * _LN10)


def _log10_lc(u: np.ndarray, lc_min_m: float, lc_max_m: float, k: float) -> np.ndarray:
    """λc = log10(Lc) from uniforms by the §3 inverse CDF; computing log10 of the base directly
    saves one transcendental per fragment (Lc then costs one exp)."""
    lo = lc_min_m**k
    hi = 0.0 if math.isinf(lc_max_m) else lc_max_m**k
    base = u * (hi - lo)
    base += lo
    # np.log is ~3x faster than np.log10 here; the 1/ln10 folds into the 1/k scaling.
    lam = np.log(base, out=base)
    lam *= 1.0 / (k * _LN10)
    return lam


def dv_mu_log10(chi, event_type: str) -> np.ndarray:
    """Mean of ν = log10(Δv / (m/s)) given χ (§6): 0.9χ + 2.9 (collision), 0.2χ + 1.85 (explosion).

    chi: any shape. Same shape out. The standard deviation is DV_SIGMA_LOG10 = 0.4.
    """
    a, b = _DV_MU[_check_event_type(event_type)]
    return a * np.asarray(chi, dtype=np.float64) + b


# --- parameters and the fragment container ----------------------------------------------------
@dataclass(frozen=True)
class BreakupParams:
    """One breakup event and the model choices that shape its fragments.

    event_type: "collision" or "explosion". parent_mass_kg: the object that breaks up (the target
    of a collision), kg. parent_kind: "spacecraft" or "rocket_body" (selects the §4 bimodal law;
    a collision uses the parent's kind). projectile_mass_kg, impact_velocity_km_s: collision only
    (> 0); an explosion ignores them (None or >= 0 accepted, stored as float). lc_min_m: smallest sampled Lc, m.
    am_sampling: "mixture" or "weighted_sum" (§4). mass_policy: "remnants", "drop" or "none" (§7).
    explosion_scale: S of the explosion count law (§2).

    Calibration knobs (engine.calibration.calibrate fits them to tracked fragments; the defaults are the
    plain SBM and sample bit for bit what it samples):
    - fragmenting_mass_kg: the mass that fragments, M in the collision count law
      N = 0.1·M^0.75·Lc^-1.71 (§2), as Cimmino et al. 2021 (Aerospace 8(7):185) tune it; None =
      the SBM's M (``mass_kg``). It sets the count only: the mass budget of the policies stays
      ``mass_kg`` (what does not fragment stays in the remnants). Explosions ignore it (their
      count knob is explosion_scale).
    - dv_scale: a factor on every fragment's Δv, i.e. log10(dv_scale) added to the mean of
      ν = log10(Δv) (§6).
    - dv_sigma_log10: the standard deviation of ν about its mean (§6: 0.4).
    Numbers are stored as float; every value is checked here (InputError, one line).
    """

    event_type: str
    parent_mass_kg: float
    parent_kind: str
    projectile_mass_kg: float
    impact_velocity_km_s: float
    lc_min_m: float
    am_sampling: str
    mass_policy: str
    explosion_scale: float = 1.0
    fragmenting_mass_kg: float | None = None
    dv_scale: float = 1.0
    dv_sigma_log10: float = DV_SIGMA_LOG10

    def __post_init__(self):
        _check_event_type(self.event_type)
        check_kind(self.parent_kind)
        check_choice("am_sampling", self.am_sampling, AM_SAMPLINGS)
        check_choice("mass_policy", self.mass_policy, MASS_POLICIES)
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        put("parent_mass_kg", check_positive("parent_mass_kg", self.parent_mass_kg))
        put("lc_min_m", check_positive("lc_min_m", self.lc_min_m))
        put("explosion_scale", check_positive("explosion_scale", self.explosion_scale))
        put("dv_scale", check_positive("dv_scale", self.dv_scale))
        put("dv_sigma_log10", check_positive("dv_sigma_log10", self.dv_sigma_log10))
        if self.fragmenting_mass_kg is not None:
            put("fragmenting_mass_kg",
                check_positive("fragmenting_mass_kg", self.fragmenting_mass_kg))
        for name in ("projectile_mass_kg", "impact_velocity_km_s"):
            value = getattr(self, name)
            if self.event_type == "collision":
                put(name, check_positive(name, value))
            else:
                # An explosion has no projectile: None (an absent TOML field) reads as 0.
                try:
                    x = 0.0 if value is None else float(value)
                except (TypeError, ValueError):
                    raise InputError(f"{name} must be a number, got {value!r}") from None
                if not math.isfinite(x) or x < 0.0:
                    raise InputError(f"{name} must be finite and >= 0, got {value!r}")
                put(name, x)
        if self.lc_min_m >= self.lc_max_m:
            raise InputError(
                f"lc_min_m must be below the largest fragment size {self.lc_max_m:.4g} m, "
                f"got {self.lc_min_m!r}"
            )
        if self.n_fragments > MAX_FRAGMENTS_PER_REALIZATION:
            raise InputError(
                f"lc_min_m={self.lc_min_m!r} gives {self.n_fragments} fragments per realization, "
                f"more than {MAX_FRAGMENTS_PER_REALIZATION}"
            )

    @property
    def mass_kg(self) -> float:
        """M of §1 (kg): the count law's mass and the mass budget of the policies."""
        return sbm_mass_kg(
            self.event_type, self.parent_mass_kg, self.projectile_mass_kg, self.impact_velocity_km_s
        )

    @property
    def count_mass_kg(self) -> float:
        """M of the count law (§2, count_mass_kg): fragmenting_mass_kg where a collision gives
        it, else mass_kg."""
        return count_mass_kg(self.event_type, self.mass_kg, self.fragmenting_mass_kg)

    @property
    def expected_count(self) -> float:
        """N(>= lc_min_m) of the count law (§2), not floored."""
        return cumulative_count(self.event_type, self.count_mass_kg, self.lc_min_m,
                                self.explosion_scale)

    @property
    def n_fragments(self) -> int:
        """Fragments sampled per realization before the mass policy: floor(N(>= lc_min_m)) (§2)."""
        return int(math.floor(self.expected_count))

    @property
    def largest_object_mass_kg(self) -> float:
        """The larger of parent and projectile (collision), or the parent (explosion), kg."""
        if self.event_type == "collision":
            return max(self.parent_mass_kg, self.projectile_mass_kg)
        return self.parent_mass_kg

    @property
    def lc_max_m(self) -> float:
        """Upper end of the sampled sizes (§3, §7): 1 m for "remnants", else the larger object's
        sphere-law size."""
        if self.mass_policy == "remnants":
            return REMNANT_LC_CAP_M
        return float(sphere_law_lc_m(self.largest_object_mass_kg))


_FIELDS = ("realization", "lc_m", "am_m2_kg", "area_m2", "mass_kg", "dv_m_s", "is_remnant")


@dataclass
class Fragments:
    """Fragments of one or many realizations, as a struct of arrays (n fragments).

    realization: int64 (n,), the realization index. lc_m: characteristic length, m. am_m2_kg:
    area-to-mass ratio, m²/kg. area_m2: average cross-section, m². mass_kg: kg (all float64 (n,)).
    dv_m_s: float64 (n, 3), ejection velocity relative to the parent, m/s (isotropic direction).
    is_remnant: bool (n,), True for the large remnants of the "remnants" mass policy (§7).
    Fragments are ordered by realization, then as sampled (a realization's remnants last).
    """

    realization: np.ndarray
    lc_m: np.ndarray
    am_m2_kg: np.ndarray
    area_m2: np.ndarray
    mass_kg: np.ndarray
    dv_m_s: np.ndarray
    is_remnant: np.ndarray

    def __post_init__(self):
        n = len(self.lc_m)
        for name in _FIELDS:
            shape = np.shape(getattr(self, name))
            want = (n, 3) if name == "dv_m_s" else (n,)
            if shape != want:
                raise InputError(f"Fragments.{name} has shape {shape}, expected {want}")

    def __len__(self) -> int:
        return len(self.lc_m)

    @classmethod
    def empty(cls) -> "Fragments":
        """No fragments (shapes (0,) and (0, 3))."""
        f = np.empty(0, dtype=np.float64)
        return cls(
            np.empty(0, dtype=np.int64), f, f.copy(), f.copy(), f.copy(),
            np.empty((0, 3), dtype=np.float64), np.empty(0, dtype=bool),
        )

    @classmethod
    def concat(cls, parts: Sequence["Fragments"]) -> "Fragments":
        """Concatenate in the given order (the caller keeps realizations ordered)."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in _FIELDS))

    def take(self, mask_or_idx) -> "Fragments":
        """Subset by a boolean mask (n,) or an integer index array, order as given."""
        sel = np.asarray(mask_or_idx)
        if sel.dtype == bool and sel.shape != (len(self),):
            raise InputError(f"mask has shape {sel.shape}, expected ({len(self)},)")
        return Fragments(*(getattr(self, name)[sel] for name in _FIELDS))


# --- the sampler ------------------------------------------------------------------------------
# Per-realization random stream, in this order (n = floor(N) fragments, "rows" of n values):
#   1. normals:  Δv, small law, large law X1, [X2 if "weighted_sum"]
#   2. uniforms: Lc, cos θ, φ, [mixture pick if "mixture"], then for "remnants" a tail of
#                1 + 5·8 (count, split, parent, mixture pick, cos θ, φ)
#   3. "remnants" only, normals: X1 (8), X2 (8), Δv (8) of the remnants
# The layout depends on the params alone, so a realization's fragments depend only on
# (params, seed, realization); "drop" draws nothing of its own, so "none" and "drop" with the
# same seed sample the same cloud, which "drop" then thins.
_TAIL_U = 1 + 5 * MAX_REMNANTS
_TAIL_Z = 3 * MAX_REMNANTS
# Realizations are processed in chunks of about this many fragments (at least one realization):
# enough that NumPy's per-call overhead is small next to the per-element work, few enough that the
# temporaries stay in cache (measured: 2^14..2^18 all within noise; 2^20 slower).
_CHUNK_FRAGMENTS = 1 << 16


def realization_rng(seed: int, realization: int) -> np.random.Generator:
    """The only generator realization r of seed s uses: default_rng(SeedSequence(s, spawn_key=(r,)))
    (the same as SeedSequence(s).spawn(r + 1)[r])."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(realization),)))


def sample(params: BreakupParams, seed: int, realizations) -> Fragments:
    """Sample the fragments of the given realizations of one breakup (NASA SBM, §2-§7).

    params: BreakupParams. seed: int >= 0. realizations: int array-like (r,) of indices >= 0.
    Realization r uses only realization_rng(seed, r), so its fragments do not depend on which
    other realizations are sampled with it (batching, sharding, workers).

    Per realization:
    - count: n = floor(N(>= lc_min)) (§2), deterministic, as ESA's C++ code does (not Poisson);
    - Lc by the §3 inverse CDF on [lc_min, Lmax): Lmax = 1 m for "remnants", else the sphere-law
      size of the larger object (§3);
    - A/M by §4 (small law below 8 cm, bimodal law above 11 cm read as params.am_sampling, the
      8-11 cm bridge linear in A/M), area and mass by §5, Δv by §6 with a uniform direction;
    - mass policy (§7), with M = params.mass_kg and Σm the realization's total mass:
      * "none": keep everything; Σm is unconstrained.
      * "drop": while Σm > M remove fragments in random order (ESA; here: in sampling order,
        which is a random order for i.i.d. fragments, so the kept ones are the last sampled);
        afterwards Σm <= M, and if any fragment was removed Σm > M − (mass of the last removed)
        (both up to rounding, ~1e-13·M).
      * "remnants": if Σm < M, add 2-8 remnants (count uniform) sharing M − Σm by a uniform
        (Dirichlet) split, each assigned to the target or projectile with probability ∝ its mass,
        Lc = d = 2·(m_rem/m_parent·r_parent³)^(1/3) (r_parent: half the sphere-law size), A/M from
        the bimodal law at d, area = m_rem·A/M, Δv by §6; if Σm >= M, keep the smallest fragments
        (by Lc) while the running sum stays below M and add one such remnant for the leftover if
        it exceeds M/1000. Afterwards M·(1 − 1e-3) <= Σm <= M (up to rounding).
    Returns Fragments ordered by realization (in the given order), then as sampled, remnants last.
    """
    try:
        seed_int = int(seed)
    except (TypeError, ValueError):
        raise InputError(f"seed must be an integer >= 0, got {seed!r}") from None
    if seed_int != seed or seed_int < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")
    reals = np.atleast_1d(np.asarray(realizations))
    if reals.ndim != 1 or (reals.size and not np.issubdtype(reals.dtype, np.integer)):
        raise InputError("realizations must be a 1-D array of integers")
    reals = reals.astype(np.int64)
    if reals.size and reals.min() < 0:
        raise InputError(f"realizations must be >= 0, got {int(reals.min())}")
    n = params.n_fragments
    slots = n + (MAX_REMNANTS if params.mass_policy == "remnants" else 0)
    # The output is allocated once at its largest possible size and filled chunk by chunk (no
    # concatenation pass); pages past the end that are never written cost no memory.
    out = _empty_fragments(reals.size * slots)
    per_chunk = max(1, _CHUNK_FRAGMENTS // max(n, 1))
    end = 0
    for i in range(0, reals.size, per_chunk):
        end = _sample_chunk(params, seed_int, reals[i : i + per_chunk], n, out, end)
    if end == len(out):
        return out
    return Fragments(*(getattr(out, name)[:end] for name in _FIELDS))


def _empty_fragments(size: int) -> Fragments:
    """Uninitialised Fragments of `size` rows (is_remnant zeroed: most rows are fragments)."""
    return Fragments(
        np.empty(size, dtype=np.int64), np.empty(size), np.empty(size), np.empty(size),
        np.empty(size), np.empty((size, 3)), np.zeros(size, dtype=bool),
    )


def _directions(u_cos: np.ndarray, u_phi: np.ndarray, speed: np.ndarray, out: np.ndarray) -> None:
    """Write speed·(isotropic unit vector) into out[..., 0:3]: cos θ = 2u − 1, φ = 2πu (uniform on
    the sphere, §6). Shapes: u_cos, u_phi, speed (...), out (..., 3)."""
    cos_t = 2.0 * u_cos - 1.0
    sin_t = np.sqrt(np.maximum(1.0 - cos_t * cos_t, 0.0))
    sin_t *= speed
    cos_p = np.cos((2.0 * math.pi) * u_phi)
    # sin φ = ±sqrt(1 − cos²φ), positive for φ < π: a sqrt instead of a second trig call
    # (absolute error below 1e-8 even where sin φ → 0, irrelevant for a direction).
    sin_p = np.sqrt(np.maximum(1.0 - cos_p * cos_p, 0.0))
    np.copysign(sin_p, 0.5 - u_phi, out=sin_p)
    np.multiply(sin_t, cos_p, out=out[..., 0])
    np.multiply(sin_t, sin_p, out=out[..., 1])
    np.multiply(cos_t, speed, out=out[..., 2])


def _sample_chunk(p: BreakupParams, seed: int, reals: np.ndarray, n: int, out: Fragments,
                  start: int) -> int:
    """Sample realizations `reals` (R,), n fragments each before the mass policy (see sample()),
    and write them into `out` from row `start` on; return the row after the last one written."""
    R = reals.size
    mixture = p.am_sampling == "mixture"
    remnants = p.mass_policy == "remnants"
    n_z_rows = 3 + (not mixture)
    n_u_rows = 3 + mixture
    n_u_extra = _TAIL_U if remnants else 0
    Z = np.empty((R, n_z_rows * n))
    U = np.empty((R, n_u_rows * n + n_u_extra))
    Z_tail = np.empty((R, _TAIL_Z if remnants else 0))
    # The one Python loop over realizations: one generator each (reproducibility), 2-3 draws.
    for i, r in enumerate(reals.tolist()):
        rng = realization_rng(seed, r)
        rng.standard_normal(out=Z[i])
        rng.random(out=U[i])
        if remnants:
            rng.standard_normal(out=Z_tail[i])
    # Splitting the last axis is always a view: rows of (R, n).
    z_rows = Z.reshape(R, n_z_rows, n)
    u_rows = U[:, : n_u_rows * n].reshape(R, n_u_rows, n)
    u_extra = U[:, n_u_rows * n :]
    z_dv, z_small, z1 = z_rows[:, 0], z_rows[:, 1], z_rows[:, 2]
    z2 = None if mixture else z_rows[:, 3]
    u_lc, u_cos, u_phi = u_rows[:, 0], u_rows[:, 1], u_rows[:, 2]
    u_mix = u_rows[:, 3] if mixture else None

    # "none" keeps every fragment in order, so the results go straight into the output rows.
    direct = p.mass_policy == "none"
    stop = start + R * n

    def dest(name):
        return getattr(out, name)[start:stop].reshape(R, n) if direct else None

    k = _LC_EXPONENT[p.event_type]
    lam = _log10_lc(u_lc, p.lc_min_m, p.lc_max_m, k)
    lc = np.multiply(lam, _LN10, out=dest("lc_m"))
    np.exp(lc, out=lc)
    am, chi = am_from_draws(
        lc, lam, p.parent_kind, p.am_sampling, z_small, z1, z2, u_mix, am_out=dest("am_m2_kg")
    )
    # §5 with Lc^2.0047077 = 10^(2.0047077·λc): one exp instead of a pow.
    area = np.multiply(lam, 2.0047077 * _LN10, out=dest("area_m2"))
    np.exp(area, out=area)
    area *= 0.556945
    if p.lc_min_m < 0.00167:
        tiny = lc < 0.00167
        area[tiny] = 0.540424 * lc[tiny] ** 2
    mass = np.divide(area, am, out=dest("mass_kg"))
    a_dv, b_dv = _DV_MU[p.event_type]
    nu = a_dv * chi
    nu += b_dv
    _dv_knobs(p, nu, z_dv)
    nu *= _LN10
    dv = out.dv_m_s[start:stop].reshape(R, n, 3) if direct else np.empty((R, n, 3))
    _directions(u_cos, u_phi, np.exp(nu, out=nu), dv)

    if direct:
        out.realization[start:stop].reshape(R, n)[...] = reals[:, None]
        return stop
    M = p.mass_kg
    fields = (lc, am, area, mass, dv)
    names = ("lc_m", "am_m2_kg", "area_m2", "mass_kg", "dv_m_s")
    if p.mass_policy == "drop":
        keep = _drop_keep(mass, M)
        counts = keep.sum(axis=1)
        stop = start + int(counts.sum())
        out.realization[start:stop] = np.repeat(reals, counts)
        for name, values in zip(names, fields):
            getattr(out, name)[start:stop] = values[keep]
        return stop
    keep, rem_mass, n_rem = _remnant_masses(mass, lc, u_extra, M)
    rem_lc, rem_am, rem_area, rem_dv = _remnant_fragments(p, rem_mass, u_extra, Z_tail)
    rem_fields = (rem_lc, rem_am, rem_area, rem_mass, rem_dv)
    n_keep = keep.sum(axis=1).tolist()
    n_rem = n_rem.tolist()  # a realization's remnants fill its first n_rem slots
    # Each realization's kept fragments, then its remnants: a few slice copies per realization,
    # far cheaper than concatenating and masking (R, n + 8) arrays field by field.
    stop = start
    for i in range(R):
        a, b = stop + n_keep[i], stop + n_keep[i] + n_rem[i]
        row_keep = None if n_keep[i] == n else keep[i]
        for name, values, rem_values in zip(names, fields, rem_fields):
            column = getattr(out, name)
            column[stop:a] = values[i] if row_keep is None else values[i][row_keep]
            column[a:b] = rem_values[i, : n_rem[i]]
        out.is_remnant[a:b] = True
        out.realization[stop:b] = reals[i]
        stop = b
    return stop


def _dv_knobs(p: BreakupParams, nu: np.ndarray, z_dv: np.ndarray) -> None:
    """Add the spread and the scale to ν = log10(Δv) in place: ν += σ·z (+ log10(dv_scale)).

    nu holds the mean a·χ + b (§6); z_dv the standard normals, same shape. With the defaults
    (σ = 0.4, dv_scale = 1) the arithmetic is the plain SBM's, bit for bit: no shift is added.
    """
    if p.dv_scale != 1.0:
        nu += math.log10(p.dv_scale)
    nu += p.dv_sigma_log10 * z_dv


def _drop_keep(mass: np.ndarray, M: float) -> np.ndarray:
    """"drop" policy (§7, ESA): keep mask (R, n) after removing fragments in random order while the
    realization's Σm > M.

    The fragments of a realization are i.i.d. draws, so the order in which they were sampled is
    already a uniformly random order: removing them from the front is ESA's random-order removal
    without a shuffle (no extra draws, no sort). The removed ones are a prefix of each row.
    """
    total = mass.sum(axis=1)
    if not np.any(total > M):
        return np.ones(mass.shape, dtype=bool)
    before = np.cumsum(mass, axis=1)
    before -= mass  # mass removed before this fragment's turn
    # A fragment is removed iff the sum is still above M when its turn comes.
    before *= -1.0
    before += total[:, None]
    return before <= M


def _remnant_masses(mass: np.ndarray, lc: np.ndarray, tail_u: np.ndarray, M: float):
    """"remnants" policy (§7, Krisko 2011) on masses (R, n) and sizes (R, n) of R realizations.

    Returns the keep mask (R, n), remnant masses (R, 8) in kg, and the number of remnants (R,)
    int64; a realization's remnants are its first slots, the other slots hold 0.
    """
    R = mass.shape[0]
    keep = np.ones(mass.shape, dtype=bool)
    rem = np.zeros((R, MAX_REMNANTS))
    n_rem = np.zeros(R, dtype=np.int64)
    total = mass.sum(axis=1)
    short = total < M
    if short.any():
        # 2..8 remnants, uniform count; Dirichlet(1, ..., 1) split of the missing mass by
        # normalized exponentials (−log1p(−u) is finite for u in [0, 1)).
        count = MIN_REMNANTS + np.floor(tail_u[short, 0] * (MAX_REMNANTS - MIN_REMNANTS + 1))
        w = -np.log1p(-tail_u[short, 1 : 1 + MAX_REMNANTS])
        w[np.arange(MAX_REMNANTS)[None, :] >= count[:, None]] = 0.0
        w /= w.sum(axis=1, keepdims=True)
        rem[short] = w * (M - total[short])[:, None]
        n_rem[short] = count
    rows = np.flatnonzero(~short)
    if rows.size:
        order = np.argsort(lc[rows], axis=1, kind="stable")
        m_sorted = np.take_along_axis(mass[rows], order, axis=1)
        running = np.cumsum(m_sorted, axis=1)
        keep_sorted = running < M
        sub = np.empty_like(keep_sorted)
        np.put_along_axis(sub, order, keep_sorted, axis=1)
        keep[rows] = sub
        kept = np.where(keep_sorted, m_sorted, 0.0).sum(axis=1)
        leftover = M - kept
        one = leftover > 1e-3 * M
        rem[rows, 0] = np.where(one, leftover, 0.0)
        n_rem[rows] = one
    return keep, rem, n_rem


def _remnant_fragments(p: BreakupParams, rem_mass: np.ndarray, tail_u, tail_z):
    """Lc (= d), A/M, area and Δv (R, 8[, 3]) of remnants of masses rem_mass (R, 8) (§7)."""
    S = MAX_REMNANTS
    u_par = tail_u[:, 1 + S : 1 + 2 * S]
    u_mix = tail_u[:, 1 + 2 * S : 1 + 3 * S]
    u_cos = tail_u[:, 1 + 3 * S : 1 + 4 * S]
    u_phi = tail_u[:, 1 + 4 * S : 1 + 5 * S]
    z1, z2, z_dv = tail_z[:, :S], tail_z[:, S : 2 * S], tail_z[:, 2 * S : 3 * S]
    if p.event_type == "collision":
        m_t, m_p = p.parent_mass_kg, p.projectile_mass_kg
        m_parent = np.where(u_par < m_t / (m_t + m_p), m_t, m_p)
    else:
        m_parent = np.full(rem_mass.shape, p.parent_mass_kg)
    # d = 2·(m_rem/m_parent·r_parent³)^(1/3) with r_parent = Lc_parent/2 → Lc_parent·(m/m_p)^(1/3).
    d = sphere_law_lc_m(m_parent) * np.cbrt(rem_mass / m_parent)
    # Empty slots (mass 0) are never written out; any finite λc keeps them quiet.
    lam = np.log10(np.where(d > 0.0, d, 1.0))
    chi = chi_large(lam, p.parent_kind, p.am_sampling, z1, z2, u_mix)
    am = np.exp(chi * _LN10)
    area = rem_mass * am
    nu = dv_mu_log10(chi, p.event_type)
    _dv_knobs(p, nu, z_dv)
    dv = np.empty(rem_mass.shape + (3,))
    _directions(u_cos, u_phi, np.exp(nu * _LN10), dv)
    return d, am, area, dv
