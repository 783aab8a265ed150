#!/usr/bin/env bash
# One-script GPU check: bf16 training of ~0.5B and ~1.5B Llama-shaped models through agentrl's update path
# (tokens/s, peak memory, MFU), hf-backend rollout throughput on a text env, and 2 data-parallel ranks when the
# machine has 2 GPUs; JSON out. Needs only PyTorch (CUDA), transformers and peft, and no network: finishes in
# well under 8 minutes on one H100-class GPU.
#
#   bash benchmarks/gpu_check.sh                    # on the GPU machine: writes gpu_check.json
#   bash benchmarks/gpu_check.sh --dry-run          # CPU-sized, anywhere (the test suite runs it)
#   bash benchmarks/gpu_check.sh --out f.json --peak-tflops 312    # a card missing from the peak table
#
# agentrl's own small pure-Python dependencies come as wheels when the GPU machine has no network. On a
# machine with network and the same Python version:
#   pip download -d agentrl-wheels gymnasium pettingzoo minigrid gguf hydra-core omegaconf httpx rich
# copy agentrl-wheels/ next to this checkout, then on the GPU machine:
#   AGENTRL_WHEELS=agentrl-wheels bash benchmarks/gpu_check.sh
# which installs them with pip --no-index (nothing is fetched) and runs agentrl from this checkout (src/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python="${PYTHON:-python}"
if [ -n "${AGENTRL_WHEELS:-}" ]; then
  "$python" -m pip install --quiet --no-index --find-links "$AGENTRL_WHEELS" "$AGENTRL_WHEELS"/*.whl
fi
if ! "$python" -c "import torch, transformers, peft, agentrl.trainer.pg" 2>/tmp/gpu_check_import.$$; then
  echo "gpu_check: cannot import agentrl's training path:" >&2
  tail -3 /tmp/gpu_check_import.$$ >&2
  echo "bring its dependencies as wheels: see the top of $0 (AGENTRL_WHEELS=...)" >&2
  rm -f /tmp/gpu_check_import.$$
  exit 1
fi
rm -f /tmp/gpu_check_import.$$
exec "$python" "$root/benchmarks/gpu_check.py" "$@"
