"""The fragments file of ``fragrisk sample``: every sampled fragment at the event epoch.

Two formats (docs/fragments-file.md):

``write_fragments_h5``  HDF5 / netCDF-4, opens with ``xarray.open_dataset(path, engine="h5netcdf")``.
Every sampled fragment of every realization, kept or not, along the dimension ``fragment``
(ordered by realization, then as sampled; a realization's remnants last):

=================================  =======  ====================================================
variable (dims)                    dtype    units
=================================  =======  ====================================================
realization (fragment)             int64    1 (realization index)
status (fragment)                  int8     flag_values 0..4 / flag_meanings (engine.cloud)
lc_m (fragment)                    float64  m (characteristic length)
am_m2_kg (fragment)                float64  m2/kg (area-to-mass ratio)
area_m2 (fragment)                 float64  m2 (average cross-section)
mass_kg (fragment)                 float64  kg
is_remnant (fragment)              int8     flag_values 0 1 (remnant of the mass policy)
dv_m_s (fragment, xyz)             float64  m/s (ejection velocity relative to the parent)
position_km (fragment, xyz)        float64  km, TEME at the event epoch
velocity_km_s (fragment, xyz)      float64  km/s, TEME at the event epoch
no_kozai (fragment)                float64  rad/min (SGP4 Kozai mean motion)
ecco (fragment)                    float64  1
inclo, nodeo, argpo, mo (fragment) float64  rad
bstar (fragment)                   float64  1/(6378.135 km), i.e. 1/earth radii (WGS-72)
=================================  =======  ====================================================

``fragment`` and ``xyz`` (3) are dimensions without coordinate variables.  The SGP4 mean
elements are NaN where the status is not 0 (kept); ``bstar`` is given for every fragment (it
follows from A/m alone: B* = k Cd (A/m) rho0 / 2).  The elements are python-sgp4's ``sgp4init``
inputs (WGS-72, opsmode 'i') with the event epoch as element epoch: at t = 0 they reproduce
``position_km`` / ``velocity_km_s`` within 0.1 mm and 1e-7 mm/s (engine.physics.fit).

Global attributes: title, source ("fragrisk <version>"), history, Conventions, scenario (the
resolved TOML text), scenario_name, seed, n_realizations, event_epoch (ISO 8601 UTC),
event_type, lc_min_m, am_sampling, mass_policy, drag_coefficient, drag_scale, explosion_scale,
the calibration knobs dv_scale, dv_sigma_log10 and (collisions) fragmenting_mass_kg, the count
law's M in use, breakup_model, parent_name, parent_norad_cat_id, elements_theory, suborbital_perigee_km,
n_fragments and n_<status> counts, device, and whatever the caller adds.

``write_fragments_omm``  CCSDS OMM 2.0 (XML, CCSDS 502.0-B-3) of the kept fragments only: one
``<omm>`` (header, body, one segment) per fragment inside one ``<ndm>``, the layout CelesTrak
and Space-Track use.  Both engine.orbits.elements.read_omm_file and python-sgp4's ``sgp4.omm`` read it.

- OBJECT_NAME ``"<parent name> DEB R<r> F<i>"``: realization r, fragment i = the fragment's
  0-based position among realization r's fragments in the HDF5 file (kept or not), so an OMM
  entry can be matched to its row there.  OBJECT_ID ``"FRAGRISK-R<r>-F<i>"`` (not an
  international designator: these objects were never launched nor catalogued).
- NORAD_CAT_ID: synthetic, ``OMM_FIRST_CATALOG_NUMBER + k`` for the k-th kept fragment in file
  order, i.e. 100000 (Alpha-5 "A0000") up to at most 339999 ("Z9999"), the largest number
  python-sgp4's ``sgp4init`` accepts.  A file therefore holds at most 240,000 fragments; more is
  refused (InputError) -- write HDF5 or sample fewer realizations.  They are not real catalog
  numbers.
- EPOCH: the event epoch, ``YYYY-MM-DDThh:mm:ss.ffffff`` UTC (no zone letter: python-sgp4's
  ``sgp4.omm`` parses exactly this form), rounded to the microsecond.
- MEAN_MOTION rev/day = no_kozai [rad/min] x 1440 / (2 pi), written as no_kozai / pi x 720 so
  that python-sgp4's ``MEAN_MOTION / 720 x pi`` inverts it to within one rounding.
  INCLINATION, RA_OF_ASC_NODE, ARG_OF_PERICENTER, MEAN_ANOMALY: degrees = rad / (pi / 180)
  (python-sgp4 multiplies by pi / 180).  ECCENTRICITY as is, BSTAR in 1/earth radii.
- Numbers are Python's ``repr`` of the float64 values (shortest text that reads back to the same
  double), so nothing is lost to formatting.
- MEAN_ELEMENT_THEORY SGP4, REF_FRAME TEME, TIME_SYSTEM UTC, CENTER_NAME EARTH, EPHEMERIS_TYPE 0,
  CLASSIFICATION_TYPE U, ELEMENT_SET_NO 999, REV_AT_EPOCH 0, MEAN_MOTION_DOT 0, MEAN_MOTION_DDOT 0
  (SGP4 does not use the last two).

Both writers are atomic: the file appears complete or not at all, and an existing path is
refused unless ``overwrite`` (InputError, one line).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from pathlib import Path
from typing import Any, Mapping
from xml.sax.saxutils import escape

import numpy as np

from ... import engine
from .. import cloud as _cloud
from ..errors import InputError
from ..filekind import FRAGMENTS_TITLE_PREFIX
from ..physics.constants import DECAY_ALTITUDE_KM
from ..scenario import event_attributes, scenario_to_toml
from ..timeutil import format_utc, history_stamp
from .h5io import NetCDFDimensions, atomic_h5, atomic_write_text, check_output_path

TITLE = f"{FRAGMENTS_TITLE_PREFIX}: NASA Standard Breakup Model samples at the event epoch"

#: Synthetic NORAD catalog numbers of the OMM file: 100000 ("A0000") + k, k = 0, 1, ...
OMM_FIRST_CATALOG_NUMBER = 100_000
#: python-sgp4 refuses catalog numbers above this one (Alpha-5 "Z9999").
OMM_LAST_CATALOG_NUMBER = 339_999
OMM_MAX_FRAGMENTS = OMM_LAST_CATALOG_NUMBER - OMM_FIRST_CATALOG_NUMBER + 1

OMM_ELEMENT_SET_NO = 999
_STATUS_NAMES = _cloud.STATUS_MEANINGS.split()

#: (name, units, long_name) of the SGP4 mean elements, in engine.cloud.MEAN_ELEMENTS order.
_ELEMENT_VARIABLES = (
    ("no_kozai", "rad/min", "SGP4 mean motion (Kozai), NaN where not kept"),
    ("ecco", "1", "SGP4 mean eccentricity, NaN where not kept"),
    ("inclo", "rad", "SGP4 mean inclination, NaN where not kept"),
    ("nodeo", "rad", "SGP4 mean right ascension of the ascending node, NaN where not kept"),
    ("argpo", "rad", "SGP4 mean argument of perigee, NaN where not kept"),
    ("mo", "rad", "SGP4 mean anomaly, NaN where not kept"),
)


#: The file name endings of each format of `fragrisk sample` (and of no other).
FORMAT_SUFFIXES = {"omm": (".xml", ".omm"), "h5": (".h5", ".hdf5", ".nc", ".he5")}


def output_format(path: str | os.PathLike, fmt: str | None) -> str:
    """The format of a fragments output, "h5" or "omm": --format where given, else the one its
    name ends in (FORMAT_SUFFIXES), else h5. InputError (one line) where --format contradicts the
    name ("--format omm" with "cloud.h5"), so that no file's content belies its name."""
    suffix = Path(os.fspath(path)).suffix.lower()
    by_name = next((f for f, endings in FORMAT_SUFFIXES.items() if suffix in endings), None)
    if fmt is None:
        return by_name or "h5"
    if fmt not in FORMAT_SUFFIXES:
        raise InputError(f"--format: {fmt!r} is not one of {', '.join(FORMAT_SUFFIXES)}")
    if by_name is not None and by_name != fmt:
        what = {"omm": "an OMM file", "h5": "an HDF5 file"}[by_name]
        raise InputError(f"-o {os.fspath(path)}: the name ends in {suffix!r} ({what}) but --format is "
                         f"{fmt}; name it *{FORMAT_SUFFIXES[fmt][0]} or leave --format out")
    return fmt


