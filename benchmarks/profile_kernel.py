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

from benchmarks.common import environment, write_json
from engine import montecarlo
from engine.scenario import load_scenario


def main(argv=None) -> None:
    import cupy

    from kernels import risk_gpu

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realizations", type=int, default=100)
    parser.add_argument("--ncu-json", default=None, help="flop counts measured by ncu (gpu_check.sh)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    setup = montecarlo.make_setup(load_scenario("cosmos1408"), "gpu")
    reals = np.arange(args.realizations)
    pop, *_ = montecarlo._fragments_population(setup, reals)
    idx = montecarlo.must_propagate(setup, pop)
    montecarlo._fragment_rates_gpu(setup, pop, idx[:10])  # compile
    cupy.cuda.Device().synchronize()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    lam, decay = montecarlo._fragment_rates_gpu(setup, pop, idx)
    stop.record()
    stop.synchronize()
    seconds = cupy.cuda.get_elapsed_time(start, stop) / 1e3
    decay = cupy.asnumpy(decay)
    steps = int(np.minimum(decay + 1, setup.window.times_s.size).sum())  # samples evaluated

    kernel = risk_gpu._module(len(setup.targets.names)).get_function("risk_fused")
    attrs = dict(kernel.attributes)
    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    sms = props["multiProcessorCount"]
    clock_hz = props["clockRate"] * 1e3
    peak_fp64 = sms * clock_hz * 128.0
    blocks_per_sm = cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(
        kernel.ptr, risk_gpu.THREADS_PER_BLOCK, 0)
    occupancy = blocks_per_sm * risk_gpu.THREADS_PER_BLOCK / props["maxThreadsPerMultiProcessor"]
    report = dict(
        kernel="risk_fused", realizations=args.realizations, fragments=int(idx.size), fragment_steps=steps,
        seconds=seconds, fragment_steps_per_s=steps / seconds, registers_per_thread=attrs.get("num_regs"),
        local_bytes_per_thread=attrs.get("local_size_bytes"), threads_per_block=risk_gpu.THREADS_PER_BLOCK,
        theoretical_occupancy=occupancy, sm_count=sms, clock_ghz=clock_hz / 1e9, peak_fp64_flop_s=peak_fp64)
    if args.ncu_json and os.path.exists(args.ncu_json):
        ncu = json.load(open(args.ncu_json))
        report["ncu"] = ncu
        if ncu.get("fp64_flop") and ncu.get("fragment_steps"):
            per_step = ncu["fp64_flop"] / ncu["fragment_steps"]
            report["fp64_flop_per_fragment_step"] = per_step
            report["achieved_fp64_flop_s"] = per_step * steps / seconds
            report["fraction_of_fp64_peak"] = per_step * steps / seconds / peak_fp64
            report["fp64_bound_fragment_steps_per_s"] = peak_fp64 / per_step
    for k, v in report.items():
        print(f"{k:34s} {v}")
    print(f"wrote {write_json('profile_risk_kernel', {'environment': environment('gpu'), **report}, args.out)}")


if __name__ == "__main__":
    main()
