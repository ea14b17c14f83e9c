# Host side of the e2e_power_off* scenarios (bash, sourced by their .host.sh after they set
# E2E_RESUME, 0 or 1, as their guest side does): an ext4 data disk and a metadata disk made
# here, one cbtrep-target serving an empty replica through both boots (it runs on "another
# machine": the power cut does not touch it). Between the boots: boot 1 really ended with
# the data filesystem mounted (its journal needs recovery) after the replica had reached a
# tag. After the last boot: the data disk image, the guest's own digest of the device at
# the end and the replica have the same sha256 (with E2E_RESUME=1 also: the target logged
# the app-consistent tag app-final).
. "$REPO_DIR/tests/kernel/e2e/host-lib.sh"

E2E_DATA_MIB=${E2E_DATA_MIB:-128} # as in the scenario's "# @disks: data:MIB"

host_prepare() {
	truncate -s "${E2E_DATA_MIB}M" "$DISK_data"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DISK_data" || return 1
	truncate -s 16M "$DISK_meta"
	mkfs.ext4 -q -F "$DISK_meta" || return 1
	e2e_certs "$RUN_DIR/certs" || return 1
	e2e_start_target "$RUN_DIR" data0 "$RUN_DIR/replica.img" $((E2E_DATA_MIB << 20)) || return 1
	e2e_guest_files "$GUEST_ROOT" "$RUN_DIR/certs"
	# E2E_SKIP_RESYNC=1 in the environment: the guest leaves out the resync after the power
	# cut, and host_verify must then fail (the test's own negative check, by hand).
	{
		echo "E2E_TARGET_PORT=$E2E_TARGET_PORT"
		echo "E2E_RESUME=$E2E_RESUME"
		echo "E2E_SKIP_RESYNC=${E2E_SKIP_RESYNC:-0}"
		echo "E2E_META_LOST=${E2E_META_LOST:-0}"
		echo "E2E_DRAIN=${E2E_DRAIN:-0}"
	} >>"$GUEST_ENV"
}

host_between_boots() {
	grep -q "reached tag 'before-cut'" "$RUN_DIR/target.log" ||
		{ echo "the replica never reached tag before-cut in boot 1" >&2; return 1; }
	# Mounted when the power went: the journal still says it needs recovery.
	dumpe2fs -h "$DISK_data" 2>/dev/null | grep -q "^Filesystem features:.*needs_recovery" ||
		{ echo "the data filesystem was not left mounted by the power cut" >&2; return 1; }
	echo "host: boot 1 ended by a power cut with $DISK_data mounted (needs_recovery);" \
		"the target holds it at $(grep -c "reached tag" "$RUN_DIR/target.log") tag(s)"
}

host_verify() {
	local want got said
	e2e_stop_target || return 1
	if [ "${E2E_DRAIN:-0}" = 1 ]; then
		# Drained to app-final (crash-consistent kind: the filesystem was unmounted, not
		# frozen): the planned failover promotes the replica there, nothing after it.
		grep -q "reached tag 'app-final'" "$RUN_DIR/target.log" ||
			{ echo "the target never logged the final tag app-final" >&2; return 1; }
		"$BUILD_DIR/tools/cbtrep/cbtrep" failover --planned data0 --config "$RUN_DIR/target.json" ||
			{ echo "cbtrep failover --planned refused the drained replica" >&2; return 1; }
	elif [ "$E2E_RESUME" = 1 ]; then
		grep -q "reached tag 'app-final'.*app-consistent" "$RUN_DIR/target.log" ||
			{ echo "the target never logged the app-consistent tag app-final" >&2; return 1; }
	fi
	if [ "${E2E_META_LOST:-0}" = 1 ]; then
		# The numbering restarted below what the replica had applied in boot 1.
		local before from after
		before=$(e2e_guest_value boot1_applied_seq "$RUN_DIR/serial.boot1.log")
		after=$(e2e_guest_value after_resync_seq "$RUN_DIR/serial.log")
		from=$(sed -n 's/.*resync rebases the sequence from \([0-9]*\) to 0:.*/\1/p' \
			"$RUN_DIR/target.log" | head -n1)
		echo "host_verify: boot 1 reached seq $before at before-cut, $from at the power cut;" \
			"boot 2's new numbering reached seq $after at after-resync"
		[ -n "$from" ] && [ -n "$before" ] && [ "$from" -ge "$before" ] ||
			{ echo "the target did not rebase the replica's sequence (from >= $before) to 0" >&2; return 1; }
	fi
	want=$(e2e_sha "$DISK_data")
	got=$(e2e_sha "$RUN_DIR/replica.img")
	said=$(e2e_guest_value source_sha256 "$RUN_DIR/serial.log")
	echo "host_verify: source disk at the end $want"
	echo "host_verify: guest's digest of it   $said"
	echo "host_verify: replica                $got"
	[ "$want" = "$said" ] ||
		{ echo "the data disk changed after the guest's final digest" >&2; return 1; }
	[ "$want" = "$got" ] || {
		echo "the replica differs from the source:" \
			"$(cmp -l "$DISK_data" "$RUN_DIR/replica.img" | wc -l) bytes" >&2
		return 1
	}
	e2fsck -fn "$DISK_data" >"$RUN_DIR/e2fsck.log" 2>&1 ||
		{ echo "e2fsck finds the source image inconsistent (see e2fsck.log)" >&2; return 1; }
}

host_cleanup() { e2e_cleanup; }