def status_counts(cloud) -> dict[str, int]:
    """Fragments per status: {"kept": ..., "sub_orbital": ..., ...} (engine.cloud meanings)."""
    counts = np.bincount(np.asarray(cloud.status, dtype=np.int64), minlength=len(_STATUS_NAMES))
    return {name: int(counts[i]) for i, name in enumerate(_STATUS_NAMES)}


def fragment_index_in_realization(realization) -> np.ndarray:
    """0-based position of each fragment among its realization's fragments (int64, (n,)).

    ``realization`` must be grouped (all fragments of a realization contiguous), as
    engine.physics.breakup.sample returns them.
    """
    realization = np.asarray(realization)
    n = realization.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, realization[1:] != realization[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)


def fragments_attrs(cloud, scenario) -> dict:
    """Provenance and every model choice of a sampled cloud (global attributes of the HDF5 file).

    Key names follow engine.run.jobs.run_attrs, so results and fragments files read alike.
    """

    e, p, a = scenario.event, scenario.parent, scenario.analysis
    realizations = np.unique(np.asarray(cloud.fragments.realization))
    attrs: dict[str, Any] = {
        "title": TITLE,
        "source": f"fragrisk {engine.__version__}",
        "Conventions": "CF-1.8",
        "scenario": scenario_to_toml(scenario),
        "scenario_name": scenario.name,
        "seed": int(a.seed),
        "n_realizations": int(realizations.size),
        "event_epoch": format_utc(cloud.epoch_jd, cloud.epoch_fr),
        **event_attributes(e, p),
        "breakup_model": "NASA Standard Breakup Model (Johnson et al. 2001; Krisko 2011)",
        "parent_name": str(p.elements.name[0]),
        "parent_norad_cat_id": int(p.elements.satnum[0]),
        "parent_mass_kg": float(p.mass_kg),
        "parent_kind": p.kind,
        "elements_theory": "SGP4 mean elements (WGS-72, opsmode 'i'), epoch = event epoch, fitted "
                           "to the TEME state at t = 0 (engine.physics.fit)",
        "bstar_model": "B* = drag_scale * drag_coefficient * (A/m) * rho0 / 2, "
                       "rho0 = 0.15696615 kg/(m2 ER)",
        "suborbital_perigee_km": float(DECAY_ALTITUDE_KM),
        "n_fragments": int(len(cloud.fragments)),
        "device": "",
    }
    if realizations.size:
        attrs["first_realization"] = int(realizations[0])
        attrs["last_realization"] = int(realizations[-1])
    for name, count in status_counts(cloud).items():
        attrs[f"n_{name}"] = count
    return attrs


