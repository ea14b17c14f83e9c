#!/usr/bin/env bash
# Boots one Debian kernel under QEMU (TCG) with a busybox initramfs that holds cbtrep.ko,
# runs one guest scenario and judges it. One command runs a scenario by hand:
#   tests/kernel/run-scenario.sh --kernel 6.12 --scenario load_unload
# Options:
#   --kernel SERIES      6.1 | 6.12 (required)
#   --scenario NAME      tests/kernel/scenarios/NAME.sh (required, or:)
#   --scenario-file PATH a guest script kept elsewhere (benchmarks: bench/tracking/tracking_guest.sh)
#   --disk NAME:MIB      attach a raw virtio disk (repeatable; adds to the scenario's @disks)
#   --net                user-mode networking (guest 10.0.2.15, host loopback is 10.0.2.2)
#   --timeout SECONDS    timeout of each boot (default: the scenario's @timeout, else 120)
#   --smp N --mem MIB    guest CPUs (default 2) and memory (default 1024)
#   --append ARGS        extra kernel command line
#   --build-dir DIR      build tree (default <repo>/build or $CBTREP_BUILD_DIR)
#   --no-prepare         skip fetch-kernels/build-kmod (ctest runs them once as a fixture)
#   --keep               keep the packed initramfs and its staging tree
#   --interactive        console on this terminal, and a guest shell after the scenario
#                        (a power cut the guest asks for is then up to you: Ctrl-A x)
# Verdict: fails without a "CBTREP-SCENARIO: PASS" line, on a FAIL line, on timeout, or when
# the kernel log shows BUG/WARNING/Oops/Call Trace/panic/hung task/RCU stall. Everything of the run,
# serial.log and the extra disks included, stays in <build>/kernel-runs/NAME-<release>/.
# "# @boots: N" boots the same initramfs and disk images N times (the guest sees CBTREP_BOOT);
# a boot before the last may end by a power cut the guest asks for, and every boot is
# judged (serial.bootK.log; serial.log points to the last one).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

series=
scenario=
scen_file_opt=
extra_disks=()
net=0
timeout=
smp=2
mem=1024
append=
prepare=1
keep=0
interactive=0
while (($#)); do
	case "$1" in
	--kernel) series=$2; shift 2 ;;
	--scenario) scenario=$2; shift 2 ;;
	--scenario-file) scen_file_opt=$2; scenario=$(basename "$2" .sh); shift 2 ;;
	--disk) extra_disks+=("$2"); shift 2 ;;
	--net) net=1; shift ;;
	--timeout) timeout=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	--build-dir) kt_set_build "$2"; shift 2 ;;
	--no-prepare) prepare=0; shift ;;
	--keep) keep=1; shift ;;
	--interactive) interactive=1; shift ;;
	-h | --help) sed -n '2,26p' "$0"; exit 0 ;;
	*) kt_die "unknown argument '$1' (try --help)" ;;
	esac
done
[ -n "$series" ] || kt_die "--kernel is required"
[ -n "$scenario" ] || kt_die "--scenario is required"
kt_check_series "$series"
scen_file=${scen_file_opt:-$KT_HERE/scenarios/$scenario.sh}
[ -f "$scen_file" ] || kt_die "no scenario $scen_file"

if ((prepare)); then
	"$KT_HERE/build-kmod.sh" --build-dir "$KT_BUILD" "$series" >/dev/null
fi
release=$(kt_current_release "$series") ||
	kt_die "kernel $series not fetched yet: run without --no-prepare"
kroot=$(kt_kernels_dir)/$release
kmod_dir=$KT_BUILD/kmod-$release
for f in "$kroot/boot/vmlinuz-$release" "$kmod_dir/kmod/cbtrep.ko" \
	"$kmod_dir/selftest-kmod/cbtrep_selftest.ko"; do
	[ -f "$f" ] || kt_die "missing $f: run tests/kernel/build-kmod.sh $series"
done

# Scenario headers: lines "# @key: value" anywhere in the scenario file.
header() {
	sed -n "s/^# @$1:[[:space:]]*//p" "$scen_file" | tr '\n' ' ' | sed 's/[[:space:]]*$//'
}
h_modules=$(header modules)
h_disks=$(header disks)
h_net=$(header net)
h_bins=$(header bins)
h_timeout=$(header timeout)
h_boots=$(header boots)
[ "$h_net" = yes ] && net=1
timeout=${timeout:-${h_timeout:-120}}
boots=${h_boots:-1}
[[ "$boots" =~ ^[1-9]$ ]] || kt_die "bad '# @boots: $h_boots' (want 1..9)"
read -r -a disks <<<"$h_disks"
disks+=("${extra_disks[@]}")

