# cbtrepd's timer points on a live, mounted ext4 disk (docs/points.md, "Timer points"):
# points.crash_interval_s 2 and app_interval_s 5 with the filesystem frozen for the app
# ones, under a write workload, plus one `cbtrep tag` of each kind. Then the filesystem is
# remounted read-only (nothing writes the disk any more, and freezing a read-only filesystem
# writes nothing either), the guest records the disk's sha256 and waits for the next
# app-consistent timer point to reach the replica. e2e_points_timer.host.sh checks on the
# target that the points are there with the right kinds, that the test-failover view of that
# last app point equals the guest's sha256 and that an app point cut under the workload is a
# clean filesystem (e2fsck -fn).
# @net: yes
# @disks: data:64 meta:16
# @bins: engine/daemon/cbtrepd tools/cbtrep/cbtrep cbtrep-e2e-ctl
# @timeout: 150
. /lib/cbtrep/e2e.sh

DATA=$(disk data)
META=$(disk meta)
MNT=/mnt/data
load_cbtrep
mkdir -p "$MNT" /mnt/meta
check "mount the data disk (ext4)" mount -t ext4 "$DATA" "$MNT"
check "mount the metadata disk (ext4)" mount -t ext4 "$META" /mnt/meta
cbtrep-e2e-ctl attach data0 "$DATA" /mnt/meta/data0.meta || fail "attach to the mounted disk failed"

# A new device is resync-required: cbtrepd copies it by checksum resync first (no timer
# point meanwhile), then replicates the journal.
# shellcheck disable=SC2034 # read by e2e_engine_config
E2E_EXTRA_TOP='"state_dir": "/tmp/cbtrep-state"'
e2e_engine_config data0 "$DATA" '{"type": "kernel"}' \
	"\"initial_sync\": \"never\", \"points\": {\"crash_interval_s\": 2, \"app_interval_s\": 5, \"freeze\": [\"$MNT\"], \"freeze_limit_ms\": 5000}"
e2e_start_engine
i=0
until [ "$(e2e_status state)" = replicating ] && [ "$(e2e_status taken)" != "" ]; do
	i=$((i + 1))
	[ "$i" -le 120 ] || { e2e_engine_log_tail; fail "cbtrepd did not reach replicating in 60 s"; }
	kill -0 "$E2E_ENGINE_PID" 2>/dev/null || { e2e_engine_log_tail; fail "cbtrepd exited"; }
	sleep 0.5
done
e2e_progress "(replicating)"

# tag_retry CMD...: CMD (a cbtrep tag --app-consistent), again while its FIFREEZE meets the
# freeze of a timer point (EBUSY); stderr in /tmp/tag.err.
tag_retry() {
	_try=0
	while :; do
		_rc=0
		"$@" 2>/tmp/tag.err || _rc=$?
		grep -q "FIFREEZE.*busy" /tmp/tag.err || return $_rc
		_try=$((_try + 1))
		[ "$_try" -lt 5 ] || return $_rc
		sed 's/^/E2E: (retrying) /' /tmp/tag.err
		sleep 0.3
	done
}

