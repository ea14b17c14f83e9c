# cbtrepd is killed (SIGKILL) in the guest in the middle of streaming and started again: it
# resumes from its commit cursor, batches sent but not committed are delivered again (the
# target acknowledges those it had applied as duplicates) and the replica still equals the
# source at the last tag (sha256 on the host after shutdown). Twice.
# @net: yes
# @disks: work:384
# @bins: engine/daemon/cbtrepd tests/tools/gen-history/gen-history cbtrep-ktest-ctl-version
# @timeout: 300
# @kernels: 6.12
. /lib/cbtrep/e2e.sh

e2e_history_setup
# debug: the engine logs each duplicate acknowledgement, which is what redelivery looks like.
E2E_EXTRA_TOP='"log_level": "debug"'
e2e_history_config
last=$(sed -n 's/.*"last_seq": \([0-9]*\).*/\1/p' "$E2E_H/summary.json")
for frac in 3 6; do
	at=$((last * frac / 10))
	e2e_start_engine
	e2e_wait_seq "$at" 120
	e2e_kill_engine
	e2e_progress "(killed with SIGKILL at applied_seq >= $at)"
	[ "$(e2e_status applied_seq)" -lt "$last" ] || fail "the stream ended before the kill"
	cursor=$(cat "$E2E_H/journal.cbts.cursor" 2>/dev/null | tr '\n' ' ')
	echo "E2E: commit cursor after the kill: $cursor"
done
e2e_start_engine
e2e_wait_engine_exit 180
e2e_history_check
dups=$(grep -c "duplicate: applied before" "$E2E_ENGINE_LOG" || true)
e2e_value redelivered_duplicates "$dups"
echo "E2E: $dups batch(es) were delivered again and acknowledged as duplicates"
check "unmount the work disk" umount /mnt/work