def _check_cloud(cloud) -> int:
    n = len(cloud.fragments)
    for name, want in (("position_km", (n, 3)), ("velocity_km_s", (n, 3)), ("status", (n,)),
                       ("bstar", (n,))):
        if np.shape(getattr(cloud, name)) != want:
            raise ValueError(f"Cloud.{name} has shape {np.shape(getattr(cloud, name))}, "
                             f"expected {want}")
    for name in _cloud.MEAN_ELEMENTS:
        if np.shape(cloud.elements[name]) != (n,):
            raise ValueError(f"Cloud.elements[{name!r}] has shape "
                             f"{np.shape(cloud.elements[name])}, expected ({n},)")
    return n


def _history(command: str | None) -> str:
    now = history_stamp()
    source = f"fragrisk {engine.__version__}"
    return f"{now} {command} ({source})" if command else f"{now} created by {source}"


def write_fragments_h5(path: str | os.PathLike, cloud, scenario, *, overwrite: bool = False,
                       command: str | None = None,
                       attrs: Mapping[str, Any] | None = None) -> Path:
    """Write every fragment of ``cloud`` (engine.cloud.Cloud of ``scenario``) to ``path``.

    command: the command line, for the CF ``history`` attribute.  attrs: extra global
    attributes (str, int or float), e.g. ``device``; they may override the defaults.  Atomic;
    an existing ``path`` is refused unless ``overwrite`` (InputError, one line).  Returns the
    path.
    """
    n = _check_cloud(cloud)
    frags = cloud.fragments
    global_attrs = fragments_attrs(cloud, scenario)
    global_attrs["history"] = _history(command)
    global_attrs.update(attrs or {})
    f64 = lambda x: np.ascontiguousarray(x, dtype=np.float64)  # noqa: E731
    with atomic_h5(path, overwrite=overwrite, what="a fragments file") as f:
        for key, value in global_attrs.items():
            f.attrs[key] = value
        d = NetCDFDimensions(f)
        d.dimension("fragment", n)
        d.dimension("xyz", 3)
        d.variable("realization", np.asarray(frags.realization, dtype=np.int64), ("fragment",),
                   "1", "realization index of the fragment")
        d.variable("status", np.asarray(cloud.status, dtype=np.int8), ("fragment",), None,
                   "fragment status after the breakup",
                   attrs={"flag_values": np.arange(len(_STATUS_NAMES), dtype=np.int8),
                          "flag_meanings": _cloud.STATUS_MEANINGS,
                          "comment": "0 kept: bound, perigee >= 100 km, SGP4 elements fitted; "
                                     "1 sub_orbital: osculating perigee below 100 km altitude; "
                                     "2 hyperbolic; 3 element_fit_failed; 4 deep_space: fitted "
                                     "period >= 225 min (not propagated by fragrisk)"})
        d.variable("lc_m", f64(frags.lc_m), ("fragment",), "m", "characteristic length Lc")
        d.variable("am_m2_kg", f64(frags.am_m2_kg), ("fragment",), "m2/kg",
                   "area-to-mass ratio A/m")
        d.variable("area_m2", f64(frags.area_m2), ("fragment",), "m2", "average cross-section area")
        d.variable("mass_kg", f64(frags.mass_kg), ("fragment",), "kg", "fragment mass")
        d.variable("is_remnant", np.asarray(frags.is_remnant, dtype=np.int8), ("fragment",), None,
                   "1 for the large remnants added by the mass policy",
                   attrs={"flag_values": np.array([0, 1], dtype=np.int8),
                          "flag_meanings": "sampled_fragment remnant"})
        d.variable("dv_m_s", f64(frags.dv_m_s), ("fragment", "xyz"), "m/s",
                   "ejection velocity relative to the parent (TEME axes)")
        d.variable("position_km", f64(cloud.position_km), ("fragment", "xyz"), "km",
                   "position in the TEME frame at the event epoch")
        d.variable("velocity_km_s", f64(cloud.velocity_km_s), ("fragment", "xyz"), "km/s",
                   "velocity in the TEME frame at the event epoch")
        for name, units, long_name in _ELEMENT_VARIABLES:
            d.variable(name, f64(cloud.elements[name]), ("fragment",), units, long_name,
                       attrs={"comment": "python-sgp4 sgp4init input (WGS-72, opsmode 'i'), "
                                         "epoch = event_epoch"})
        d.variable("bstar", f64(cloud.bstar), ("fragment",), "1/(6378.135 km)",
                   "SGP4 drag term B* (per earth radius, WGS-72)")
    return Path(path)


