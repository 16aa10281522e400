#!/usr/bin/env bash
# The GPU check of the paper preset, on one NVIDIA GPU (written for one H200 with 16 cores; under 8 minutes):
#   1. the CUDA tests (tests/test_cuda.py: a training step in float32 and bf16, features and score against the CPU,
#      resume, cells sharing the GPU);
#   2. one paper-size training epoch's throughput per architecture (benchmarks/bench_gpu_epoch.py), with AMP and
#      with 4 cells at once;
#   3. the dry run's GPU-hour estimate for the whole paper preset, recomputed from the measured throughput.
# Needs invmeter's dependencies (pip install -e '.[test]'); run from anywhere: bash benchmarks/gpu_check.sh
# Writes its log and the measurements to ${OUT:-./gpu_check} (gpu_check.log, gpu_epoch.json, dry_run.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEST=${OUT:-./gpu_check}
mkdir -p "$DEST"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee "$DEST/gpu_check.log") 2>&1
start=$SECONDS
step() { echo; echo "== $1 (at $((SECONDS - start)) s)"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi not found"
echo "cores: $(nproc)"
"$PYTHON" -c "import invmeter" 2>/dev/null || { echo "invmeter does not import: pip install -e '.[test]' first"; exit 1; }
"$PYTHON" -c "import torch, sys; ok = torch.cuda.is_available(); print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name() if ok else 'NO CUDA DEVICE'); sys.exit(0 if ok else 1)"

step "1. CUDA tests"
timeout 200 "$PYTHON" -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py

step "2. paper-size epochs"
timeout 240 "$PYTHON" benchmarks/bench_gpu_epoch.py --jobs 4 --out "$DEST/gpu_epoch.json"
THROUGHPUT=$("$PYTHON" -c "import json, sys; print(json.load(open(sys.argv[1]))['throughput_arg'])" "$DEST/gpu_epoch.json")

step "3. the paper preset's GPU-hours at the measured throughput (float32, one cell at a time)"
timeout 60 "$PYTHON" -m invmeter reproduce all --preset paper --dry-run --throughput "$THROUGHPUT" | tee "$DEST/dry_run.txt"

echo
echo "gpu_check passed in $((SECONDS - start)) s"
