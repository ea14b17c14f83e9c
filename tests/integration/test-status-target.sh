#!/usr/bin/env bash
# `cbtrep status --target-config` on the target machine (docs/points.md, "Status"): per
# replica its state, its points by kind (newest, oldest, latest app-consistent, in use) and
# its retention, agreeing with `cbtrep points list`; a test failover shows as state
# test-failover with its point in use; an unplanned failover as failed-over at its point; a
# replica with no state yet shows as protected with no points; an unknown replica is refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/points_lib.sh"
requires sha256sum openssl nbdkit

MIB=8
setup_certs
# Every 5th batch carries a tag; odd tag ids are app-consistent (cbtrep-stream-gen).
"$GEN" gen --out s.str --expected expected.img --device-mib $MIB --batches 40 \
    --max-write-kib 64 --max-records 8 --seed 5 --tag-every 5 >/dev/null
target_config vm1 vm1.img $((MIB << 20)) engine1
jq '.replicas.vm2 = {path: "vm2.img", size: 1048576, allowed_clients: ["engine1"]}' \
    target.json >t.json && mv t.json target.json
start_target
trap '[ -f state/vm1.failover ] && "$CBTREP" failover --test-cleanup vm1 --config target.json >/dev/null 2>&1; cleanup' EXIT
wi replay --replica vm1 --stream s.str --window 4 >/dev/null || fail "replay"

st() { "$CBTREP" status --target-config target.json "$@"; }
st --json >st.json || fail "cbtrep status --target-config --json exited with $?"
points_json >pl.json
n=$(jq '.points | length' pl.json)
apps=$(jq '[.points[] | select(.kind == "app")] | length' pl.json)
[ "$n" -ge 4 ] && [ "$apps" -ge 2 ] || fail "the history should give >= 4 points, 2 app (has $n, $apps)"
v1() { jq -r ".[] | select(.replica == \"vm1\") | $1" st.json; }
[ "$(v1 .state)" = protected ] || fail "vm1 state $(v1 .state)"
[ "$(v1 .points.count)" = "$n" ] || fail "status counts $(v1 .points.count) points, list $n"
[ "$(v1 .points.app)" = "$apps" ] || fail "status counts $(v1 .points.app) app points, list $apps"
[ "$(v1 .points.crash)" = $((n - apps)) ] || fail "crash count $(v1 .points.crash)"
[ "$(v1 .points.newest.id)" = "$(jq '.points[-1].id' pl.json)" ] || fail "newest point"
[ "$(v1 .points.oldest.id)" = "$(jq '.points[0].id' pl.json)" ] || fail "oldest point"
[ "$(v1 .points.latest_app.id)" = "$(jq '[.points[] | select(.kind == "app")][-1].id' pl.json)" ] ||
    fail "latest app point"
[ "$(v1 .history_bytes)" = "$(jq .history_bytes pl.json)" ] || fail "history bytes"
[ "$(v1 .retention.max_age_s)" = 86400 ] || fail "retention $(v1 -c .retention)"
[ "$(v1 .applied_seq)" = "$(applied_seq vm1)" ] || fail "applied seq $(v1 .applied_seq)"
[ "$(jq -r '.[] | select(.replica == "vm2") | "\(.state) \(.points.count)"' st.json)" = "protected 0" ] ||
    fail "vm2 (never replicated): $(jq -c '.[] | select(.replica == "vm2")' st.json)"
st >st.txt || fail "cbtrep status --target-config exited with $?"
grep -q "^vm1: protected" st.txt || fail "text: $(cat st.txt)"
grep -q "points: $n ($apps app, $((n - apps)) crash)" st.txt || fail "text counts: $(cat st.txt)"
grep -q "latest app $(v1 .points.latest_app.id) " st.txt || fail "text latest app: $(cat st.txt)"
grep -q "^vm2: protected" st.txt || fail "text vm2: $(cat st.txt)"
log "vm1: $n points ($apps app), status agrees with points list"

oldest=$(jq '.points[0].id' pl.json)
NBD_PORT=$((20000 + RANDOM % 20000))
"$CBTREP" failover --test vm1 --point "$oldest" --port "$NBD_PORT" --config target.json >/dev/null ||
    fail "failover --test did not start"
st vm1 >st.txt || fail "status during the test failover"
grep -q "^vm1: test-failover" st.txt || fail "state during the test failover: $(cat st.txt)"
grep -q "point $oldest in use (test failover)" st.txt || fail "held point not shown: $(cat st.txt)"
grep -q "^vm2" st.txt && fail "status vm1 showed vm2 too"
[ "$(st vm1 --json | jq -c '.[0].points.in_use')" = "[$oldest]" ] || fail "json in_use"
"$CBTREP" failover --test-cleanup vm1 --config target.json >/dev/null || fail "cleanup"
log "test failover of point $oldest shown"

st nosuch 2>err.txt && fail "status of an unknown replica succeeded"
grep -q "replica 'nosuch' is not in" err.txt || fail "unclear refusal: $(cat err.txt)"

stop_target
app=$(jq '[.points[] | select(.kind == "app")][-1].id' pl.json)
"$CBTREP" failover --unplanned vm1 --latest-app --config target.json >/dev/null ||
    fail "unplanned failover"
st vm1 >st.txt
grep -q "^vm1: failed-over at point $app" st.txt || fail "failed-over state: $(cat st.txt)"
[ "$(st vm1 --json | jq '.[0].failover_point')" = "$app" ] || fail "json failover_point"
log "failed over at point $app shown"
pass
