"""Turn an Nsight Compute CSV (gpu_check.sh) into float64 flop counts of the fused kernel.

    python -m benchmarks.ncu_flops NCU.csv STEPS OUT.json

flop = dadd + dmul + 2 x dfma thread instructions (sm__sass_thread_inst_executed_op_d*_pred_on).
"""

from __future__ import annotations

import csv
import json
import sys


def main(argv=None) -> None:
    path, steps, out = (argv or sys.argv[1:])[:3]
    values = {}
    with open(path) as fh:
        lines = [line for line in fh if line.startswith('"')]
    for row in csv.DictReader(lines):
        name, value = row.get("Metric Name"), row.get("Metric Value", "").replace(",", "")
        if name and value:
            try:
                values[name] = values.get(name, 0.0) + float(value)
            except ValueError:
                pass
    add = values.get("sm__sass_thread_inst_executed_op_dadd_pred_on.sum", 0.0)
    mul = values.get("sm__sass_thread_inst_executed_op_dmul_pred_on.sum", 0.0)
    fma = values.get("sm__sass_thread_inst_executed_op_dfma_pred_on.sum", 0.0)
    result = {"metrics": values, "fp64_flop": add + mul + 2.0 * fma, "fragment_steps": float(steps)}
    json.dump(result, open(out, "w"), indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "metrics"}))


if __name__ == "__main__":
    main()
