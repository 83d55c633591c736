#!/usr/bin/env bash
# Post-training int8 conversion time, side by side in one run: `quantkit quantize --mode int8`
# (500 calibration images from the training split) and TensorFlow's TFLite converter with the same
# 500-image representative dataset (tensorflow-cpu + tf-keras from PyPI in a virtual environment
# this script makes). Rounds alternate QuantKit and TensorFlow so machine noise hits both; medians
# and their ratio go into BENCHMARKS.md.
#
# QuantKit's time is the whole `quantize` job as the command reports it: reading the training set
# (60,000 gzip'd images), drawing the 500, calibrating, converting, writing the .tflite.
# TensorFlow's is `convert()` alone, with the data and the Keras model already in memory.
#
# Usage: bash Benchmarks/quantize_speed.sh [ROUNDS]   (default 3)
#   QK_MODEL=path.qkmodel  the float model to quantize (default: train one epoch first, ~1 min)
#   QK_VENV=dir            reuse a virtual environment that has tensorflow-cpu and tf-keras
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
bash scripts/setup.sh >&2
venv="${QK_VENV:-.venv-bench}"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python" -c "import tensorflow, tf_keras" 2>/dev/null || "$venv/bin/pip" install -q tensorflow-cpu tf-keras >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model="${QK_MODEL:-}"
if [ -z "$model" ]; then
  echo "bench: training a 1-epoch QuantKit model to quantize ..." >&2
  .build/release/quantkit train --epochs 1 --output "$work/m.qkmodel" >&2
  model="$work/m.qkmodel"
fi
: > "$work/qk.txt"
: > "$work/tf.jsonl"
for r in $(seq "$rounds"); do
  echo "bench: round $r/$rounds: QuantKit ..." >&2
  .build/release/quantkit quantize "$model" --mode int8 --output "$work/q.tflite" 2>/dev/null | tail -1 >> "$work/qk.txt"
  echo "bench: round $r/$rounds: TensorFlow ..." >&2
  "$venv/bin/python" Benchmarks/tf_quantize_speed.py 1 >> "$work/tf.jsonl"
done

python3 - "$work" "$rounds" <<'PY'
import json, re, statistics, sys, datetime, os, platform
work, rounds = sys.argv[1], int(sys.argv[2])
qk = [float(m.group(1)) for m in re.finditer(r"quantized in ([0-9.]+) s", open(f"{work}/qk.txt").read())]
tf_runs = [json.loads(l) for l in open(f"{work}/tf.jsonl") if l.strip()]
tf = [t for r in tf_runs for t in r["convert_s"]]
mq, mt = statistics.median(qk), statistics.median(tf)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
lines = [
  f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), `bash Benchmarks/quantize_speed.sh {rounds}`",
  "(rounds alternate the two tools).",
  "",
  "| int8 conversion, 500 calibration images | seconds, each round | median |",
  "|---|---|---|",
  f"| `quantkit quantize --mode int8` (whole job: load 60k training images, calibrate, convert, write) | {', '.join(f'{x:.2f}' for x in qk)} | **{mq:.2f}** |",
  f"| TensorFlow {tf_runs[0]['tf']} `TFLiteConverter.convert()` (data and model already in memory) | {', '.join(f'{x:.2f}' for x in tf)} | **{mt:.2f}** |",
  "",
  f"QuantKit / TensorFlow median: **{mq/mt:.2f}x**.",
]
table = "\n".join(lines)
print(table)
path = "BENCHMARKS.md"
text = open(path).read()
begin, end = "<!-- quantize-speed:begin -->", "<!-- quantize-speed:end -->"
block = f"{begin}\n{table}\n{end}"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text += f"\n## Post-training int8 conversion time: QuantKit vs TensorFlow\n\n{block}\n"
open(path, "w").write(text)
PY
