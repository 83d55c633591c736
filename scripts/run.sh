#!/usr/bin/env bash
# The main job: train the seed FashionMNIST CNN (5 epochs, batch 64, Adam, seed 0) and
# evaluate it on the 10,000 test images. Results go to runs/seed/ (override: OUT=dir).
# An existing trained model there is evaluated again, not retrained (FRESH=1 retrains).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out="${OUT:-runs/seed}"
mkdir -p "$out"
model="$out/seed.qkmodel"
if [ -f "$model" ] && [ "${FRESH:-0}" != "1" ]; then
  echo "run: $model exists; evaluating it (FRESH=1 retrains)" >&2
else
  .build/release/quantkit train --epochs 5 --batch-size 64 --seed 0 --output "$model" --overwrite \
    --history "$out/history.csv"
fi
.build/release/quantkit evaluate "$model"
