# The unclean power-off flow of the e2e_power_off* scenarios (busybox sh, "# @boots: 2"),
# installed as /lib/cbtrep/e2e-power-off-flow.sh by e2e_guest_files and sourced by a
# scenario after /lib/cbtrep/e2e.sh, with E2E_RESUME set:
#
# boot 1: cbtrep.ko attaches to the MOUNTED ext4 data disk (metadata file on the meta disk);
#   the first copy by checksum resync; cbtrepd (kernel source) replicates a workload to the
#   host's cbtrep-target up to tag before-cut; then, with files being written, the power
#   is cut (power_cut: QEMU killed, no sync, no unmount).
# boot 2, same disks: the attach finds the header dirty and STATUS says resync-required,
#   reason "unclean shutdown". A bitmap cut, then a checksum resync, then RESYNC done as of
#   that cut clears resync-required (STATUS: dirty, none). The resync runs:
#   E2E_RESUME=0: with the data filesystem unmounted (journal replayed), so it makes the
#     replica equal to the quiesced device.
#   E2E_RESUME=1: by cbtrepd itself (its automatic resync: cut, resync, DONE) on the
#     mounted, live disk, and the flow waits for STATUS dirty/none; then cbtrepd resumes on
#     the tracker, a second workload is replicated to tag after-resync; the filesystem is
#     unmounted and the app-consistent tag app-final taken (no write after it).
# E2E_META_LOST=1 (with E2E_RESUME=1): the metadata file is deleted before boot 2's attach,
#   as when a server's agent is reinstalled: the tracker says resync-required "new device"
#   and numbers its journal from 1 again, far below what the replica applied in boot 1.
#   cbtrepd's resync must rebase the replica's sequence, or the journal after it is taken
#   for batches applied before and dropped (the host's comparison then fails).
# E2E_DRAIN=1: the final point is taken the way a planned failover drains the source:
#   applications stopped (unmounted), `cbtrep tag --wait` cuts app-final and waits until
#   cbtrepd reports it durable on the replica; the host then promotes the replica with
#   `cbtrep failover --planned`, which refuses if anything landed after the tag.
# Either way the device is not written after the guest's final sha256 (E2E-VALUE
# source_sha256), and the host compares it, the data image and the replica
# (power-off-host.sh). E2E_SKIP_RESYNC=1 (from the host's environment) leaves out the
# resync of boot 2: the host's comparison must then fail.

DATA=$(disk data)
META=$(disk meta)
MNT=/mnt/data
CERTS=/etc/cbtrep/certs

# The checksum resync of the whole device to the target (docs/resync.md); on a live disk
# cbtrepd starts only after it, so the records tracked meanwhile land on top.
resync_to_target() {
	echo "E2E: checksum resync $DATA -> 10.0.2.2:$E2E_TARGET_PORT/data0 ($1)"
	_t0=$(e2e_uptime)
	cbtrep resync "$DATA" --target "10.0.2.2:$E2E_TARGET_PORT/data0" --ca $CERTS/ca.pem \
		--cert $CERTS/engine1.pem --key $CERTS/engine1.key --server-name localhost \
		--no-checkpoint --json >/tmp/resync.json || fail "cbtrep resync ($1) failed"
	tail -n1 /tmp/resync.json | sed 's/^/E2E: resync summary: /'
	echo "E2E: resync ($1) took $(awk -v a="$_t0" -v b="$(e2e_uptime)" 'BEGIN{print b - a}') s"
}

# wait_tag NAME TIMEOUT_S: until the target has applied the batch holding tag NAME.
wait_tag() {
	_i=0
	until [ "$(e2e_status tag)" = "$1" ]; do
		_i=$((_i + 1))
		[ "$_i" -le $(($2 * 4)) ] || { e2e_engine_log_tail; fail "the replica did not reach tag $1 in $2 s"; }
		kill -0 "$E2E_ENGINE_PID" 2>/dev/null || { e2e_engine_log_tail; fail "cbtrepd exited"; }
		[ $((_i % 8)) = 0 ] && e2e_progress "(waiting for tag $1)"
		sleep 0.25
	done
	e2e_progress "(the replica reached tag $1)"
}

