#!/usr/bin/env bash
# Quantization-aware training on the full FashionMNIST (issue 5): accuracy of the int8 models and
# training speed, measured in one run, written into BENCHMARKS.md between the qat markers.
#
#   bash Benchmarks/qat.sh [FLOAT_MODEL]
#
# 1. Fine-tuning: `quantkit train --qat --from FLOAT_MODEL` (1 epoch, learning rate 1e-4), then
#    `quantkit quantize --mode int8 --compare 10000` (no calibration data; top-1 agreement of the
#    int8 model with the simulated QAT model on the 10,000 test images) and
#    `quantkit evaluate X.tflite --json` (int8 test accuracy). Also with TFMOT's range start
#    (--tfmot-ranges) and with TFMOT's learning rate (1e-3), for comparison.
# 2. From scratch: `quantkit train --qat --epochs 5` (seed 0), converted and evaluated the same way.
# 3. Speed, side by side: ROUNDS (default 3) alternating one-epoch runs of float training and QAT
#    training of the same model from scratch (validation included in neither figure); medians.
#
# FLOAT_MODEL defaults to runs/seed/seed.qkmodel (`bash scripts/run.sh` makes it); it is trained
# (5 epochs, seed 0) when missing. Environment: QUANTKIT_SCRATCH (swift --scratch-path, default
# .build; QK_BIN skips the build and uses that binary), ROUNDS, SKIP_SCRATCH=1 (leave out step 2),
# QAT_WORK (keep the models and logs there instead of a temporary directory), SPEED_ONLY=1 (with
# QAT_WORK holding an earlier run's accuracy results: measure the speed again, reuse the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${QUANTKIT_SCRATCH:-.build}"
ROUNDS="${ROUNDS:-3}"
if [ -n "${QK_BIN:-}" ]; then
  Q="$QK_BIN"
else
  bash scripts/setup.sh >&2
  swift build -c release --scratch-path "$SCRATCH" >&2
  Q="$SCRATCH/release/quantkit"
fi
FLOAT="${1:-runs/seed/seed.qkmodel}"
if [ -n "${QAT_WORK:-}" ]; then work="$QAT_WORK"; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
if [ ! -f "$FLOAT" ]; then
  echo "qat: no float model at $FLOAT; training one (5 epochs, seed 0) ..." >&2
  mkdir -p "$(dirname "$FLOAT")"
  "$Q" train --epochs 5 --output "$FLOAT" > "$work/float-train.txt"
fi

convert_and_evaluate() {  # name
  "$Q" quantize "$work/$1.qkmodel" --mode int8 --output "$work/$1.tflite" --compare 10000 > "$work/$1.quantize.txt" 2> "$work/$1.quantize.err"
  "$Q" evaluate "$work/$1.tflite" --json > "$work/$1.eval.json" 2> /dev/null
}

if [ "${SPEED_ONLY:-0}" != 1 ]; then
echo "qat: float model accuracy ..." >&2
"$Q" evaluate "$FLOAT" --json > "$work/float.eval.json" 2> /dev/null

echo "qat: fine-tuning (1 epoch) ..." >&2
"$Q" train --qat --from "$FLOAT" --output "$work/finetune.qkmodel" --history "$work/finetune.history.json" > "$work/finetune.txt"
convert_and_evaluate finetune
echo "qat: fine-tuning with TFMOT's range start (+-6) ..." >&2
"$Q" train --qat --from "$FLOAT" --tfmot-ranges --output "$work/finetune_tfmot.qkmodel" > "$work/finetune_tfmot.txt"
convert_and_evaluate finetune_tfmot
echo "qat: fine-tuning with TFMOT's learning rate (1e-3) ..." >&2
"$Q" train --qat --from "$FLOAT" --learning-rate 0.001 --output "$work/finetune_lr3.qkmodel" > "$work/finetune_lr3.txt"
convert_and_evaluate finetune_lr3

if [ "${SKIP_SCRATCH:-0}" != 1 ]; then
  echo "qat: from scratch (5 epochs) ..." >&2
  "$Q" train --qat --epochs 5 --output "$work/scratch.qkmodel" --history "$work/scratch.history.json" > "$work/scratch.txt"
  convert_and_evaluate scratch
