#!/usr/bin/env bash
# Installs cbtrep.ko's source for DKMS, so the module is rebuilt for every kernel the
# machine installs:
#   packaging/dkms/install.sh            add, build and install for the running kernel
#   packaging/dkms/install.sh --add-only only copy the source and `dkms add` it
#   packaging/dkms/install.sh --remove   `dkms remove` every installed version
# Needs root and Debian's dkms and linux-headers-$(uname -r) packages.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=$(sed -n 's/^#define CBTREP_MODULE_VERSION "\(.*\)"$/\1/p' "$REPO/kmod/cbtrep.h")
[ -n "$VERSION" ] || { echo "install.sh: no CBTREP_MODULE_VERSION in kmod/cbtrep.h" >&2; exit 1; }
command -v dkms >/dev/null || { echo "install.sh: dkms is missing (apt-get install dkms)" >&2; exit 1; }

if [ "${1:-}" = --remove ]; then
	dkms remove "cbtrep/$VERSION" --all || true
	rm -rf "/usr/src/cbtrep-$VERSION"
	exit 0
fi

dst=/usr/src/cbtrep-$VERSION
rm -rf "$dst"
mkdir -p "$dst"
# Only what the module is built from: the kernel glue, the portable core, the shared ABI.
cp -r "$REPO/kmod" "$REPO/core" "$REPO/include" "$dst/"
rm -f "$dst/kmod/feature.h" "$dst/core/CMakeLists.txt"
sed "s/@VERSION@/$VERSION/" "$REPO/packaging/dkms/dkms.conf" >"$dst/dkms.conf"
dkms add "cbtrep/$VERSION" 2>/dev/null || dkms status "cbtrep/$VERSION" | grep -q cbtrep
[ "${1:-}" = --add-only ] && exit 0
dkms build "cbtrep/$VERSION"
dkms install "cbtrep/$VERSION"
echo "install.sh: cbtrep $VERSION installed for $(uname -r); modprobe cbtrep loads it"
