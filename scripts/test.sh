#!/usr/bin/env bash
# The test suite: installs what is missing, builds, runs every Swift test (release mode, so the
# numeric tests run at full speed), then the LiteRT interop test (it makes its own Python venv,
# .venv-interop, with ai-edge-litert from PyPI). Extra arguments go to `swift test`
# (e.g. --filter Kernels); with arguments the interop test is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift test -c release "$@"
if [ $# -eq 0 ]; then
  bash Tests/Interop/interop_test.sh
fi
