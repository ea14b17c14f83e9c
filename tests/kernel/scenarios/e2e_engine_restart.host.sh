# Host side of e2e_engine_restart.sh: the replica must still equal the source at the last
# tag, and the target must have seen the engine resume after a non-zero sequence.
. "$REPO_DIR/tests/kernel/e2e/host-lib.sh"
host_prepare() { e2e_history_prepare; }
host_verify() {
	e2e_history_verify || return 1
	grep -E -q "resuming after seq [1-9]" "$RUN_DIR/target.log" ||
		{ echo "the target never saw the engine resume mid-stream" >&2; return 1; }
}
host_cleanup() { e2e_cleanup; }
