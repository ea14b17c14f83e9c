# Host side of e2e_journal_pressure.sh: the data disk is ext4 made here; the target serves an
# empty replica of the same size. Proof: after shutdown, the data disk image (the source,
# frozen at the app-consistent tag) and the replica have the same sha256, and the target
# logged the app-consistent tag.
. "$REPO_DIR/tests/kernel/e2e/host-lib.sh"

host_prepare() {
	truncate -s 256M "$DISK_data"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DISK_data" || return 1
	truncate -s 16M "$DISK_meta"
	mkfs.ext4 -q -F "$DISK_meta" || return 1
	e2e_certs "$RUN_DIR/certs" || return 1
	e2e_start_target "$RUN_DIR" data0 "$RUN_DIR/replica.img" $((256 << 20)) || return 1
	e2e_guest_files "$GUEST_ROOT" "$RUN_DIR/certs"
	echo "E2E_TARGET_PORT=$E2E_TARGET_PORT" >>"$GUEST_ENV"
}

host_verify() {
	local want got
	e2e_stop_target || return 1
	want=$(e2e_sha "$DISK_data")
	got=$(e2e_sha "$RUN_DIR/replica.img")
	echo "host_verify: source disk at the tag $want"
	echo "host_verify: replica                $got"
	[ "$want" = "$got" ] || { echo "the replica differs from the source at the tag" >&2; return 1; }
	grep -q "reached tag 'app-final'.*app-consistent" "$RUN_DIR/target.log" ||
		{ echo "the target never logged the app-consistent tag" >&2; return 1; }
}

host_cleanup() { e2e_cleanup; }
