#!/usr/bin/env bash
# Tracking overhead (figures, not a pass/fail test): boots the Debian kernel under QEMU with
# the kernel-test harness, runs bench/tracking/tracking_guest.sh there and prints its JSON line last.
#   tools/bench.sh tracking [--kernel 6.1|6.12] [--variant NAME=GITREV]... [--rounds N]
#                           [--seconds S] [--workloads "rand4k seq1m"] [--drain-max RECORDS]
# --variant also builds cbtrep.ko from the commit GITREV (kmod/, core/, include/ as they were
# there) and measures it in the same boot, interleaved with the working tree's module, so a
# change is judged against its parent under the same noise (keys get _NAME: e.g.
# overhead_data_base_pct next to overhead_data_pct). Defaults: 3 rounds of 4 s per point.
# Caveat: QEMU runs under TCG here (no KVM); absolute numbers are slow and noisy, the
# ratios are what to read, and they still include TCG's per-instruction cost.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${CBTREP_BUILD_DIR:-$repo/build}
kernel=6.12
variants=()
settings=()
while (($#)); do
	case "$1" in
	--kernel) kernel=$2; shift 2 ;;
	--variant) variants+=("$2"); shift 2 ;;
	--rounds) settings+=("BENCH_ROUNDS='$2'"); shift 2 ;;
	--seconds) settings+=("BENCH_SECS='$2'"); shift 2 ;;
	--workloads) settings+=("BENCH_WORKLOADS='$2'"); shift 2 ;;
	--drain-max) settings+=("BENCH_DRAIN_MAX='$2'"); shift 2 ;;
	*) echo "bench/tracking: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
# A tree that does not configure right now (someone else's half-done change) should not
# stop the figures: the harness refuses to boot if a binary is really missing.
for t in cbtrep-ctl cbtrep-bench-writer cbtrep-bench-drain; do
	cmake --build "$build" --target "$t" >/dev/null 2>&1 ||
		echo "bench/tracking: warning: building $t failed, using the binary already built" >&2
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The tree's module (the harness would build it anyway) and the kernel release it names.
ko=$("$repo/tests/kernel/build-kmod.sh" --build-dir "$build" "$kernel")
release=$(basename "$(dirname "$(dirname "$ko")")")
release=${release#kmod-}
hdr=$build/kernels/$release/usr/src/linux-headers-$release
bins=
names=
for v in "${variants[@]}"; do
	name=${v%%=*}
	rev=${v#*=}
	[[ "$name" =~ ^[a-z0-9]+$ && "$v" == *=* ]] || { echo "bench/tracking: bad --variant '$v' (want NAME=GITREV)" >&2; exit 2; }
	mkdir -p "$work/$name"
	git -C "$repo" archive "$rev" kmod core include | tar -x -C "$work/$name"
	make -s -C "$hdr" M="$work/$name/kmod" -j2 modules >"$work/$name.log" 2>&1 ||
		{ cat "$work/$name.log" >&2; echo "bench/tracking: building $rev failed" >&2; exit 1; }
	install -m 0755 "$work/$name/kmod/cbtrep.ko" "$work/cbtrep-$name.ko" # the harness copies executables
	bins="$bins $work/cbtrep-$name.ko"
	names="$names $name"
done

# The guest script with this run's settings and variant modules in front.
scen=$work/tracking_guest.sh
{
	sed -n '/^# @/p' "$here/tracking_guest.sh"
	[ -n "$bins" ] && echo "# @bins:$bins"
	for s in "${settings[@]}"; do echo "$s"; done
	echo "BENCH_VARIANTS='${names# }'"
	sed '/^# @/d' "$here/tracking_guest.sh"
} >"$scen"
# 2 GiB so brd (256 MiB), the DATA journal cap (128 MiB) and the drain's buffer leave the
# guest plenty free memory (in 1 GiB, 60 % of DATA-mode chunk allocations missed the
# module's page list and took ~60 us each in the page allocator; 2 GiB did not visibly
# change that, but the journal no longer competes with brd for the last free pages).
"$repo/tests/kernel/run-scenario.sh" --build-dir "$build" --kernel "$kernel" --no-prepare \
	--mem 2048 --scenario-file "$scen" >&2
log=$(ls -td "$build"/kernel-runs/tracking_guest-* | head -n1)/serial.log
grep -a '^[a-z@0-9]* \(rand4k\|seq1m\) [0-9]' "$log" >&2 || true
line=$(grep -a -o 'BENCH-JSON: .*' "$log" | tail -n1)
[ -n "$line" ] || { echo "bench/tracking: no result in $log" >&2; exit 1; }
echo "${line#BENCH-JSON: }"
