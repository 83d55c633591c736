#!/usr/bin/env bash
# The seed pipeline in QuantKit and in TensorFlow, one after the other on this machine, as one table.
#
#   bash Benchmarks/pipeline_compare.sh [WORK_DIR]
#
# 1. `quantkit demo --fresh --output WORK_DIR/quantkit` (5 float epochs, PTQ in three modes, 1 QAT
#    fine-tuning epoch, evaluation, batch-1 one-thread latency).
# 2. ../shared/anchors/tf_seed_pipeline.py WORK_DIR/tf (TensorFlow + tf-keras + TFMOT, the same
#    recipe; LiteRT evaluates and times every .tflite with one thread). It also trains QAT from
#    scratch (--qat-epochs, default here 5 as the seed does).
# 3. Benchmarks/pipeline_compare.py prints the table (sizes, accuracies and their change vs float,
#    latencies, median float epoch).
# Takes about 25 minutes on 2 cores. Environment: QK_VENV (a venv with tensorflow-cpu, tf-keras,
# tensorflow-model-optimization, ai-edge-litert; made at .venv-bench when not given), QK_BIN (a
# built quantkit; else it is built), QAT_EPOCHS (TF's from-scratch QAT epochs, default 5),
# QUANTKIT_SHARED (the directory holding anchors/, default ../shared).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-$(mktemp -d "${TMPDIR:-/tmp}/quantkit-pipeline.XXXXXX")}"
SHARED="${QUANTKIT_SHARED:-../shared}"
mkdir -p "$WORK"
if [ -n "${QK_BIN:-}" ]; then
  Q="$QK_BIN"
else
  bash scripts/setup.sh >&2
  Q=.build/release/quantkit
fi
VENV="${QK_VENV:-.venv-bench}"
if ! "$VENV/bin/python" -c "import tensorflow, tf_keras, tensorflow_model_optimization, ai_edge_litert" 2>/dev/null; then
  echo "making $VENV with tensorflow-cpu, tf-keras, tensorflow-model-optimization, ai-edge-litert" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet tensorflow-cpu tf-keras tensorflow-model-optimization ai-edge-litert
fi
echo "== QuantKit: quantkit demo" >&2
"$Q" demo --fresh --output "$WORK/quantkit" >&2
echo "== TensorFlow: tf_seed_pipeline.py" >&2
"$VENV/bin/python" "$SHARED/anchors/tf_seed_pipeline.py" "$WORK/tf" --qat-epochs "${QAT_EPOCHS:-5}" >&2
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), \`bash Benchmarks/pipeline_compare.sh\`."
echo
python3 Benchmarks/pipeline_compare.py "$WORK/quantkit/report.json" "$WORK/tf/results.json"
