"""What every benchmark shares: the machine's description, a table printer and the JSON file."""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def environment(device: str) -> dict:
    """Versions and hardware, so a number in results/ can be traced to where it was measured."""
    import sgp4
    from fragrisk import engine
    from fragrisk.engine.backend import describe_device

    env = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "fragrisk": engine.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sgp4": sgp4.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device": describe_device(device),
    }
    for var in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS"):
        if var in os.environ:
            env[var] = os.environ[var]
    if device == "gpu":
        import cupy

        env["cupy"] = cupy.__version__
    return env


def best_of(fn, repeat: int = 3, min_time_s: float = 0.2) -> float:
    """Best wall time of fn() in seconds over `repeat` rounds (each round at least min_time_s)."""
    best = float("inf")
    for _ in range(repeat):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time_s:
                break
        best = min(best, elapsed / calls)
    return best


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return "" if x is None else str(x)


def write_json(name: str, payload: dict, out_dir: Path | None = None) -> Path:
    """Write payload to <out_dir or benchmarks/results>/<name>.json and return the path."""
    folder = Path(out_dir) if out_dir else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))
