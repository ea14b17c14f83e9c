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

# disk NAME: the device node of the extra disk the host attached as NAME.
disk() {
	eval "_dev=\${DISK_$1:-}"
	[ -n "$_dev" ] || fail "no disk named '$1' was attached (use --disk $1:SIZE or @disks)"
	[ -b "$_dev" ] || fail "disk '$1' should be $_dev, which is not a block device"
	echo "$_dev"
}