run_dir=$KT_BUILD/kernel-runs/$scenario-$release
rm -rf "$run_dir"
mkdir -p "$run_dir"
stage=$run_dir/initramfs
log=$run_dir/serial.log
guest_env=$stage/etc/cbtrep/env
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib/cbtrep,etc/cbtrep,proc,sys,dev,tmp,run,root,mnt,scenario}

# --- host-side hook ---------------------------------------------------------------------
# scenarios/NAME.host.sh may define host_prepare (before boot: make disk images, start a
# listener, add files to $GUEST_ROOT, append to $GUEST_ENV), host_between_boots N (only
# with "# @boots:", after boot N passed and before the next: inspect or change the disks),
# host_verify (after the last boot passed: inspect the disks) and host_cleanup (always,
# last). They run in this shell with
# RUN_DIR, GUEST_ROOT, GUEST_ENV, KERNEL_RELEASE, KERNEL_SERIES, BUILD_DIR, REPO_DIR and
# DISK_<name> (image paths) set; a failing host_verify fails the test.
export RUN_DIR=$run_dir GUEST_ROOT=$stage GUEST_ENV=$guest_env KERNEL_RELEASE=$release
export KERNEL_SERIES=$series BUILD_DIR=$KT_BUILD REPO_DIR=$KT_REPO
host_hook=$KT_HERE/scenarios/$scenario.host.sh
host_prepare() { :; }
host_verify() { :; }
host_between_boots() { :; }
host_cleanup() { :; }
if [ -f "$host_hook" ]; then
	. "$host_hook"
fi
# QEMU runs in the background (so a power cut can kill it): never leave it behind.
qemu_pid=
trap '[ -z "$qemu_pid" ] || kill -KILL "$qemu_pid" 2>/dev/null; host_cleanup || true' EXIT
trap 'exit 143' TERM INT

