# The live-disk flow of the e2e_replicate* scenarios (busybox sh), installed as
# /lib/cbtrep/e2e-replicate-flow.sh by e2e_guest_files and sourced by a scenario after
# /lib/cbtrep/e2e.sh. A scenario may set E2E_JOURNAL_CAP (bytes, the tracker's journal
# memory cap) and define e2e_after_workload (run before the app-consistent point).

DATA=$(disk data)
META=$(disk meta)
MNT=/mnt/data
load_cbtrep
mkdir -p "$MNT"
check "mount the data disk (ext4)" mount -t ext4 "$DATA" "$MNT"
# The tracker keeps its persistent header in a file on another filesystem.
mkdir -p /mnt/meta
check "mount the metadata disk (ext4)" mount -t ext4 "$META" /mnt/meta
echo "E2E: attaching to the mounted $DATA (metadata in /mnt/meta/data0.meta on $META)"
cbtrep-e2e-ctl attach data0 "$DATA" /mnt/meta/data0.meta ${E2E_JOURNAL_CAP:+"$E2E_JOURNAL_CAP"} ||
	fail "attach to the mounted disk failed"

# shellcheck disable=SC2034 # read by e2e_engine_config
E2E_EXTRA_TOP='"state_dir": "/tmp/cbtrep-state"'
if [ "${E2E_SEED:-resync}" = resync ]; then
	# The first copy of the new replica by checksum resync while tracking runs (the target
	# does not take the engine's initial-copy batches yet); the engine then replays every
	# write tracked since the attach on top, in order, so writes racing the copy converge.
	echo "E2E: first copy of the replica: cbtrep resync $DATA -> 10.0.2.2:$E2E_TARGET_PORT/data0"
	cbtrep resync "$DATA" --target "10.0.2.2:$E2E_TARGET_PORT/data0" \
		--ca /etc/cbtrep/certs/ca.pem --cert /etc/cbtrep/certs/engine1.pem \
		--key /etc/cbtrep/certs/engine1.key --server-name localhost --no-checkpoint --quiet ||
		fail "cbtrep resync (first copy) failed"
	e2e_engine_config data0 "$DATA" '{"type": "kernel"}' '"initial_sync": "never"'
	e2e_start_engine
	# The tracker still says resync-required (new device): nothing tells it the replica
	# was seeded, and cbtrepd's status shows the tracker's state. It drains all the same.
	sleep 2
	kill -0 "$E2E_ENGINE_PID" 2>/dev/null || { e2e_engine_log_tail; fail "cbtrepd exited"; }
else
	e2e_engine_config data0 "$DATA" '{"type": "kernel"}' '"initial_sync": "auto"'
	e2e_start_engine
fi

# Until the engine replicates (after its own initial copy, if it makes one).
i=0
until [ "$(e2e_status state)" = replicating ] || [ "${E2E_SEED:-resync}" = resync ]; do
	i=$((i + 1))
	[ "$i" -le 240 ] || { e2e_engine_log_tail; fail "initial sync did not finish in 120 s"; }
	kill -0 "$E2E_ENGINE_PID" 2>/dev/null || { e2e_engine_log_tail; fail "cbtrepd exited"; }
	[ $((i % 4)) = 0 ] && e2e_progress "initial sync $(e2e_status done_bytes)/$(e2e_status total_bytes) B"
	sleep 0.5
done
e2e_progress "(replicating)"

max_rpo=0
rpo() {
	e2e_progress "$1"
	max_rpo=$(awk -v a="$max_rpo" -v b="$(e2e_status lag_seconds)" 'BEGIN{print (b + 0 > a + 0) ? b : a}')
}

# The workload; its byte count is what the applications asked to write.
workload=0
tar -C / -cf /tmp/tree.tar lib/modules bin 2>/dev/null || fail "tar of the guest's tree"
tree=$(wc -c </tmp/tree.tar)
for d in t1 t2 t3; do
	mkdir -p "$MNT/$d"
	tar -C "$MNT/$d" -xf /tmp/tree.tar || fail "unpack into $d"
	workload=$((workload + tree))
	rpo "unpacked a directory tree into $d"
done
for f in 1 2 3 4; do
	dd if=/dev/urandom of="$MNT/rand$f" bs=1M count=4 conv=fsync 2>/dev/null || fail "dd rand$f"
	workload=$((workload + (4 << 20)))
done
rpo "wrote 16 MiB of random files with fsync"
for off in 0 100 2000 4000; do
	dd if=/dev/urandom of="$MNT/rand1" bs=4k seek="$off" count=16 conv=notrunc,fsync 2>/dev/null
	workload=$((workload + (64 << 10)))
done
yes "cbtrep compressible line" | head -c $((8 << 20)) >"$MNT/text.log"
workload=$((workload + (8 << 20)))
rpo "rewrote blocks in place, wrote 8 MiB of text"
rm -rf "$MNT/t2" "$MNT/rand3"
sync
# fstrim only with E2E_FSTRIM=1: QEMU's default discard=ignore keeps the discarded blocks'
# old content in the disk image while the replica zeroes them, so the host's comparison
# would differ in exactly the trimmed blocks (seen: 1058 blocks after deleting 4 MiB). It
# needs "discard=unmap" on the harness's -drive first.
if [ "${E2E_FSTRIM:-0}" = 1 ]; then
	fstrim -v "$MNT" || fail "fstrim"
fi
rpo "deleted a tree and a file, fstrim"
if command -v e2e_after_workload >/dev/null 2>&1; then
	e2e_after_workload
fi

# The app-consistent point: freeze (flushes everything), tag, wait for the replica.
sync
check "freeze $MNT" cbtrep-e2e-ctl freeze "$MNT"
cbtrep-e2e-ctl tag data0 app-final app || fail "TAG failed"
i=0
until [ "$(e2e_status tag)" = app-final ]; do
	i=$((i + 1))
	[ "$i" -le 240 ] || { e2e_engine_log_tail; fail "the replica did not reach the tag in 120 s"; }
	[ $((i % 4)) = 0 ] && rpo "waiting for the replica to reach app-final"
	sleep 0.5
done
rpo "(the replica reached app-final)"
cbtrep-e2e-ctl status data0 | sed 's/^/E2E: tracker /'
tracked=$(cbtrep-e2e-ctl status data0 | sed -n 's/^bytes_seen=//p')
e2e_value workload_bytes "$workload"
e2e_value tracked_bytes "$tracked"
e2e_value bytes_replicated "$(e2e_status bytes_replicated)"
e2e_value bytes_sent "$(e2e_status bytes_sent)"
e2e_value compression "$(awk -v r="$(e2e_status bytes_replicated)" -v s="$(e2e_status bytes_sent)" 'BEGIN{printf "%.2f", (s > 0) ? r / s : 0}')"
e2e_value max_rpo_s "$max_rpo"
# The guest's own digest of the frozen device: if the host's image differs from it, a write
# reached the disk after the tag (during power-off), which tells a tracking miss apart.
echo 3 >/proc/sys/vm/drop_caches
e2e_value frozen_sha256 "$(sha256sum "$DATA" | cut -d' ' -f1)"
# Stay frozen: nothing may reach the disk after the tag (the host compares the image).
echo "E2E: powering off with $MNT frozen at the tag"