# workload DIR: a directory tree unpacked, files written with fsync and rewritten in
# place, text, a tree and a file deleted.
workload() {
	mkdir -p "$MNT/$1"
	tar -C "$MNT/$1" -xf /tmp/tree.tar || fail "unpack into $1"
	for _f in 1 2; do
		dd if=/dev/urandom of="$MNT/$1/rand$_f" bs=1M count=2 conv=fsync 2>/dev/null ||
			fail "dd $1/rand$_f"
	done
	dd if=/dev/urandom of="$MNT/$1/rand1" bs=4k seek=100 count=8 conv=notrunc,fsync 2>/dev/null
	yes "cbtrep power-off $1" | head -c $((1 << 20)) >"$MNT/$1/text.log"
	rm -rf "${MNT:?}/$1/lib"
	rm -f "$MNT/$1/rand2"
}

# tracker_state: "STATE REASON" as STATUS reports them (ATTACH reports the state the
# metadata header was found in instead).
tracker_state() {
	cbtrep-e2e-ctl status data0 >/tmp/status || fail "STATUS failed"
	echo "$(sed -n 's/^state=//p' /tmp/status) $(sed -n 's/^state_reason_str=//p' /tmp/status)"
}

# final_digest: the device, not written any more, as the guest reads it.
final_digest() {
	echo 3 >/proc/sys/vm/drop_caches
	e2e_value source_sha256 "$(sha256sum "$DATA" | cut -d' ' -f1)"
}

load_cbtrep
mkdir -p "$MNT" /mnt/meta
check "mount the data disk (ext4)" mount -t ext4 "$DATA" "$MNT"
check "mount the metadata disk (ext4)" mount -t ext4 "$META" /mnt/meta
if [ "$CBTREP_BOOT" = 2 ] && [ "${E2E_META_LOST:-0}" = 1 ]; then
	check "delete the metadata file (agent reinstalled)" rm /mnt/meta/data0.meta
fi
tar -C / -cf /tmp/tree.tar lib/modules bin 2>/dev/null || fail "tar of the guest's tree"
attach=$(cbtrep-e2e-ctl attach data0 "$DATA" /mnt/meta/data0.meta) || fail "attach to the mounted disk failed"
echo "E2E: boot $CBTREP_BOOT: attach data0 ($DATA, mounted): $attach"
# shellcheck disable=SC2034 # read by e2e_engine_config
E2E_EXTRA_TOP='"state_dir": "/tmp/cbtrep-state"'
e2e_engine_config data0 "$DATA" '{"type": "kernel"}' '"initial_sync": "never"'

case "$CBTREP_BOOT" in
1)
	st=$(tracker_state)
	[ "$st" = "3 new device" ] || fail "first attach: STATUS says '$st', want 3 (resync-required) new device"
	echo "ok: a new device is resync-required (new device)"
	resync_to_target "first copy"
	e2e_start_engine
	workload w1
	cbtrep-e2e-ctl tag data0 before-cut >/dev/null || fail "TAG before-cut failed"
	wait_tag before-cut 60
	e2e_value boot1_applied_seq "$(e2e_status applied_seq)"
	# The power goes while files are being written (some flushed, some not) and replicated.
	(
		i=0
		while :; do
			i=$((i + 1))
			dd if=/dev/urandom of="$MNT/cut$((i % 6))" bs=64k count=8 2>/dev/null
			[ $((i % 3)) = 0 ] && sync "$MNT/cut$((i % 6))"
			mkdir -p "$MNT/cutdir$((i % 4))" && tar -C "$MNT/cutdir$((i % 4))" -xf /tmp/tree.tar bin
		done
	) &
	sleep 2
	e2e_progress "(cutting the power while writing)"
	power_cut
	sleep 60
	fail "the power was not cut within 60 s of the request"
	;;
