#!/usr/bin/env bash
# One command that verifies and benchmarks every CUDA path of fragrisk on a GPU machine.
#
#   bash benchmarks/gpu_check.sh [WHEEL_DIR] [OUT_DIR]
#
# WHEEL_DIR (default .whl): wheels to install first, without internet: sgp4 for the machine's
#   Python (the device image has everything else); made here, in the repository root, with
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl sgp4==2.27
#   (.whl/ is git-ignored) and carried with the device tool's `carry: [".whl"]`; the command there:
#     bash benchmarks/gpu_check.sh .whl "$OUT"      (timeout_s 600)
# OUT_DIR (default $OUT, else benchmarks/results/gpu_check): where the JSON, the logs and
#   gpu_check.md go. The JSON also lands in benchmarks/results/.
# Steps, each bounded in time so the whole normally ends within 10 minutes (the limits add up to 950 s;
# an H200 should need about a third of that):
#   gpu_tests      the `gpu` tests (CUDA against NumPy)
#   run_builtin    built-in scenario, 1,000 realizations, 7 days (goal: <= 1.5 s end to end),
#                  with the prefilter off on 200 (the jumps' gain), CUDA vs NumPy on realizations 0-3
#   run_lc1cm      lc_min_m = 0.01, 1,000 realizations (<= 120 s), CUDA vs NumPy on realization 0
#   run_year       10 cm, 365 days, 1,000 realizations (<= 60 s), the ISS's collisions by month
#   run_year_nrlmsis  the same year, 10 realizations, [analysis] atmosphere "sgp4" and "nrlmsis" (goal:
#                  ratio <= 1.2; the drag steps run on the host, which bounds the realizations here)
#   bench_encounters  the encounter table's cost (1,000 realizations with and without it)
#   bench_calibrate  `fragrisk calibrate` of the built-in scenario (goal: <= 1 minute)
#   bench_pc_mc    the conjunction Monte Carlo (kernels/pc_mc.cu): 1e8 trials of a LEO conjunction
#                  (goal: <= 10 s on one H100), NumPy on one core and a plain loop in the same run
#   run_scaling    the CPU backend on 1 and 16 cores (--jobs), results identical bit for bit
#   profile        the fused kernel: registers, occupancy, launch shapes, raw fragment-steps/s
#   ncu            float64 flop counts of the fused kernel (where Nsight Compute works)
# Every row has the wall time split into host and kernel, and the peak host memory.
# Without a usable GPU it runs the CPU parts and says that the GPU parts were skipped.
# STEPS="run_builtin run_year" runs only those (the GPU steps above, in that order).
set -u
cd "$(dirname "$0")/.."
REPO=$PWD
WHEELS=${1:-.whl}
OUT_DIR=${2:-${OUT:-benchmarks/results/gpu_check}}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
LOG="$OUT_DIR/gpu_check.log"
: > "$LOG"
say() { echo "== $*" | tee -a "$LOG"; }

