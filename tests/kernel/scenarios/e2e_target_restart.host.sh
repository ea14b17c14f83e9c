# Host side of e2e_target_restart.sh: when the guest prints "E2E-HOST restart-target", the
# target is killed with SIGKILL and, two seconds later, started again on the same port with
# the same replica and state. host_verify: replica equals the source at the last tag, and
# the restarted target saw the engine resume after a non-zero sequence.
. "$REPO_DIR/tests/kernel/e2e/host-lib.sh"

restart_target() {
	e2e_kill_target
	echo "$(date -u +%FT%TZ) host: target killed" >>"$RUN_DIR/target.log"
	sleep 2
	e2e_start_target "$RUN_DIR" disk0 "$RUN_DIR/replica.img" $((E2E_DEVICE_MIB << 20)) \
		"$E2E_TARGET_PORT"
}

host_prepare() {
	e2e_history_prepare || return 1
	e2e_watch_guest "^E2E-HOST restart-target" restart_target
}
host_verify() {
	e2e_history_verify || return 1
	grep -q "host: target killed" "$RUN_DIR/target.log" ||
		{ echo "the target was never restarted" >&2; return 1; }
	sed -n '/host: target killed/,$p' "$RUN_DIR/target.log" | grep -E -q "resuming after seq [1-9]" ||
		{ echo "the restarted target never saw the engine resume mid-stream" >&2; return 1; }
}
host_cleanup() { e2e_cleanup; }
