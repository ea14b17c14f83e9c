# The host's cbtrep-target is killed (SIGKILL) while the guest's cbtrepd streams to it, and
# started again on the same port two seconds later (e2e_target_restart.host.sh does that
# when this scenario prints E2E-HOST restart-target). The engine retries with backoff,
# reconnects, resumes after the last durable sequence, and the replica equals the source
# at the last tag (sha256 on the host after shutdown): nothing lost.
# @net: yes
# @disks: work:384
# @bins: engine/daemon/cbtrepd tests/tools/gen-history/gen-history cbtrep-ktest-ctl-version
# @timeout: 300
# @kernels: 6.12
. /lib/cbtrep/e2e.sh

e2e_history_setup
e2e_history_config
last=$(sed -n 's/.*"last_seq": \([0-9]*\).*/\1/p' "$E2E_H/summary.json")
e2e_start_engine
e2e_wait_seq $((last * 4 / 10)) 120
echo "E2E-HOST restart-target"
e2e_progress "(asked the host to kill the target)"
e2e_wait_engine_exit 240
e2e_history_check
reconnects=$(e2e_status reconnects)
e2e_value reconnects "$reconnects"
[ "${reconnects:-0}" -ge 1 ] || fail "cbtrepd never reconnected (reconnects=$reconnects)"
check "unmount the work disk" umount /mnt/work
