"""Catalog reading: fragrisk's TLE reader (every bad-input check, NumPy over the fixed columns)
against python-sgp4's own parser (Satrec.twoline2rv per object, no checks) and against the
object-by-object reader fragrisk falls back to for messages, all in the same run, one core.

    python -m benchmarks.read_catalog [--catalog FILE] [--objects N] [--out DIR]

Inputs: FILE where given (e.g. Space-Track's full catalog of 2022-01-22, 23,332 objects, 17 %
deep-space), and a file of N objects (default 24,000) made by repeating the catalog sample of
the tests without JWST (81 objects, a third deep-space: SGP4's deep-space start runs in
python-sgp4, so this is the harder mix).  Objects SGP4 cannot start (JWST) are dropped by
read_catalog and kept by twoline2rv.  Prints a table;
writes benchmarks/results/read_catalog_cpu.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from fragrisk.engine.orbits import elements as E
from fragrisk.engine.orbits import tle
from sgp4.api import WGS72, Satrec

from benchmarks.common import best_of, environment, print_table, write_json

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "catalog_2022-01-22_sample.tle"


def python_sgp4_parse(path: Path) -> list:
    """What a python-sgp4 script does: read the text, pair lines 1 and 2, twoline2rv each."""
    lines = [line.rstrip() for line in path.read_text().splitlines()]
    return [Satrec.twoline2rv(a, b, WGS72) for a, b in zip(lines, lines[1:])
            if a.startswith("1 ") and b.startswith("2 ")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=None, help="a TLE/3LE catalog file")
    parser.add_argument("--objects", type=int, default=24000, help="objects of the synthetic file")
    parser.add_argument("--out", default=None, help="folder for the JSON (default benchmarks/results)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = []
        if args.catalog:
            inputs.append((Path(args.catalog), Path(args.catalog).name))
        lines = SAMPLE.read_text().splitlines()
        objects = [lines[k:k + 3] for k in range(0, len(lines), 3) if lines[k] != "0 JWST"]
        repeated = [objects[k % len(objects)] for k in range(args.objects)]
        path = Path(tmp) / "catalog.tle"
        path.write_text("".join("\n".join(o) + "\n" for o in repeated))
        inputs.append((path, f"{SAMPLE.name} (81 objects, a third deep-space) repeated to "
                             f"{args.objects:,} objects"))
        for path, label in inputs:
            rows.extend(measure(path, label))
    print_table(rows, ["input", "path", "objects", "seconds", "us_per_object", "ratio_to_python_sgp4"])
    out = write_json("read_catalog_cpu", {"benchmark": "read_catalog",
                                           "environment": environment("cpu"), "rows": rows},
                     args.out)
    print(f"wrote {out}")


def measure(path: Path, label: str) -> list:
    n_objects = len(python_sgp4_parse(path))
    elements, dropped = E.read_catalog(path)
    print(f"{label}: {n_objects:,} objects, {len(elements):,} read ({len(dropped)} SGP4 cannot "
          f"start)")
    rows = []
    for name, fn in [("python-sgp4 twoline2rv loop (no checks)", lambda: python_sgp4_parse(path)),
                     ("fragrisk read_catalog (all checks, NumPy)", lambda: E.read_catalog(path)),
                     ("fragrisk object-by-object reader (the message path)",
                      lambda: tle._parse_tle_objects(tle._tle_rows(path.read_text()), str(path), True))]:
        seconds = best_of(fn, repeat=5, min_time_s=0.0)
        rows.append(dict(input=label[:30], input_description=label, path=name, objects=n_objects,
                         seconds=seconds, us_per_object=seconds / n_objects * 1e6))
    for row in rows:
        row["ratio_to_python_sgp4"] = rows[0]["seconds"] / row["seconds"]
    return rows


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.1f} s")
