#!/usr/bin/env bash
# The whole test suite: dependencies, build (warnings are errors), then every ctest label
# (unit, windows, integration, kernel). Build output goes to build/.
#   tools/check.sh                 everything
#   tools/check.sh -L unit         only one label (any ctest arguments are passed through)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
cd build
exec ctest --output-on-failure --timeout 1500 -j"$(nproc)" "$@"
