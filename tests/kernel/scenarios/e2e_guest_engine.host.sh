# Host side of e2e_guest_engine.sh (helpers: tests/kernel/e2e/host-lib.sh).
. "$REPO_DIR/tests/kernel/e2e/host-lib.sh"
host_prepare() { e2e_history_prepare; }
host_verify() { e2e_history_verify; }
host_cleanup() { e2e_cleanup; }