# --- guest environment ------------------------------------------------------------------
{
	echo "CBTREP_SCENARIO='$scenario'"
	echo "CBTREP_RELEASE='$release'"
	echo "CBTREP_SERIES='$series'"
	echo "CBTREP_NET='$net'"
	echo "CBTREP_INTERACTIVE='$interactive'"
} >"$guest_env"
guest_modules=$h_modules
drive_args=()
letters=abcdefghijklmnopqrstuvwxyz
i=0
for d in "${disks[@]}"; do
	name=${d%%:*}
	size=${d#*:}
	[[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ && "$size" =~ ^[0-9]+$ && "$d" == *:* ]] ||
		kt_die "bad disk spec '$d' (want NAME:MIB)"
	img=$run_dir/$name.img
	export "DISK_$name=$img"
	echo "DISK_$name=/dev/vd${letters:i:1}" >>"$guest_env"
	# The serial number names the disk inside the guest (guest-lib.sh's disk NAME).
	# discard=unmap: a guest discard (fstrim, blkdiscard) punches a hole in the image, so
	# the image reads zeros there like the replica does; QEMU's default (ignore) would keep
	# the old bytes while virtio-blk still tells the guest it discards.
	drive_args+=(-drive "file=$img,format=raw,if=none,id=disk$i,cache=writeback,discard=unmap"
		-device "virtio-blk-pci,drive=disk$i,serial=$name")
	i=$((i + 1))
done
((${#disks[@]})) && guest_modules="virtio_pci virtio_blk $guest_modules"
((net)) && guest_modules="virtio_pci virtio_net $guest_modules"

host_prepare || kt_die "host_prepare of $scenario failed"
# Disks the hook did not make start out empty (sparse).
for d in "${disks[@]}"; do
	img=$run_dir/${d%%:*}.img
	[ -e "$img" ] || truncate -s "${d#*:}M" "$img"
done

# --- initramfs --------------------------------------------------------------------------
busybox=$(command -v busybox) || kt_die "busybox is missing (apt-get install busybox-static)"
! ldd "$busybox" >/dev/null 2>&1 || kt_die "$busybox is not static: install busybox-static"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list-full); do
	[ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done
install -m 0755 "$KT_HERE/guest/init" "$stage/init"
cp "$KT_HERE/guest/guest-lib.sh" "$stage/lib/cbtrep/guest-lib.sh"
cp "$scen_file" "$stage/scenario/$scenario.sh"
cp "$kmod_dir/kmod/cbtrep.ko" "$kmod_dir/selftest-kmod/cbtrep_selftest.ko" "$stage/lib/cbtrep/"
if [ "$(id -u)" -eq 0 ]; then
	mknod -m 600 "$stage/dev/console" c 5 1
fi

# In-tree modules: a fixed useful set plus the scenario's, with their dependencies,
# decompressed (busybox cannot load .ko.xz) and indexed by depmod for the guest's modprobe.
want="virtio_pci virtio_blk virtio_net brd loop ext4 $h_modules"
mod_base=$kroot/lib/modules/$release
mkdir -p "$stage/lib/modules/$release"
# shellcheck disable=SC2086
/sbin/modprobe -S "$release" -d "$kroot" --show-depends -a $want >"$run_dir/modules.txt" ||
	kt_die "cannot resolve modules '$want' for $release"
while read -r verb path _; do
	[ "$verb" = insmod ] || continue
	rel=${path#"$mod_base"/}
	dst=$stage/lib/modules/$release/${rel%.xz}
	[ -e "$dst" ] && continue
	mkdir -p "$(dirname "$dst")"
	case "$path" in
	*.ko.xz) xz -dc "$path" >"$dst" ;;
	*.ko.zst) zstd -qdc "$path" >"$dst" ;;
	*) cp "$path" "$dst" ;;
	esac
done <"$run_dir/modules.txt"
cp "$mod_base"/modules.order "$mod_base"/modules.builtin "$stage/lib/modules/$release/"
[ -f "$mod_base/modules.builtin.modinfo" ] && cp "$mod_base/modules.builtin.modinfo" "$stage/lib/modules/$release/"
/sbin/depmod -b "$stage" "$release"
# The guest modprobes what the scenario needs, in order, skipping what this kernel has
# built in (virtio_pci is a module on 6.1 and built in on 6.12).
load=
for m in $guest_modules; do
	case " $load " in *" $m "*) continue ;; esac
	/sbin/modprobe -S "$release" -d "$kroot" --show-depends "$m" | grep -q '^builtin ' && continue
	load="$load $m"
done
echo "CBTREP_MODULES='${load# }'" >>"$guest_env"

# Test binaries (@bins) go to /usr/bin. A bare name is a CMake target in
# <build>/tests/kernel/guest-bin/ (brought up to date first, unless --no-prepare, when the
# tree is configured); a path is relative to the build tree or absolute. A dynamic binary
# brings its libraries along.
copy_with_libs() {
	local src=$1 lib
	cp "$src" "$stage/usr/bin/"
	if ldd "$src" >/dev/null 2>&1; then
		for lib in $(ldd "$src" | grep -o '/[^ ]*'); do
			[ -e "$stage$lib" ] && continue
			mkdir -p "$stage$(dirname "$lib")"
			cp -L "$lib" "$stage$lib"
		done
	fi
}
for b in $h_bins; do
	case "$b" in
	/*) path=$b ;;
	*/*) path=$KT_BUILD/$b ;;
	*)
		path=$KT_BUILD/tests/kernel/guest-bin/$b
		if ((prepare)) && [ -f "$KT_BUILD/CMakeCache.txt" ]; then
			(
				kt_lock cmake-build
				cmake --build "$KT_BUILD" --target "$b" >"$run_dir/build-$b.log" 2>&1
			) || kt_die "building $b failed (log: $run_dir/build-$b.log)"
		fi
		;;
	esac
	[ -x "$path" ] || kt_die "test binary $path is missing: configure and build first (cmake -S . -B build && cmake --build build)"
	copy_with_libs "$path"
done

(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) >"$run_dir/initramfs.cpio"

# --- boots -----------------------------------------------------------------------------
net_args=()
((net)) && net_args=(-nic "user,model=virtio-net-pci")
# bad_lines LOG: the first kernel lines that fail a run. Only kernel lines count
# (printk.time=1 stamps them, also in the dmesg dump), so a test tool that prints
# "WARNING:" to the console does not fail a run; a stamp anywhere in the line still
# matches when user output and a kernel message share a line.
bad_re='BUG:|WARNING:|Oops|Call Trace|Kernel panic|UBSAN:|KASAN:|general protection fault'
bad_re="$bad_re|INFO: task .* blocked for more than|detected stalls"
bad_lines() {
	grep -a -n -E "\\[ *[0-9]+\\.[0-9]+\\].*($bad_re)" "$1" | head -n5 || true
}

