# The in-tree block devices later tracker tests attach to are usable in the guest: brd
# (with module parameters) and loop over a tmpfs file, written and read back.

check "modprobe brd with parameters" modprobe brd rd_nr=1 rd_size=16384
check "/dev/ram0 exists" test -b /dev/ram0
[ "$(blockdev --getsize64 /dev/ram0)" = $((16384 * 1024)) ] || fail "/dev/ram0 has the wrong size"
check "write /dev/ram0" sh -c "yes ram0 | head -c 1048576 | dd of=/dev/ram0 bs=65536 conv=fsync 2>/dev/null"
check "read /dev/ram0 back" sh -c "[ \"\$(dd if=/dev/ram0 bs=65536 count=16 2>/dev/null | md5sum)\" = \"\$(yes ram0 | head -c 1048576 | md5sum)\" ]"
check "rmmod brd" rmmod brd

check "modprobe loop" modprobe loop
check "make a backing file" dd if=/dev/zero of=/tmp/backing bs=1M count=8 2>/dev/null
loopdev=$(losetup -f)
check "losetup $loopdev" losetup "$loopdev" /tmp/backing
check "write through $loopdev" sh -c "echo loop-ok | dd of=$loopdev conv=fsync 2>/dev/null"
check "the backing file has it" sh -c "head -c 7 /tmp/backing | grep -q loop-ok"
check "detach $loopdev" losetup -d "$loopdev"
