# Host side of e2e_meta_lost.sh (tests/kernel/e2e/power-off-host.sh): the target rebased the
# replica's sequence at the resync, and the replica equals the data disk image at app-final.
E2E_RESUME=1
E2E_META_LOST=1
E2E_DRAIN=1
. "$REPO_DIR/tests/kernel/e2e/power-off-host.sh"
