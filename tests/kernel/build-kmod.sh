#!/usr/bin/env bash
# Builds kmod/ (cbtrep.ko) and the harness self-test module out of tree against the
# unpacked headers of one kernel series, in <build>/kmod-<release>/ (a copy of the sources,
# so kmod/ never collects build products). Incremental: make decides what to rebuild.
#   tests/kernel/build-kmod.sh [--build-dir DIR] SERIES      SERIES = 6.1 | 6.12
# Prints the path of the built cbtrep.ko on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

while (($#)); do
	case "$1" in
	--build-dir) kt_set_build "$2"; shift 2 ;;
	-h | --help) sed -n '2,6p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
(($# == 1)) || kt_die "usage: $0 [--build-dir DIR] SERIES"
series=$1
kt_check_series "$series"

release=$("$KT_HERE/fetch-kernels.sh" --build-dir "$KT_BUILD" "$series")
hdr=$(kt_kernels_dir)/$release/usr/src/linux-headers-$release
[ -f "$hdr/Makefile" ] || kt_die "no headers at $hdr"

# Modules must be built with the compiler that built the kernel; the headers name it.
cc=$(sed -n 's/^CC = .*$(CROSS_COMPILE)\([^ ]*\).*/\1/p' "$hdr/.kernelvariables")
cross=$(sed -n 's/^override CROSS_COMPILE = *//p' "$hdr/.kernelvariables")
if [ -n "$cc" ] && ! command -v "$cross$cc" >/dev/null && ! command -v "$cc" >/dev/null; then
	kt_die "$release was built with $cc: install it (apt-get install $cc) and add it to tools/deps.sh"
fi
# Headers with a vmlinux (6.12) generate BTF for modules, which needs pahole.
if [ -f "$hdr/vmlinux" ] && ! command -v pahole >/dev/null; then
	kt_die "pahole is missing: apt-get install dwarves"
fi

out=$KT_BUILD/kmod-$release
kt_lock "kmod-$release"
mkdir -p "$out"

# Copy sources only; excluded build products stay (and are not deleted), so make remains
# incremental. include/ goes along because the module includes ../include.
copy_sources() {
	rsync -rlt --delete \
		--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
		--exclude='.*.cmd' --exclude='Module.symvers' --exclude='modules.order' \
		--exclude='.tmp_*' --exclude='feature.h' \
		"$1/" "$2/"
}
copy_sources "$KT_REPO/kmod" "$out/kmod"
copy_sources "$KT_REPO/include" "$out/include"
copy_sources "$KT_REPO/core" "$out/core"
copy_sources "$KT_HERE/selftest-kmod" "$out/selftest-kmod"

for m in kmod selftest-kmod; do
	if ! make -s -C "$hdr" M="$out/$m" -j2 modules >"$out/$m.log" 2>&1; then
		cat "$out/$m.log" >&2
		kt_die "building $m against $release failed (log: $out/$m.log)"
	fi
done
[ -f "$out/kmod/cbtrep.ko" ] || kt_die "the build produced no cbtrep.ko"
echo "$out/kmod/cbtrep.ko"
