# Guest helpers of the end-to-end scenarios (busybox sh), installed as /lib/cbtrep/e2e.sh
# by the host hook (host-lib.sh: e2e_guest_files). The host side started cbtrep-target on
# its 127.0.0.1:$E2E_TARGET_PORT, which the guest reaches as 10.0.2.2, and put the engine's
# certificates in /etc/cbtrep/certs.
#
#   e2e_engine_config NAME DEVICE SOURCE_JSON [EXTRA_DEVICE_JSON]   writes $E2E_ENGINE_CONFIG
#                           (top-level members from $E2E_EXTRA_TOP)
#   e2e_start_engine / e2e_stop_engine / e2e_kill_engine
#   e2e_status KEY          a value of cbtrepd's status file (/run/cbtrep/NAME.json)
#   e2e_progress            one "E2E: ..." progress line (tools/demo.sh shows these)
#   e2e_wait_engine_exit S  waits for cbtrepd to exit by itself (exit_when_drained)
#   e2e_value KEY VALUE     an "E2E-VALUE KEY=VALUE" line the host side reads back
#   e2e_uptime              seconds since boot (float)

E2E_ENGINE_CONFIG=/etc/cbtrep/cbtrepd.json
E2E_ENGINE_LOG=/tmp/cbtrepd.log
E2E_STATUS_DIR=/run/cbtrep
E2E_ENGINE_PID=
E2E_NAME=disk0

e2e_value() {
	echo "E2E-VALUE $1=$2"
}

e2e_uptime() {
	cut -d' ' -f1 /proc/uptime
}

# e2e_engine_config NAME DEVICE SOURCE_JSON [EXTRA_DEVICE_JSON]
e2e_engine_config() {
	E2E_NAME=$1
	mkdir -p "$E2E_STATUS_DIR"
	cat >"$E2E_ENGINE_CONFIG" <<JSON
{
  "status_dir": "$E2E_STATUS_DIR",
  "tls": {"ca": "/etc/cbtrep/certs/ca.pem", "cert": "/etc/cbtrep/certs/engine1.pem",
          "key": "/etc/cbtrep/certs/engine1.key"},
  "retry": {"steps_s": [0.5, 1, 2, 2], "steady_s": 2, "jitter": 0.1},${E2E_EXTRA_TOP:+
  $E2E_EXTRA_TOP,}
  "devices": [{
    "name": "$1", "device": "$2",
    "source": $3,
    "target": {"host": "10.0.2.2", "port": $E2E_TARGET_PORT, "replica": "$1",
               "server_name": "localhost"}${4:+,
    $4}
  }]
}
JSON
}

e2e_start_engine() {
	cbtrepd --config "$E2E_ENGINE_CONFIG" >>"$E2E_ENGINE_LOG" 2>&1 &
	E2E_ENGINE_PID=$!
	echo "E2E: cbtrepd started (pid $E2E_ENGINE_PID) -> 10.0.2.2:$E2E_TARGET_PORT"
}

e2e_stop_engine() {
	[ -n "$E2E_ENGINE_PID" ] || return 0
	kill -TERM "$E2E_ENGINE_PID" 2>/dev/null || true
	wait "$E2E_ENGINE_PID" || true
	E2E_ENGINE_PID=
}

e2e_kill_engine() {
	[ -n "$E2E_ENGINE_PID" ] || return 0
	kill -9 "$E2E_ENGINE_PID" 2>/dev/null || true
	wait "$E2E_ENGINE_PID" 2>/dev/null || true
	E2E_ENGINE_PID=
}

