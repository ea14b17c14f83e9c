# Helpers for scenarios, sourced into every scenario shell (busybox sh, run with -e).
# A scenario passes when it exits 0; each helper that fails says why on the console first.

. /etc/cbtrep/env

# fail MESSAGE: end the scenario as failed.
fail() {
	echo "FAIL: $*"
	exit 1
}

# check DESCRIPTION COMMAND...: COMMAND must succeed.
check() {
	_desc=$1
	shift
	if "$@"; then
		echo "ok: $_desc"
	else
		fail "$_desc (command: $*)"
	fi
}

# check_not DESCRIPTION COMMAND...: COMMAND must fail.
check_not() {
	_desc=$1
	shift
	if "$@"; then
		fail "$_desc (command succeeded: $*)"
	else
		echo "ok: $_desc"
	fi
}

# load_cbtrep [PARAM=VALUE...]: insmod the module under test.
load_cbtrep() {
	check "insmod cbtrep.ko $*" insmod /lib/cbtrep/cbtrep.ko "$@"
}

unload_cbtrep() {
	check "rmmod cbtrep" rmmod cbtrep
}

# load_selftest PARAM=VALUE...: insmod the harness self-test module.
load_selftest() {
	insmod /lib/cbtrep/cbtrep_selftest.ko "$@"
}

# module_loaded NAME
module_loaded() {
	grep -q "^$1 " /proc/modules
}

# disk NAME: the device node of the extra disk the host attached as NAME. Found by the
# virtio serial number the host gave it (robust against probe order).
disk() {
	for _s in /sys/block/vd*/serial; do
		[ -e "$_s" ] || continue
		if [ "$(cat "$_s")" = "$1" ]; then
			_dev=/dev/${_s#/sys/block/}
			_dev=${_dev%/serial}
			[ -b "$_dev" ] || fail "disk '$1' should be $_dev, which is not a block device"
			echo "$_dev"
			return 0
		fi
	done
	fail "no disk named '$1' is attached (use --disk $1:MIB or # @disks: $1:MIB)"
}

# power_cut: (a "# @boots:" scenario, any boot but the last) asks the host to cut the power
# now: it kills QEMU as soon as it reads the request (within ~0.1 s, longer on a busy
# host), with no shutdown, sync or flush in the guest. The caller keeps working (the cut
# is meant to land in the middle of its writes) and must not end the scenario by itself:
# a boot that ends otherwise is judged as usual. Before asking, the kernel log so far goes
# to the console and every later message goes there at once, so a warning before the cut
# still fails the run.
power_cut() {
	[ "$CBTREP_BOOT" -lt "$CBTREP_BOOTS" ] || fail "power_cut in the last boot ($CBTREP_BOOT of $CBTREP_BOOTS)"
	dmesg -n 8
	echo "----- guest dmesg before the power cut -----"
	dmesg
	echo "----- end of guest dmesg -----"
	echo "CBTREP-POWER-CUT: boot $CBTREP_BOOT of $CBTREP_BOOTS"
}
