#!/usr/bin/env bash
# One command for a machine with one large GPU (H200 class): the R1V3-38B-shaped decode bench with
# random weights, under a time limit, its table kept in $OUT (when set) or /tmp/r1v-gpu-check/.
#   bash bench/gpu_check.sh            # R1V_BENCH_TIMEOUT=480 by default (seconds)
# It installs nothing except `pip install -r requirements.txt` when torch is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
OUT_DIR="${OUT:-/tmp/r1v-gpu-check}"
mkdir -p "$OUT_DIR"
if ! "$PY" -c "import torch, transformers" 2>/dev/null; then
  "$PY" -m pip install -q -r requirements.txt || { echo "pip install failed" | tee "$OUT_DIR/gpu_check.txt"; exit 1; }
fi
{
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
  "$PY" -c "import torch, transformers, importlib.util as u; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'flash_attn', bool(u.find_spec('flash_attn')), 'gpu', torch.cuda.is_available())"
  "$PY" bench/bench_gpu.py --shape r1v3-38b --dry-run
} 2>&1 | tee "$OUT_DIR/gpu_check.txt"
timeout --signal=INT --kill-after=20 "${R1V_BENCH_TIMEOUT:-480}" \
  "$PY" bench/bench_gpu.py --shape r1v3-38b --repeats 1 --json "$OUT_DIR/bench_gpu.json" "$@" 2>&1 | tee -a "$OUT_DIR/gpu_check.txt"
status=${PIPESTATUS[0]}
echo "bench_gpu exit status $status" | tee -a "$OUT_DIR/gpu_check.txt"
exit "$status"
