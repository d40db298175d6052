"""Speed of `fragrisk sample`'s two stages: NASA SBM sampling and the SGP4 mean-element fit.

    python -m benchmarks.sample [--quick] [--repeats 3] [--out DIR]

(a) Sampling, engine.physics.breakup.sample (always NumPy on the host, one process): the built-in
    scenario's event (COSMOS 1408: 2,200 kg + 20 kg at 7.5 km/s, M = 2,220 kg) and the event of
    ESA's reference numbers (1,980 kg + 20 kg at 10 km/s, M = 2,000 kg), lc_min 0.1 m and 0.01 m,
    both A/M readings and all three mass policies.  ESA's C++ NASA-breakup-model-cpp (its own
    choices: weighted-sum A/M, "drop" policy) takes 0.59 ms per 1,533-fragment realization
    (lc_min 0.1 m) and 32 ms per 78,663-fragment one (0.01 m) on one core (reference figures for
    ESA's code, not measured here); they are printed beside the M = 2,000 kg rows.
(b) The element fit, engine.physics.fit.fit_mean_elements on the kept fragments' TEME states of the
    built-in scenario (its own model choices), lc_min 0.1 m and 0.01 m: NumPy path, and the CUDA
    path where engine.backend.resolve_device("auto") is "gpu"; beside it the whole
    engine.cloud.sample_cloud (sampling + parent state + classification + fit).  The project's
    goal: <= 2 us per fragment.  Each fit row records the share of deep-space states (period
    >= 225 min, not refined by the fit and not propagated) and the share of the others that
    converged.

NumPy rows: the best of --repeats rounds in wall time and in CPU time of this process (the CPU
time is less disturbed by other processes on a shared machine; the load average at the start and
the end is recorded for the same reason), every round's wall time kept in the JSON.  CUDA rows:
benchmarks.common.best_of with a device synchronisation.  Prints two tables; writes
benchmarks/results/sample_<device>.json.  Under a minute on a 2-core laptop.

(This folds in the former benchmarks/sample_breakup.py, the sampling-only benchmark.)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

import numpy as np
from fragrisk.engine import cloud
from fragrisk.engine import scenario as scenario_mod
from fragrisk.engine.backend import resolve_device
from fragrisk.engine.physics import breakup, fit
from fragrisk.engine.physics import sgp4_numpy as sgp4
from fragrisk.engine.scenario import load_scenario

from benchmarks.common import best_of, environment, print_table, write_json

LC_MIN_M = (0.1, 0.01)
#: Realizations per timed sampling call: ~0.1-0.3 s each.
SAMPLE_REALIZATIONS = {0.1: 200, 0.01: 8}
#: Realizations whose kept fragments are fitted in one call (~28k and ~110k fragments).
FIT_REALIZATIONS = {0.1: 20, 0.01: 2}
QUICK_FACTOR = 4  # --quick divides the realizations by this (at least 1)

#: ESA NASA-breakup-model-cpp, one core, M = 2,000 kg (reference figures, not measured here).
ESA_MS_PER_REALIZATION = {0.1: 0.59, 0.01: 32.0}
ESA_FRAGMENTS_PER_REALIZATION = {0.1: 1533, 0.01: 78663}
FIT_GOAL_US_PER_FRAGMENT = 2.0

#: (label, parent mass kg, projectile mass kg, impact velocity km/s); None: the built-in's own.
ESA_EVENT = ("ESA M=2000", 1980.0, 20.0, 10.0)


def timed(fn, repeats: int) -> dict:
    """fn() `repeats` times: best and median wall seconds, best CPU seconds, every wall time."""
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return dict(seconds=min(walls), median_seconds=statistics.median(walls), cpu_seconds=min(cpus),
                round_seconds=walls)


def load_average() -> list | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def sampling_rows(scenario, repeats: int, quick: bool) -> list[dict]:
    base = scenario_mod.breakup_params(scenario.event, scenario.parent)
    events = [(f"{scenario.name} M={base.mass_kg:g}", base.parent_mass_kg, base.projectile_mass_kg,
               base.impact_velocity_km_s), ESA_EVENT]
    rows = []
    for label, m_parent, m_proj, v in events:
        for lc in LC_MIN_M:
            for reading in breakup.AM_SAMPLINGS:
                for policy in breakup.MASS_POLICIES:
                    p = dataclasses.replace(base, parent_mass_kg=m_parent, projectile_mass_kg=m_proj,
                                            impact_velocity_km_s=v, lc_min_m=lc, am_sampling=reading,
                                            mass_policy=policy)
                    n_real = max(1, SAMPLE_REALIZATIONS[lc] // (QUICK_FACTOR if quick else 1))
                    reals = np.arange(n_real)
                    n_out = len(breakup.sample(p, 1, reals))  # warm-up and the fragment count
                    t = timed(lambda: breakup.sample(p, 1, reals), repeats)
                    s = t["seconds"]
                    esa = ESA_MS_PER_REALIZATION[lc] if label == ESA_EVENT[0] else None
                    ms = 1e3 * s / n_real
                    rows.append(dict(
                        event=label, mass_kg=p.mass_kg, lc_min_m=lc, am_sampling=reading,
                        mass_policy=policy, realizations=n_real,
                        fragments_per_realization=n_out / n_real, ms_per_realization=ms,
                        cpu_ms_per_realization=1e3 * t["cpu_seconds"] / n_real,
                        median_ms_per_realization=1e3 * t["median_seconds"] / n_real,
                        round_seconds=t["round_seconds"],
                        realizations_per_s=n_real / s, fragments_per_s=n_out / s,
                        us_per_fragment=1e6 * s / n_out,
                        esa_ms_per_realization=esa,
                        esa_us_per_fragment=(1e3 * esa / ESA_FRAGMENTS_PER_REALIZATION[lc]
                                             if esa else None),
                        speedup_vs_esa=esa / ms if esa else None))
    return rows


def kept_states(scenario, realizations):
    """TEME states of the kept-to-be-fitted fragments, as engine.cloud.sample_cloud forms them."""
    event, parent = scenario.event, scenario.parent
    frags = breakup.sample(scenario_mod.breakup_params(event, parent), scenario.analysis.seed, realizations)
    r0, v0 = cloud.parent_state(parent, event)
    r = np.broadcast_to(r0, (len(frags), 3)).copy()
    v = v0[None, :] + frags.dv_m_s * 1e-3
    kept = cloud.classify_states(r, v) == cloud.STATUS_KEPT
    return r[kept], v[kept], len(frags)


def fit_rows(scenario, device: str, repeats: int, quick: bool) -> list[dict]:
    rows = []
    for lc in LC_MIN_M:
        sc = dataclasses.replace(scenario, event=dataclasses.replace(scenario.event, lc_min_m=lc))
        n_real = max(1, FIT_REALIZATIONS[lc] // (QUICK_FACTOR if quick else 1))
        reals = np.arange(n_real)
        r, v, n_sampled = kept_states(sc, reals)
        n = r.shape[0]
        base = dict(lc_min_m=lc, realizations=n_real, fragments_sampled=n_sampled, fragments_fitted=n,
                    goal_us_per_fragment=FIT_GOAL_US_PER_FRAGMENT)

        def fit_numpy():
            return fit.fit_mean_elements(r, v, cloud.propagate_at_epoch_numpy)

        outcome = fit_outcome(*fit_numpy())
        rows.append(_fit_row(base, "fit, numpy", timed(fit_numpy, repeats), n, n_real, outcome))
        t = timed(lambda: cloud.sample_cloud(sc, reals, "cpu"), repeats)
        rows.append(_fit_row(base, "sample_cloud, cpu", t, n, n_real, None))
        if device == "gpu":
            rows.extend(_gpu_fit_rows(sc, reals, r, v, base, repeats))
    return rows


def fit_outcome(elements, converged) -> dict:
    """Share of the fitted states that are deep space (period >= 225 min: not refined, not
    propagated) and share of the others that converged."""
    el = {k: np.asarray(a) for k, a in elements.items()}
    ok = np.asarray(converged)
    with np.errstate(invalid="ignore"):
        deep = sgp4.is_deep_space(el["no_kozai"], el["ecco"], el["inclo"])
    return dict(deep_space_fraction=float(deep.mean()),
                near_earth_converged_fraction=float(ok[~deep].mean()))


def _fit_row(base, stage, t, n_fitted, n_real, outcome) -> dict:
    """t: timed()'s dict, or wall seconds (CUDA rows); outcome: fit_outcome()'s dict or None."""
    t = t if isinstance(t, dict) else dict(seconds=t)
    seconds = t["seconds"]
    row = dict(base, stage=stage, **t, us_per_fragment=1e6 * seconds / n_fitted,
               fragments_per_s=n_fitted / seconds, realizations_per_s=n_real / seconds)
    if "cpu_seconds" in t:
        row["cpu_us_per_fragment"] = 1e6 * t["cpu_seconds"] / n_fitted
    return dict(row, **(outcome or {}))


def _gpu_fit_rows(sc, reals, r, v, base, repeats) -> list[dict]:
    import cupy

    r_g, v_g = cupy.asarray(r), cupy.asarray(v)

    def fit_cuda():
        out = fit.fit_mean_elements(r_g, v_g, cloud.propagate_at_epoch_cuda, xp=cupy)
        cupy.cuda.Device().synchronize()
        return out

    el, ok = fit_cuda()  # compiles the kernels
    n, n_real = r.shape[0], reals.size
    outcome = fit_outcome({k: cupy.asnumpy(a) for k, a in el.items()}, cupy.asnumpy(ok))
    rows = [_fit_row(base, "fit, cuda", best_of(fit_cuda, repeat=repeats, min_time_s=0.0), n, n_real,
                     outcome)]
    s = best_of(lambda: cloud.sample_cloud(sc, reals, "gpu"), repeat=repeats, min_time_s=0.0)
    rows.append(_fit_row(base, "sample_cloud, gpu", s, n, n_real, None))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer realizations (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per case (best kept)")
    parser.add_argument("--out", default=None, help="folder for the JSON (default benchmarks/results)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    load_start = load_average()
    device = resolve_device("auto")
    scenario = load_scenario("cosmos1408")
    print(f"load average at the start (1, 5, 15 min): {load_start} on {os.cpu_count()} cores")

    sampling = sampling_rows(scenario, args.repeats, args.quick)
    print("(a) sampling, engine.physics.breakup.sample (NumPy, host); ESA C++: one core, M = 2,000 kg")
    print_table(sampling, ["event", "lc_min_m", "am_sampling", "mass_policy", "realizations",
                           "fragments_per_realization", "ms_per_realization", "cpu_ms_per_realization",
                           "realizations_per_s",
                           "fragments_per_s", "esa_ms_per_realization", "speedup_vs_esa"])
    fits = fit_rows(scenario, device, args.repeats, args.quick)
    print()
    print(f"(b) element fit of the kept fragments, {scenario.name} "
          f"({scenario.event.am_sampling}, {scenario.event.mass_policy}); goal "
          f"<= {FIT_GOAL_US_PER_FRAGMENT:g} us per fragment; us_per_fragment counts fitted fragments")
    print_table(fits, ["stage", "lc_min_m", "realizations", "fragments_sampled", "fragments_fitted",
                       "seconds", "us_per_fragment", "cpu_us_per_fragment", "fragments_per_s",
                       "realizations_per_s",
                       "near_earth_converged_fraction", "deep_space_fraction"])
    elapsed = time.perf_counter() - t0
    payload = {
        "benchmark": "sample",
        "command": "python -m benchmarks.sample " + " ".join(sys.argv[1:] if argv is None else argv),
        "environment": dict(environment(device), load_average_start=load_start,
                            load_average_end=load_average()),
        "repeats": args.repeats,
        "quick": args.quick,
        "reference": {
            "esa_cpp_ms_per_realization": ESA_MS_PER_REALIZATION,
            "esa_cpp_fragments_per_realization": ESA_FRAGMENTS_PER_REALIZATION,
            "esa_cpp_note": "ESA NASA-breakup-model-cpp, one core, M = 2,000 kg "
                            "(reference figures, not measured here)",
            "fit_goal_us_per_fragment": FIT_GOAL_US_PER_FRAGMENT,
        },
        "sampling": sampling,
        "fit": fits,
        "elapsed_s": elapsed,
    }
    path = write_json(f"sample_{device}", payload, args.out)
    print(f"\nwrote {path} ({elapsed:.0f} s)")


if __name__ == "__main__":
    main()
