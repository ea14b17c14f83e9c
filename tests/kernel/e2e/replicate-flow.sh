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
echo "E2E: attaching to the mounted $DATA (metadata on $META)"
cbtrep-e2e-ctl attach data0 "$DATA" "$META" ${E2E_JOURNAL_CAP:+"$E2E_JOURNAL_CAP"} ||
	fail "attach to the mounted disk failed"

# shellcheck disable=SC2034 # read by e2e_engine_config
E2E_EXTRA_TOP='"state_dir": "/tmp/cbtrep-state"'
e2e_engine_config data0 "$DATA" '{"type": "kernel"}' '"initial_sync": "auto"'
e2e_start_engine

# Initial sync of the new replica (tracking goes on meanwhile).
i=0
until [ "$(e2e_status state)" = replicating ]; do
	i=$((i + 1))
	[ "$i" -le 240 ] || { e2e_engine_log_tail; fail "initial sync did not finish in 120 s"; }
	kill -0 "$E2E_ENGINE_PID" 2>/dev/null || { e2e_engine_log_tail; fail "cbtrepd exited"; }
	[ $((i % 4)) = 0 ] && e2e_progress "initial sync $(e2e_status done_bytes)/$(e2e_status total_bytes) B"
	sleep 0.5
done
e2e_progress "(initial sync done)"

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
if [ "${E2E_FSTRIM:-1}" = 1 ]; then
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
# Stay frozen: nothing may reach the disk after the tag (the host compares the image).
echo "E2E: powering off with $MNT frozen at the tag"