# boot_once N: boots the guest once (boot N of $boots, same initramfs and disk images),
# waits for it to end and sets `why` to the reason it failed (empty if it did not). A boot
# before the last may end by an unclean power-off: when the guest prints
# "CBTREP-POWER-CUT" (guest-lib.sh: power_cut), QEMU is killed with SIGKILL at once, with
# no shutdown and no flush inside the guest, which is what that boot's disks then hold.
boot_once() {
	local n=$1 blog qpid cut=0 qrc tlimit stamp
	if ((boots > 1)); then
		blog=$run_dir/serial.boot$n.log
		ln -sfn "serial.boot$n.log" "$log"
	else
		blog=$log
	fi
	local serial=file:$blog
	((interactive)) && serial=mon:stdio
	# cryptomgr.notests: the kernel's crypto self-tests are not what we test, and once (CI,
	# 6.1, boot 2 of e2e_power_off_resume) one of them spun in cryptomgr_test under TCG for
	# the whole 150 s boot budget (soft lockup reports only) before our scenario had started.
	local qemu=(qemu-system-x86_64 -accel tcg -machine q35 -cpu max -smp "$smp" -m "$mem"
		-nodefaults -no-user-config -display none -no-reboot
		-serial "$serial" -monitor none
		-kernel "$kroot/boot/vmlinuz-$release" -initrd "$run_dir/initramfs.cpio"
		-append "console=ttyS0 panic=-1 quiet printk.time=1 no_timer_check cryptomgr.notests cbtrep_boot=$n/$boots $append"
		"${drive_args[@]}" "${net_args[@]}")
	printf '%q ' "${qemu[@]}" >"$run_dir/qemu-cmdline.txt"
	kt_log "booting $release, scenario $scenario${boots_note:+, boot $n of $boots} (timeout ${timeout}s, log $blog)"
	: >"$blog"
	why=
	set +e
	if ((interactive)); then
		# The console on this terminal, copied to the log so the verdict still works.
		"${qemu[@]}" 2>"$run_dir/qemu.out" | tee "$blog"
		qrc=${PIPESTATUS[0]}
	else
		"${qemu[@]}" </dev/null >"$run_dir/qemu.out" 2>&1 &
		qpid=$!
		qemu_pid=$qpid
		tlimit=$((SECONDS + timeout))
		while kill -0 "$qpid" 2>/dev/null; do
			if ((n < boots)) && grep -a -q 'CBTREP-POWER-CUT:' "$blog"; then
				kill -KILL "$qpid"
				cut=1
				break
			fi
			if ((SECONDS >= tlimit)); then
				kill -TERM "$qpid"
				stamp=$SECONDS
				while kill -0 "$qpid" 2>/dev/null && ((SECONDS < stamp + 10)); do
					sleep 0.2
				done
				kill -KILL "$qpid" 2>/dev/null
				qrc=124
				break
			fi
			sleep 0.1
		done
		{ wait "$qpid"; } 2>/dev/null # no "Killed" job notice on the console
		qrc=${qrc:-$?}
		qemu_pid=
	fi
	set -e

	if ((qrc == 124)); then
		why="timeout after ${timeout}s"
	elif ((cut)); then
		kt_log "boot $n: power cut (QEMU killed) as the guest asked"
	elif ((qrc != 0)); then
		why="qemu exited with $qrc: $(tail -n3 "$run_dir/qemu.out" | tr '\n' ' ')"
	fi
	local bad failline
	bad=$(bad_lines "$blog")
	if [ -n "$bad" ]; then
		why="${why:+$why; }kernel log shows: $(echo "$bad" | head -n1)"
	fi
	failline=$(grep -a -o 'CBTREP-SCENARIO: FAIL.*' "$blog" | head -n1 || true)
	if [ -n "$failline" ]; then
		why="${why:+$why; }guest says: ${failline#CBTREP-SCENARIO: }"
	elif ((!cut)) && ! grep -a -q 'CBTREP-SCENARIO: PASS' "$blog" && [ -z "$why" ]; then
		why="no verdict line from the guest"
	fi
	if ((boots > 1)) && [ -n "$why" ]; then
		why="boot $n of $boots: $why"
	fi
	return 0
}

start=$SECONDS
boots_note=
((boots > 1)) && boots_note=yes
why=
for ((boot = 1; boot <= boots; boot++)); do
	boot_once "$boot"
	[ -z "$why" ] || break
	if ((boot < boots)); then
		host_between_boots "$boot" || { why="host_between_boots $boot failed"; break; }
	fi
done
elapsed=$((SECONDS - start))

# --- verdict ----------------------------------------------------------------------------
if [ -z "$why" ]; then
	host_verify || why="host_verify failed"
fi
((keep)) || rm -rf "$stage" "$run_dir/initramfs.cpio"

if [ -n "$why" ]; then
	echo "----- last 60 lines of $log -----" >&2
	tail -n 60 "$log" >&2
	echo "-----" >&2
	kt_log "FAIL $scenario on $release after ${elapsed}s: $why"
	kt_log "serial log kept at $log"
	exit 1
fi
kt_log "PASS $scenario on $release in ${elapsed}s"
