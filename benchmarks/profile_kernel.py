"""Profile of the fused run kernel (kernels/risk.cu) on the GPU: registers, occupancy, and the
float64 throughput it achieves against the card's peak.

    python -m benchmarks.profile_kernel [--realizations N] [--out DIR]

Registers and local memory come from the compiled kernel's attributes; occupancy from the CUDA
occupancy calculator; the card's float64 peak from its SM count and clock (sm_80/sm_90: 64 FP64
FMA units per SM, i.e. 128 flop per cycle). The float64 operations per fragment-step are read
from Nsight Compute where `ncu` runs (see gpu_check.sh); here the kernel is timed with CUDA
events and the achieved rate is reported in fragment-steps/s.
Writes benchmarks/results/profile_risk_kernel.json.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from fragrisk.engine.run.estimate import object_rates_gpu, screen
from fragrisk.engine.run.objects import fragment_objects
from fragrisk.engine.run.setup import make_setup
from fragrisk.engine.scenario import load_scenario

from benchmarks.common import environment, print_table, write_json

#: Launch shapes compared: (threads per block, minimum resident blocks per SM); the second caps
#: registers per thread at 65536 / (threads x blocks) (255 at most).
SWEEP = ((128, 1), (128, 3), (128, 4), (256, 2), (64, 8), (128, 6))


def _occupancy(kernel, threads: int, props: dict, regs: int) -> float:
    """Theoretical occupancy (resident threads / maximum) of one launch shape."""
    import cupy

    try:
        blocks = cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(kernel.kernel.ptr, threads, 0)
    except Exception:  # older CuPy: from the register count alone
        blocks = min(props["maxThreadsPerMultiProcessor"] // threads, 65536 // max(regs * threads, 1))
    return blocks * threads / props["maxThreadsPerMultiProcessor"]


def main(argv=None) -> None:
    import cupy
    from fragrisk.kernels import risk_gpu

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realizations", type=int, default=100)
    parser.add_argument("--ncu-json", default=None, help="flop counts measured by ncu (gpu_check.sh)")
    parser.add_argument("--no-sweep", action="store_true", help="the default launch shape only (for ncu)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    setup = make_setup(load_scenario("cosmos1408"), "gpu")
    pop, *_ = fragment_objects(setup, np.arange(args.realizations))
    idx, reach, order = screen(setup, pop)
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    sms = props["multiProcessorCount"]
    clock_hz = props["clockRate"] * 1e3
    peak_fp64 = sms * clock_hz * 128.0
    K = len(setup.targets.names)

    def timed(launch):
        risk_gpu.DEFAULT_LAUNCH, saved = launch, risk_gpu.DEFAULT_LAUNCH
        try:
            # Compile, then one full untimed launch: the first launch after a pause runs at idle
            # clocks (the H200 sweep of 2026-11-27 timed its first shape cold: 1.0e10 against
            # 1.57e10 in the run benchmark).
            object_rates_gpu(setup, pop, idx, reach, order)
            cupy.cuda.Device().synchronize()
            start, stop = cupy.cuda.Event(), cupy.cuda.Event()
            start.record()
            lam, decay = object_rates_gpu(setup, pop, idx, reach, order)
            stop.record()
            stop.synchronize()
        finally:
            risk_gpu.DEFAULT_LAUNCH = saved
        return cupy.asnumpy(lam), cupy.asnumpy(decay), cupy.cuda.get_elapsed_time(start, stop) / 1e3

    shapes = (risk_gpu.DEFAULT_LAUNCH,) if args.no_sweep else (risk_gpu.DEFAULT_LAUNCH,) + tuple(
        s for s in SWEEP if s != risk_gpu.DEFAULT_LAUNCH)
    rows, reference = [], None
    for launch in shapes:
        lam, decay, seconds = timed(launch)
        steps = int(np.minimum(decay + 1, setup.window.times_s.size).sum())  # samples evaluated
        if reference is None:
            reference = lam
        scale = np.maximum(np.abs(reference), 1e-300)
        kernel = risk_gpu._module(K, launch).get_function("risk_fused")
        attrs = dict(kernel.attributes)
        regs = int(attrs.get("num_regs", 0))
        rows.append(dict(threads_per_block=launch[0], min_blocks_per_sm=launch[1], registers_per_thread=regs,
                         local_bytes_per_thread=attrs.get("local_size_bytes"),
                         theoretical_occupancy=_occupancy(kernel, launch[0], props, regs), seconds=seconds,
                         fragment_steps=steps, fragment_steps_per_s=steps / seconds,
                         max_rel_diff_vs_first=float(np.max(np.abs(lam - reference) / scale))))
    best = max(rows, key=lambda r: r["fragment_steps_per_s"])
    # The build that records passages (the encounter table): its registers and spills at the
    # default launch, beside the lean build's above (the time it costs: benchmarks/encounters.py).
    with_passages = dict(risk_gpu._module(K, risk_gpu.DEFAULT_LAUNCH, True).get_function("risk_fused").attributes)
    report = dict(kernel="risk_fused", realizations=args.realizations, fragments=int(idx.size), sm_count=sms,
                  clock_ghz=clock_hz / 1e9, peak_fp64_flop_s=peak_fp64, default_launch=list(risk_gpu.DEFAULT_LAUNCH),
                  best_launch=[best["threads_per_block"], best["min_blocks_per_sm"]],
                  with_encounters_registers_per_thread=int(with_passages.get("num_regs", 0)),
                  with_encounters_local_bytes_per_thread=with_passages.get("local_size_bytes"), rows=rows)
    if args.ncu_json and os.path.exists(args.ncu_json):
        ncu = json.load(open(args.ncu_json))
        report["ncu"] = {k: v for k, v in ncu.items() if k != "metrics"}
        report["ncu_metrics"] = ncu.get("metrics", {})
        if ncu.get("fp64_flop") and ncu.get("fragment_steps"):
            per_step = ncu["fp64_flop"] / ncu["fragment_steps"]
            report["fp64_flop_per_fragment_step"] = per_step
            report["fp64_bound_fragment_steps_per_s"] = peak_fp64 / per_step
            for r in rows:
                r["achieved_fp64_flop_s"] = per_step * r["fragment_steps_per_s"]
                r["fraction_of_fp64_peak"] = r["achieved_fp64_flop_s"] / peak_fp64
    print_table(rows, ["threads_per_block", "min_blocks_per_sm", "registers_per_thread", "local_bytes_per_thread",
                       "theoretical_occupancy", "seconds", "fragment_steps_per_s", "fraction_of_fp64_peak",
                       "max_rel_diff_vs_first"])
    for k, v in report.items():
        if k not in ("rows", "ncu_metrics"):
            print(f"{k:34s} {v}")
    name = "profile_risk_kernel" if not args.no_sweep else "profile_risk_kernel_ncu_run"
    print(f"wrote {write_json(name, {'environment': environment('gpu'), **report}, args.out)}")


if __name__ == "__main__":
    main()
