"""What the encounter table costs: `fragrisk run` on the built-in scenario with [analysis]
encounters = "all" against "none", same realizations, same process.

    python -m benchmarks.encounters [--cpu-realizations N] [--gpu-realizations N] [--repeat K] [--out DIR]

Each configuration runs K times, alternating (all, none, all, none, ...) so that a busy machine
slows both alike; the best wall time of each is kept. Rows: the device, the setting, the wall
time, the encounters found, and the overhead (all / none - 1). On the GPU the table costs the
kernel's passage records (atomic slots) and the closest-approach refinement on the host
(engine.orbits.closest_approach), timed on its own in the row `refinement_s`. The project's
goal: at most 20 % on a GPU. Writes benchmarks/results/encounters_<device>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from fragrisk.engine.backend import resolve_device
from fragrisk.engine.run import montecarlo
from fragrisk.engine.run.batches import estimate_chunks, prepare_batch
from fragrisk.engine.run.estimate import encounter_table
from fragrisk.engine.run.setup import make_setup
from fragrisk.engine.scenario import load_scenario

from benchmarks.common import environment, print_table, write_json


def _setup(scenario, device: str, encounters: str):
    sc = dataclasses.replace(scenario, analysis=dataclasses.replace(scenario.analysis, encounters=encounters))
    return make_setup(sc, device)


def _refinement_seconds(setup, realizations) -> float:
    """The host step alone: closest approach of the passages of `realizations`."""
    host = prepare_batch(setup, realizations)
    *_, found = estimate_chunks(setup, host)
    start = time.perf_counter()
    encounter_table(setup, host.objs, found)
    return time.perf_counter() - start


def compare(scenario, device: str, realizations: int, repeat: int) -> list[dict]:
    setups = {"all": _setup(scenario, device, "all"), "none": _setup(scenario, device, "none")}
    reals = np.arange(realizations)
    best = {"all": np.inf, "none": np.inf}
    found = {}
    lam = {}
    for _ in range(repeat):
        for key, setup in setups.items():
            start = time.perf_counter()
            out = montecarlo.run(setup, reals)
            best[key] = min(best[key], time.perf_counter() - start)
            res = montecarlo.to_results(setup, out, dict(scenario="", seed=0, n_realizations=realizations,
                                                         device=device, elapsed_s=0.0,
                                                         analysis_start="2021-11-15T02:47:00Z"))
            lam[key] = res.expected_collisions
            found[key] = None if res.encounters is None else len(res.encounters)
    assert np.array_equal(lam["all"], lam["none"]), "the table must not change the rates"
    refine = _refinement_seconds(setups["all"], reals)
    rows = []
    for key in ("none", "all"):
        rows.append(dict(device=device, encounters=key, realizations=realizations, repeat=repeat,
                         seconds=best[key], n_encounters=found[key],
                         overhead=best[key] / best["none"] - 1.0,
                         refinement_s=refine if key == "all" else None))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-realizations", type=int, default=2)
    parser.add_argument("--gpu-realizations", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    device = resolve_device("auto")
    sc = load_scenario("cosmos1408")
    rows = []
    if not args.skip_cpu:
        rows += compare(sc, "cpu", args.cpu_realizations, args.repeat)
    if device == "gpu":
        montecarlo.run(_setup(sc, "gpu", "all"), np.arange(2))  # compile both kernels, warm the caches
        montecarlo.run(_setup(sc, "gpu", "none"), np.arange(2))
        rows += compare(sc, "gpu", args.gpu_realizations, args.repeat)
    print_table(rows, ["device", "encounters", "realizations", "seconds", "n_encounters", "overhead", "refinement_s"])
    path = write_json(f"encounters_{device}", {"benchmark": "encounters", "scenario": "cosmos1408",
                                               "environment": environment(device), "rows": rows}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
