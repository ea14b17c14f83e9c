#!/usr/bin/env bash
# Idempotent dependency step shared by demo.sh, check.sh and bench.sh: installs from Debian's
# packages whatever is missing, and nothing when everything is there (no network needed then).
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang-format
    liburing-dev libaio-dev libssl-dev openssl liblz4-dev libxxhash-dev nlohmann-json3-dev catch2
    qemu-system-x86 busybox-static cpio kmod xz-utils zstd e2fsprogs util-linux dwarves
    mingw-w64 binutils-mingw-w64-x86-64
    rsync iproute2 clang libclang-rt-14-dev
    nbdkit nbdkit-plugin-dev libnbd-bin jq
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