# --- CCSDS OMM -------------------------------------------------------------------------------------
_RAD_PER_DEG = math.pi / 180.0  # the constant python-sgp4's sgp4.omm multiplies degrees by


def omm_epoch(jd: float, fr: float) -> str:
    """A split Julian date as an OMM EPOCH: ``YYYY-MM-DDThh:mm:ss.ffffff`` (UTC, no zone letter,
    microseconds always written: the one form python-sgp4's sgp4.omm parses)."""
    text = format_utc(jd, fr)[:-1]  # drop the "Z"
    return text if "." in text else text + ".000000"


def _num(x: float) -> str:
    return repr(float(x))


def _omm_block(fields: list[tuple[str, str]], indent: str) -> str:
    return "".join(f"{indent}<{k}>{escape(v)}</{k}>\n" for k, v in fields)


def omm_xml(cloud, scenario, *, creation_date: str | None = None) -> str:
    """The OMM XML text of the kept fragments of ``cloud`` (module docstring).

    Raises InputError when there are more kept fragments than synthetic catalog numbers.
    """
    _check_cloud(cloud)
    kept = np.flatnonzero(np.asarray(cloud.status) == _cloud.STATUS_KEPT)
    if kept.size > OMM_MAX_FRAGMENTS:
        raise InputError(f"{kept.size:,} kept fragments do not fit the OMM file's synthetic "
                         f"catalog numbers {OMM_FIRST_CATALOG_NUMBER}-{OMM_LAST_CATALOG_NUMBER} "
                         f"(at most {OMM_MAX_FRAGMENTS:,}); sample fewer realizations or write "
                         f"--format h5")
    parent_name = str(scenario.parent.elements.name[0]).strip() or "FRAGMENT"
    epoch = omm_epoch(cloud.epoch_jd, cloud.epoch_fr)
    index = fragment_index_in_realization(cloud.fragments.realization)
    real = np.asarray(cloud.fragments.realization, dtype=np.int64)
    el = {name: np.asarray(cloud.elements[name], dtype=np.float64) for name in _cloud.MEAN_ELEMENTS}
    bstar = np.asarray(cloud.bstar, dtype=np.float64)
    if creation_date is None:
        creation_date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    originator = f"fragrisk {engine.__version__}"
    comment = (f"synthetic fragments of {scenario.name} (NASA Standard Breakup Model, seed "
               f"{int(scenario.analysis.seed)}); NORAD_CAT_ID {OMM_FIRST_CATALOG_NUMBER}+k are "
               f"not real catalog numbers")
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             '<ndm xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xsi:noNamespaceSchemaLocation="https://sanaregistry.org/r/ndmxml_unqualified/'
             'ndmxml-2.0.0-master-2.0.xsd">\n']
    header = ("  <omm id=\"CCSDS_OMM_VERS\" version=\"2.0\">\n    <header>\n"
              + _omm_block([("COMMENT", comment), ("CREATION_DATE", creation_date),
                            ("ORIGINATOR", originator)], "      ")
              + "    </header>\n    <body>\n      <segment>\n")
    footer = "      </segment>\n    </body>\n  </omm>\n"
    for k, i in enumerate(kept):
        r, f = int(real[i]), int(index[i])
        metadata = [("OBJECT_NAME", f"{parent_name} DEB R{r} F{f}"),
                    ("OBJECT_ID", f"FRAGRISK-R{r}-F{f}"),
                    ("CENTER_NAME", "EARTH"), ("REF_FRAME", "TEME"), ("TIME_SYSTEM", "UTC"),
                    ("MEAN_ELEMENT_THEORY", "SGP4")]
        mean = [("EPOCH", epoch),
                ("MEAN_MOTION", _num(el["no_kozai"][i] / math.pi * 720.0)),
                ("ECCENTRICITY", _num(el["ecco"][i])),
                ("INCLINATION", _num(el["inclo"][i] / _RAD_PER_DEG)),
                ("RA_OF_ASC_NODE", _num(el["nodeo"][i] / _RAD_PER_DEG)),
                ("ARG_OF_PERICENTER", _num(el["argpo"][i] / _RAD_PER_DEG)),
                ("MEAN_ANOMALY", _num(el["mo"][i] / _RAD_PER_DEG))]
        tle = [("EPHEMERIS_TYPE", "0"), ("CLASSIFICATION_TYPE", "U"),
               ("NORAD_CAT_ID", str(OMM_FIRST_CATALOG_NUMBER + k)),
               ("ELEMENT_SET_NO", str(OMM_ELEMENT_SET_NO)), ("REV_AT_EPOCH", "0"),
               ("BSTAR", _num(bstar[i])), ("MEAN_MOTION_DOT", "0.0"), ("MEAN_MOTION_DDOT", "0.0")]
        parts.append(header)
        parts.append("        <metadata>\n" + _omm_block(metadata, "          ")
                     + "        </metadata>\n")
        parts.append("        <data>\n          <meanElements>\n" + _omm_block(mean, "            ")
                     + "          </meanElements>\n          <tleParameters>\n"
                     + _omm_block(tle, "            ") + "          </tleParameters>\n"
                     + "        </data>\n")
        parts.append(footer)
    parts.append("</ndm>\n")
    return "".join(parts)


def write_fragments_omm(path: str | os.PathLike, cloud, scenario, *,
                        overwrite: bool = False) -> Path:
    """Write the kept fragments of ``cloud`` as a CCSDS OMM XML file (module docstring).

    Atomic (temporary file in the same folder, then os.replace); an existing ``path`` is refused
    unless ``overwrite``; InputError (one line) for either, for an unwritable folder and for
    more kept fragments than synthetic catalog numbers.  Returns the path.
    """
    path = check_output_path(path, overwrite=overwrite, what="an OMM file")
    return atomic_write_text(path, omm_xml(cloud, scenario), overwrite=overwrite, what="an OMM file")


