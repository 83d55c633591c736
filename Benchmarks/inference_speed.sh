#!/usr/bin/env bash
# Inference speed, side by side in one run: QuantKit's interpreter (`quantkit bench`, fast kernels)
# and LiteRT (`ai-edge-litert` from PyPI, default XNNPACK path) on the same models and inputs.
#
#   bash Benchmarks/inference_speed.sh            (from anywhere; needs the Swift toolchain)
#
# Models: TensorFlow's ../shared/golden/seed_{float,dynamic,int8,float16}.tflite, and QuantKit's own
# versions of them: a seed CNN trained with `quantkit train --epochs 1` (or the .qkmodel in $QK_MODEL),
# exported (`quantkit export`) and quantized (`quantkit quantize --mode dynamic|int8|float16`).
# For every model (Benchmarks/litert_bench.py does the measuring):
#   (a) batch-1, 1-thread latency: QuantKit `bench --json --kernels fast --threads 1` and LiteRT
#       (num_threads=1) in alternating rounds, same warm-up and run counts;
#   (b) throughput over the 10,000 FashionMNIST test images, 2 threads, batch 64: QuantKit
#       `bench --samples 10000 --batch 64 --threads 2` and LiteRT (resize_tensor_input to 64,
#       num_threads=2), alternating passes;
#   plus QuantKit's reference-kernel latency for context, and the memory bar of `quantkit run` on the
#   10k int8 images (peak RSS <= 2 x (model + input) + 32 MB, /usr/bin/time -v).
# Writes the table between the inference-speed markers of BENCHMARKS.md; exits non-zero when the
# memory bar is not met.
#
# Environment:
#   QK_MODEL             a trained .qkmodel to use instead of training one epoch
#   QK_VENV              a venv with ai-edge-litert and numpy to reuse (default .venv-interop, made if missing)
#   QUANTKIT_SCRATCH     swift --scratch-path of the release build (default .build)
#   QK_BIN               a release quantkit binary to use as is (no build)
#   QUANTKIT_SHARED      directory holding golden/ (default ../shared)
#   QK_ROUNDS (15), QK_RUNS (150), QK_WARMUP (20)   latency rounds, timed and warm-up runs per round
#   QK_THROUGHPUT_ROUNDS (5), QK_BATCH (64), QK_THREADS (2), QK_THROUGHPUT_SAMPLES (all 10,000; fewer for a quick check)
#   QK_NO_WRITE=1        print the table without touching BENCHMARKS.md
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${QUANTKIT_SCRATCH:-.build}"
SHARED="${QUANTKIT_SHARED:-../shared}"
VENV="${QK_VENV:-${QUANTKIT_INTEROP_VENV:-.venv-interop}}"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import ai_edge_litert, numpy" 2>/dev/null; then
  echo "inference_speed: making the venv $VENV (ai-edge-litert, numpy)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet ai-edge-litert numpy >&2
fi
PY="$VENV/bin/python"

work=$(mktemp -d "${TMPDIR:-/tmp}/quantkit-inference.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -n "${QK_BIN:-}" ]; then
  QK="$QK_BIN"
  echo "inference_speed: using $QK (no build)" >&2
else
  echo "inference_speed: release build ($SCRATCH) ..." >&2
  if ! swift build -c release --scratch-path "$SCRATCH" --product quantkit > "$work/build.log" 2>&1; then
    grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Linking|Write|Planning)' "$work/build.log" | tail -30 >&2
    echo "inference_speed: the release build failed" >&2
    exit 1
  fi
  QK="$SCRATCH/release/quantkit"
fi
test -x "$QK" || { echo "inference_speed: no quantkit binary at $QK" >&2; exit 1; }

label="QuantKit (\`quantkit train --epochs 1\`)"
if [ -n "${QK_MODEL:-}" ]; then
  model="$QK_MODEL"
  label="QuantKit (\`$QK_MODEL\`)"
  echo "inference_speed: QuantKit models from $model" >&2
else
  model="$work/seed.qkmodel"
  echo "inference_speed: training QuantKit's seed CNN for 1 epoch ..." >&2
  "$QK" train --epochs 1 --output "$model" > "$work/train.txt"
fi
"$QK" export "$model" --output "$work/qk_float.tflite" > /dev/null
for mode in dynamic int8 float16; do
  "$QK" quantize "$model" --mode "$mode" --output "$work/qk_$mode.tflite" > /dev/null
done

args=()
for m in float dynamic int8 float16; do args+=(--model "tf:$m:$SHARED/golden/seed_$m.tflite"); done
for m in float dynamic int8 float16; do args+=(--model "qk:$m:$work/qk_$m.tflite"); done
write=(--write BENCHMARKS.md)
[ "${QK_NO_WRITE:-}" = 1 ] && write=()

"$PY" Benchmarks/litert_bench.py suite --quantkit "$QK" --work "$work" "${args[@]}" "${write[@]}" \
  --rounds "${QK_ROUNDS:-15}" --runs "${QK_RUNS:-150}" --warmup "${QK_WARMUP:-20}" \
  --throughput-rounds "${QK_THROUGHPUT_ROUNDS:-5}" --batch "${QK_BATCH:-64}" --threads "${QK_THREADS:-2}" \
  ${QK_THROUGHPUT_SAMPLES:+--throughput-samples "$QK_THROUGHPUT_SAMPLES"} \
  --json-out "${QK_JSON_OUT:-$work/results.json}" \
  --qk-label "$label" --command "${QK_MODEL:+QK_MODEL=$QK_MODEL }bash Benchmarks/inference_speed.sh"
