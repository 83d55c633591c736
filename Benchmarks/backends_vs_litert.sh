#!/usr/bin/env bash
# Batch-1, single-thread latency of one model on every SIMD backend this CPU supports
# (QUANTKIT_SIMD=...) and on LiteRT (default XNNPACK path), in alternating rounds, so the share of the
# int8 speed that comes from AMX (or VNNI) is measured side by side with the rest.
#
#   bash Benchmarks/backends_vs_litert.sh [MODEL.tflite] [ROUNDS]
#
# Default model ../shared/golden/seed_int8.tflite, 11 rounds of 150 timed runs (20 warm-up) each.
# Prints, per backend, the median latency over all runs and the median over the rounds of the
# backend's round median over LiteRT's median in the same round. Every timed process runs on core
# ${QK_CPU:-0} (taskset): this VM's two cores were seen to run the same binary 1.6x apart at once.
# Uses the release build in
# .build (or QK_BIN) and the venv .venv-interop (or QK_VENV; made by Benchmarks/inference_speed.sh
# or scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-../shared/golden/seed_int8.tflite}"
ROUNDS="${2:-11}"
QK="${QK_BIN:-.build/release/quantkit}"
PY="${QK_VENV:-.venv-interop}/bin/python"
test -x "$QK" || { echo "backends_vs_litert: no quantkit at $QK (swift build -c release)" >&2; exit 1; }
test -x "$PY" || { echo "backends_vs_litert: no venv python at $PY (bash Benchmarks/inference_speed.sh makes it)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/quantkit-backends.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$PY" Benchmarks/litert_bench.py prepare-input "$MODEL" "$work/input.bin" > /dev/null
backends=$(for b in avx512amx avx512vnni avx2 portable; do
  QUANTKIT_SIMD=$b "$QK" bench "$MODEL" --threads 1 --runs 1 --warmup 0 --json 2>/dev/null \
    | "$PY" -c "import json,sys; print(json.load(sys.stdin)['simd_backend'])"
done | awk '!seen[$0]++' | grep -v portable)
pin=()
command -v taskset > /dev/null && pin=(taskset -c "${QK_CPU:-0}")
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  for b in $backends; do
    QUANTKIT_SIMD=$b "${pin[@]}" "$QK" bench "$MODEL" --threads 1 --batch 1 --warmup 20 --runs 150 --input "$work/input.bin" --json 2>/dev/null \
      | "$PY" -c "import json,sys; print('$r', '$b', ' '.join(map(str, json.load(sys.stdin)['run_ms'])))"
  done
  "${pin[@]}" "$PY" Benchmarks/litert_bench.py latency "$MODEL" "$work/input.bin" --threads 1 --warmup 20 --runs 150 2>/dev/null \
    | "$PY" -c "import json,sys; print('$r', 'litert', ' '.join(map(str, json.load(sys.stdin)['run_ms'])))"
done > "$work/runs.txt"
"$PY" - "$work/runs.txt" "$MODEL" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
rounds = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    r, name, *values = line.split()
    ms = [float(v) for v in values]
    runs[name] += ms
    rounds[r][name] = statistics.median(ms)
print(f"{sys.argv[2]}: batch 1, 1 thread, {len(rounds)} alternating rounds, one core")
print("| runtime | median ms | vs LiteRT (median of round ratios) |")
print("|---|---|---|")
for name in runs:
    ratio = statistics.median(v[name] / v["litert"] for v in rounds.values())
    label = "LiteRT (XNNPACK)" if name == "litert" else f"QuantKit `{name}`"
    print(f"| {label} | {statistics.median(runs[name]):.4f} | {ratio:.2f}x |")
EOF