fi
fi

echo "qat: speed, $ROUNDS alternating rounds of one float and one QAT epoch ..." >&2
for r in $(seq 1 "$ROUNDS"); do
  "$Q" train --epochs 1 --validation 0 --output "$work/speed-float.qkmodel" --overwrite --history "$work/speed-float-$r.json" > /dev/null 2>&1
  "$Q" train --qat --epochs 1 --validation 0 --output "$work/speed-qat.qkmodel" --overwrite --history "$work/speed-qat-$r.json" > /dev/null 2>&1
done

python3 - "$work" "$ROUNDS" "$FLOAT" "${SKIP_SCRATCH:-0}" <<'PY'
import json, re, statistics, sys, datetime, os, platform
work, rounds, float_model, skip_scratch = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
def j(name): return json.load(open(f"{work}/{name}"))
def simulated(name): return float(re.search(r"test accuracy ([0-9.]+)%", open(f"{work}/{name}.txt").read()).group(1))
def agreement(name):
    m = re.search(r"agreement .*? ([0-9.]+)% \((\d+) differ\)", open(f"{work}/{name}.quantize.txt").read())
    return float(m.group(1)), int(m.group(2))
def size(name): return os.path.getsize(f"{work}/{name}.tflite")
f_acc = 100 * j("float.eval.json")["accuracy"]
rows = []
def row(label, name, recipe):
    acc = 100 * j(f"{name}.eval.json")["accuracy"]
    ag, differ = agreement(name)
    rows.append(f"| {label} | {recipe} | {simulated(name):.2f}% | **{acc:.2f}%** | {acc - f_acc:+.2f} | {ag:.2f}% ({differ} differ) | {size(name):,} B |")
    return acc
ft = row("QAT fine-tuning of the float model, 1 epoch", "finetune", "Adam 1e-4, ranges from the first batch")
row("same, TFMOT's range start", "finetune_tfmot", "Adam 1e-4, ranges from ±6")
row("same, TFMOT's learning rate", "finetune_lr3", "Adam 1e-3, ranges from the first batch")
if not skip_scratch:
    row("QAT from scratch, 5 epochs", "scratch", "Adam 1e-3, seed 0")
fs = [j(f"speed-float-{r}.json")["epochs"][0]["seconds"] for r in range(1, rounds + 1)]
qs = [j(f"speed-qat-{r}.json")["epochs"][0]["seconds"] for r in range(1, rounds + 1)]
mf, mq = statistics.median(fs), statistics.median(qs)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
lines = [
  f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), `bash Benchmarks/qat.sh {float_model}`.",
  f"Float model: {f_acc:.2f}% test accuracy (`quantkit evaluate`). Int8 accuracy: `quantkit evaluate X.tflite` on the 10,000 test",
  "images; simulated: the QAT model's own evaluation (fake-quantized, frozen ranges); agreement: top-1 of the int8 model vs the",
  "simulated QAT model on the 10,000 test images (`quantkit quantize --compare 10000`).",
  "",
  "| run | recipe | simulated int8 | int8 .tflite | vs float | int8 vs QAT agreement | .tflite size |",
  "|---|---|---|---|---|---|---|",
  *rows,
  "",
  "Training speed, side by side (alternating one-epoch runs from scratch, 55,000 images, batch 64, data-parallel on 2 cores;",
  "training time only, no validation):",
  "",
  "| | epoch seconds, each round | median |",
  "|---|---|---|",
  f"| float | {', '.join(f'{x:.1f}' for x in fs)} | **{mf:.1f}** |",
  f"| QAT | {', '.join(f'{x:.1f}' for x in qs)} | **{mq:.1f}** |",
  "",
  f"QAT / float median epoch time: **{mq / mf:.2f}x**.",
]
table = "\n".join(lines)
print(table)
path = "BENCHMARKS.md"
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
begin, end = "<!-- qat:begin -->", "<!-- qat:end -->"
block = f"{begin}\n{table}\n{end}"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text += f"\n## Quantization-aware training (issue 5)\n\n{block}\n"
open(path, "w").write(text)
PY
