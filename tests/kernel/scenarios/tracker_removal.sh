# Tracker, lifetime under load: detach while a writer is running, rmmod refused while
# devices are attached, and removal of the tracked device (brd, loop) while attached:
# the tracker holds the device open, so brd's unload is refused and loop's detach is
# deferred until the tracker lets go — no oops, no warning, tracking stays consistent.
# @bins: tools/ctl/cbtrep-ctl tools/ctl/cbtrep-gt-writer
# @timeout: 600

load_cbtrep
modprobe brd rd_nr=2 rd_size=65536

# Detach under load, twice.
for round in 1 2; do
	check "attach r0 (round $round)" cbtrep-ctl attach r0 /dev/ram0 --cap 1048576
	cbtrep-gt-writer /dev/ram0 /tmp/load.log 0 4000 $round --max-kib 256 >/tmp/w.out 2>&1 &
	wpid=$!
	sleep 2
	check "detach while writing" cbtrep-ctl detach r0
	wait $wpid || fail "the writer failed after a detach under load: $(cat /tmp/w.out)"
	echo "ok: writer finished after the detach"
done

# rmmod with devices attached is refused, and the module keeps working.
check "attach r0" cbtrep-ctl attach r0 /dev/ram0
check "attach r1" cbtrep-ctl attach r1 /dev/ram1
check_not "rmmod refused with two devices attached" rmmod cbtrep
dd if=/dev/urandom of=/dev/ram1 bs=4096 count=4 oflag=direct 2>/dev/null
check "still tracking" cbtrep-ctl get r1 /tmp/r1.stream

# brd removal while attached: refused (the tracker holds ram0/ram1 open).
check_not "rmmod brd refused while its disks are tracked" rmmod brd
cbtrep-ctl status r0 --json | grep -q '"state_reason":"new device"' ||
	fail "state changed although the device is still there"
check "detach r0" cbtrep-ctl detach r0
check "detach r1" cbtrep-ctl detach r1
check "rmmod brd once detached" rmmod brd

# loop removal while attached: losetup -d is deferred until the tracker closes the device.
modprobe loop
dd if=/dev/zero of=/tmp/loop.img bs=1M count=32 2>/dev/null
check "losetup" losetup /dev/loop0 /tmp/loop.img
check "attach loop0" cbtrep-ctl attach l0 /dev/loop0
dd if=/dev/urandom of=/dev/loop0 bs=4096 count=8 oflag=direct 2>/dev/null
losetup -d /dev/loop0 || true
cbtrep-ctl status l0
check "detach loop0 after its removal" cbtrep-ctl detach l0
losetup -d /dev/loop0 2>/dev/null || true

# With nothing attached the module unloads cleanly.
unload_cbtrep
