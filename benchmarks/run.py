"""End-to-end benchmarks of `fragrisk run` at scale: one row per case.

    python -m benchmarks.run [--device auto|cpu|gpu] [--cases builtin,lc1cm,year,scaling,...]
                             [--realizations CASE=N ...] [--scaling JOBS:N,JOBS:N] [--out DIR]

Cases (the built-in COSMOS 1408 scenario; --set overrides in brackets):
  baseline        python-sgp4's SatrecArray (C++, one core) propagating realization 0's kept
                  fragments over one day, positions only: "just the reference library"
  builtin         7 days at 60 s                                 (CPU 2 realizations, GPU 1000)
  prefilter_off   the same without the prefilter and the kernel's jumps (GPU only, 200)
  lc1cm           [event.lc_min_m=0.01]: ~85,000 fragments a realization (CPU 1, GPU 1000);
                  on the GPU, realizations 0..k-1 also run on the NumPy path after it, their
                  fragments split over every core (--cpu-reference k, default 1; builtin: 4),
                  and the row says how far the two agree
  year            [analysis.duration_days=365] at 10 cm: 525,601 samples, 8,760 bins, 33 time
                  chunks (CPU 2 realizations on 2 jobs, GPU 1000); the ISS's mean expected
                  collisions by calendar month
  scaling         the CPU backend's default run (CPU_DEFAULT_REALIZATIONS realizations) with
                  --jobs 1 and --jobs 2 (--scaling 1:30,2:30; on a 16-core host e.g. 1:4,16:32,
                  compared per realization); the results must be identical bit for bit
Each case runs in a fresh process, so its peak host memory is its own (ru_maxrss of that process,
and of its largest worker process). Row fields:
  wall_s      end to end: the set-up (targets propagated), the worker pool's start, every batch;
  host_s      the host stage (sampling, element fit, SGP4 table, prefilter), summed over batches
              (and over the worker processes running it at once);
  kernel_s    the estimator: the NumPy path on the CPU; on the GPU the fused kernel with its
              copies and reductions;
  host_wait_s time the estimator waited for a prefetched host stage (GPU; 0 = fully hidden);
  effective_rate  kept fragments x samples / wall_s;  raw_rate  propagated samples / kernel_s;
  cpu_s       processor time (user + system) of the run and its workers, and the machine's load
              average before it: on a shared machine, wall_s x jobs well above cpu_s means the
              run waited for cores others used.
Writes benchmarks/results/run_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import environment, print_table, write_json

CASES = ("baseline", "builtin", "prefilter_off", "lc1cm", "year", "scaling")
OVERRIDES = {"builtin": [], "prefilter_off": [], "lc1cm": ["event.lc_min_m=0.01"],
             "year": ["analysis.duration_days=365"]}
DEFAULT_REALIZATIONS = {"cpu": {"builtin": 2, "lc1cm": 1, "year": 2},
                        "gpu": {"builtin": 1000, "prefilter_off": 200, "lc1cm": 1000, "year": 1000}}
#: Jobs of the CPU cases (the one-core rate of the estimator is the comparable number; the year's
#: two realizations run side by side).
CPU_JOBS = {"builtin": 1, "lc1cm": 1, "year": 2}


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory (MiB) of this process and of its largest finished child (Linux KiB)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0)


def month_sums(setup, by_time_mean) -> dict:
    """A time series over the window's bins summed by calendar month (UTC) of each bin's start."""
    from fragrisk.engine.timeutil import format_utc

    w = setup.window
    out: dict = {}
    for start_s, value in zip(w.time_edges_s[:-1], by_time_mean):
        month = format_utc(w.start_jd, w.start_fr + start_s / 86400.0)[:7]
        out[month] = out.get(month, 0.0) + float(value)
    return out


def _warm_up(device: str) -> None:
    """Compile and load the kernels (and the GPU's clocks) outside the timed run."""
    from fragrisk.engine.run import montecarlo
    from fragrisk.engine.run.setup import make_setup
    from fragrisk.engine.scenario import load_scenario

    if device == "gpu":
        sc = load_scenario("cosmos1408", ["analysis.duration_days=0.2"])
        montecarlo.run(make_setup(sc, "gpu"), np.arange(4))


def _cpu_reference(overrides: list, realizations: int) -> list:
    """The NumPy path's expected collisions with the ISS of realizations 0..k-1, their fragments
    split over every core (a realization's expected collisions are a sum over its fragments; at
    1 cm one realization takes minutes on one core)."""
    from concurrent.futures import ProcessPoolExecutor

    from fragrisk.engine.backend import usable_cores
    from fragrisk.engine.run.batches import prepare_batch
    from fragrisk.engine.run.setup import make_setup
    from fragrisk.engine.scenario import load_scenario

    setup = make_setup(load_scenario("cosmos1408", overrides), "cpu")
    host = prepare_batch(setup, np.arange(realizations))
    pieces = [rows for rows in np.array_split(np.arange(host.objs.lc_m.size), 4 * usable_cores()) if rows.size]
    with ProcessPoolExecutor(usable_cores()) as workers:
        parts = list(workers.map(_estimate_piece, [setup] * len(pieces), [_restrict(host, rows) for rows in pieces]))
    return [float(x) for x in np.sum(parts, axis=0)]


def _restrict(host, rows):
    """The HostBatch of the objects `rows` (sorted) of host.objs."""
    import dataclasses

    from fragrisk.engine.run.estimate import thread_order

    screens = []
    for idx, reach, r_min, _ in host.screens:
        keep = np.isin(idx, rows)
        screens.append((np.searchsorted(rows, idx[keep]), reach[keep], r_min[keep],
                        thread_order(reach[keep], r_min[keep])))
    return dataclasses.replace(host, objs=host.objs.take(rows), screens=screens)


def _estimate_piece(setup, host) -> np.ndarray:
    from fragrisk.engine.run.batches import estimate_batch

    return estimate_batch(setup, host).by_time[0].sum(axis=1)


def run_case(spec: dict) -> dict:
    """One case in this process: spec = {case, device, realizations, jobs, overrides, cpu_reference}."""
    from fragrisk.engine.run import jobs, montecarlo
    from fragrisk.engine.run.setup import make_setup
    from fragrisk.engine.run.sizing import default_batch_size
    from fragrisk.engine.scenario import load_scenario

    device, case = spec["device"], spec["case"]
    if case == "baseline":
        return satrec_baseline()
    _warm_up(device)
    sc = jobs.with_overrides(load_scenario("cosmos1408", spec["overrides"]), spec["realizations"], None)
    load = os.getloadavg()[0]
    times0 = os.times()
    start = time.perf_counter()
    setup = make_setup(sc, device, use_prefilter=case != "prefilter_off")
    executor = jobs.make_executor(device, jobs=spec["jobs"])
    realizations = np.arange(spec["realizations"])
    if executor is None:
        out = montecarlo.run(setup, realizations)
    else:
        out = executor.run(setup, realizations)
    wall = time.perf_counter() - start
    times1 = os.times()
    cpu_s = sum(b - a for a, b in zip(times0[:4], times1[:4]))  # user + system, this process and its workers
    st = out.stats()
    batches = sorted(out.batches, key=lambda b: int(b.realization[0]))
    by_time = np.concatenate([b.by_time for b in batches], axis=1)   # (K, R, T)
    lam_iss = by_time[0].sum(axis=1)
    rss, rss_children = peak_rss_mib()
    row = dict(case=case, device=device, realizations=int(realizations.size), jobs=spec["jobs"] or "all cores",
               set=" ".join(spec["overrides"]), wall_s=wall, host_s=st["host_s"], kernel_s=st["kernel_s"],
               host_wait_s=st["host_wait_s"], batches=len(batches),
               fragments_per_realization=float(np.mean(np.concatenate([b.n_fragments for b in batches]))),
               fragment_steps=st["fragment_steps"], propagated_fragment_steps=st["propagated_fragment_steps"],
               effective_rate=st["fragment_steps"] / wall, raw_rate=st["raw_rate"],
               peak_rss_mib=rss, peak_rss_workers_mib=rss_children, cpu_s=cpu_s, load_average_before=load,
               time_chunks=len(setup.window.chunks), mean_lambda_iss=float(lam_iss.mean()),
               lambda_iss=lam_iss.tolist())
    if case == "year":
        row["lambda_iss_by_month"] = month_sums(setup, by_time[0].mean(axis=0))
    if device == "gpu":
        import cupy

        row["gpu_batch_size"] = default_batch_size(setup, realizations.size)
        row["device_pool_peak_mib"] = cupy.get_default_memory_pool().total_bytes() / 2**20
    if spec.get("cpu_reference"):  # after the timed run, on every core
        t = time.perf_counter()
        ref = np.array(_cpu_reference(spec["overrides"], spec["cpu_reference"]))
        row["cpu_reference_s"] = time.perf_counter() - t
        row["cpu_reference_lambda_iss"] = ref.tolist()
        row["cuda_vs_numpy_max_rel_diff"] = float(np.max(np.abs(lam_iss[:ref.size] / ref - 1.0)))
    if spec.get("keep_by_time"):
        np.save(spec["keep_by_time"], by_time)
    return row


def satrec_baseline() -> dict:
    from fragrisk.engine import cloud
    from fragrisk.engine.run.setup import make_setup
    from fragrisk.engine.scenario import load_scenario
    from sgp4.api import SatrecArray

    setup = make_setup(load_scenario("cosmos1408"), "cpu")
    cl = cloud.sample_cloud(setup.scenario, np.array([0]))
    sats = cl.kept_elements().to_satrecs()
    arr = SatrecArray(sats)
    times = np.arange(0, 86400, setup.window.step_s)
    jd = np.full(times.size, setup.window.start_jd)
    fr = setup.window.start_fr + times / 86400.0
    start = time.perf_counter()
    arr.sgp4(jd, fr)
    seconds = time.perf_counter() - start
    return dict(case="baseline", device="cpu", path="python-sgp4 SatrecArray (C++, 1 core), propagation only",
                fragments=len(sats), steps=times.size, wall_s=seconds, kernel_s=seconds,
                effective_rate=len(sats) * times.size / seconds, raw_rate=len(sats) * times.size / seconds)


def in_child(spec: dict) -> dict:
    """run_case in a fresh Python process (its own peak memory); the row comes back as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "row.json"
        cmd = [sys.executable, "-m", "benchmarks.run", "--one", json.dumps(spec), "--row-json", str(path)]
        print(f"-- {spec['case']}: {spec.get('realizations', '')} realizations, jobs {spec.get('jobs')}, "
              f"{spec['device']}", flush=True)
        subprocess.run(cmd, check=True)
        return json.loads(path.read_text())


def scaling_rows(pairs: list) -> list:
    """The CPU default run with each --jobs of `pairs` [(jobs, realizations)], compared with the
    first one, realization by realization, bit for bit."""
    from fragrisk.engine.run import montecarlo

    rows, kept = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for jobs, n in pairs:
            path = os.path.join(tmp, f"by_time_{jobs}.npy")
            row = in_child(dict(case="scaling", device="cpu", realizations=n, jobs=jobs, overrides=[],
                                keep_by_time=path))
            kept.append(np.load(path))
            rows.append(row)
    first = rows[0]
    for row, by_time in zip(rows, kept):
        common = min(by_time.shape[1], kept[0].shape[1])
        row["identical_to_first"] = bool(np.array_equal(by_time[:, :common], kept[0][:, :common]))
        row["seconds_per_realization"] = row["wall_s"] / row["realizations"]
        row["time_vs_first"] = row["seconds_per_realization"] / first["seconds_per_realization"]
        row["cpu_default_realizations"] = montecarlo.CPU_DEFAULT_REALIZATIONS
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    parser.add_argument("--cases", default=None, help=f"comma-separated, of {', '.join(CASES)} (default: all "
                        "that apply to the device)")
    parser.add_argument("--realizations", action="append", default=[], metavar="CASE=N")
    parser.add_argument("--jobs", type=int, default=None, help="--jobs of the GPU cases (default: every core)")
    parser.add_argument("--scaling", default=None, metavar="JOBS:N,...",
                        help="jobs and realizations of the scaling rows (default 1:30,2:30)")
    parser.add_argument("--cpu-reference", type=int, default=1, help="lc1cm on the GPU: NumPy realizations")
    parser.add_argument("--out", default=None)
    parser.add_argument("--name", default=None, help="JSON file name (default: run_<device>)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--row-json", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        Path(args.row_json).write_text(json.dumps(run_case(json.loads(args.one))))
        return

    from fragrisk.engine.backend import resolve_device
    from fragrisk.engine.run import montecarlo

    device = resolve_device(args.device)
    cases = args.cases.split(",") if args.cases else [c for c in CASES if c != "prefilter_off" or device == "gpu"]
    counts = dict(DEFAULT_REALIZATIONS[device])
    counts.update({k: int(v) for k, v in (x.split("=") for x in args.realizations)})
    rows = []
    for case in cases:
        if case == "scaling":
            text = args.scaling or f"1:{montecarlo.CPU_DEFAULT_REALIZATIONS},2:{montecarlo.CPU_DEFAULT_REALIZATIONS}"
            rows += scaling_rows([tuple(int(v) for v in p.split(":")) for p in text.split(",")])
            continue
        spec = dict(case=case, device="cpu" if case == "baseline" else device, realizations=counts.get(case),
                    jobs=CPU_JOBS.get(case) if device == "cpu" else args.jobs, overrides=OVERRIDES.get(case, []))
        if case in ("lc1cm", "builtin") and device == "gpu":
            spec["cpu_reference"] = args.cpu_reference if case == "lc1cm" else 4
        rows.append(in_child(spec))
    print_table([{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in rows],
                ["case", "device", "realizations", "jobs", "wall_s", "host_s", "kernel_s", "host_wait_s", "cpu_s",
                 "load_average_before", "effective_rate", "raw_rate", "peak_rss_mib", "peak_rss_workers_mib",
                 "mean_lambda_iss", "identical_to_first", "time_vs_first", "cuda_vs_numpy_max_rel_diff"])
    for r in rows:
        if "lambda_iss_by_month" in r:
            print(f"{r['case']} ({r['device']}, {r['realizations']} realizations): ISS mean expected collisions by month")
            for month, value in r["lambda_iss_by_month"].items():
                print(f"  {month}  {value:.3e}")
    path = write_json(args.name or f"run_{device}", {"benchmark": "run", "scenario": "cosmos1408", "environment": environment(device),
                                        "rows": rows}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
