"""Propagations per second: NumPy path, CUDA path (where a GPU is usable), python-sgp4's
SatrecArray (C++, one core) as the baseline, all in the same run.

    python -m benchmarks.propagate [--quick] [--out DIR]

Sizes: 2,000 objects x 1,440 times and 20,000 x 100 (the project's reference sizes), plus on
the GPU a size large enough to fill it. Prints a table; writes
benchmarks/results/propagate_<device>.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from fragrisk.engine.backend import resolve_device
from fragrisk.engine.physics import sgp4_numpy as sgp4
from sgp4.api import WGS72, Satrec, SatrecArray

from benchmarks.common import best_of, environment, print_table, write_json

EPOCH_DAYS_1950 = 25000.0


def population(n: int, seed: int = 1):
    """n LEO orbits like a debris cloud: perigee 300-1500 km, e < 0.05, B* up to 1e-3."""
    rng = np.random.default_rng(seed)
    perigee_km = rng.uniform(300.0, 1500.0, n)
    ecco = rng.uniform(0.0, 0.05, n)
    a_km = (sgp4.RADIUS_EARTH_KM + perigee_km) / (1.0 - ecco)
    return dict(no_kozai=np.sqrt(sgp4.MU_KM3_S2 / a_km**3) * 60.0, ecco=ecco,
                inclo=rng.uniform(0.0, np.pi, n), nodeo=rng.uniform(0, 2 * np.pi, n),
                argpo=rng.uniform(0, 2 * np.pi, n), mo=rng.uniform(0, 2 * np.pi, n),
                bstar=rng.uniform(0.0, 1e-3, n))


def satrec_array(el) -> SatrecArray:
    sats = []
    for i in range(el["ecco"].size):
        s = Satrec()
        s.sgp4init(WGS72, "i", i, EPOCH_DAYS_1950, el["bstar"][i], 0.0, 0.0, el["ecco"][i], el["argpo"][i],
                   el["inclo"][i], el["mo"][i], el["no_kozai"][i], el["nodeo"][i])
        sats.append(s)
    return SatrecArray(sats)


def table_of(el, xp=np):
    return sgp4.sgp4_init(*(xp.asarray(el[k]) for k in ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar")), xp=xp)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--out", default=None, help="folder for the JSON (default benchmarks/results)")
    args = parser.parse_args(argv)
    device = resolve_device("auto")
    sizes = [(2000, 1440), (20000, 100)]
    if args.quick:
        sizes = [(200, 144), (2000, 10)]
    rows = []
    for n, m in sizes:
        el = population(n)
        times = np.arange(m) * 1.0
        arr = satrec_array(el)
        jd = np.full(m, 2433281.5 + EPOCH_DAYS_1950)
        fr = times / 1440.0
        t_ref = best_of(lambda: arr.sgp4(jd, fr), repeat=3, min_time_s=0.0)
        table = table_of(el)
        t_np = best_of(lambda: sgp4.propagate(table, times), repeat=3, min_time_s=0.0)
        r_np, v_np, e_np = sgp4.propagate(table, times)
        e_ref, r_ref, v_ref = arr.sgp4(jd, fr)
        ok = e_ref == 0
        base = dict(objects=n, times=m, propagations=n * m)
        rows.append(dict(base, path="python-sgp4 SatrecArray (C++, 1 core)", seconds=t_ref, rate_per_s=n * m / t_ref))
        rows.append(dict(base, path="numpy", seconds=t_np, rate_per_s=n * m / t_np, ratio_to_satrecarray=t_ref / t_np,
                         max_dr_km_vs_satrecarray=float(np.abs(r_np - r_ref)[ok].max())))
        if device == "gpu":
            rows.extend(_gpu_rows(el, times, base, r_np))
    if device == "gpu":
        # One size that fills an H100: 200,000 objects x 1,000 times = 2e8 propagations.
        n, m = (20000, 200) if args.quick else (200000, 1000)
        el = population(n, seed=2)
        rows.extend(_gpu_rows(el, np.arange(m) * 1.0, dict(objects=n, times=m, propagations=n * m), None))
    print_table(rows, ["path", "objects", "times", "propagations", "seconds", "rate_per_s", "ratio_to_satrecarray"])
    path = write_json(f"propagate_{device}", {"benchmark": "propagate", "environment": environment(device), "rows": rows},
                      args.out)
    print(f"wrote {path}")


def _gpu_rows(el, times, base, r_np):
    import cupy
    from fragrisk.kernels import sgp4_gpu

    table = table_of(el, xp=cupy)
    offset = cupy.zeros(table.shape[1])
    t_gpu = cupy.asarray(times)
    rows = []
    for layout in sgp4_gpu.LAYOUTS:
        r, v, e = sgp4_gpu.propagate(table, offset, t_gpu, layout=layout)  # compile + warm up
        cupy.cuda.Device().synchronize()
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        reps = 5
        start.record()
        for _ in range(reps):
            r, v, e = sgp4_gpu.propagate(table, offset, t_gpu, layout=layout)
        stop.record()
        stop.synchronize()
        seconds = cupy.cuda.get_elapsed_time(start, stop) / 1e3 / reps
        row = dict(base, path=f"cuda ({layout})", seconds=seconds, rate_per_s=base["propagations"] / seconds)
        if r_np is not None:
            row["max_dr_km_vs_numpy"] = float(np.nanmax(np.abs(cupy.asnumpy(r) - r_np)))
        rows.append(row)
        del r, v, e
    return rows


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.1f} s")
