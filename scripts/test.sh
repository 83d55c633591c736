#!/usr/bin/env bash
# The test suite: installs what is missing, builds, and runs every test (release mode, so the
# numeric tests run at full speed). Extra arguments go to `swift test` (e.g. --filter Kernels).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift test -c release "$@"
