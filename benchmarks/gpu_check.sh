#!/usr/bin/env bash
# The GPU check of the paper preset, on one NVIDIA GPU (written for one H100 with 16 cores; about 8 minutes):
#   1. the CUDA tests (tests/test_cuda.py: a training step in float32 and bf16, features and score against the CPU,
#      resume, cells sharing the GPU);
#   2. the rendered-and-trained throughput of a paper-size split (50,000 scenes, transforms drawn again every epoch and
#      rendered on the GPU) per architecture, in float32 and bf16 + channels-last, ResNet-18 also compiled and as 4
#      cells at once (benchmarks/bench_gpu_epoch.py);
#   3. the dry run of the whole paper preset at the measured rates (float32, and --amp --jobs 4).
# Needs invmeter's dependencies (pip install -e '.[test]'); run from anywhere: bash benchmarks/gpu_check.sh
# Writes its log and the measurements to ${OUT:-benchmarks/results/gpu_check} (gpu_check.log, gpu_epoch.json,
# dry_run.txt); `invmeter reproduce --dry-run` run from the repository root reads gpu_epoch.json from there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEST=${OUT:-benchmarks/results/gpu_check}
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

step "2. rendered-and-trained throughput, paper-size split"
timeout 330 "$PYTHON" benchmarks/bench_gpu_epoch.py --jobs 4 --out "$DEST/gpu_epoch.json"

step "3. the paper preset's GPU-hours at the measured rates"
{ timeout 60 "$PYTHON" -m invmeter reproduce all --preset paper --dry-run --throughput "$DEST/gpu_epoch.json"
  echo
  timeout 60 "$PYTHON" -m invmeter reproduce all --preset paper --dry-run --amp --jobs 4 --throughput "$DEST/gpu_epoch.json"
} | tee "$DEST/dry_run.txt"

echo
echo "gpu_check passed in $((SECONDS - start)) s"
