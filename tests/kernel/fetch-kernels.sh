#!/usr/bin/env bash
# Fetches Debian's current kernel image, modules and matching headers for one series and
# unpacks them (no install, no initramfs hooks) under <build>/kernels/<release>/.
#   tests/kernel/fetch-kernels.sh [--build-dir DIR] SERIES      SERIES = 6.1 | 6.12
# Prints the resolved kernel release (e.g. 6.12.117+deb12-amd64) on stdout.
#
# Package names are resolved at run time because the ABI number in them changes with every
# Debian kernel update. Downloaded .deb files go to /var/cache/cbtrep-kernels when that
# directory exists and is writable (shared between clones and CI runs), else to
# <build>/kernels/debs/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

while (($#)); do
	case "$1" in
	--build-dir) kt_set_build "$2"; shift 2 ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
(($# == 1)) || kt_die "usage: $0 [--build-dir DIR] SERIES"
series=$1
kt_check_series "$series"

# Prints the ABI part of the newest headers package of the series, e.g. "6.1.0-56" or
# "6.12.117+deb12". The metapackages say which one Debian currently calls current; the
# newest name in the package list is the fallback should a metapackage ever disappear.
resolve_abi() {
	local meta pkg
	case "$series" in
	6.1) meta=linux-headers-amd64 ;;
	6.12) meta=linux-headers-6.12-amd64 ;;
	esac
	pkg=$(apt-cache depends "$meta" 2>/dev/null |
		awk -v s="$series" '$1 == "Depends:" && index($2, "linux-headers-" s ".") == 1 { print $2; exit }')
	if [ -z "$pkg" ]; then
		pkg=$(apt-cache pkgnames "linux-headers-$series." 2>/dev/null |
			grep -E "^linux-headers-${series//./\\.}\.[0-9][^ ]*-amd64$" | sort -V | tail -n1 || true)
	fi
	[ -n "$pkg" ] || return 1
	pkg=${pkg#linux-headers-}
	echo "${pkg%-amd64}"
}

# The package set of one ABI: image (the -unsigned flavour when it exists, it has the same
# kernel), amd64 headers, common headers and the kbuild tools the headers depend on.
package_set() {
	local abi=$1 image kbuild
	image=linux-image-$abi-amd64-unsigned
	apt-cache show "$image" >/dev/null 2>&1 || image=linux-image-$abi-amd64
	kbuild=$(apt-cache depends "linux-headers-$abi-amd64" |
		awk '$1 == "Depends:" && $2 ~ /^linux-kbuild-/ { print $2; exit }')
	[ -n "$kbuild" ] || return 1
	echo "$image linux-headers-$abi-amd64 linux-headers-$abi-common $kbuild"
}

kdir=$(kt_kernels_dir)
mkdir -p "$kdir"
kt_lock "fetch-$series"

if ! abi=$(resolve_abi); then
	kt_log "apt-cache cannot resolve the $series series; running apt-get update"
	apt-get update -qq || kt_log "apt-get update failed"
	if ! abi=$(resolve_abi); then
		# Offline with an old package list: the last unpacked kernel still serves.
		release=$(kt_current_release "$series") || kt_die "cannot resolve the Debian $series kernel"
		kt_log "using the cached $release"
		echo "$release"
		exit 0
	fi
fi
release=$abi-amd64
root=$kdir/$release

if [ ! -e "$root/.unpacked" ]; then
	if [ -d /var/cache/cbtrep-kernels ] && [ -w /var/cache/cbtrep-kernels ]; then
		debs=/var/cache/cbtrep-kernels
	else
		debs=$kdir/debs
	fi
	mkdir -p "$debs"
	# The shared cache may be filled by another clone at the same moment.
	exec {debs_lock}>"$debs/.lock"
	flock "$debs_lock"
	pkgs=$(package_set "$abi") || kt_die "cannot find the packages of $release"
	files=()
	download=()
	for p in $pkgs; do
		# apt-get download names files <name>_<version>_<arch>.deb; the version of a
		# kernel package never changes once published, so any match is the right file.
		f=$(compgen -G "$debs/${p}_*.deb" | head -n1 || true)
		if [ -n "$f" ]; then files+=("$f"); else download+=("$p"); fi
	done
	if ((${#download[@]})); then
		kt_log "downloading ${download[*]}"
		# The sandbox user _apt may not write into a build tree owned by someone else.
		if ! (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "${download[@]}" >&2); then
			kt_log "download failed; refreshing the package list once"
			apt-get update -qq
			(cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "${download[@]}" >&2)
		fi
		for p in "${download[@]}"; do
			f=$(compgen -G "$debs/${p}_*.deb" | head -n1 || true)
			[ -n "$f" ] || kt_die "apt-get download produced no file for $p"
			files+=("$f")
		done
	fi

	kt_log "unpacking $release"
	rm -rf "$root.tmp"
	mkdir -p "$root.tmp"
	for f in "${files[@]}"; do
		dpkg-deb -x "$f" "$root.tmp"
	done
	hdr=$root.tmp/usr/src/linux-headers-$release
	[ -f "$hdr/Makefile" ] || kt_die "no headers in the unpacked packages of $release"
	# The amd64 headers include the common ones by absolute path (/usr/src/...): point them
	# at our unpacked copy instead, so nothing needs installing into /usr. Every other link
	# in the tree (scripts, tools) is relative and works as unpacked.
	sed -i "s|^include /usr/src/|include $root/usr/src/|" "$hdr/Makefile"
	# modprobe --show-depends (used to pick modules for the guest) needs modules.dep.
	depmod -b "$root.tmp" "$release"
	rm -rf "$root"
	mv "$root.tmp" "$root"
	printf '%s\n' "${files[@]##*/}" >"$root/.unpacked"
	# Packages in the build tree are not needed once unpacked (~200 MB per kernel); the
	# shared cache keeps its copies for the next clone.
	if [ "$debs" = "$kdir/debs" ]; then
		rm -f "${files[@]}"
	fi
fi

echo "$release" >"$kdir/$series.current.tmp"
mv "$kdir/$series.current.tmp" "$kdir/$series.current"
echo "$release"
