"""The ISS's expected collisions with the COSMOS 1408 cloud by month over the first year, before
(SGP4's static atmosphere, the built-in's drag_scale, the ISS from one element set) and after
(NRLMSIS 2.1, drag_scale 1.5 from the decay scan of benchmarks/cloud_decay.py, the ISS from its
element-set history of engine/data/iss_2021-11_2022-11_history.tle).

    python -m benchmarks.iss_year [--realizations N] [--lc-min-m L] [--out DIR]

CPU, 60 s steps, daily bins; each run through `fragrisk run` in a fresh process. The after row's
drag_scale is not a calibration (docs/atmosphere.md). Writes benchmarks/results/iss_year_cpu.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from benchmarks.common import environment, print_table, write_json

DATA = Path(__file__).resolve().parent.parent / "engine" / "data"
HISTORY = DATA / "iss_2021-11_2022-11_history.tle"
AFTER_DRAG_SCALE = 1.5


def run(label: str, extra: list[str], args, folder: Path) -> np.ndarray:
    out = folder / f"{label}.h5"
    cmd = [sys.executable, "-m", "fragrisk.cli", "run", "cosmos1408", "--device", "cpu",
           "--realizations", str(args.realizations), "-o", str(out), "--overwrite",
           "--set", f"event.lc_min_m={args.lc_min_m}", "--set", "analysis.duration_days=365",
           "--set", "analysis.step_s=60", "--set", "analysis.time_bin_s=86400",
           "--set", 'analysis.encounters="none"', *extra]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{label}: {done.stderr.strip()}")
    with h5py.File(out) as f:
        by_day = f["expected_collisions_by_time"][0]  # (realizations, days) of the one target
    return by_day.mean(axis=0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realizations", type=int, default=2)
    ap.add_argument("--lc-min-m", type=float, default=0.1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        before = run("before", [], args, Path(tmp))
        after = run("after", ["--set", 'analysis.atmosphere="nrlmsis"',
                              "--set", f"event.drag_scale={AFTER_DRAG_SCALE}",
                              "--set", f'targets.1.tle_file="{HISTORY.as_posix()}"'], args, Path(tmp))
    months = [(m * 365.0 / 12.0) for m in range(13)]
    rows = []
    for m in range(12):
        lo, hi = int(round(months[m])), int(round(months[m + 1]))
        rows.append({"month": m + 1, "before": float(before[lo:hi].sum()), "after": float(after[lo:hi].sum())})
    rows.append({"month": "year", "before": float(before.sum()), "after": float(after.sum())})
    print_table(rows, ["month", "before", "after"])
    payload = {"benchmark": "iss_year", "environment": environment("cpu"),
               "realizations": args.realizations, "lc_min_m": args.lc_min_m,
               "after_drag_scale": AFTER_DRAG_SCALE, "rows": rows}
    print(f"wrote {write_json('iss_year_cpu', payload, args.out)}")


if __name__ == "__main__":
    main()