# The workload: files written with fsync while the timers cut points; one manual point of
# each kind with `cbtrep tag` half way.
n=0
t_end=$(awk -v t="$(e2e_uptime)" 'BEGIN{print t + 12}')
while awk -v a="$(e2e_uptime)" -v b="$t_end" 'BEGIN{exit !(a < b)}'; do
	n=$((n + 1))
	dd if=/dev/urandom of="$MNT/f$((n % 24))" bs=256k count=4 conv=fsync 2>/dev/null ||
		fail "dd f$n"
	if [ "$n" = 8 ]; then
		tag_retry cbtrep tag --name manual-app --app-consistent "$MNT" data0 >/tmp/tag.out ||
			fail "cbtrep tag --app-consistent failed: $(cat /tmp/tag.err)"
		cbtrep tag --name manual-crash data0 >>/tmp/tag.out || fail "cbtrep tag failed"
		sed 's/^/E2E: /' /tmp/tag.out
		# A failure after the freeze (no such tracked device) still thaws the filesystem.
		if tag_retry cbtrep tag --name bad --app-consistent "$MNT" nosuchdev; then
			fail "cbtrep tag of an unknown device succeeded"
		fi
		sed 's/^/E2E: (expected) /' /tmp/tag.err
		timeout 10 dd if=/dev/zero of="$MNT/after-bad-tag" bs=4k count=1 conv=fsync 2>/dev/null ||
			fail "$MNT stayed frozen after a failed cbtrep tag"
		# The freeze is bounded: held past --freeze-limit-ms (a test pause between freeze
		# and TAG), the watchdog thaws and cbtrep tag says the tag is not to be trusted...
		tag_retry env CBTREP_TEST_FREEZE_PAUSE_MS=2500 cbtrep tag --name overdue \
			--app-consistent "$MNT" --freeze-limit-ms 1500 data0 &
		tag_pid=$!
		sleep 0.5
		timeout 10 dd if=/dev/zero of="$MNT/during-overdue" bs=4k count=1 conv=fsync 2>/dev/null ||
			fail "the watchdog did not thaw $MNT at the freeze limit"
		wait "$tag_pid" && fail "cbtrep tag past its freeze limit exited 0"
		grep -q "watchdog" /tmp/tag.err || fail "unclear overdue report: $(cat /tmp/tag.err)"
		sed 's/^/E2E: (expected) /' /tmp/tag.err
		# ... and killed -9 while the filesystem is frozen, the watchdog thaws it at once.
		killed=0
		for _ in 1 2 3 4 5; do
			CBTREP_TEST_FREEZE_PAUSE_MS=30000 cbtrep tag --name killed --app-consistent "$MNT" \
				--freeze-limit-ms 25000 data0 2>/dev/null &
			tag_pid=$!
			sleep 1
			# Gone already: its FIFREEZE met a timer point's freeze. Again.
			kill -9 "$tag_pid" 2>/dev/null && killed=1
			wait "$tag_pid" 2>/dev/null || true # 137: killed, as meant
			[ "$killed" = 0 ] || break
		done
		[ "$killed" = 1 ] || fail "cbtrep tag never stayed frozen long enough to be killed"
		timeout 10 dd if=/dev/zero of="$MNT/after-kill" bs=4k count=1 conv=fsync 2>/dev/null ||
			fail "$MNT stayed frozen after cbtrep tag was killed"
		echo "E2E: freeze watchdog: thawed at the limit and after kill -9"
	fi
	sleep 0.2
done
e2e_progress "(workload done: $n files written)"
cbtrep status --config "$E2E_ENGINE_CONFIG" | sed 's/^/E2E: status: /'
cbtrep status --config "$E2E_ENGINE_CONFIG" --json >/tmp/status.json ||
	{ cat /tmp/status.json; fail "cbtrep status exit $?"; }
grep -q '"last_kind"' /tmp/status.json || fail "cbtrep status --json has no point_timer"
[ "$(e2e_status taken)" -ge 4 ] || { e2e_engine_log_tail; fail "only $(e2e_status taken) timer points in 12 s"; }

# Quiet: read-only from here on. The next app timer point is exactly this disk.
check "remount $MNT read-only" mount -o remount,ro "$MNT"
sync
echo 3 >/proc/sys/vm/drop_caches
ro_sha=$(sha256sum "$DATA" | cut -d' ' -f1)
e2e_value ro_sha256 "$ro_sha"
before=$(e2e_status last_tag_id)
i=0
until [ "$(e2e_status last_kind)" = app ] && [ "$(e2e_status last_tag_id)" != "$before" ]; do
	i=$((i + 1))
	[ "$i" -le 40 ] || { e2e_engine_log_tail; fail "no app timer point within 20 s of the remount"; }
	sleep 0.5
done
name=$(e2e_status last_point_name)
i=0
until [ "$(e2e_status tag)" = "$name" ]; do
	i=$((i + 1))
	[ "$i" -le 60 ] || { e2e_engine_log_tail; fail "the replica did not reach $name in 30 s"; }
	sleep 0.5
done
e2e_value ro_point "$name"
# The disk must not have changed while the point was cut.
echo 3 >/proc/sys/vm/drop_caches
[ "$(sha256sum "$DATA" | cut -d' ' -f1)" = "$ro_sha" ] ||
	fail "the read-only disk changed while the app point was cut"
grep "timer point\|timer points" "$E2E_ENGINE_LOG" | tail -n 4 | sed 's/^/E2E: /'
e2e_stop_engine
check "unmount the data disk" umount "$MNT"
