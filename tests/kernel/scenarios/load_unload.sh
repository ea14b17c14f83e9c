# Loads cbtrep.ko, checks its control device and version ioctl, unloads it and checks that
# everything it registered is gone. Twice, so a leak on unload shows up as a failed reload.
# @bins: cbtrep-ktest-ctl-version

for round in 1 2; do
	echo "round $round"
	load_cbtrep
	check "cbtrep listed in /proc/modules" module_loaded cbtrep
	check "/dev/cbtrep-ctl is a character device" test -c /dev/cbtrep-ctl
	mode=$(stat -c %a /dev/cbtrep-ctl)
	owner=$(stat -c %u:%g /dev/cbtrep-ctl)
	[ "$mode" = 600 ] || fail "/dev/cbtrep-ctl has mode $mode, want 600"
	[ "$owner" = 0:0 ] || fail "/dev/cbtrep-ctl is owned by $owner, want 0:0"
	check "version ioctl answers the expected ABI" cbtrep-ktest-ctl-version
	check "nobody cannot open /dev/cbtrep-ctl" cbtrep-ktest-ctl-version --nobody
	check "misc device registered" grep -q ' cbtrep-ctl$' /proc/misc
	unload_cbtrep
	check_not "cbtrep gone from /proc/modules" module_loaded cbtrep
	check_not "/dev/cbtrep-ctl removed" test -e /dev/cbtrep-ctl
	check_not "misc device gone" grep -q ' cbtrep-ctl$' /proc/misc
done
