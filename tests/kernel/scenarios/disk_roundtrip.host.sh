# Host side of disk_roundtrip.sh: sourced by run-scenario.sh (bash).

host_prepare() {
	HOST_TOKEN="host-$$-$RANDOM"
	GUEST_TOKEN="guest-$$-$RANDOM"
	mkdir -p "$RUN_DIR/data-src"
	echo "$HOST_TOKEN" >"$RUN_DIR/data-src/from-host.txt"
	mkfs.ext4 -q -F -L cbtdata -d "$RUN_DIR/data-src" "$DISK_data" 64M
	{
		echo "HOST_TOKEN='$HOST_TOKEN'"
		echo "GUEST_TOKEN='$GUEST_TOKEN'"
	} >>"$GUEST_ENV"
}

host_verify() {
	local got
	e2fsck -fn "$DISK_data" >"$RUN_DIR/e2fsck.log" 2>&1 || {
		echo "e2fsck finds the guest-written image inconsistent:" >&2
		cat "$RUN_DIR/e2fsck.log" >&2
		return 1
	}
	got=$(debugfs -R "cat /from-guest.txt" "$DISK_data" 2>/dev/null)
	[ "$got" = "$GUEST_TOKEN" ] || {
		echo "from-guest.txt holds '$got', want '$GUEST_TOKEN'" >&2
		return 1
	}
	cmp <(yes "$GUEST_TOKEN" | head -c 4096) <(dd if="$DISK_raw" bs=4096 skip=256 count=1 2>/dev/null) || {
		echo "the raw disk does not hold the guest's pattern at 1 MiB" >&2
		return 1
	}
}
