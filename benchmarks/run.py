"""End-to-end fragment-steps per second of `fragrisk run` on the built-in scenario.

    python -m benchmarks.run [--cpu-realizations N] [--gpu-realizations N] [--out DIR]

Two rates per path:
- effective: all kept fragments x all samples of the scenario, divided by the wall time of the
  whole pipeline (sampling, element fit, prefilter, estimator, aggregation);
- raw: the fragment-samples actually propagated after the prefilter, divided by the time spent
  in the estimator proper.
Baseline in the same run: python-sgp4's SatrecArray (C++, one core) propagating the kept
fragments of realization 0 over one day, positions only, no screening: what "just propagating
with the reference library" costs per fragment-step on this machine.
Writes benchmarks/results/run_<device>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from sgp4.api import SatrecArray

from benchmarks.common import environment, print_table, write_json
from fragrisk.engine import cloud, montecarlo
from fragrisk.engine.backend import resolve_device
from fragrisk.engine.scenario import load_scenario


def measure(setup, realizations, batch_size=None) -> dict:
    start = time.perf_counter()
    out = montecarlo.run(setup, np.arange(realizations), batch_size=batch_size)
    wall = time.perf_counter() - start
    st = out.stats()
    lam = np.concatenate([b.by_time.sum(axis=2)[0] for b in out.batches])
    return dict(realizations=realizations, seconds=wall, fragment_steps=st["fragment_steps"],
                propagated_fragment_steps=st["propagated_fragment_steps"], estimator_s=st["kernel_s"],
                effective_rate=st["fragment_steps"] / wall, raw_rate=st["raw_rate"],
                mean_lambda_iss=float(lam.mean()), lambda_iss=lam.tolist())


def satrec_baseline(setup) -> dict:
    cl = cloud.sample_cloud(setup.scenario, np.array([0]))
    sats = cl.kept_elements().to_satrecs()
    arr = SatrecArray(sats)
    times = np.arange(0, 86400, setup.window.step_s)
    jd = np.full(times.size, setup.window.start_jd)
    fr = setup.window.start_fr + times / 86400.0
    start = time.perf_counter()
    arr.sgp4(jd, fr)
    seconds = time.perf_counter() - start
    return dict(path="python-sgp4 SatrecArray (C++, 1 core), propagation only", fragments=len(sats),
                steps=times.size, seconds=seconds, effective_rate=len(sats) * times.size / seconds,
                raw_rate=len(sats) * times.size / seconds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-realizations", type=int, default=2)
    parser.add_argument("--gpu-realizations", type=int, default=1000)
    parser.add_argument("--skip-cpu", action="store_true", help="GPU only (the CPU rate is measured elsewhere)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    device = resolve_device("auto")
    sc = load_scenario("cosmos1408")
    rows = []
    setup = montecarlo.make_setup(sc, "cpu")
    rows.append(satrec_baseline(setup))
    if not args.skip_cpu:
        rows.append(dict(path="numpy (1 process)", **measure(setup, args.cpu_realizations)))
    if device == "gpu":
        gpu = montecarlo.make_setup(sc, "gpu")
        montecarlo.run(gpu, np.arange(2))  # compile the kernels, warm the caches
        rows.append(dict(path="cuda fused kernel", **measure(gpu, args.gpu_realizations)))
        off = dataclasses.replace(gpu, use_prefilter=False)
        rows.append(dict(path="cuda fused kernel, prefilter off", **measure(off, min(args.gpu_realizations, 200))))
    agreement = None
    cpu_rows = [r for r in rows if r["path"].startswith("numpy")]
    gpu_rows = [r for r in rows if r["path"] == "cuda fused kernel"]
    if cpu_rows and gpu_rows:
        # The realizations both paths ran: CUDA against NumPy, relative, per realization.
        a = np.array(cpu_rows[0]["lambda_iss"])
        b = np.array(gpu_rows[0]["lambda_iss"][:a.size])
        agreement = float(np.max(np.abs(b / a - 1.0)))
        print(f"CUDA vs NumPy, lambda of realizations 0..{a.size - 1}: max relative difference {agreement:.3g}")
    print_table([{k: v for k, v in r.items() if k != "lambda_iss"} for r in rows],
                ["path", "realizations", "fragment_steps", "seconds", "effective_rate", "raw_rate", "mean_lambda_iss"])
    path = write_json(f"run_{device}", {"benchmark": "run", "scenario": "cosmos1408", "environment": environment(device),
                                        "cuda_vs_numpy_max_rel_diff": agreement, "rows": rows}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
