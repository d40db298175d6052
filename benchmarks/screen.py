"""The screen (engine/orbits/screening.py) against brute force, in the same run, one core:

1. speed: the screen against every pair at every sample (the same code with an infinite screen
   radius), on a subset of fragments x targets; both give the same chords and conjunctions;
2. truth: the screen's conjunctions (60 s samples, TCA refined with SGP4) against every local
   minimum of the distance sampled every second by SGP4 for every pair of a subset (default 50
   fragments x 300 satellites over one day).

    python -m benchmarks.screen --fragments DEBRIS.tle --targets ACTIVE.tle --start ISO
        [--subset-fragments 50] [--subset-targets 300] [--hours 24] [--pick RESULTS.h5] [--out DIR]

--pick takes the subset from a results file of the same fragments and targets: the satellites
with the most conjunctions below 10 km and the fragments with the most passages (so the subset
holds conjunctions to compare); without it, the first ones in the files.  Prints a table; writes
benchmarks/results/screen_cpu.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from fragrisk.engine.orbits import screening
from fragrisk.engine.orbits.elements import read_catalog
from fragrisk.engine.orbits.propagation import offset_minutes, propagate_elements
from fragrisk.engine.physics import sgp4_numpy as sgp4
from fragrisk.engine.results import read_results
from fragrisk.engine.timeutil import parse_utc

from benchmarks.common import environment, print_table, write_json

THRESHOLDS_KM = (1.0, 5.0, 10.0)


def one_second_minima(frag, targets, start, hours: float, limit_km: float = 10.0):
    """Every local minimum below limit_km of every fragment-target distance sampled every second
    by SGP4: [(fragment, target, t_min, distance_km)].  At 15 km/s a sample can lie 7.5 km from
    the closest approach, so each sampled minimum below limit_km + 8 km is refined by the
    parabola of d^2 through its three samples (exact for straight relative motion, d^2 = miss^2
    + v^2 (t - tca)^2; over 2 s the relative path is straight to centimetres) and kept where the
    parabola's minimum is below limit_km."""
    jd, fr = start
    table, off = frag.sgp4_table(), offset_minutes(frag, jd, fr)
    seconds = int(round(hours * 3600))
    found = []
    chunk = 1800
    for s0 in range(0, seconds, chunk):
        s1 = min(seconds, s0 + chunk)
        # one second before and after the chunk, so minima at its edges are seen once
        t = np.arange(max(s0 - 1, 0), min(s1 + 1, seconds) + 1) / 60.0
        rf, _, ef = sgp4.propagate(table, off[:, None] + t[None, :])
        rf[ef != 0] = np.nan
        eph = propagate_elements(targets, jd, fr, t)
        rt = eph.r_km
        rt[eph.error != 0] = np.nan
        for k0 in range(0, len(targets), 50):
            d = np.linalg.norm(rf[:, None] - rt[None, k0:k0 + 50], axis=-1)     # (n, 50, s)
            with np.errstate(invalid="ignore"):
                is_min = (d[..., 1:-1] < d[..., :-2]) & (d[..., 1:-1] <= d[..., 2:]) & (d[..., 1:-1] < limit_km + 8.0)
            for i, k, j in zip(*np.nonzero(is_min)):
                tm = t[j + 1]
                if not (s0 / 60.0 <= tm < s1 / 60.0 or (s1 == seconds and tm <= s1 / 60.0)):
                    continue
                y0, y1, y2 = d[i, k, j] ** 2, d[i, k, j + 1] ** 2, d[i, k, j + 2] ** 2
                curv = y0 - 2.0 * y1 + y2               # d^2 = y1 + b x + a x^2, x in samples
                x = 0.5 * (y0 - y2) / curv if curv > 0 else 0.0
                miss = float(np.sqrt(max(y1 - (y0 - y2) ** 2 / (8.0 * curv), 0.0))) if curv > 0 else float(d[i, k, j + 1])
                if miss < limit_km:
                    found.append((int(i), int(k0 + k), float(tm + x / 60.0), miss))
    return sorted(set(found))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fragments", required=True, help="TLE file of the fragments (population)")
    parser.add_argument("--targets", required=True, help="TLE file of the targets")
    parser.add_argument("--start", required=True, help="ISO 8601 UTC start")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--subset-fragments", type=int, default=50)
    parser.add_argument("--subset-targets", type=int, default=300)
    parser.add_argument("--pick", default=None, help="a results file to pick the subset from")
    parser.add_argument("--speed-hours", type=float, default=3.0, help="window of the speed rows")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    start = parse_utc(args.start)
    frag_all, _ = read_catalog(args.fragments)
    targ_all, _ = read_catalog(args.targets)
    frag_all = frag_all.take(~frag_all.is_deep_space)
    nf, nt = args.subset_fragments, args.subset_targets
    if args.pick:
        res = read_results(args.pick)
        per_target = res.conjunctions[:, 0, :, -1].sum(axis=1)
        names = res.target_names.tolist()
        by_name = {n: i for i, n in enumerate(targ_all.name)}
        tk = [by_name[names[k]] for k in np.argsort(-per_target, kind="stable")[:nt] if names[k] in by_name]
        enc = res.encounters
        fi = np.argsort(-np.bincount(enc.fragment, minlength=len(frag_all)), kind="stable")[:nf]
        frag, targets = frag_all.take(np.sort(fi)), targ_all.take(np.array(tk))
    else:
        frag, targets = frag_all.take(np.arange(nf)), targ_all.take(np.arange(nt))
    jd, fr = start
    rows = []

    # 1. speed: screen vs every pair at every sample (60 s), same subset, same code
    times = np.arange(0.0, args.speed_hours * 60 + 1e-9, 1.0)
    table, off = frag.sgp4_table(), offset_minutes(frag, jd, fr)
    out = {}
    for label, radius in (("screen (grid, radius that misses nothing)", None), ("brute force (every pair, every sample)", np.inf)):
        t0 = time.perf_counter()
        out[label] = screening.screen_window(table, off, times, targets, jd, fr, 10.0, THRESHOLDS_KM, radius_km=radius)
        rows.append(dict(check="speed", path=label, fragments=len(frag), targets=len(targets), samples=times.size,
                         seconds=time.perf_counter() - t0, pair_samples=out[label].close_pairs,
                         conjunctions_10km=out[label].conjunctions.size, passages=out[label].passages.size))
    a, b = out.values()
    same = (sorted(zip(a.conjunctions.row, a.conjunctions.target, a.conjunctions.tca_min)) ==
            sorted(zip(b.conjunctions.row, b.conjunctions.target, b.conjunctions.tca_min))
            and a.passages.size == b.passages.size)
    rows[-1]["speedup_of_screen"] = rows[-1]["seconds"] / rows[-2]["seconds"]
    rows[-1]["same_results"] = bool(same)

    # 2. truth: 1 s sampling of every pair over the window
    times = np.arange(0.0, args.hours * 60 + 1e-9, 1.0)
    t0 = time.perf_counter()
    ours = screening.screen_window(table, off, times, targets, jd, fr, 10.0, THRESHOLDS_KM)
    t_screen = time.perf_counter() - t0
    t0 = time.perf_counter()
    fine = one_second_minima(frag, targets, start, args.hours)
    t_fine = time.perf_counter() - t0
    c = ours.conjunctions
    mine = sorted(zip(c.row.tolist(), c.target.tolist(), c.tca_min.tolist(), c.miss_km.tolist()))
    matched, unmatched_fine = 0, []
    used = set()
    worst_dt, worst_dd = 0.0, 0.0
    for i, k, t, d in fine:
        best = None
        for idx, (i2, k2, t2, d2) in enumerate(mine):
            if (i2, k2) == (i, k) and idx not in used and abs(t2 - t) * 60 <= 2.0:
                best = idx
                break
        if best is None:
            unmatched_fine.append((i, k, t, d))
            continue
        used.add(best)
        matched += 1
        worst_dt = max(worst_dt, abs(mine[best][2] - t) * 60)
        worst_dd = max(worst_dd, d - mine[best][3])
    unmatched_ours = [mine[j] for j in range(len(mine)) if j not in used]
    counts_fine = {f"{x:g}": sum(1 for f in fine if f[3] < x) for x in THRESHOLDS_KM}
    counts_ours = {f"{x:g}": int((c.miss_km < x).sum()) for x in THRESHOLDS_KM}
    rows.append(dict(check="truth", path="screen at 60 s, TCA refined with SGP4", fragments=len(frag),
                     targets=len(targets), samples=times.size, seconds=t_screen, conjunctions=counts_ours))
    rows.append(dict(check="truth", path="every pair sampled every 1 s (SGP4)", fragments=len(frag),
                     targets=len(targets), samples=int(args.hours * 3600) + 1, seconds=t_fine,
                     conjunctions=counts_fine, matched=matched, only_in_1s=len(unmatched_fine),
                     only_in_screen=len(unmatched_ours), max_tca_difference_s=worst_dt,
                     max_distance_excess_km=worst_dd,
                     unmatched=[list(x) for x in (unmatched_fine + unmatched_ours)[:10]]))
    print_table(rows, ["check", "path", "fragments", "targets", "samples", "seconds", "pair_samples",
                       "conjunctions_10km", "conjunctions", "matched", "only_in_1s", "only_in_screen"])
    path = write_json("screen_cpu", {"benchmark": "screen", "environment": environment("cpu"),
                                     "inputs": {"fragments": args.fragments, "targets": args.targets,
                                                "start": args.start, "pick": args.pick}, "rows": rows},
                      args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.1f} s")
