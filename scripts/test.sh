#!/usr/bin/env bash
# The README's test command: install what is missing, build (release preset,
# into build/), run every test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
ctest --preset release -j "$(nproc)" "$@"
