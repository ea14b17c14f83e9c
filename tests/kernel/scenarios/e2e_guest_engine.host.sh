# Host side of e2e_guest_engine.sh: certificates, cbtrep-target on 127.0.0.1 with an empty
# replica, and the proof: the replica's sha256 equals that of image.bin (the device at the
# last tag) read back out of the shut-down work disk.
. "$REPO_DIR/tests/kernel/e2e/host-lib.sh"

E2E_DEVICE_MIB=${E2E_DEVICE_MIB:-128}

host_prepare() {
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DISK_work" 384M || return 1
	e2e_certs "$RUN_DIR/certs" || return 1
	e2e_start_target "$RUN_DIR" disk0 "$RUN_DIR/replica.img" $((E2E_DEVICE_MIB << 20)) || return 1
	e2e_guest_files "$GUEST_ROOT" "$RUN_DIR/certs"
	{
		echo "E2E_TARGET_PORT=$E2E_TARGET_PORT"
		echo "E2E_DEVICE_MIB=$E2E_DEVICE_MIB"
		echo "E2E_HISTORY_MIB=${E2E_HISTORY_MIB:-96}"
		echo "E2E_SEED=${E2E_SEED:-$RANDOM}"
	} >>"$GUEST_ENV"
}

host_verify() {
	local log=$RUN_DIR/serial.log want got said
	e2e_stop_target || return 1
	debugfs -R "dump /h/image.bin $RUN_DIR/image.bin" "$DISK_work" >/dev/null 2>&1 ||
		{ echo "debugfs cannot read /h/image.bin from $DISK_work" >&2; return 1; }
	want=$(e2e_sha "$RUN_DIR/image.bin")
	got=$(e2e_sha "$RUN_DIR/replica.img")
	said=$(e2e_guest_value expected_sha256 "$log")
	echo "host_verify: source image at the last tag $want"
	echo "host_verify: replica                      $got"
	[ "$want" = "$said" ] || { echo "gen-history's digest $said != image $want" >&2; return 1; }
	[ "$want" = "$got" ] || { echo "replica differs from the source at the last tag" >&2; return 1; }
	rm -f "$RUN_DIR/image.bin"
}

host_cleanup() {
	e2e_kill_target
}
