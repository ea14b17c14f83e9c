#!/usr/bin/env bash
# Benchmarks (figures, never pass/fail): tools/bench.sh NAME [ARGS...] installs the
# dependencies, builds (Release-like, in $CBTREP_BUILD_DIR or build/), then runs
# bench/NAME/run.sh with CBTREP_BUILD_DIR set. Each run.sh ends with one JSON line.
#   tools/bench.sh            lists the benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
    echo "usage: tools/bench.sh NAME [ARGS...]; benchmarks:" >&2
    for d in bench/*/run.sh; do [ -e "$d" ] && echo "  $(basename "$(dirname "$d")")" >&2; done
    exit 2
fi
name=$1
shift
[ -x "bench/$name/run.sh" ] || { echo "tools/bench.sh: no bench/$name/run.sh" >&2; exit 2; }
tools/deps.sh
export CBTREP_BUILD_DIR=${CBTREP_BUILD_DIR:-$PWD/build}
cmake -S . -B "$CBTREP_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# A failure elsewhere in the tree should not hide the figures: run.sh checks for the binaries
# it needs and stops if one is missing.
cmake --build "$CBTREP_BUILD_DIR" -j"$(nproc)" >"$CBTREP_BUILD_DIR/bench-build.log" 2>&1 ||
    echo "tools/bench.sh: warning: the build failed (see $CBTREP_BUILD_DIR/bench-build.log); running anyway" >&2
exec "bench/$name/run.sh" "$@"
