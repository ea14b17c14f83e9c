#!/usr/bin/env bash
# Network cut: cbtrep-target runs in its own network namespace behind a veth pair; while
# cbtrepd streams to it the link goes down for a few seconds. The engine must notice (I/O
# timeout), report "retrying" with a next attempt, retry with growing backoff delays (no hot
# loop), resume once the link is back and end with a replica equal to the image at the
# last tag. Skipped (77) where network namespaces cannot be created.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum ip

NS=cbtrep-nc$$
VH=cbnc$$h
VN=cbnc$$n
NET=10.231.$(($$ % 250)).
netns_cleanup() {
    ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip link del "$VH" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
}
trap 'netns_cleanup; _engine_cleanup' EXIT
if ! ip netns add "$NS" 2>/dev/null; then
    echo "$TEST_NAME: SKIP: cannot create a network namespace (needs root / CAP_NET_ADMIN)"
    exit 77
fi
ip link add "$VH" type veth peer name "$VN" || { echo "$TEST_NAME: SKIP: no veth support"; exit 77; }
ip link set "$VN" netns "$NS"
ip addr add "${NET}1/30" dev "$VH"
ip link set "$VH" up
ip netns exec "$NS" ip addr add "${NET}2/30" dev "$VN"
ip netns exec "$NS" ip link set "$VN" up
ip netns exec "$NS" ip link set lo up

disk0_history 64 --total-mib 384 --batch-mib 2 --tags 8 --seed 31
sed -i "s/\"address\": \"127.0.0.1\"/\"address\": \"${NET}2\"/; s/\"io_timeout_s\": 20/\"io_timeout_s\": 3/" \
    "$WORK/target.json"
ip netns exec "$NS" "$TARGET_BIN" --config "$WORK/target.json" --port-file "$WORK/port" \
    >>"$WORK/target.log" 2>&1 &
export TARGET_PID=$! # lib.sh's cleanup kills it
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || fail "cbtrep-target did not start in the namespace"
PORT=$(cat "$WORK/port")

ENGINE_TARGET_HOST=${NET}2 engine_config "$PORT" "" '"io_timeout_s": 2'
start_engine --log-level debug
CURSOR=$WORK/h/journal.cbts.cursor
for _ in $(seq 600); do
    [ -f "$CURSOR" ] && [ "$(cut -d' ' -f4 "$CURSOR")" -ge 10 ] && break
    sleep 0.05
done
kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd finished before the cut"
cut_at=$(cut -d' ' -f4 "$CURSOR")
log "cutting the link at committed batch $cut_at"
ip link set "$VH" down
retrying=
for _ in $(seq 80); do
    sleep 0.1
    [ "$(status_get state)" = retrying ] && { retrying=1; break; }
done
[ -n "$retrying" ] || engine_fail "status never said 'retrying' while the link was down"
next=$(status_get next_attempt_unix)
[ "${next:-0}" -gt 0 ] || engine_fail "retrying without a next attempt time"
sleep 5
during=$(cut -d' ' -f4 "$CURSOR")
ip link set "$VH" up
log "link up again (committed batch $during while down)"

wait_engine_ok 300
replica_equals_source

# Backoff: the delays logged while the link was down grow (0.2, 0.4, 0.8 s ...), and there
# are only a handful of attempts in ~6 s: never a hot loop.
delays=$(grep -oE "retrying in [0-9.]+ s" "$WORK/engine.log" | awk '{print $3}')
n=$(echo "$delays" | grep -c . || true)
log "retries: $n, delays: $(echo $delays)"
[ "$n" -ge 2 ] || engine_fail "expected several retries, saw $n"
[ "$n" -le 12 ] || engine_fail "$n retries in a few seconds: hot loop"
first=$(echo "$delays" | head -1)
third=$(echo "$delays" | sed -n 3p)
if [ -n "$third" ]; then
    awk -v a="$first" -v b="$third" 'BEGIN { exit !(b > a * 2) }' ||
        engine_fail "backoff does not grow: first $first s, third $third s"
fi
[ "$(status_get reconnects)" -ge 1 ] || engine_fail "no reconnect counted"
[ "$(status_get last_consistency_point.tag)" = final ] || engine_fail "final tag not reached"
pass
