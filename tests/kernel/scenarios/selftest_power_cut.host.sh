# Host side of selftest_power_cut.sh: boot 1 must have ended by the power cut (it asked for
# it, and never reached the end of its scenario); the host then writes its own token into
# the same image, which boot 2 must see.

host_prepare() {
	GUEST_TOKEN="guest-$$-$RANDOM"
	HOST_TOKEN="host-$$-$RANDOM"
	{
		echo "GUEST_TOKEN='$GUEST_TOKEN'"
		echo "HOST_TOKEN='$HOST_TOKEN'"
	} >>"$GUEST_ENV"
}

host_between_boots() {
	local log=$RUN_DIR/serial.boot$1.log
	grep -a -q "CBTREP-POWER-CUT: boot 1 of 2" "$log" ||
		{ echo "boot 1 never asked for the power cut" >&2; return 1; }
	! grep -a -q -E "CBTREP-SCENARIO:|scenario selftest_power_cut end" "$log" ||
		{ echo "boot 1 reached the end of its scenario: the power was not cut" >&2; return 1; }
	# (yes dies of SIGPIPE, and the hooks run under pipefail)
	{ yes "$HOST_TOKEN" || true; } | head -c 4096 |
		dd of="$DISK_raw" bs=4096 seek=32 conv=notrunc 2>/dev/null
}

host_verify() {
	[ -L "$RUN_DIR/serial.log" ] && [ "$(readlink "$RUN_DIR/serial.log")" = serial.boot2.log ] ||
		{ echo "serial.log does not point to the last boot's log" >&2; return 1; }
}
