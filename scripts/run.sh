#!/usr/bin/env bash
# The main job: the seed pipeline in one command (`quantkit demo`). Installs what is missing, builds,
# trains the FashionMNIST CNN (5 epochs), makes the dynamic-range, int8 and float16 models with
# post-training quantization, fine-tunes with quantization-aware training (1 epoch), evaluates and
# benchmarks every model, and ends with the table. Results go to runs/demo/ (override: OUT=dir):
# the .tflite files, report.md, report.json, SVG charts and TensorBoard logs.
# Run again, it reuses the trained models (FRESH=1 trains again); after an interruption it continues.
# Extra arguments go to `quantkit demo` (e.g. --epochs 10; see `quantkit demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
args=(--output "${OUT:-runs/demo}")
[ "${FRESH:-0}" = "1" ] && args+=(--fresh)
exec .build/release/quantkit demo "${args[@]}" "$@"
