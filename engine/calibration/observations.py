"""The observed side of calibration (docs/calibration.md §2): the --observed files read, the
objects that cannot be compared left out (with a reason each), the rest taken to the common
epoch (`load_observed`, `observe`)."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..orbits.elements import ElementSet, concat, load_elements
from ..physics import sgp4_numpy as sgp4
from ..scenario import Scenario
from ..timeutil import format_utc, minutes_between
from .compare import in_orbit, mean_orbits, stack_marginals

#: An observed object whose orbit plane, taken back to the event epoch by its own J2 node
#: precession, is more than this far from the parent's cannot come from the event: turning a
#: plane by 10 deg takes 2·v·sin(5 deg) = 1.3 km/s across the track, beyond the ejection speed
#: of all but about 1e-4 of the SBM's catalog-size fragments.
PLANE_ANGLE_MAX_DEG = 10.0


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
    return stack_marginals(orbit), ~in_orbit(orbit)
