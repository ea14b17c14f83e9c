#!/bin/sh
# Cross-build step run by CMake: build.sh MAKE OUTDIR
# A failed cross build does not stop the rest of the project's build; it removes the images
# and leaves OUTDIR/BUILD_FAILED, so every `windows` test fails with the log instead.
make=$1
out=$2
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
rm -f "$out/BUILD_FAILED"
if ! env -u CFLAGS -u CPPFLAGS -u LDFLAGS "$make" --no-print-directory -C "$src" O="$out" \
	CROSS=x86_64-w64-mingw32- >"$out/build.log" 2>&1; then
	rm -f "$out/cbtrep.sys" "$out/cbtrep.unstripped.sys" "$out/cbtrep.exe"
	echo "make failed, see $out/build.log" >"$out/BUILD_FAILED"
	tail -n 20 "$out/build.log" >&2
	echo "wfilter: cross build of cbtrep.sys FAILED; the windows tests will fail" >&2
fi
exit 0
