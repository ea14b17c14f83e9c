#!/usr/bin/env bash
# Tracking overhead (figures, not a pass/fail test): boots the Debian kernel under QEMU with
# the kernel-test harness, runs bench/tracking/tracking_guest.sh there and prints its JSON line last.
#   tools/bench.sh tracking [--kernel 6.1|6.12]   (3 interleaved rounds of 4 s per point)
# Caveat: QEMU runs under TCG here (no KVM); absolute numbers are slow and noisy, the
# ratios are what to read, and they still include TCG's per-instruction cost.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${CBTREP_BUILD_DIR:-$repo/build}
kernel=6.12
[ "${1:-}" = --kernel ] && kernel=$2
for t in cbtrep-ctl cbtrep-bench-writer; do
	cmake --build "$build" --target "$t" >/dev/null
done
env=$(mktemp)
trap 'rm -f "$env"' EXIT
"$repo/tests/kernel/run-scenario.sh" --build-dir "$build" --kernel "$kernel" \
	--scenario-file "$here/tracking_guest.sh" >&2
log=$(ls -td "$build"/kernel-runs/tracking_guest-* | head -n1)/serial.log
grep -a '^[a-z]* \(rand4k\|seq1m\) [0-9]' "$log" >&2 || true
line=$(grep -a -o 'BENCH-JSON: .*' "$log" | tail -n1)
[ -n "$line" ] || { echo "bench/tracking: no result in $log" >&2; exit 1; }
echo "${line#BENCH-JSON: }"
