"""Wall time of `fragrisk calibrate` on the built-in scenario and its tracked debris.

    python -m benchmarks.calibrate [--device cpu|gpu] [--realizations R] [--bootstrap B] [--out DIR]

Calibrates the plain model (`cosmos1408-sbm`, every knob at the NASA model's value: the longest
way to the optimum) to engine/data/cosmos1408_debris_2022-01-11_half.tle with --cataloged 1641,
as the built-in `cosmos1408` was made: reading the observations, the Nelder-Mead fit, the
bootstrap design and the before/after samples, i.e. everything but writing files. Prints a
table and writes benchmarks/results/calibrate_<device>.json (device, versions, sizes, wall time,
the fitted values). Goal: within 10 minutes on 2 CPU cores, within 1 minute on an H100/H200.
"""

from __future__ import annotations

import argparse
import os
import time
from importlib import resources

import numpy as np
from fragrisk.engine.backend import resolve_device
from fragrisk.engine.calibration.calibrate import DEFAULT_BOOTSTRAP, calibrate
from fragrisk.engine.calibration.observations import load_observed
from fragrisk.engine.scenario import load_scenario

from benchmarks.common import environment, print_table, write_json

OBSERVED = "cosmos1408_debris_2022-01-11_half.tle"
CATALOGED = 1641


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    parser.add_argument("--realizations", type=int, default=None,
                        help="per candidate (default: calibrate's default for the device)")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP)
    parser.add_argument("--out", default=None, help="folder for the JSON (default benchmarks/results)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    scenario = load_scenario("cosmos1408-sbm")
    path = resources.files("fragrisk.engine").joinpath("data", OBSERVED)
    load_start = os.getloadavg()
    stages: dict[str, float] = {}
    last = {"stage": None, "t": time.perf_counter()}

    def on_progress(stage, done, total, best):
        now = time.perf_counter()
        if stage != last["stage"]:
            if last["stage"] is not None:
                stages[last["stage"]] = stages.get(last["stage"], 0.0) + now - last["t"]
            last.update(stage=stage, t=now)

    t0 = time.perf_counter()
    observed, warnings = load_observed([str(path)], scenario)
    t_read = time.perf_counter() - t0
    result = calibrate(scenario, observed, cataloged=CATALOGED, realizations=args.realizations,
                           device=device, bootstrap=args.bootstrap, on_progress=on_progress)
    wall = time.perf_counter() - t0
    if last["stage"] is not None:
        stages[last["stage"]] = stages.get(last["stage"], 0.0) + time.perf_counter() - last["t"]
    fragments = int(np.sum(result.samples["fit"].sampled))
    row = {"device": device, "realizations": result.realizations,
           "observed": len(observed), "fragments_per_candidate": fragments,
           "evaluations": result.evaluations, "bootstrap": result.bootstrap,
           "seconds": wall, "s_per_evaluation": (wall - t_read) / max(result.evaluations, 1),
           "T_before": result.before["total"], "T_after": result.after["total"]}
    print_table([row], list(row))
    print()
    print_table([{"knob": k.name, "before": k.before, "value": k.value, "sigma": k.sigma}
                 for k in result.knobs if k.fitted], ["knob", "before", "value", "sigma"])
    goal = 600.0 if device == "cpu" else 60.0
    print(f"\n{wall:.1f} s on {device} (goal: {goal:.0f} s); stages: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    payload = {
        "benchmark": "calibrate",
        "command": "python -m benchmarks.calibrate " + " ".join(argv or []),
        "environment": {**environment(device), "load_average_start": list(load_start),
                        "load_average_end": list(os.getloadavg())},
        "scenario": "cosmos1408-sbm",
        "observed_file": OBSERVED,
        "cataloged": CATALOGED,
        "goal_s": goal,
        "rows": [row],
        "read_s": t_read,
        "stage_seconds": stages,
        "knobs": {k.name: {"before": k.before, "value": k.value, "sigma": k.sigma}
                  for k in result.knobs if k.fitted},
        "table": result.table,
        "warnings": warnings + result.warnings,
    }
    out = write_json(f"calibrate_{device}", payload, args.out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
