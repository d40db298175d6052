"""The objects of a batch as the estimator takes them (`ObjectBatch`): a cloud's kept fragments
(`fragment_objects`: sample, fit, SGP4 table) or a [population] scenario's objects
(`catalog_objects`), with the batch's status counts and Gabbard data."""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import cloud as cloud_mod
from ..orbits.propagation import offset_minutes, propagate_elements
from ..timeutil import minutes_between
from .setup import Setup


@dataclasses.dataclass
class ObjectBatch:
    """The objects of one batch, as the estimator needs them: SGP4 table of the propagated
    objects (a cloud's kept fragments, or a [population] scenario's objects), their realization,
    size and minutes from epoch to the analysis start."""

    table: np.ndarray          # (N_COEFFICIENTS, n)
    realization: np.ndarray    # (n,) sorted
    lc_m: np.ndarray           # (n,)
    offset_min: np.ndarray     # (n,)
    #: (n,) int64, for the encounter table: each object's position among its realization's
    #: fragments in `fragrisk sample` order (None: the rows' own order within each realization)
    fragment: np.ndarray | None = None

    def fragment_index(self) -> np.ndarray:
        if self.fragment is not None:
            return np.asarray(self.fragment, dtype=np.int64)
        return _position_in_group(self.realization)

    def take(self, rows) -> "ObjectBatch":
        """The objects `rows` (their fragment index kept, whatever the rows left out)."""
        return ObjectBatch(np.ascontiguousarray(self.table[:, rows]), self.realization[rows], self.lc_m[rows],
                           self.offset_min[rows], self.fragment_index()[rows])


def _position_in_group(labels) -> np.ndarray:
    """Position of each element among the consecutive elements with the same label: (n,) int64."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.r_[True, labels[1:] != labels[:-1]]
    start = np.flatnonzero(new)
    return np.arange(labels.size, dtype=np.int64) - start[np.cumsum(new) - 1]


def fragment_objects(setup: Setup, realizations):
    """The kept fragments of `realizations` as an ObjectBatch, with the batch's status counts (5,),
    fragments sampled per realization (R,) and the Gabbard data of realization 0 (or None).

    The element fit runs on the host (NumPy) whatever the device: the whole host stage then gives
    the same fragments and SGP4 tables, bit for bit, on either backend, and runs in any process
    or thread (engine.run.pool prepares GPU batches on every core while the kernel runs)."""
    sc = setup.scenario
    cl = cloud_mod.sample_cloud(sc, realizations, "cpu")
    kept = cl.kept
    offset = minutes_between(setup.window.start_jd, setup.window.start_fr, cl.epoch_jd, cl.epoch_fr)
    # Fragments come by realization, then as sampled (engine.physics.breakup.sample): the order of
    # `fragrisk sample`, whatever the batch.
    position = _position_in_group(cl.fragments.realization)
    objs = ObjectBatch(cl.sgp4_table(), cl.fragments.realization[kept], cl.fragments.lc_m[kept],
                       np.full(int(kept.sum()), offset), position[kept])
    counts = np.bincount(cl.status, minlength=cloud_mod.N_STATUSES)
    realizations = np.asarray(realizations, dtype=np.int64)
    by_value = np.argsort(realizations, kind="stable")  # one pass over the fragments, not R
    rows = by_value[np.searchsorted(realizations[by_value], cl.fragments.realization)]
    n_frag = np.bincount(rows, minlength=realizations.size).astype(np.int64)
    gabbard = None
    if 0 in set(int(r) for r in realizations):
        sel = (cl.fragments.realization == 0) & (cl.status != cloud_mod.STATUS_HYPERBOLIC)
        gabbard = cloud_mod.osculating_orbit(cl.position_km[sel], cl.velocity_km_s[sel])
    return objs, counts, n_frag, gabbard


def catalog_objects(setup: Setup):
    """A [population] scenario's near-earth objects as one realization (points: Lc = 0), with the
    same companions as fragment_objects (deep-space objects counted as status 4). Its Gabbard
    data are the near-earth objects' osculating orbits at the analysis start (SGP4 states there;
    objects SGP4 has decayed by then are left out)."""

    el = setup.scenario.population.elements
    near = ~np.asarray(el.is_deep_space)
    objects = el.take(near)
    n = int(near.sum())
    objs = ObjectBatch(objects.sgp4_table(), np.zeros(n, dtype=np.int64), np.zeros(n),
                       offset_minutes(objects, setup.window.start_jd, setup.window.start_fr),
                       np.flatnonzero(near).astype(np.int64))
    counts = np.zeros(cloud_mod.N_STATUSES, dtype=np.int64)
    counts[cloud_mod.STATUS_KEPT], counts[cloud_mod.STATUS_DEEP_SPACE] = n, int((~near).sum())
    at_start = propagate_elements(objects, setup.window.start_jd, setup.window.start_fr, np.zeros(1))
    ok = at_start.error[:, 0] == 0
    gabbard = cloud_mod.osculating_orbit(at_start.r_km[ok, 0], at_start.v_km_s[ok, 0])
    return objs, counts, np.array([len(el)], dtype=np.int64), gabbard
