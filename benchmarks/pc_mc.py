"""Monte Carlo Pc trials per second: NumPy on one core against a plain Python loop over trials
(the same per-trial code, one trial per call) in the same run, and with --device gpu the CUDA
kernel (kernels/pc_mc.cu) on 1e8 trials of a LEO conjunction (goal: within 10 s on one H100).

    python -m benchmarks.pc_mc [--device cpu|gpu] [--trials N] [--loop-trials N] [--out DIR]

The conjunction: TERRA against IRIDIUM 33 DEB (CARA's operational set, 11 km/s, Pc 0.021), its
Monte Carlo window and grid as `fragrisk pc` sets them. Writes pc_mc_<device>.json.
"""

from __future__ import annotations

import os

# One core: NumPy's small matrix products must not fan out to BLAS threads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.common import environment, print_table, write_json  # noqa: E402
from fragrisk.engine.conjunction import montecarlo, pc3d  # noqa: E402
from fragrisk.engine.conjunction.assess import inertial_covariances  # noqa: E402
from fragrisk.engine.conjunction.cdm import read_cdm  # noqa: E402

CDM = (Path(__file__).resolve().parent.parent / "tests" / "data" / "cdm" / "operational"
       / "000025994_conj_000037558_20210324_151047_20210323_154356.cdm")
GPU_GOAL_S = 10.0
GPU_CHUNK = 1 << 24


def encounter():
    c = read_cdm(CDM)
    (c1, c2), _ = inertial_covariances(c)
    x1, x2 = c.objects[0].state_km, c.objects[1].state_km
    res = pc3d.nc3d(x1, c1, x2, c2, c.hbr_m * 1e-3)
    return montecarlo.encounter(x1, c1, x2, c2, c.hbr_m * 1e-3, (res.t_min_s, res.t_max_s))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--trials", type=int, default=None, help="NumPy trials (default 2^20), GPU trials (default 1e8)")
    ap.add_argument("--loop-trials", type=int, default=2000, help="trials of the plain loop")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    enc = encounter()
    rows = []

    n_loop = args.loop_trials
    start = time.perf_counter()
    loop_d = np.array([montecarlo.chunk_min_distance(enc, args.seed, i, 1)[0] for i in range(n_loop)])
    t_loop = time.perf_counter() - start
    rows.append({"path": "python loop (1 trial per call)", "trials": n_loop, "seconds": t_loop,
                 "trials_per_s": n_loop / t_loop, "hits": int((loop_d < enc.hbr_km).sum())})

    n_np = args.trials if args.trials and args.device == "cpu" else 1 << 20
    vec_d = montecarlo.chunk_min_distance(enc, args.seed, 0, n_loop)
    assert np.allclose(vec_d, loop_d, rtol=1e-12, atol=0), "the loop and the chunks must be the same trials"
    res = montecarlo.run(enc, n_np, seed=args.seed)
    rows.append({"path": "numpy, 1 core, chunks of 2^15", "trials": res.trials, "seconds": res.seconds,
                 "trials_per_s": res.trials / res.seconds, "hits": res.hits, "pc": res.pc})

    if args.device == "gpu":
        from fragrisk.kernels import pc_mc_gpu

        n_gpu = args.trials or 100_000_000
        pc_mc_gpu.count_hits(enc, args.seed, 0, 1024)  # compile and warm up
        # Same seed, same trials: the first NumPy chunk's hits, bit for bit.
        assert pc_mc_gpu.count_hits(enc, args.seed, 0, n_np) == res.hits
        import cupy

        cupy.cuda.Device().synchronize()
        g = montecarlo.run(enc, n_gpu, seed=args.seed, chunk=GPU_CHUNK, count_hits=pc_mc_gpu.count_hits)
        rows.append({"path": "cuda (kernels/pc_mc.cu)", "trials": g.trials, "seconds": g.seconds,
                     "trials_per_s": g.trials / g.seconds, "hits": g.hits, "pc": g.pc,
                     "goal_s": GPU_GOAL_S, "within_goal": g.seconds <= GPU_GOAL_S * g.trials / 1e8})

    base = rows[0]["trials_per_s"]
    for r in rows:
        r["speedup_vs_loop"] = r["trials_per_s"] / base
    print(f"{CDM.name}: {len(enc.times_s)} grid times over {enc.times_s[0]:+.2f} .. {enc.times_s[-1]:+.2f} s")
    print_table(rows, ["path", "trials", "seconds", "trials_per_s", "speedup_vs_loop", "hits"])
    payload = {"benchmark": "pc_mc", "environment": environment(args.device), "cdm": CDM.name,
               "grid_times": len(enc.times_s), "window_s": [float(enc.times_s[0]), float(enc.times_s[-1])],
               "rows": rows}
    print("wrote", write_json(f"pc_mc_{args.device}", payload, Path(args.out) if args.out else None))


if __name__ == "__main__":
    main()
