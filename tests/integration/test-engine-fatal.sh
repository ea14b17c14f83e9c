#!/usr/bin/env bash
# Non-recoverable errors stop cbtrepd at once with exit code 3 and a clear message, and no
# retry: (1) a client certificate the replica does not allow, (2) a replica bound to another
# source device (identity mismatch). A recoverable one (3: nothing listening) is retried.
# (A busy replica is not tested: the target lets a newer connection take over.)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

disk0_history 16 --total-mib 8 --tags 2 --seed 41 --device-id 0123456789abcdef0123456789abcdef
start_target

# 1. Unauthorised client: a valid certificate of the same CA, not in allowed_clients.
engine_config "$PORT" "" '"retry": {"steps_s": [0.2], "steady_s": 0.5}'
sed -i 's/engine1\.pem/intruder.pem/; s/engine1\.key/intruder.key/' "$WORK/engine.json"
start_engine
wait_engine 30
[ "$ENGINE_RC" = 3 ] || engine_fail "unauthorised client: exit $ENGINE_RC, expected 3"
grep -q "stopping:" "$WORK/engine.log" || engine_fail "no clear stop message"
! grep -q "retrying in" "$WORK/engine.log" || engine_fail "a fatal error was retried"
[ "$(status_get state)" = error ] || engine_fail "status $(status_get state), expected error"
log "unauthorised: $(grep -m1 'stopping:' "$WORK/engine.log" | sed 's/.*stopping: //')"
[ ! -e "$WORK/replica.img" ] || cmp -s "$WORK/replica.img" <(head -c $((16 << 20)) /dev/zero) ||
    engine_fail "replica touched by an unauthorised client"

# 2. The allowed client streams device A; then a stream of device B must be refused.
engine_config "$PORT"
: >"$WORK/engine.log"
start_engine
wait_engine 60
[ "$ENGINE_RC" = 0 ] || engine_fail "device A: exit $ENGINE_RC"
[ "$(sha "$WORK/replica.img")" = "$(cat "$WORK/h/expected.sha256")" ] || engine_fail "device A not replicated"
mv "$WORK/h" "$WORK/hA"
gen_history --device-mib 16 --total-mib 8 --tags 2 --seed 42 --device-id fedcba9876543210fedcba9876543210
before=$(sha "$WORK/replica.img")
: >"$WORK/engine.log"
start_engine
wait_engine 30
[ "$ENGINE_RC" = 3 ] || engine_fail "identity mismatch: exit $ENGINE_RC, expected 3"
grep -qi "identity\|bound" "$WORK/engine.log" || engine_fail "message does not say identity"
! grep -q "retrying in" "$WORK/engine.log" || engine_fail "identity mismatch was retried"
[ "$(sha "$WORK/replica.img")" = "$before" ] || engine_fail "replica changed by the wrong device"
log "identity: $(grep -m1 'stopping:' "$WORK/engine.log" | sed 's/.*stopping: //')"

# 3. Recoverable: nothing listening. cbtrepd keeps retrying (state retrying) until stopped.
stop_target
engine_config "$PORT" "" '"retry": {"steps_s": [0.2, 0.4], "steady_s": 0.5}'
: >"$WORK/engine.log"
start_engine
for _ in $(seq 50); do [ "$(status_get state)" = retrying ] && break; sleep 0.1; done
[ "$(status_get state)" = retrying ] || engine_fail "connection refused did not lead to retrying"
sleep 1.5
kill -TERM "$ENGINE_PID"
wait_engine 10
[ "$ENGINE_RC" = 0 ] || engine_fail "SIGTERM while retrying: exit $ENGINE_RC"
# The delays it announced follow the schedule (0.2, 0.4, then 0.5 s, each jittered by at
# most 25 %), whatever the machine's load did to the number of attempts in the window.
delays=$(sed -n 's/.*retrying in \([0-9.]*\) s.*/\1/p' "$WORK/engine.log")
[ "$(echo "$delays" | grep -c .)" -ge 2 ] || engine_fail "fewer than 2 retries: $delays"
echo "$delays" | awk 'BEGIN { want[1] = 0.2; want[2] = 0.4 }
	{ w = (NR in want) ? want[NR] : 0.5; if ($1 < w * 0.75 || $1 > w * 1.25) bad = bad " #" NR "=" $1 }
	END { if (bad != "") { print "off schedule:" bad; exit 1 } }' ||
	engine_fail "retry delays off the 0.2, 0.4, 0.5 s schedule: $(echo $delays)"
pass