# e2e_status KEY: a scalar of the status file; the file is pretty-printed JSON, one key a
# line. A key that is also nested ("state" is top-level and in "tracker" and "spool",
# which sort before it) is read where it is least indented. Empty before the first
# publication.
e2e_status() {
	awk -v k="\"$1\":" '
		{
			i = match($0, /[^ ]/)
			rest = substr($0, i)
		}
		index(rest, k) == 1 && (!found || i < at) {
			v = substr(rest, length(k) + 1)
			sub(/^ */, "", v)
			sub(/,$/, "", v)
			gsub(/"/, "", v)
			best = v
			at = i
			found = 1
		}
		END { if (found) print best }' "$E2E_STATUS_DIR/$E2E_NAME.json" 2>/dev/null
}

e2e_progress() {
	echo "E2E: t=$(e2e_uptime)s state=$(e2e_status state) applied_seq=$(e2e_status applied_seq)" \
		"batches=$(e2e_status committed_batches) replicated=$(e2e_status bytes_replicated)B" \
		"sent=$(e2e_status bytes_sent)B lag=$(e2e_status lag_seconds)s tag=$(e2e_status tag) $*"
}

e2e_engine_log_tail() {
	echo "----- cbtrepd log (tail) -----"
	tail -n 30 "$E2E_ENGINE_LOG" 2>/dev/null
	echo "-----"
}

# e2e_wait_engine_exit TIMEOUT_S: cbtrepd must exit by itself with 0 (exit_when_drained).
e2e_wait_engine_exit() {
	_t=$(($1 * 2))
	_i=0
	while kill -0 "$E2E_ENGINE_PID" 2>/dev/null; do
		_i=$((_i + 1))
		[ "$_i" -le "$_t" ] || { e2e_engine_log_tail; fail "cbtrepd still running after $1 s"; }
		[ $((_i % 6)) = 0 ] && e2e_progress
		sleep 0.5
	done
	_rc=0
	wait "$E2E_ENGINE_PID" || _rc=$?
	E2E_ENGINE_PID=
	[ "$_rc" = 0 ] || { e2e_engine_log_tail; fail "cbtrepd exited with $_rc"; }
}

# --- generated-history scenarios: e2e_history_setup loads the module, mounts the work disk
# and generates the history there; e2e_history_config writes the engine's config for it;
# e2e_history_check checks the engine's final status against the history's summary.
E2E_H=/mnt/work/h

e2e_history_setup() {
	load_cbtrep
	check "the tracker answers its version ioctl" cbtrep-ktest-ctl-version
	mkdir -p /mnt/work
	check "mount the work disk (ext4)" mount -t ext4 "$(disk work)" /mnt/work
	echo "E2E: generating a ${E2E_HISTORY_MIB} MiB write history over a ${E2E_DEVICE_MIB} MiB device"
	gen-history --out "$E2E_H" --device-mib "$E2E_DEVICE_MIB" --total-mib "$E2E_HISTORY_MIB" \
		--meta-share 0.05 --gaps 1 --tags 4 --seed "$E2E_SEED" ||
		fail "gen-history failed"
	e2e_value expected_sha256 "$(cut -d' ' -f1 "$E2E_H/expected.sha256")"
	e2e_value journal_bytes "$(wc -c <"$E2E_H/journal.cbts")"
}

# e2e_history_config (top-level JSON members from $E2E_EXTRA_TOP, e.g. a log level)
e2e_history_config() {
	e2e_engine_config disk0 "$E2E_H/image.bin" "{\"type\": \"file\", \"path\": \"$E2E_H/journal.cbts\"}" \
		'"initial_sync": "never", "exit_when_drained": true'
}

e2e_history_check() {
	e2e_progress "(drained)"
	[ "$(e2e_status state)" = drained ] || fail "cbtrepd state $(e2e_status state), want drained"
	[ "$(e2e_status tag)" = final ] || fail "last consistency point '$(e2e_status tag)', want final"
	_last=$(sed -n 's/.*"last_seq": \([0-9]*\).*/\1/p' "$E2E_H/summary.json")
	[ "$(e2e_status applied_seq)" = "$_last" ] ||
		fail "applied_seq $(e2e_status applied_seq), want $_last"
	e2e_value bytes_replicated "$(e2e_status bytes_replicated)"
	e2e_value bytes_sent "$(e2e_status bytes_sent)"
}

# e2e_wait_seq N TIMEOUT_S: until the target has acknowledged sequence N.
e2e_wait_seq() {
	_i=0
	while [ "$(e2e_status applied_seq)" = "" ] || [ "$(e2e_status applied_seq)" -lt "$1" ]; do
		_i=$((_i + 1))
		[ "$_i" -le $(($2 * 5)) ] || { e2e_engine_log_tail; fail "applied_seq did not reach $1 in $2 s"; }
		kill -0 "$E2E_ENGINE_PID" 2>/dev/null || { e2e_engine_log_tail; fail "cbtrepd exited early"; }
		sleep 0.2
	done
}
