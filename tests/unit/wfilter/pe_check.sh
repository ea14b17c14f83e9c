#!/usr/bin/env bash
# PE checks of the Windows build, one property per invocation (each is a ctest test):
#   pe_check.sh build       OUTDIR   the cross build succeeded (else: its log)
#   pe_check.sh sys-format  OUTDIR   cbtrep.sys is PE32+ with subsystem 1 (native)
#   pe_check.sh sys-imports OUTDIR   it imports from ntoskrnl.exe (and at most HAL.dll), nothing else
#   pe_check.sh sys-entry   OUTDIR   its entry point is DriverEntry (symbol of the unstripped link)
#   pe_check.sh exe-format  OUTDIR   cbtrep.exe is a PE32+ console program (subsystem 3)
# OUTDIR holds cbtrep.sys, cbtrep.unstripped.sys and cbtrep.exe. A missing tool or file
# is a failure: these tests never pass by skipping.
set -euo pipefail
check=$1
out=$2
OBJDUMP=${OBJDUMP:-x86_64-w64-mingw32-objdump}
NM=${NM:-x86_64-w64-mingw32-nm}

fail() { echo "FAIL: $*" >&2; exit 1; }
command -v "$OBJDUMP" >/dev/null || fail "$OBJDUMP not found (install mingw-w64: tools/deps.sh)"
command -v "$NM" >/dev/null || fail "$NM not found (install mingw-w64: tools/deps.sh)"

sys=$out/cbtrep.sys
dbg=$out/cbtrep.unstripped.sys
exe=$out/cbtrep.exe

# Value of a field of `objdump -p` (first word after the name).
field() { "$OBJDUMP" -p "$1" | awk -v k="$2" '$1 == k && !done { print $2; done = 1 }'; }

need() { [ -s "$1" ] || fail "$1 missing (was the wfilter target built?)"; }

case $check in
build)
	if [ -e "$out/BUILD_FAILED" ]; then
		cat "$out/build.log" >&2
		fail "cross build failed"
	fi
	need "$sys"
	need "$dbg"
	need "$exe"
	;;
sys-format)
	need "$sys"
	magic=$(field "$sys" Magic)
	subsys=$(field "$sys" Subsystem)
	echo "Magic=$magic Subsystem=$subsys"
	[ "$magic" = 020b ] || fail "cbtrep.sys is not PE32+ (Magic $magic)"
	[ "$subsys" = 00000001 ] || fail "cbtrep.sys subsystem is $subsys, not 1 (native)"
	;;
sys-imports)
	need "$sys"
	dlls=$("$OBJDUMP" -p "$sys" | awk '/DLL Name:/ { print $3 }')
	echo "imports from: $(echo $dlls)"
	echo "$dlls" | grep -qix 'ntoskrnl.exe' || fail "cbtrep.sys does not import ntoskrnl.exe"
	while read -r d; do
		[ -z "$d" ] && continue
		case ${d,,} in
		ntoskrnl.exe | hal.dll) ;;
		*) fail "cbtrep.sys imports from $d (only ntoskrnl.exe and HAL.dll are allowed)" ;;
		esac
	done <<<"$dlls"
	;;
sys-entry)
	need "$sys"
	need "$dbg"
	base=$(field "$dbg" ImageBase)
	entry=$(field "$sys" AddressOfEntryPoint)
	entry_dbg=$(field "$dbg" AddressOfEntryPoint)
	sym=$("$NM" "$dbg" | awk '$2 == "T" && $3 == "DriverEntry" { print $1 }')
	[ -n "$sym" ] || fail "no DriverEntry symbol in $dbg"
	want=$(printf '%016x' $((0x$sym - 0x$base)))
	echo "DriverEntry=0x$sym ImageBase=0x$base entry(sys)=0x$entry entry(unstripped)=0x$entry_dbg"
	[ "$((0x$entry_dbg))" = "$((0x$want))" ] || fail "entry point 0x$entry_dbg is not DriverEntry (0x$want)"
	[ "$((0x$entry))" = "$((0x$want))" ] || fail "cbtrep.sys entry 0x$entry differs from the unstripped link"
	;;
exe-format)
	need "$exe"
	magic=$(field "$exe" Magic)
	subsys=$(field "$exe" Subsystem)
	echo "Magic=$magic Subsystem=$subsys"
	[ "$magic" = 020b ] || fail "cbtrep.exe is not PE32+ (Magic $magic)"
	[ "$subsys" = 00000003 ] || fail "cbtrep.exe subsystem is $subsys, not 3 (console)"
	;;
*)
	fail "unknown check $check"
	;;
esac
echo "ok: $check"
