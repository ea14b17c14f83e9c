# Shared helpers for the kernel test harness; sourced by the scripts beside it, never run.
# Paths: everything the harness makes lives under the build directory ($KT_BUILD, default
# <repo>/build, or --build-dir / $CBTREP_BUILD_DIR), so a fresh clone is self-contained.

KT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KT_REPO=$(cd "$KT_HERE/../.." && pwd)
KT_BUILD=${CBTREP_BUILD_DIR:-$KT_REPO/build}

kt_log() { printf 'kernel-test: %s\n' "$*" >&2; }
kt_die() { kt_log "error: $*"; exit 2; }

# Only the two series Debian 12 ships are supported: 6.1 is the distribution kernel, 6.12
# the backport. Anything else is a typo we want to hear about at once.
kt_check_series() {
	case "$1" in
	6.1 | 6.12) ;;
	*) kt_die "unknown kernel series '$1' (expected 6.1 or 6.12)" ;;
	esac
}

kt_set_build() {
	KT_BUILD=$(mkdir -p "$1" && cd "$1" && pwd)
}

kt_kernels_dir() { echo "$KT_BUILD/kernels"; }

# The release the last fetch of SERIES resolved to (e.g. 6.12.117+deb12-amd64).
kt_current_release() {
	local f
	f="$(kt_kernels_dir)/$1.current"
	[ -s "$f" ] || return 1
	cat "$f"
}

# Holds an exclusive lock on NAME for the rest of the calling (sub)shell, so that ctest -j
# never runs two fetches or two module builds for the same kernel at once.
kt_lock() {
	local dir lockfile
	dir="$(kt_kernels_dir)"
	mkdir -p "$dir"
	lockfile="$dir/.lock-$1"
	exec {KT_LOCK_FD}>"$lockfile"
	flock "$KT_LOCK_FD"
}