2)
	if [ "${E2E_META_LOST:-0}" = 1 ]; then
		st=$(tracker_state)
		[ "$st" = "3 new device" ] ||
			fail "without its metadata file STATUS says '$st', want 3 (resync-required) new device"
		echo "ok: without its metadata data0 is resync-required (new device), numbering from 1"
		e2e_value state_after_cut resync-required/new_device
	else
	# Boot 1's attach left the header dirty (2) and nothing wrote it clean again.
	case "$attach" in
	"state=2 "*) echo "ok: the metadata header was found dirty" ;;
	*) fail "attach after the power cut found '$attach', want the header dirty (state=2)" ;;
	esac
	st=$(tracker_state)
	[ "$st" = "3 unclean shutdown" ] ||
		fail "after the power cut STATUS says '$st', want 3 (resync-required) unclean shutdown"
	echo "ok: after the power cut data0 is resync-required (unclean shutdown)"
	e2e_value state_after_cut resync-required/unclean_shutdown
	fi
	if [ "${E2E_RESUME:-1}" = 0 ]; then
		check "unmount the data disk (quiesced for the resync)" umount "$MNT"
	fi
	auto=0
	[ "${E2E_RESUME:-1}" = 1 ] && [ "${E2E_SKIP_RESYNC:-0}" != 1 ] && auto=1
	if [ "$auto" = 1 ]; then
		# cbtrepd resyncs by itself (cut, checksum resync, RESYNC done) and hands over to
		# the journal with a sequence jump.
		e2e_start_engine
		_i=0
		until [ "$(tracker_state)" = "2 none" ]; do
			_i=$((_i + 1))
			[ "$_i" -le 360 ] || { e2e_engine_log_tail; fail "cbtrepd did not clear resync-required in 90 s"; }
			kill -0 "$E2E_ENGINE_PID" 2>/dev/null || { e2e_engine_log_tail; fail "cbtrepd exited"; }
			[ $((_i % 8)) = 0 ] && e2e_progress "(automatic resync)"
			sleep 0.25
		done
		echo "ok: cbtrepd's automatic resync cleared resync-required (dirty, reason none)"
	else
	# The resync must start after a bitmap cut; RESYNC done as of that cut then clears
	# resync-required (what cbtrepd is to do by itself once it resyncs automatically).
	gen=$(cbtrep-ctl cut data0 | sed -n 's/^generation \([0-9]*\) .*/\1/p')
	[ -n "$gen" ] || fail "BITMAP_CUT gave no generation"
	if [ "${E2E_SKIP_RESYNC:-0}" = 1 ]; then
		echo "E2E: E2E_SKIP_RESYNC=1: no resync (negative check: host_verify must fail)"
	else
		resync_to_target "after the unclean shutdown"
	fi
	check "RESYNC done as of the cut of generation $gen" cbtrep-ctl resync-done data0 "$gen"
	st=$(tracker_state)
	[ "$st" = "2 none" ] || fail "after RESYNC done STATUS says '$st', want 2 (dirty) none"
	echo "ok: resync-required is cleared (dirty, reason none)"
	fi
	if [ "${E2E_RESUME:-1}" = 1 ]; then
		[ "$auto" = 1 ] || e2e_start_engine
		workload w2
		cbtrep-e2e-ctl tag data0 after-resync >/dev/null || fail "TAG after-resync failed"
		wait_tag after-resync 60
		e2e_value after_resync_seq "$(e2e_status applied_seq)"
		# The app-consistent point: unmounted, so nothing reaches the disk after the tag
		# and the image the host holds after shutdown is the source at the tag.
		sync
		check "unmount the data disk" umount "$MNT"
		if [ "${E2E_DRAIN:-0}" = 1 ]; then
			check "drain to the final point app-final (cbtrep tag --wait)" \
				cbtrep tag --name app-final --wait --timeout 60 --status-dir "$E2E_STATUS_DIR" data0
		else
			cbtrep-e2e-ctl tag data0 app-final app >/dev/null || fail "TAG app-final failed"
			wait_tag app-final 60
		fi
		e2e_value bytes_replicated "$(e2e_status bytes_replicated)"
		e2e_stop_engine
	fi
	cbtrep-e2e-ctl status data0 | sed 's/^/E2E: tracker /'
	final_digest
	;;
esac
