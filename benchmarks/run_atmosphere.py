"""The price of the real atmosphere in a run: a year-long `fragrisk run` with
`[analysis] atmosphere = "nrlmsis"` against the same run with "sgp4", in the same invocation.

    python -m benchmarks.run_atmosphere [--device cpu|gpu] [--realizations N] [--lc-min-m L]
                                        [--days D] [--out DIR]

The built-in COSMOS 1408 scenario (lc_min_m 0.3 m and 2 realizations on the CPU by default:
a shared 2-core machine; on the GPU 10 at 10 cm: the drag steps run on the host, about 9 us per
fragment and day on one core, so 1,000 realizations would take hours), 60 s
steps, daily bins; each run in a fresh process, wall time end to end (the density table's
construction included) and the run's own elapsed time. The goal (docs/atmosphere.md): nrlmsis
within 1.2 times sgp4. Writes benchmarks/results/run_atmosphere_<device>.json.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import environment, print_table, write_json


def one_run(atmosphere: str, args, folder: Path) -> dict:
    out = folder / f"{atmosphere}.h5"
    cmd = [sys.executable, "-m", "fragrisk.cli", "run", "cosmos1408", "--device", args.device,
           "--realizations", str(args.realizations), "-o", str(out), "--overwrite",
           "--set", f"event.lc_min_m={args.lc_min_m}", "--set", f"analysis.duration_days={args.days}",
           "--set", "analysis.step_s=60", "--set", "analysis.time_bin_s=86400",
           "--set", f'analysis.atmosphere="{atmosphere}"', "--set", 'analysis.encounters="none"']
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    text = done.stdout + done.stderr
    elapsed = float(re.search(r"device \w+, ([0-9.]+) s", text).group(1))
    rate = re.search(r"throughput: ([0-9.e+]+) fragment-steps/s effective \(([0-9,]+)", text)
    return {"atmosphere": atmosphere, "wall_s": wall, "run_s": elapsed,
            "effective_rate": float(rate.group(1)), "fragment_steps": int(rate.group(2).replace(",", ""))}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--realizations", type=int, default=None)
    ap.add_argument("--lc-min-m", type=float, default=None)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    gpu = args.device == "gpu"
    args.realizations = args.realizations or (10 if gpu else 2)
    args.lc_min_m = args.lc_min_m or (0.1 if gpu else 0.3)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_run(a, args, Path(tmp)) for a in ("sgp4", "nrlmsis")]
    ratio = rows[1]["wall_s"] / rows[0]["wall_s"]
    print_table(rows, list(rows[0]))
    print(f"nrlmsis / sgp4, wall: {ratio:.3f} (goal <= 1.2)")
    payload = {"benchmark": "run_atmosphere", "environment": environment(args.device),
               "realizations": args.realizations,
               "lc_min_m": args.lc_min_m, "days": args.days, "step_s": 60.0, "rows": rows,
               "ratio_wall": ratio, "ratio_run": rows[1]["run_s"] / rows[0]["run_s"]}
    print(f"wrote {write_json(f'run_atmosphere_{args.device}', payload, args.out)}")


if __name__ == "__main__":
    main()
