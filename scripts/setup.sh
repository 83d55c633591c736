#!/usr/bin/env bash
# Installs what QuantKit needs on a fresh Debian machine that has the Swift toolchain, then
# builds the release binary. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenblas-dev dataset-fashion-mnist pkg-config zlib1g-dev gzip)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: the Swift toolchain (swift) is not on PATH" >&2; exit 1; }
echo "setup: building quantkit (release) ..." >&2
swift build -c release --product quantkit 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Linking|Write|Planning)' >&2 || true
test -x .build/release/quantkit || { echo "setup: build failed" >&2; exit 1; }
