# Journal pressure: the same live-disk flow as e2e_replicate with a 128 KiB journal memory
# cap and the engine stopped for a while, so the tracker goes from DATA to META and BITMAP;
# the engine catches
# up from the bitmap (reading the device) and the replica still equals the frozen source at
# the app-consistent tag (host side: e2e_journal_pressure.host.sh, the same proof).
# @net: yes
# @disks: data:256 meta:16
# @bins: engine/daemon/cbtrepd tools/cbtrep/cbtrep cbtrep-e2e-ctl
# @timeout: 300
. /lib/cbtrep/e2e.sh
E2E_JOURNAL_CAP=$((128 << 10))

# With cbtrepd stopped, 1000 scattered 4 KiB page writes (every other page of a file, so
# writeback cannot merge them) outgrow a 128 KiB journal: DATA -> META -> BITMAP. Then the
# engine continues, finds the GAP, reads the frozen bitmap and catches up.
e2e_after_workload() {
	kill -STOP "$E2E_ENGINE_PID" || fail "cannot stop cbtrepd"
	_i=0
	while [ "$_i" -lt 1000 ]; do
		dd if=/dev/urandom of="$MNT/scatter" bs=4k count=1 seek=$((_i * 2)) conv=notrunc 2>/dev/null ||
			fail "dd scatter"
		_i=$((_i + 1))
	done
	workload=$((workload + 1000 * 4096))
	sync
	_mode=$(cbtrep-e2e-ctl status data0 | sed -n 's/^mode=//p')
	_changes=$(cbtrep-e2e-ctl status data0 | sed -n 's/^mode_changes=//p')
	_dropped=$(cbtrep-e2e-ctl status data0 | sed -n 's/^records_dropped=//p')
	echo "E2E: with cbtrepd stopped: tracker mode $_mode, mode changes $_changes, records dropped $_dropped"
	kill -CONT "$E2E_ENGINE_PID" || fail "cannot continue cbtrepd"
	[ "$_mode" = 3 ] || fail "a 128 KiB cap and a stopped engine did not bring the tracker to BITMAP mode"
	[ "${_dropped:-0}" -gt 0 ] || fail "BITMAP mode but no write left out of the journal"
	e2e_value mode_changes "$_changes"
	e2e_value records_dropped "$_dropped"
	rpo "1000 scattered writes with cbtrepd stopped: BITMAP mode"
	# A tag needs a journal to go into (TAG answers EBUSY in BITMAP mode): wait until the
	# engine's catch-up lets the tracker recover.
	_i=0
	while [ "$(cbtrep-e2e-ctl status data0 | sed -n 's/^mode=//p')" = 3 ]; do
		_i=$((_i + 1))
		[ "$_i" -le 180 ] || { e2e_engine_log_tail; fail "the tracker stayed in BITMAP mode for 90 s"; }
		[ $((_i % 4)) = 0 ] && rpo "catching up from the bitmap"
		sleep 0.5
	done
	rpo "the tracker recovered: mode $(cbtrep-e2e-ctl status data0 | sed -n 's/^mode=//p')"
}
. /lib/cbtrep/e2e-replicate-flow.sh
