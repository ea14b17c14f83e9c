# Host side of e2e_power_off_resume.sh (tests/kernel/e2e/power-off-host.sh): the replica
# equals the data disk image at the app-consistent tag app-final.
E2E_RESUME=1
. "$REPO_DIR/tests/kernel/e2e/power-off-host.sh"
