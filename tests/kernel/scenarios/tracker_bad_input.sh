# Tracker, bad input: unknown devices, double attach, zero/tiny/oversized caps, bogus batch
# ids, short user buffers, bad headers and pointers get an errno, never an oops; rmmod is
# refused while a device is attached.
# @bins: tools/ctl/cbtrep-ctl

# expect_rc RC DESCRIPTION COMMAND...: COMMAND must exit with RC (cbtrep-ctl exits with the
# ioctl's errno).
expect_rc() {
	_want=$1
	_desc=$2
	shift 2
	set +e
	"$@" >/tmp/rc.out 2>&1
	_rc=$?
	set -e
	[ "$_rc" = "$_want" ] || { cat /tmp/rc.out; fail "$_desc: exit $_rc, want $_want"; }
	echo "ok: $_desc (exit $_rc)"
}

load_cbtrep
modprobe brd rd_nr=2 rd_size=16384
check "malformed requests are refused" cbtrep-ctl bad-input
expect_rc 2 "status of an unknown device is ENOENT" cbtrep-ctl status nope
expect_rc 2 "detach of an unknown device is ENOENT" cbtrep-ctl detach nope
expect_rc 22 "a 1000-byte cap is EINVAL" cbtrep-ctl attach r0 /dev/ram0 --cap 1000
expect_rc 22 "a 1 PiB cap is EINVAL" cbtrep-ctl attach r0 /dev/ram0 --cap 1125899906842624
expect_rc 22 "a 3000-byte granularity is EINVAL" cbtrep-ctl attach r0 /dev/ram0 --granularity 3000
check "attach with cap 0 (the default)" cbtrep-ctl attach r0 /dev/ram0 --cap 0
expect_rc 17 "attaching the same name twice is EEXIST" cbtrep-ctl attach r0 /dev/ram1
expect_rc 17 "attaching the same device twice is EEXIST" cbtrep-ctl attach r0b /dev/ram0
expect_rc 11 "GET with nothing to drain is EAGAIN" cbtrep-ctl get r0 /tmp/x.stream
expect_rc 116 "COMMIT with nothing outstanding is ESTALE" cbtrep-ctl commit r0 1
dd if=/dev/urandom of=/dev/ram0 bs=4096 count=4 oflag=direct 2>/dev/null
expect_rc 28 "GET into a 100-byte buffer is ENOSPC" cbtrep-ctl get r0 /tmp/x.stream 0 100
grep -q "needs 4224 bytes" /tmp/rc.out || fail "ENOSPC did not say how much is needed"
echo "ok: ENOSPC says how much is needed"
check "GET into a large enough buffer" cbtrep-ctl get r0 /tmp/x.stream 1 4224
expect_rc 116 "COMMIT of a bogus batch id is ESTALE" cbtrep-ctl commit r0 12345
expect_rc 22 "MARK_DIRTY past the end is EINVAL" cbtrep-ctl mark-dirty r0 32768 8
expect_rc 22 "MARK_DIRTY of nothing is EINVAL" cbtrep-ctl mark-dirty r0 0 0
expect_rc 2 "bitmap before any cut is ENOENT" cbtrep-ctl bitmap r0 /tmp/x.bitmap
expect_rc 2 "TAG naming an unknown device is ENOENT" cbtrep-ctl tag t1 r0 nope
expect_rc 22 "TAG naming a device twice is EINVAL" cbtrep-ctl tag t1 r0 r0
check_not "rmmod is refused while a device is attached" rmmod cbtrep
check "still loaded" module_loaded cbtrep
check "status still answers" cbtrep-ctl status r0
check "detach" cbtrep-ctl detach r0
expect_rc 2 "detach twice is ENOENT" cbtrep-ctl detach r0
unload_cbtrep
