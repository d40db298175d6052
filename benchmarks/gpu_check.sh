#!/usr/bin/env bash
# One command that verifies and benchmarks every CUDA path of fragrisk on a GPU machine.
#
#   bash benchmarks/gpu_check.sh [WHEEL_DIR] [OUT_DIR]
#
# WHEEL_DIR (default .whl): wheels to install first, without internet (e.g. sgp4 for the
#   machine's Python); OUT_DIR (default $OUT, else benchmarks/results/gpu_check): where the JSON,
#   the logs and gpu_check.md go. The JSON also lands in benchmarks/results/.
# Steps, each bounded in time so the whole fits in about 8 minutes: the `gpu` tests (CUDA vs
# NumPy), benchmarks run / encounters / propagate / sample / calibrate, and a profile of the fused kernel (attributes,
# occupancy, and float64 flop counts from Nsight Compute where `ncu` works).
# Without a usable GPU it runs the CPU parts and says that the GPU parts were skipped.
set -u
cd "$(dirname "$0")/.."
WHEELS=${1:-.whl}
OUT_DIR=${2:-${OUT:-benchmarks/results/gpu_check}}
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu_check.log"
: > "$LOG"
say() { echo "== $*" | tee -a "$LOG"; }

if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/fragrisk-site "$WHEELS"/*.whl >>"$LOG" 2>&1 && export PYTHONPATH=/tmp/fragrisk-site
fi
# The checkout is the package `fragrisk` (its root maps to fragrisk/): a link named fragrisk makes
# it importable without installing (benchmarks/ and tests/ import fragrisk.engine ...).
PKG_ROOT=$(mktemp -d /tmp/fragrisk-pkg.XXXXXX)
ln -s "$PWD" "$PKG_ROOT/fragrisk"
export PYTHONPATH="$PWD:$PKG_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

GPU=$(python3 -c "import cupy; print(int(cupy.is_available()))" 2>/dev/null || echo 0)
python3 - <<'PY' 2>&1 | tee -a "$LOG"
from fragrisk.engine.backend import describe_device, resolve_device
d = resolve_device("auto")
print("device:", describe_device(d))
PY
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | tee -a "$LOG" || true

step() {  # step NAME TIMEOUT_S COMMAND...
    local name=$1 limit=$2; shift 2
    say "$name (limit ${limit} s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUT_DIR/$name.log" | tee -a "$LOG"
    say "$name: exit $rc after $((SECONDS - t0)) s"
    echo "$name $rc $((SECONDS - t0))" >> "$OUT_DIR/steps.txt"
}
: > "$OUT_DIR/steps.txt"

if [ "$GPU" = "1" ]; then
    step gpu_tests 150 python3 -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors --junitxml="$OUT_DIR/gpu_tests.xml" tests
    step bench_run 170 python3 -m benchmarks.run --cpu-realizations 1 --gpu-realizations 1000 --out "$OUT_DIR"
    # The encounter table's cost on the GPU (the project's goal: <= 20 %): 1000 realizations with
    # [analysis] encounters = "all" and "none", alternating, best of 2 each.
    step bench_encounters 150 python3 -m benchmarks.encounters --skip-cpu --gpu-realizations 1000 --repeat 2 --out "$OUT_DIR"
    step bench_propagate 100 python3 -m benchmarks.propagate --out "$OUT_DIR"
    step bench_sample 60 python3 -m benchmarks.sample --out "$OUT_DIR"
    step bench_calibrate 150 python3 -m benchmarks.calibrate --device gpu --out "$OUT_DIR"
    if command -v ncu >/dev/null 2>&1; then
        step ncu 90 ncu --target-processes all --kernel-name risk_fused --launch-skip 1 --launch-count 1 \
            --metrics sm__sass_thread_inst_executed_op_dadd_pred_on.sum,sm__sass_thread_inst_executed_op_dmul_pred_on.sum,sm__sass_thread_inst_executed_op_dfma_pred_on.sum,gpu__time_duration.sum,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__occupancy_limit_registers \
            --csv python3 -m benchmarks.profile_kernel --no-sweep --realizations 5 --out "$OUT_DIR/ncu_run"
        STEPS=$(python3 -c "import json; print(json.load(open('$OUT_DIR/ncu_run/profile_risk_kernel_ncu_run.json'))['rows'][0]['fragment_steps'])" 2>/dev/null || echo 0)
        python3 -m benchmarks.ncu_flops "$OUT_DIR/ncu.log" "$STEPS" "$OUT_DIR/ncu_flops.json" >>"$LOG" 2>&1 || true
    fi
    step profile 60 python3 -m benchmarks.profile_kernel --realizations 200 --ncu-json "$OUT_DIR/ncu_flops.json" --out "$OUT_DIR"
else
    say "no usable GPU (cupy.is_available() is false): the GPU tests, the CUDA benchmarks and the kernel profile are SKIPPED"
    step cpu_tests 600 python3 -m pytest -q -m "not gpu" -p no:cacheprovider tests
    step bench_run 300 python3 -m benchmarks.run --cpu-realizations 1 --out "$OUT_DIR"
    step bench_propagate 200 python3 -m benchmarks.propagate --out "$OUT_DIR"
    step bench_sample 120 python3 -m benchmarks.sample --out "$OUT_DIR"
fi
python3 -m benchmarks.report "$OUT_DIR" > "$OUT_DIR/gpu_check.md" 2>>"$LOG" || true
if [ "$OUT_DIR" != "benchmarks/results" ]; then
    cp "$OUT_DIR"/*.json benchmarks/results/ 2>/dev/null || true
fi
cat "$OUT_DIR/gpu_check.md"
# Everything in one archive too: the device tool returns a limited number of files.
tar czf /tmp/gpu_check_bundle.tgz -C "$OUT_DIR" . && mv /tmp/gpu_check_bundle.tgz "$OUT_DIR/bundle.tgz"
if [ -n "${OUT:-}" ] && [ "$OUT_DIR" = "$OUT" ]; then  # on the device tool's machine: keep two files
    find "$OUT_DIR" -mindepth 1 ! -name bundle.tgz ! -name gpu_check.md -delete
fi
say "done; failed steps: $(awk '$2 != 0 {printf "%s ", $1}' "$OUT_DIR/steps.txt")"