if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/fragrisk-site "$WHEELS"/*.whl >>"$LOG" 2>&1 && export PYTHONPATH=/tmp/fragrisk-site
fi
# The repository root is the package `fragrisk`: run from a copy in a folder of that name, so
# that `import fragrisk` works without installing and pytest can import the root __init__.py
# whatever the checkout's folder is called.
SRC=/tmp/fragrisk-src/fragrisk
rm -rf /tmp/fragrisk-src && mkdir -p "$SRC"
# benchmarks/results comes along (small JSON): the docs tests regenerate docs/performance.md from it.
tar --exclude=./.git --exclude=./.whl -cf - . | tar -xf - -C "$SRC"
cd "$SRC"
export PYTHONPATH="/tmp/fragrisk-src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

GPU=$(python3 -c "import cupy; print(int(cupy.is_available()))" 2>/dev/null || echo 0)
python3 - <<'PY' 2>&1 | tee -a "$LOG"
import os
from fragrisk.engine.backend import describe_device, resolve_device, usable_cores
d = resolve_device("auto")
print("device:", describe_device(d), "; cores:", usable_cores(), "; python:", os.sys.version.split()[0])
PY
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | tee -a "$LOG" || true

step() {  # step NAME TIMEOUT_S COMMAND...
    local name=$1 limit=$2; shift 2
    if [ -n "${STEPS:-}" ] && [[ " $STEPS " != *" $name "* ]]; then return; fi
    say "$name (limit ${limit} s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
    local rc=$?
    tail -n 30 "$OUT_DIR/$name.log" | tee -a "$LOG"
    say "$name: exit $rc after $((SECONDS - t0)) s"
    echo "$name $rc $((SECONDS - t0))" >> "$OUT_DIR/steps.txt"
}
: > "$OUT_DIR/steps.txt"
CORES=$(python3 -c "from fragrisk.engine.backend import usable_cores; print(usable_cores())")

if [ "$GPU" = "1" ]; then
    step gpu_tests 80 python3 -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors \
        --junitxml="$OUT_DIR/gpu_tests.xml" tests
    step run_builtin 60 python3 -m benchmarks.run --device gpu --cases builtin,prefilter_off --name run_gpu_builtin --out "$OUT_DIR"
    step run_lc1cm 150 python3 -m benchmarks.run --device gpu --cases lc1cm --name run_gpu_lc1cm --out "$OUT_DIR"
    step run_year 100 python3 -m benchmarks.run --device gpu --cases year --name run_gpu_year --out "$OUT_DIR"
    step run_year_nrlmsis 240 python3 -m benchmarks.run_atmosphere --device gpu --realizations 10 --out "$OUT_DIR"
    # The encounter table's cost on the GPU (the project's goal: <= 20 %): 1000 realizations with
    # [analysis] encounters = "all" and "none", alternating, best of 2 each.
    step bench_encounters 60 python3 -m benchmarks.encounters --skip-cpu --gpu-realizations 1000 --repeat 2 --out "$OUT_DIR"
    step bench_calibrate 60 python3 -m benchmarks.calibrate --device gpu --out "$OUT_DIR"
    step bench_pc_mc 60 python3 -m benchmarks.pc_mc --device gpu --loop-trials 500 --out "$OUT_DIR"
    step run_scaling 70 python3 -m benchmarks.run --device gpu --cases scaling --scaling "1:4,$CORES:$((2 * CORES))" \
        --name run_gpu_host_cpu_scaling --out "$OUT_DIR"
    step profile 40 python3 -m benchmarks.profile_kernel --realizations 200 --out "$OUT_DIR"
    if command -v ncu >/dev/null 2>&1; then
        step ncu 30 ncu --target-processes all --kernel-name risk_fused --launch-skip 1 --launch-count 1 \
            --metrics sm__sass_thread_inst_executed_op_dadd_pred_on.sum,sm__sass_thread_inst_executed_op_dmul_pred_on.sum,sm__sass_thread_inst_executed_op_dfma_pred_on.sum,gpu__time_duration.sum,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__occupancy_limit_registers \
            --csv python3 -m benchmarks.profile_kernel --no-sweep --realizations 5 --out "$OUT_DIR/ncu_run"
        STEPS_NCU=$(python3 -c "import json; print(json.load(open('$OUT_DIR/ncu_run/profile_risk_kernel_ncu_run.json'))['rows'][0]['fragment_steps'])" 2>/dev/null || echo 0)
        python3 -m benchmarks.ncu_flops "$OUT_DIR/ncu.log" "$STEPS_NCU" "$OUT_DIR/ncu_flops.json" >>"$LOG" 2>&1 || true
    fi
else
    say "no usable GPU (cupy.is_available() is false): the GPU tests, the CUDA benchmarks and the kernel profile are SKIPPED"
    step cpu_tests 300 python3 -m pytest -q -m "not gpu and not slow" -p no:cacheprovider tests
    step run_builtin 120 python3 -m benchmarks.run --device cpu --cases builtin --realizations builtin=1 --name run_cpu_check --out "$OUT_DIR"
fi
python3 -m benchmarks.report "$OUT_DIR" > "$OUT_DIR/gpu_check.md" 2>>"$LOG" || true
if [ "$OUT_DIR" != "$REPO/benchmarks/results" ]; then
    cp "$OUT_DIR"/*.json "$REPO/benchmarks/results/" 2>/dev/null || true
fi
cat "$OUT_DIR/gpu_check.md"
# Everything in one archive too: the device tool returns a limited number of files.
tar czf /tmp/gpu_check_bundle.tgz -C "$OUT_DIR" . && mv /tmp/gpu_check_bundle.tgz "$OUT_DIR/bundle.tgz"
if [ -n "${OUT:-}" ] && [ "$OUT_DIR" = "$(cd "$OUT" && pwd)" ]; then  # on the device tool's machine: keep two files
    find "$OUT_DIR" -mindepth 1 ! -name bundle.tgz ! -name gpu_check.md -delete
fi
say "done; failed steps: $(awk '$2 != 0 {printf "%s ", $1}' "$OUT_DIR/steps.txt")"
