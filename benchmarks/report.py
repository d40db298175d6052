"""A markdown summary of the benchmark JSON files in a folder (gpu_check.sh writes it).

    python -m benchmarks.report DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return "" if x is None else str(x)


def table(rows, columns) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return lines


def main(argv=None) -> None:
    folder = Path((argv or sys.argv[1:])[0])
    out = ["# fragrisk GPU check", ""]
    steps = folder / "steps.txt"
    if steps.exists():
        out += ["| step | exit | seconds |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in (line.split() for line in steps.read_text().splitlines() if line)]
        out.append("")
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        env = data.get("environment", {})
        dev = env.get("device", {})
        out += [f"## {path.stem}", "", f"device: {dev.get('name', '?')}; numpy {env.get('numpy')}, "
                f"cupy {env.get('cupy', '-')}, sgp4 {env.get('sgp4')}, fragrisk {env.get('fragrisk')}", ""]
        rows = data.get("rows")
        if rows:
            cols = [c for c in rows[0] if not isinstance(rows[0][c], (list, dict))]
            for r in rows[1:]:
                cols += [c for c in r if c not in cols and not isinstance(r[c], (list, dict))]
            out += table(rows, cols)
        else:
            out += [f"- {k}: {_fmt(v)}" for k, v in data.items() if not isinstance(v, (dict, list))]
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
