"""A whole catalog against every active satellite: the screened estimator (engine/orbits/
screening.py) over a window, one process, with the all-pairs NumPy estimator on a subset in the
same run as the baseline (its rate per fragment-target-sample gives the all-pairs time of the
whole case).

    python -m benchmarks.population --population CATALOG.tle --targets ACTIVE.tle --start ISO
        [--hours 24] [--baseline-fragments 100] [--baseline-hours 1] [--out DIR]

Prints a table; writes benchmarks/results/population_cpu.json (seconds, close pairs, passages,
conjunctions below 1/5/10 km, the process's peak resident memory).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from fragrisk.engine.orbits import screening
from fragrisk.engine.orbits.elements import read_catalog
from fragrisk.engine.orbits.propagation import offset_minutes, propagate_elements
from fragrisk.engine.physics import risk
from fragrisk.engine.timeutil import parse_utc

from benchmarks.common import environment, print_table, write_json

THRESHOLDS_KM = (1.0, 5.0, 10.0)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", required=True)
    parser.add_argument("--targets", required=True)
    parser.add_argument("--start", required=True)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--baseline-fragments", type=int, default=100)
    parser.add_argument("--baseline-hours", type=float, default=1.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    jd, fr = parse_utc(args.start)
    t0 = time.perf_counter()
    pop, _ = read_catalog(args.population)
    targets, _ = read_catalog(args.targets)
    pop = pop.take(~pop.is_deep_space)                 # the near-earth SGP4 of the estimator
    alive = propagate_elements(targets, jd, fr, np.zeros(1)).error[:, 0] == 0
    targets = targets.take(alive)
    read_s = time.perf_counter() - t0
    table, off = pop.sgp4_table(), offset_minutes(pop, jd, fr)
    times = np.arange(0.0, args.hours * 60 + 1e-9, 1.0)
    rows = []

    t0 = time.perf_counter()
    result = screening.screen_window(table, off, times, targets, jd, fr, 10.0, THRESHOLDS_KM)
    seconds = time.perf_counter() - t0
    c = result.conjunctions
    rows.append(dict(path="screen (grid), one process", fragments=len(pop), targets=len(targets),
                     samples=times.size, seconds=seconds, read_s=read_s, close_pairs=result.close_pairs,
                     passages=result.passages.size,
                     conjunctions={f"{x:g}": int((c.miss_km < x).sum()) for x in THRESHOLDS_KM},
                     peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6))

    # Baseline: the all-pairs NumPy estimator (every fragment x target x sample) on a subset.
    sub = np.linspace(0, len(pop) - 1, args.baseline_fragments).astype(int)
    tb = np.arange(0.0, args.baseline_hours * 60 + 1e-9, 1.0)
    eph = propagate_elements(targets, jd, fr, tb)
    sov = np.ones((sub.size, len(targets)))
    t0 = time.perf_counter()
    risk.fragment_rates(table[:, sub], off[sub], tb, eph.r_km, eph.error == 0, sov, 10.0,
                        np.zeros(tb.size - 1, dtype=np.int32), 1)
    base_s = time.perf_counter() - t0
    per = base_s / (sub.size * len(targets) * tb.size)
    rows.append(dict(path="all-pairs NumPy estimator (subset)", fragments=int(sub.size), targets=len(targets),
                     samples=tb.size, seconds=base_s, s_per_pair_sample=per,
                     implied_seconds_whole_case=per * len(pop) * len(targets) * times.size))
    rows[-1]["speedup_of_screen"] = rows[-1]["implied_seconds_whole_case"] / rows[0]["seconds"]
    print_table(rows, ["path", "fragments", "targets", "samples", "seconds", "close_pairs", "conjunctions",
                       "peak_rss_gb", "implied_seconds_whole_case", "speedup_of_screen"])
    path = write_json("population_cpu", {"benchmark": "population", "environment": environment("cpu"),
                                         "inputs": {"population": args.population, "targets": args.targets,
                                                    "start": args.start, "hours": args.hours},
                                         "rows": rows}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.1f} s")
