"""The screened estimator stage of a run: many targets at the cost of the close pairs, and the
conjunction counts ([analysis] screen, conjunction_thresholds_km; engine.scenario.uses_screen).

It takes the place of engine.run.batches' estimate_chunks/finish_batch (Setup.estimator) and gives the
same BatchResult: by_time and by_size from the positive chords one by one (lambda of a segment =
chord x sigma_ik / V_s, the all-pairs estimator's sum, docs/estimator.md §1), fragments in orbit
from the decay samples, the encounter table from the passages (closest approach refined with
SGP4 as engine.run.estimate does) and the conjunctions per target, realization, day and threshold.  Every
array is per target or per pair found; none is fragments x targets.  The screen runs on the host
(NumPy) whatever the device.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import InputError
from ..orbits.closest_approach import closest_approach
from ..orbits.elements import concat
from ..orbits.screening import TargetStates, count_conjunctions, screen_window
from ..physics import risk
from ..results.encounter_table import EncounterTable
from ..scenario import uses_screen
from .batches import BatchResult, HostBatch
from .estimate import in_orbit_by_realization, passages_table
from .setup import Setup, records_encounters

MINUTES_PER_DAY = 1440.0


class ScreenedEstimator:
    """Setup.estimator for the screened path; holds the targets' element sets (K objects)."""

    def __init__(self, setup: Setup):
        self.targets = concat([t.elements for t in setup.scenario.targets])
        self.thresholds_km = tuple(setup.scenario.analysis.conjunction_thresholds_km)

    def estimate_chunks(self, setup: Setup, host: HostBatch):
        """The screen over the whole window for the batch's objects (host.objs, what the
        prefilter kept): engine.orbits.screening.ScreenResult and the seconds it took."""
        w, objs = setup.window, host.objs
        start = time.perf_counter()
        result = screen_window(objs.table, objs.offset_min, w.times_min, self.targets, w.start_jd, w.start_fr,
                               setup.kernel_radius_km, self.thresholds_km)
        return result, time.perf_counter() - start

    def finish_batch(self, setup: Setup, host: HostBatch, estimated) -> BatchResult:
        result, seconds = estimated
        w, objs, tg = setup.window, host.objs, setup.targets
        realizations = host.realization
        R, K, T = realizations.size, len(tg.names), w.n_bins
        S = setup.size_edges_m.size - 1
        rows = np.searchsorted(realizations, objs.realization)
        size_bin = np.clip(np.searchsorted(setup.size_edges_m, objs.lc_m, side="right") - 1, 0, S - 1)
        row, k, seg, length = result.segments
        lam = length * self.sigma_over_volume(setup, objs, row, k)
        by_time = np.zeros((K, R, T))
        np.add.at(by_time, (k, rows[row], w.seg_bin[seg]), lam)
        by_size = np.zeros((K, R, S))
        np.add.at(by_size, (k, rows[row], size_bin[row]), lam)
        in_orbit = in_orbit_by_realization(result.decay, objs.realization, realizations, w,
                                                      host.never_decay)
        table = None
        if records_encounters(setup):
            table = self.encounter_table(setup, objs, result.passages)
        counts = None
        if self.thresholds_km:
            day_edges = np.append(np.arange(0.0, w.times_min[-1], MINUTES_PER_DAY), w.times_min[-1])
            counts = count_conjunctions(result.conjunctions, rows, R, K, self.thresholds_km, day_edges)
        return BatchResult(
            realizations, by_time, by_size, in_orbit, host.n_fragments, host.status_counts, host.gabbard,
            int(host.kept.sum()) * w.times_s.size, int(objs.lc_m.size) * w.times_s.size, seconds, table,
            host.host_s, counts)

    @staticmethod
    def sigma_over_volume(setup: Setup, objs, row, k) -> np.ndarray:
        """sigma_ik / V_s (1/km) of the pairs (row, k) only (engine.run.estimate.sigma_over_volume's values)."""
        radius_km = (setup.targets.hard_body_radius_m[k] + 0.5 * objs.lc_m[row]) * 1e-3
        return np.pi * radius_km * radius_km / risk.sphere_volume_km3(setup.kernel_radius_km)

    def encounter_table(self, setup: Setup, objs, found) -> EncounterTable:
        """As engine.run.estimate.encounter_table, with sigma/V of the passages' pairs only."""
        w, tg = setup.window, setup.targets
        tca = closest_approach(found, objs.table, objs.offset_min, w.times_min, tg.r_km,
                               [t.elements for t in setup.scenario.targets], w.start_jd, w.start_fr,
                               target_states=TargetStates(self.targets, w.start_jd, w.start_fr))
        return passages_table(objs, found, tca,
                              found.length_km * self.sigma_over_volume(setup, objs, found.row, found.target))


def attach(setup: Setup) -> Setup:
    """The setup with the screened estimator where the scenario takes it (uses_screen).  It
    propagates each target from one element set: a target given as a history of sets, or an
    [analysis] atmosphere other than SGP4's own, is refused with one line (screen = "all-pairs"
    takes them)."""
    if not uses_screen(setup.scenario):
        return setup
    src = setup.scenario.source
    for k, t in enumerate(setup.scenario.targets, start=1):
        if len(t.elements) != 1:
            raise InputError(f"{src}: [[targets]] #{k}: a history of {len(t.elements)} element sets; the "
                             f"screened estimator takes one set per target (set [analysis] screen = "
                             f'"all-pairs")')
    if setup.atmosphere is not None:
        raise InputError(f'{src}: [analysis] atmosphere = "{setup.scenario.analysis.atmosphere}": the '
                         f'screened estimator propagates with SGP4\'s own atmosphere (set [analysis] '
                         f'screen = "all-pairs")')
    setup.estimator = ScreenedEstimator(setup)
    return setup
