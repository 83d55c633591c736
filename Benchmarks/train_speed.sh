#!/usr/bin/env bash
# Training speed, side by side in one run: QuantKit's `quantkit train` and Keras (tf-keras,
# tensorflow-cpu from PyPI in a virtual environment this script makes) on the same 55,000
# FashionMNIST images, same recipe (seed CNN, batch 64, Adam, validation on 5,000 each epoch).
# Reports per-epoch seconds (training + validation) as medians and their ratio, plus QuantKit's
# peak resident memory, and writes the table into BENCHMARKS.md.
# Usage: bash Benchmarks/train_speed.sh [EPOCHS]   (default 3; the first epoch of each is
# included in the table but the median is what counts)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-3}"
bash scripts/setup.sh
venv="${QUANTKIT_BENCH_VENV:-.venv-bench}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import tensorflow, tf_keras" 2>/dev/null || \
  "$venv/bin/pip" install -q tensorflow-cpu tf-keras >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "bench: QuantKit, $epochs epochs ..." >&2
/usr/bin/time -v .build/release/quantkit train --epochs "$epochs" --output "$work/m.qkmodel" \
  --history "$work/history.json" > "$work/qk.txt" 2> "$work/qk.err"
echo "bench: Keras, $epochs epochs ..." >&2
"$venv/bin/python" Benchmarks/keras_train_speed.py --epochs "$epochs" > "$work/keras.json"

python3 - "$work" "$epochs" <<'PY'
import json, re, statistics, sys, datetime, platform, os
work, epochs = sys.argv[1], int(sys.argv[2])
h = json.load(open(f"{work}/history.json"))["epochs"]
qk = [e["seconds"] + e.get("validation_seconds", 0) for e in h]
k = json.load(open(f"{work}/keras.json"))
ks = k["epoch_s"]
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(f"{work}/qk.err").read()).group(1))
qk_acc = re.search(r"test accuracy ([0-9.]+)%", open(f"{work}/qk.txt").read()).group(1)
mq, mk = statistics.median(qk), statistics.median(ks)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
lines = [
  f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), `bash Benchmarks/train_speed.sh {epochs}`.",
  "",
  "| | epoch seconds (train + validation), each epoch | median | test accuracy after the run |",
  "|---|---|---|---|",
  f"| QuantKit | {', '.join(f'{x:.1f}' for x in qk)} | **{mq:.1f}** | {qk_acc}% |",
  f"| Keras (TF {k['tf']}) | {', '.join(f'{x:.1f}' for x in ks)} | **{mk:.1f}** | {100*k['test_acc']:.2f}% |",
  "",
  f"QuantKit / Keras median epoch time: **{mq/mk:.2f}x**. QuantKit peak resident memory for the run: {rss/1024:.0f} MB.",
]
table = "\n".join(lines)
print(table)
path = "BENCHMARKS.md"
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
begin, end = "<!-- train-speed:begin -->", "<!-- train-speed:end -->"
block = f"{begin}\n{table}\n{end}"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text += f"\n## Training speed: QuantKit vs Keras\n\n{block}\n"
open(path, "w").write(text)
PY
